"""Issue 14: results that cannot be mixed up, lost or hung. One test (at least) per item of the issue,
named ``test_item<N>_...``; bad-input cases are in ``test_bad_input.py``. Runs use the mini world with tiny
settings (coop ``epochs=10``, a DMP of 5 steps over 2-prompt repositories) so the module stays fast."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch

from dmpbench.cachefiles import is_temporary, remove_stale_temporaries, write_text
from dmpbench.cli import main
from dmpbench.errors import DmpbenchError
from dmpbench.runner.records import read_record, record_path
from dmpbench.runner.run import RunRequest, execute, resolve

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "leaderboards" / "mini" / "records"
TINY_DMP = ["method.dmp_steps=5", "method.repo_inits=2", "method.num_prompts=1", "method.sample_steps=3",
            "method.coop_epochs=2", "method.vae_steps=5"]
QUIET = dict(say=lambda line: None)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one intra-op thread is as fast as two, and immune to a busy machine's oversubscription
    (measured: the tiny DMP run takes 14 s with one thread and 144 s with two on a loaded 2-core box)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _records(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.json") if not p.name.startswith("."))


def _temporaries(*folders: Path) -> list[Path]:
    return [p for f in folders if f.exists() for p in f.rglob("*") if p.is_file() and is_temporary(p)]


# ---------------------------------------------------------------- item 1: configurations never averaged
def _synthetic(results: Path, config: dict, seed: int, base: float, precision: str = "fp32", name: str = "") -> None:
    rec = {"schema": 2, "task": "base2new", "method": "coop", "backbone": "mini", "world": "mini", "dataset": "mini_shapes",
           "seed": seed, "config": config, "precision": precision, "device": "cpu:x", "data": {"world": "mini", "mini_data": "1"},
           "metrics": {"mini_shapes": {"base": base, "new": 50.0, "all": 60.0, "hm": 2 * base * 50 / (base + 50)}},
           "finished": f"2026-01-01T00:00:0{seed}"}
    path = results / f"{name or json.dumps(config['method'].get('epochs'))}-{precision}-{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))


def test_item1_records_of_different_configurations_are_separate_rows(tmp_path, capsys):
    default = resolve(RunRequest(task="base2new", method="coop"))[2]
    results = tmp_path / "results"
    for i, epochs in enumerate([3, 4, 3.0, 200]):
        _synthetic(results, {**default, "method": {**default["method"], "epochs": epochs}}, 1, 70.0 + i, name=f"v{i}")
    for seed in (1, 2):
        _synthetic(results, default, seed, 80.0 + seed, name="default")
    _synthetic(results, default, 1, 90.0, precision="bf16", name="default")
    assert main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "boards"), "--task", "base2new"]) == 0
    csv = pd.read_csv(tmp_path / "boards" / "base2new.csv")
    rows = csv[(csv.source == "reproduced") & (csv.dataset == "mini_shapes") & (csv.metric == "base")].set_index("method")
    assert set(rows.index) == {
        "coop [precision=fp32]", "coop [precision=bf16]", "coop [method.epochs=3]", "coop [method.epochs=4]",
        "coop [method.epochs=3.0]", "coop [method.epochs=200]",
    }
    assert rows.loc["coop [precision=fp32]", "seeds"] == 2 and rows.loc["coop [precision=fp32]", "mean"] == pytest.approx(81.5)
    assert rows.loc["coop [method.epochs=3]", "seeds"] == 1 and rows.loc["coop [method.epochs=200]", "mean"] == pytest.approx(73.0)
    # paper-check: pins are per row, so a variant is compared with its own pin only
    assert main(["paper-check", "--results", str(results), "--write-pins"]) == 0
    pins = pd.read_csv(results / "pinned.csv")
    assert (pins.method == "coop [method.epochs=4]").any()
    capsys.readouterr()
    assert main(["paper-check", "--results", str(results), "--against", "pinned"]) == 0


def test_audit_only_settings_do_not_split_rows(tmp_path, capsys):
    """coop's convergence_check only adds a check to the audit: seed 1 with it and seeds 2, 3 without are one row."""
    default = resolve(RunRequest(task="base2new", method="coop"))[2]
    checked = {**default, "method": {**default["method"], "convergence_check": True}}
    results = tmp_path / "results"
    _synthetic(results, checked, 1, 80.0, name="checked")
    for seed in (2, 3):
        _synthetic(results, default, seed, 82.0, name="plain")
    assert main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "boards"), "--task", "base2new"]) == 0
    csv = pd.read_csv(tmp_path / "boards" / "base2new.csv")
    rows = csv[(csv.source == "reproduced") & (csv.dataset == "mini_shapes") & (csv.metric == "base")].set_index("method")
    assert list(rows.index) == ["coop"] and rows.loc["coop", "seeds"] == 3 and rows.loc["coop", "mean"] == pytest.approx(81.333, abs=1e-3)
    capsys.readouterr()


