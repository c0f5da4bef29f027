"""Bad input: one clear line on stderr, exit code 2, no traceback, nothing written."""

import subprocess
import sys

import pytest

from dmpbench.cli import main
from dmpbench.registry import METHODS


def _run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "--task", "base2nw", "--method", "coop"], "unknown task 'base2nw'; did you mean 'base2new'"),
        (["run", "--task", "base2new", "--method", "cop"], "unknown method 'cop'; did you mean 'coop'"),
        (["run", "--task", "base2new", "--method", "coop", "--set", "epochs=3"], "invalid --set 'epochs=3'"),
        (["run", "--task", "base2new", "--method", "coop", "--set", "method.epoch=3"], "method 'coop' has no setting 'epoch'"),
        (["run", "--task", "base2new", "--method", "coop", "--set", "task.shot=3"], "task 'base2new' has no setting 'shot'"),
        (["run", "--task", "base2new", "--method", "coop", "--dataset", "mini_shape"], "unknown dataset 'mini_shape'; did you mean 'mini_shapes'"),
        (["run", "--task", "base2new", "--method", "coop", "--config", "/nonexistent.yaml"], "cannot read config file"),
        (["run", "--task", "base2new", "--method", "coop", "--device", "cuda:0"], "CUDA"),
        (["run", "--task", "base2new", "--method", "coop", "--device", "tpu"], "--device"),
        (["leaderboard", "--task", "nope"], "unknown task 'nope'"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, capsys, tmp_path):
    results = tmp_path / "results"
    code, err = _run([*args[:1], *args[1:], *(["--results", str(results)] if args[0] == "run" else ["--results", str(results), "--out", str(tmp_path / "lb")])], capsys)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("dmpbench: error: ")
    assert not any(results.rglob("*.json")) if results.exists() else True


def test_malformed_config_file(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("method: {epochs: [1,\n")
    code, err = _run(["run", "--task", "base2new", "--method", "coop", "--config", str(cfg), "--results", str(tmp_path)], capsys)
    assert code == 2 and "not valid YAML" in err


def test_unwritable_results_directory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = _run(["run", "--task", "base2new", "--method", "zeroshot", "--results", str(blocker / "results")], capsys)
    assert code == 2 and "not writable" in err


def test_method_that_cannot_serve_the_task(capsys, tmp_path):
    @METHODS.register("only_images")
    class OnlyImages:
        """A method for image generation only."""

        name = "only_images"
        capabilities = ("image_generation",)
        default_config = {}

    try:
        code, err = _run(["run", "--task", "base2new", "--method", "only_images", "--results", str(tmp_path)], capsys)
    finally:
        METHODS._objects.pop("only_images")
    assert code == 2
    assert "method 'only_images' cannot serve task 'base2new'" in err
    assert "only_images serves: no built-in task" in err


def test_argparse_errors_are_one_line_exit_2():
    out = subprocess.run([sys.executable, "-m", "dmpbench.cli", "run", "--task"], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "error" in out.stderr


@pytest.mark.parametrize("command", ["run", "list", "leaderboard", "paper-check", "mini"])
def test_every_subcommand_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "examples:" in capsys.readouterr().out


def test_list_does_not_import_torch():
    code = "import sys; from dmpbench.cli import main; main(['list']); assert 'torch' not in sys.modules, 'torch imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "dmp_coop" in out.stdout and "mini_mnist" in out.stdout
