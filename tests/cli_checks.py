"""A shared check of the command line's bad-input rule: one line on stderr, exit 2, no results folder."""

from __future__ import annotations

from dmpbench.cli import main


def assert_run_refused(task: str, method: str, args: list[str], message: str, tmp_path, capsys) -> None:
    argv = ["run", "--task", task, "--method", method, "--results", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")]
    assert main(argv + list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not (tmp_path / "r").exists()