def test_a_setting_added_later_at_its_default_does_not_split_rows(tmp_path, capsys):
    """A record made before a setting existed (its config lacks the key) and one made with the setting at its
    default are one configuration; the setting at another value is its own row."""
    default = resolve(RunRequest(task="base2new", method="coop"))[2]
    older = {**default, "method": {k: v for k, v in default["method"].items() if k != "momentum"}}
    results = tmp_path / "results"
    _synthetic(results, older, 1, 80.0, name="older")
    _synthetic(results, default, 2, 82.0, name="newer")
    _synthetic(results, {**default, "method": {**default["method"], "momentum": 0.5}}, 1, 70.0, name="other")
    assert main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "boards"), "--task", "base2new"]) == 0
    csv = pd.read_csv(tmp_path / "boards" / "base2new.csv")
    rows = csv[(csv.source == "reproduced") & (csv.dataset == "mini_shapes") & (csv.metric == "base")].set_index("method")
    assert set(rows.index) == {"coop", "coop [method.momentum=0.5]"} and rows.loc["coop", "seeds"] == 2
    capsys.readouterr()


def test_item1_duplicate_records_of_one_seed_count_once(tmp_path, capsys):
    default = resolve(RunRequest(task="base2new", method="coop"))[2]
    results = tmp_path / "results"
    _synthetic(results, default, 1, 80.0, name="a")
    rec = json.loads((results / "a-fp32-1.json").read_text())
    rec.update(finished="2026-02-01T00:00:00", metrics={"mini_shapes": {"base": 60.0, "new": 50.0, "all": 55.0, "hm": 54.5}})
    (results / "b.json").write_text(json.dumps(rec))
    assert main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "boards"), "--task", "base2new"]) == 0
    assert "duplicate of" in capsys.readouterr().err
    csv = pd.read_csv(tmp_path / "boards" / "base2new.csv")
    row = csv[(csv.source == "reproduced") & (csv.dataset == "mini_shapes") & (csv.metric == "base")]
    assert list(row.method) == ["coop"] and list(row.seeds) == [1] and list(row["mean"]) == [60.0]  # the newer one


# ---------------------------------------------------------------- item 2: a pinned cell without a record fails
def test_item2_missing_pinned_cells_fail(tmp_path, capsys):
    results = tmp_path / "records"
    shutil.copytree(COMMITTED, results)
    shutil.rmtree(results / "base2new" / "coop")
    shutil.rmtree(results / "treecut")
    assert main(["paper-check", "--results", str(results), "--against", "pinned"]) == 1
    out = capsys.readouterr().out
    pinned = pd.read_csv(COMMITTED / "pinned.csv")
    is_coop = pinned.method.str.split(" ").str[0] == "coop"  # "coop" or a configuration row "coop [method....]"
    gone = int(((pinned.task == "base2new") & is_coop).sum() + (pinned.task == "treecut").sum())
    assert gone > 0 and f"{gone} pinned cell(s) without a record" in out and "MISSING" in out
    assert f"{len(pinned) - gone} within" in out


