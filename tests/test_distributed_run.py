"""Scale-out of a run: the grid split over torchrun ranks (CPU, gloo, 2 processes) and over independent
``--shard I/N`` jobs gives exactly the records of one process; the split itself; bad ``--shard`` /
``--data-parallel`` input."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dmpbench.cli import main
from dmpbench.runner.distributed import Shard, parse_shard
from dmpbench.runner.run import RunRequest, execute

ROOT = Path(__file__).resolve().parent.parent
GRID = ["--task", "base2new", "--method", "coop", "--dataset", "mini_shapes", "mini_letters", "--seed", "1", "2",
        "--set", "method.steps=20", "--no-progress"]


def _env(cache):
    return {**os.environ, "PYTHONPATH": str(ROOT), "DMPBENCH_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


def _start(cmd, cache, cwd):
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(cache), cwd=cwd,
                            start_new_session=True)


def _finish(proc, timeout=300):
    """(returncode, stdout, stderr); on a hang the whole process group (torchrun's workers too) is killed."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"timed out after {timeout} s: {err[-2000:]}")
    return proc.returncode, out, err


def _records(results: Path) -> dict[str, dict]:
    """relative path -> metrics of every record under ``results``."""
    return {str(p.relative_to(results)): json.loads(p.read_text())["metrics"] for p in sorted(results.rglob("*.json"))}


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    execute(RunRequest(task="base2new", method="coop", datasets=["mini_shapes", "mini_letters"], seeds=[1, 2],
                       sets=["method.steps=20"], results=out / "results", cache_dir=out / "cache", progress=False),
            say=lambda line: None)
    recs = _records(out / "results")
    assert len(recs) == 4
    return recs


def test_torchrun_two_ranks_equal_one_process(single, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "dmpbench", "run", *GRID, "--results", str(tmp_path / "results")]
    code, out, err = _finish(_start(cmd, tmp_path / "cache", tmp_path))
    assert code == 0, err[-3000:]
    assert _records(tmp_path / "results") == single
    ran = [line for line in out.splitlines() if "done      :" in line]
    assert len(ran) == 4 and {line.split("]")[0] for line in ran} == {"[rank 0", "[rank 1"}  # each rank ran a share
    assert out.count("| coop ") == 2  # the summary table, once (rank 0), over all four units
    assert "|       2 |" in out


def test_two_independent_shards_equal_one_process(single, tmp_path):
    procs = [_start([sys.executable, "-m", "dmpbench", "run", *GRID, "--shard", f"{i}/2", "--results", str(tmp_path / "results")],
                    tmp_path / "cache", tmp_path)
             for i in range(2)]  # one cache: the shards build the shared features concurrently, under the locks
    outs = [_finish(p) for p in procs]
    assert [code for code, _, _ in outs] == [0, 0], [err[-3000:] for _, _, err in outs]
    assert _records(tmp_path / "results") == single
    assert all(out.count("done      :") == 2 for _, out, _ in outs)


def test_split_is_a_deterministic_partition():
    grid = [(d, s) for d in ("c", "a", "b") for s in (3, 1, 2)]
    parts = [Shard(i, 2, r, 3).grid(grid) for i in range(2) for r in range(3)]
    mine = [list(Shard(i, 2, r, 3).mine(grid)) for i in range(2) for r in range(3)]
    assert sorted(u for m in mine for u in m) == sorted(grid)  # every unit exactly once
    assert all(len(m) in (1, 2) for m in mine)
    assert mine == [list(Shard(i, 2, r, 3).mine(list(reversed(grid)))) and list(Shard(i, 2, r, 3).mine(grid))
                    for i in range(2) for r in range(3)]
    # the same units whatever the order the grid is listed in, run in the grid's order
    assert [set(Shard(i, 2).grid(grid)) for i in range(2)] == [set(Shard(i, 2).grid(grid[::-1])) for i in range(2)]
    assert Shard(0, 2).grid(grid) == [u for u in grid if u in set(Shard(0, 2).grid(grid))]
    assert parts[0] == Shard(0, 2).grid(grid) and Shard(0, 1).grid(grid) == grid
    assert parse_shard("3/4") == (3, 4) and parse_shard(None) == (0, 1)


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--shard", "2/2"], "invalid --shard '2/2': expected I/N with 0 <= I < N"),
        (["--shard", "1/0"], "invalid --shard '1/0'"),
        (["--shard=-1/2"], "invalid --shard '-1/2'"),
        (["--shard", "a/b"], "invalid --shard 'a/b'"),
        (["--shard", "1"], "invalid --shard '1'"),
        (["--data-parallel"], "--data-parallel needs a process group: launch with torchrun"),
    ],
)
def test_bad_scale_out_input_is_one_line_exit_2(extra, message, capsys, tmp_path):
    code = main(["run", "--task", "base2new", "--method", "coop", "--results", str(tmp_path / "results"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert err.count("\n") == 1 and err.startswith("dmpbench: error: ")
    assert not (tmp_path / "results").exists()


def test_data_parallel_needs_a_method_that_trains_with_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as under torchrun; rejected before any process group starts
    code = main(["run", "--task", "base2new", "--method", "coop", "--data-parallel", "--results", str(tmp_path / "r")])
    assert code == 2 and "method 'coop' trains nothing data-parallel" in capsys.readouterr().err


def test_bad_barrier_timeout_is_one_line_exit_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("DMPBENCH_DIST_TIMEOUT_HOURS", "soon")
    code = main(["run", "--task", "base2new", "--method", "coop", "--results", str(tmp_path / "r")])
    assert code == 2 and "invalid DMPBENCH_DIST_TIMEOUT_HOURS 'soon'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