# ---------------------------------------------------------------- item 3: tables are never replaced by nothing
def test_item3_mistyped_or_empty_results_keep_the_tables(tmp_path, capsys):
    boards = tmp_path / "boards"
    shutil.copytree(REPO / "leaderboards", boards, ignore=shutil.ignore_patterns("mini"))
    before = {p.name: p.read_bytes() for p in boards.iterdir() if p.is_file()}
    (tmp_path / "empty").mkdir()
    for results in ("resutls", "empty"):
        assert main(["leaderboard", "--results", str(tmp_path / results), "--out", str(boards)]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    # records for one task only: that table is rebuilt, the others are left as they are
    results = tmp_path / "some"
    shutil.copytree(COMMITTED / "base2new", results / "base2new")
    assert main(["leaderboard", "--results", str(results), "--out", str(boards)]) == 0
    after = {p.name: p.read_bytes() for p in boards.iterdir() if p.is_file()}
    assert {k for k in before if after[k] != before[k]} <= {"base2new.md", "base2new.csv"}
    assert after["treecut.md"] == before["treecut.md"] and b"No run records" not in after["treecut.md"]


# ---------------------------------------------------------------- item 4: a cyclic tree is an error, not a hang
def test_item4_cyclic_tree_fails_at_once(tmp_path, capsys):
    tree = tmp_path / "cycle.json"
    tree.write_text(json.dumps({"root": "r", "children": {"r": ["a"], "a": ["b"], "b": ["a"]}}))
    result = {}
    argv = ["run", "--task", "treecut", "--method", "zeroshot", "--set", f"task.tree={tree}", "--results", str(tmp_path / "r")]
    worker = threading.Thread(target=lambda: result.setdefault("code", main(argv)), daemon=True)
    worker.start()
    worker.join(timeout=60)  # a guard against the old endless walk, not a timing
    assert not worker.is_alive(), "walking a cyclic class tree did not end"
    assert result["code"] == 2 and "appears twice" in capsys.readouterr().err


# ---------------------------------------------------------------- item 5: values checked before any work
def test_item5_float_settings_are_normalised_and_ints_strict():
    cfg = resolve(RunRequest(task="base2new", method="coop", sets=["method.lr=1", "method.warmup_lr=1e-5"]))[2]["method"]
    assert cfg["lr"] == 1.0 and isinstance(cfg["lr"], float) and cfg["warmup_lr"] == 1e-5
    same = resolve(RunRequest(task="base2new", method="coop", sets=["method.lr=1.0"]))[2]
    assert same["method"] == cfg  # lr=1 and lr=1.0 are one configuration (one record key)
    with pytest.raises(DmpbenchError, match="must be an integer"):
        resolve(RunRequest(task="base2new", method="coop", sets=["method.epochs=3.0"]))
    with pytest.raises(DmpbenchError, match="seeds are integers from 0 to 4294967295"):
        resolve(RunRequest(task="base2new", method="coop", seeds=[2**32]))
    assert resolve(RunRequest(task="base2new", method="coop", seeds=[2**32 - 1]))


# ---------------------------------------------------------------- item 6: keys cover data, precision, device
def test_item6_record_key_covers_data_precision_and_device(tmp_path):
    ident = {"data": {"world": "paper", "root": "/data/a"}, "precision": "fp32", "device_type": "cpu"}
    base = record_path(tmp_path, "t", "m", "b", "d", 1, {}, ident)
    for change in ({"data": {"world": "paper", "root": "/data/b"}}, {"precision": "bf16"}, {"device_type": "cuda"}):
        assert record_path(tmp_path, "t", "m", "b", "d", 1, {}, {**ident, **change}) != base
    # the committed records (migrated to schema 2) are the ones a new run of theirs finds
    rec = read_record(next((COMMITTED / "base2new" / "zeroshot" / "mini" / "mini_shapes").glob("seed1-*.json")))
    from dmpbench.runner.worlds import data_identity

    ident = {"data": data_identity("mini", None), "precision": "fp32", "device_type": "cpu"}
    assert record_path(COMMITTED, rec["task"], rec["method"], "mini", rec["dataset"], 1, rec["config"], ident).exists()


def test_item6_feature_cache_is_keyed_on_the_data_root(tmp_path):
    from test_feature_cache import ColourDataset, TinyBackbone

    from dmpbench.backbones.feature_cache import image_features

    good, bad = ColourDataset(), ColourDataset(broken={"colours/test/3"})  # same split, same fingerprint
    good.data_root, bad.data_root = str(tmp_path / "root_a"), str(tmp_path / "root_b")
    bb = TinyBackbone()
    items = good.split("test")
    image_features(bb, good, items, cache_dir=tmp_path / "cache", num_workers=0, progress=False)
    with pytest.raises(DmpbenchError, match="cannot decode image") as err:
        image_features(bb, bad, items, cache_dir=tmp_path / "cache", num_workers=0, progress=False)
    assert "skip_bad_images" not in str(err.value)  # item 11: the hint names nothing the CLI lacks


# ---------------------------------------------------------------- items 7, 10: corrupt artefacts heal, stale temporaries go
@pytest.fixture(scope="module")
def dmp_run(tmp_path_factory):
    """One tiny DMP run (base-to-new on mini_digits, outside the default suite, so one repository): its
    cache, results and record."""
    root = tmp_path_factory.mktemp("dmp_run")
    req = RunRequest(task="base2new", method="dmp_coop", datasets=["mini_digits"], seeds=[1], results=root / "results",
                     cache_dir=root / "cache", sets=TINY_DMP, progress=False)
    (record,) = execute(req, **QUIET)
    return req, record


def test_item7_corrupt_cached_artefacts_are_rebuilt(dmp_run, tmp_path):
    req, record = dmp_run
    cache = tmp_path / "cache"
    shutil.copytree(req.cache_dir, cache)
    victims = [*cache.glob("repository/*/prompts.safetensors"), *cache.glob("dmp/*/dmp.safetensors"), *cache.glob("dmp/*/config.json"),
               *cache.glob("features/mini_digits-*.safetensors")]
    assert len(victims) >= 4
    for path in victims:
        os.truncate(path, 300)
    # item 10: temporaries of killed runs are removed once old; a fresh one (a live writer's) is left alone
    old = [cache / "dmp" / "dmp.safetensors.tmp", cache / "features" / ".x.safetensors.abc123.tmp", tmp_path / "results" / ".r.json.q1.tmp"]
    for path in old:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("partial")
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    fresh = cache / "features" / ".y.safetensors.def456.tmp"
    fresh.write_text("being written")
    rerun = RunRequest(**{**req.__dict__, "cache_dir": cache, "results": tmp_path / "results"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (again,) = execute(rerun, **QUIET)
    messages = " ".join(str(w.message) for w in caught)
    assert "cached CoOp repository" in messages and "cached DMP" in messages and "feature cache" in messages
    assert again["metrics"] == record["metrics"]  # rebuilt artefacts give the same numbers
    assert again["audit"]["dmp"]["reused"] is False
    assert not any(p.exists() for p in old) and fresh.exists()
    with warnings.catch_warnings(record=True) as caught:  # healed: the next run reuses without a word
        warnings.simplefilter("always")
        (third,) = execute(RunRequest(**{**rerun.__dict__, "force": True}), **QUIET)
    assert not [w for w in caught if "unreadable" in str(w.message)] and third["audit"]["dmp"]["reused"] is True
    assert third["metrics"] == record["metrics"]


def test_item7_corrupt_coop_fit_is_retrained(tmp_path):
    req = RunRequest(task="base2new", method="coop", datasets=["mini_digits"], seeds=[1], results=tmp_path / "r1",
                     cache_dir=tmp_path / "cache", sets=["method.steps=5"], progress=False)
    (first,) = execute(req, **QUIET)
    (fit,) = (tmp_path / "cache").glob("coop/*/contexts.safetensors")
    os.truncate(fit, 300)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (again,) = execute(RunRequest(**{**req.__dict__, "results": tmp_path / "r2"}), **QUIET)
    assert "cached CoOp fit" in " ".join(str(w.message) for w in caught)
    assert "coop_reused" not in again["audit"] and again["metrics"] == first["metrics"]


def test_item7_corrupt_treecuts_are_redrawn(tmp_path):
    from dmpbench.context import RunContext
    from dmpbench.data.hierarchy import ClassTree
    from dmpbench.tasks.treecut import Treecut

    tree = ClassTree.load("mini")
    task = Treecut.__new__(Treecut)
    task.config = dict(Treecut.default_config)
    ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=tmp_path)
    cuts = task.cuts(tree, ctx)
    (path,) = (tmp_path / "treecuts").glob("*.json")
    for garbage in (path.read_bytes()[:300], b'[{"frontier": ["no such node"]}]', b"{}"):
        path.write_bytes(garbage)
        with pytest.warns(UserWarning, match="cached treecuts .* unreadable"):
            assert task.cuts(tree, ctx) == cuts
        assert json.loads(path.read_text()) == cuts


def test_item10_concurrent_saves_of_one_artefact_never_collide(tmp_path):
    from dmpbench.dmp.model import DMP

    dmp = DMP((2, 4), cond_dim=8, preset="small")
    dmp.fit(torch.randn(16, 2, 4), [torch.randn(1, 8)] * 16, steps=1, batch_size=8, progress=False)
    errors = []

    def save(i):
        try:
            for _ in range(3):
                dmp.save(tmp_path / "dmp")
                write_text(tmp_path / "shared.txt", f"writer {i}\n" * 1000)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert DMP.load(tmp_path / "dmp").step == dmp.step
    assert len(set((tmp_path / "shared.txt").read_text().splitlines())) == 1  # one writer's whole file
    assert _temporaries(tmp_path) == []
    stale = tmp_path / ".old.tmp"
    stale.write_text("x")
    assert remove_stale_temporaries(tmp_path) == 0  # young: might be a live writer's
    assert remove_stale_temporaries(tmp_path, older_than_s=-1) == 1 and not stale.exists()


# ---------------------------------------------------------------- item 8: full disk, unwritable folders
def test_item8_full_disk_is_one_line_and_loses_nothing(tmp_path, capsys, monkeypatch):
    results = tmp_path / "results"
    record = next((COMMITTED / "base2new" / "zeroshot" / "mini" / "mini_shapes").glob("seed1-*.json"))
    (results / "earlier").mkdir(parents=True)
    shutil.copy(record, results / "earlier" / record.name)

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("dmpbench.cachefiles.os.replace", full)
    code = main(["run", "--task", "base2new", "--method", "zeroshot", "--dataset", "mini_digits", "--seed", "1", "--no-progress",
                 "--results", str(results), "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no space left on device" in err
    assert [p.name for p in _records(results)] == [record.name] and _temporaries(results, tmp_path / "cache") == []


def test_item8_os_errors_reaching_the_cli_are_one_line(monkeypatch, capsys, tmp_path):
    def fail(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", "/mnt/results/x.json")

    monkeypatch.setattr("dmpbench.runner.run.execute", fail)
    assert main(["run", "--task", "base2new", "--method", "zeroshot", "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err == "dmpbench: error: cannot write /mnt/results/x.json: Read-only file system\n"
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- item 11: a hand-edited record is not trusted
def test_item11_resume_reruns_a_record_whose_config_was_edited(tmp_path, shared_cache, capsys):
    committed = next((COMMITTED / "base2new" / "zeroshot" / "mini" / "mini_shapes").glob("seed1-*.json"))
    target = tmp_path / committed.relative_to(COMMITTED)
    target.parent.mkdir(parents=True)
    edited = {**json.loads(committed.read_text()), "config": {"task": {}, "method": {}}}
    target.write_text(json.dumps(edited))
    args = ["run", "--task", "base2new", "--method", "zeroshot", "--dataset", "mini_shapes", "--seed", "1", "--no-progress",
            "--results", str(tmp_path), "--cache-dir", str(shared_cache)]
    assert main(args) == 0
    assert "rerun     : record" in capsys.readouterr().out
    rec = read_record(target)
    assert rec["config"]["task"] == {"shots": 16}
    for ds, metrics in json.loads(committed.read_text())["metrics"].items():
        assert rec["metrics"][ds] == pytest.approx(metrics, abs=0.05)


# ---------------------------------------------------------------- SIGKILL + resume, two concurrent runs (processes)
def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dmpbench.cli", "run", "--no-progress", *args]


ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def test_sigkill_then_resume_gives_the_same_records(dmp_run, tmp_path, capsys):
    cache = tmp_path / "cache"
    shutil.copytree(dmp_run[0].cache_dir / "features", cache / "features")
    results = tmp_path / "results"
    args = ["--task", "base2new", "--method", "coop", "--dataset", "mini_digits", "--set", "method.steps=60",
            "--results", str(results), "--cache-dir", str(cache)]
    proc = subprocess.Popen(_cli(*args, "--seed", "1", "2", "3", "4"), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not _records(results) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _records(results)
    assert 1 <= len(done) <= 4
    kept = {p: p.read_bytes() for p in done}
    for path in done:
        read_record(path)  # a record under its real name is always complete
    # resume: the finished units are skipped (byte for byte), the rest run
    assert main(["run", "--no-progress", *args, "--seed", "1", "2", "3", "4"]) == 0
    assert capsys.readouterr().out.count("skip      :") == len(done)
    assert all(p.read_bytes() == b for p, b in kept.items()) and len(_records(results)) == 4
    # and the resumed records equal an uninterrupted run's
    fresh = tmp_path / "fresh"
    assert main(["run", "--no-progress", *args[:-4], "--results", str(fresh), "--cache-dir", str(cache), "--seed", "4"]) == 0
    (last,) = [p for p in _records(results) if p.name.startswith("seed4-")]
    (again,) = _records(fresh)
    assert read_record(last)["metrics"] == read_record(again)["metrics"]


def test_two_concurrent_runs_share_results_and_cache(dmp_run, tmp_path):
    req, record = dmp_run
    cache, results = tmp_path / "cache", tmp_path / "results"
    shutil.copytree(req.cache_dir / "features", cache / "features")  # both race on repositories, DMP and the record
    args = ["--task", "base2new", "--method", "dmp_coop", "--dataset", "mini_digits", "--seed", "1", "--set", *TINY_DMP,
            "--results", str(results), "--cache-dir", str(cache)]
    procs = [subprocess.Popen(_cli(*args), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    (path,) = _records(results)
    assert read_record(path)["metrics"] == record["metrics"]
    assert _temporaries(cache, results) == []
    with warnings.catch_warnings(record=True) as caught:  # what they left loads cleanly and is reused
        warnings.simplefilter("always")
        (again,) = execute(RunRequest(**{**req.__dict__, "cache_dir": cache, "results": tmp_path / "again"}), **QUIET)
    assert not [w for w in caught if "unreadable" in str(w.message)]
    assert again["audit"]["dmp"]["reused"] is True and again["metrics"] == record["metrics"]
