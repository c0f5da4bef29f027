"""Bad input, case by case (issue 14): exit code 2, exactly one line on stderr starting with
``dmpbench: error:``, no traceback, nothing written under the results folder, and no earlier record or
table lost. Every case runs in-process (``dmpbench.cli.main``); ``run`` cases must fail before any model is
loaded (``make_world`` is replaced by a tripwire). Two cases also run as real subprocesses at the end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dmpbench.cli import main

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "leaderboards" / "mini" / "records"
EARLIER = next((COMMITTED / "base2new" / "zeroshot" / "mini" / "mini_shapes").glob("seed1-*.json"))

CYCLE = {"root": "r", "children": {"r": ["a"], "a": ["b"], "b": ["a"]}}
TREES = {
    "cycle.json": json.dumps(CYCLE),
    "names_list.json": json.dumps({"root": "r", "children": {"r": ["a", "b"]}, "names": ["x", "y"]}),
    "root_list.json": json.dumps({"root": ["r"], "children": {"r": ["a", "b"]}}),
    "children_str.json": json.dumps({"root": "r", "children": {"r": "ab"}}),
    "not_json.json": "{root: r",
}


def snapshot(*folders: Path) -> dict[str, bytes]:
    """Every file (temporaries included) under the folders, with its bytes."""
    out = {}
    for folder in folders:
        if folder.exists():
            for path in folder.rglob("*"):
                if path.is_file():
                    out[str(path)] = path.read_bytes()
    return out


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A results folder with an earlier record, a leaderboard folder with a table, tree files, a file."""
    results = tmp_path / "results"
    target = results / EARLIER.relative_to(COMMITTED)
    target.parent.mkdir(parents=True)
    shutil.copy(EARLIER, target)
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "base2new.md").write_text("# base2new\n\nthe table from before\n")
    for name, text in TREES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "a_file").write_text("not a folder\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "section.yaml").write_text("trainer: {epochs: 3}\n")

    def tripwire(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr("dmpbench.runner.run.make_world", tripwire)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _record(**over):
    rec = json.loads(EARLIER.read_text())
    rec.update(over)
    return rec


def _records_with(place: Path, **over) -> Path:
    """A results folder holding only one record with the given (bad) fields."""
    folder = place / "bad_results"
    folder.mkdir(exist_ok=True)
    (folder / "r.json").write_text(json.dumps(_record(**over)))
    return folder


def _pinned(place: Path, text: str) -> Path:
    folder = place / "pinned_results"
    shutil.copytree(place / "results", folder, dirs_exist_ok=True)
    (folder / "pinned.csv").write_text(text)
    return folder


RUN = ["run", "--task", "base2new", "--method", "coop", "--dataset", "mini_shapes", "--seed", "1", "--no-progress"]
DMP = ["run", "--task", "base2new", "--method", "dmp_coop", "--dataset", "mini_shapes", "--seed", "1", "--no-progress"]
TREECUT = ["run", "--task", "treecut", "--method", "zeroshot", "--seed", "1", "--no-progress"]
CROSS = ["run", "--task", "cross_dataset", "--method", "zeroshot", "--seed", "1", "--no-progress"]

# (id, argv, expected fragment of the message); "{p}" is the test's folder
CASES = [
    # --set values: types from the declared defaults (issue item 5)
    ("epochs-abc", RUN + ["--set", "method.epochs=abc"], "setting 'epochs' must be an integer"),
    ("epochs-float", RUN + ["--set", "method.epochs=3.0"], "setting 'epochs' must be an integer"),
    ("epochs-bool", RUN + ["--set", "method.epochs=true"], "setting 'epochs' must be an integer"),
    ("epochs-negative", RUN + ["--set", "method.epochs=-5"], "setting 'epochs' must be >= 1"),
    ("epochs-zero", RUN + ["--set", "method.epochs=0"], "setting 'epochs' must be >= 1"),
    ("batch-zero", RUN + ["--set", "method.batch_size=0"], "setting 'batch_size' must be >= 1"),
    ("lr-word", RUN + ["--set", "method.lr=fast"], "setting 'lr' must be a number"),
    ("lr-zero", RUN + ["--set", "method.lr=0"], "setting 'lr' must be > 0"),
    ("lr-nan", RUN + ["--set", "method.lr=nan"], "must be a finite number"),
    ("lr-list", RUN + ["--set", "method.lr=[1,2]"], "setting 'lr' must be a number"),
    ("momentum-range", RUN + ["--set", "method.momentum=2"], "setting 'momentum' must be between 0 and 1"),
    ("csc-int", RUN + ["--set", "method.csc=1"], "setting 'csc' must be a boolean"),
    ("position", RUN + ["--set", "method.class_token_position=side"], "must be one of 'end', 'middle', 'front'"),
    ("n-ctx-list", RUN + ["--set", "method.n_ctx=[1,2]"], "setting 'n_ctx' must be an integer"),
    ("init-number", RUN + ["--set", "method.init=5"], "setting 'init' must be a string"),
    ("shots-negative", RUN + ["--set", "task.shots=-3"], "setting 'shots' must be >= 1"),
    ("shots-fraction", RUN + ["--set", "task.shots=1.5"], "setting 'shots' must be an integer"),
    ("seed-huge", RUN[:-3] + ["--seed", "99999999999999999999", "--no-progress"], "invalid seed 99999999999999999999"),
    ("seed-negative", RUN[:-3] + ["--seed", "-1", "--no-progress"], "invalid seed -1"),
    ("template", ["run", "--task", "base2new", "--method", "zeroshot", "--set", "method.template=fancy"], "must be one of 'dataset', 'hand'"),
    ("dmp-sampler", DMP + ["--set", "method.sampler=euler"], "setting 'sampler' must be one of"),
    ("dmp-prompts", DMP + ["--set", "method.num_prompts=0"], "setting 'num_prompts' must be >= 1"),
    ("dmp-preset", DMP + ["--set", "method.preset=huge"], "setting 'preset' must be one of"),
    ("dmp-guidance", DMP + ["--set", "method.guidance=-1"], "setting 'guidance' must be >= 0"),
    ("dmp-repo-init", DMP + ["--set", "method.repo_init=zeros"], "setting 'repo_init' must be one of"),
    ("dmp-coop-epochs", DMP + ["--set", "method.coop_epochs=0"], "setting 'coop_epochs' must be >= 1"),
    # --set syntax and config files
    ("set-no-value", RUN + ["--set", "method.epochs"], "invalid --set 'method.epochs'"),
    ("set-section", RUN + ["--set", "trainer.epochs=3"], "invalid --set 'trainer.epochs=3'"),
    ("set-backbone", RUN + ["--set", "backbone.name=x"], "not in the config's 'backbone' section"),
    ("config-list", RUN + ["--config", "{p}/list.yaml"], "must be a mapping"),
    ("config-section", RUN + ["--config", "{p}/section.yaml"], "unknown section 'trainer'"),
    # task settings that name data or trees (items 4, 9, 11)
    ("targets-string", CROSS + ["--set", "task.targets=mini_shapes"], "setting 'targets' must be a list of strings"),
    ("targets-unknown", CROSS + ["--set", "task.targets=[mini_shape]"], "unknown dataset 'mini_shape'"),
    ("tree-cycle", TREECUT + ["--set", "task.tree={p}/cycle.json"], "appears twice"),
    ("tree-names-list", TREECUT + ["--set", "task.tree={p}/names_list.json"], "'names' must map node ids"),
    ("tree-root-list", TREECUT + ["--set", "task.tree={p}/root_list.json"], "needs 'root' (a string)"),
    ("tree-children-str", TREECUT + ["--set", "task.tree={p}/children_str.json"], "must be a list of node ids"),
    ("tree-not-json", TREECUT + ["--set", "task.tree={p}/not_json.json"], "is not valid JSON"),
    ("tree-missing", TREECUT + ["--set", "task.tree={p}/none.json"], "cannot read class tree"),
    ("treecut-seed", TREECUT + ["--set", "task.treecut_seed=-1"], "setting 'treecut_seed' must be between"),
    ("treecut-source", TREECUT + ["--set", "task.source=mnist"], "unknown dataset 'mnist'"),
    # flags that do not apply, places that cannot be written (items 8, 11)
    ("mini-pretrained", RUN + ["--pretrained", "openai"], "--pretrained does not apply to the mini backbone"),
    ("mini-data-root", RUN + ["--data-root", "{p}"], "--data-root does not apply to the mini backbone"),
    ("cache-is-file", RUN + ["--cache-dir", "{p}/a_file"], "cache directory {p}/a_file is not a directory"),
    ("cache-under-file", RUN + ["--cache-dir", "{p}/a_file/cache"], "is not writable"),
    ("precision-bf16-cpu", RUN + ["--precision", "bf16"], "--precision bf16 needs a CUDA device"),
    ("unknown-dataset", RUN[:5] + ["--dataset", "mini_shape"], "unknown dataset 'mini_shape'"),
    # leaderboard (items 3, 9)
    ("lb-missing-results", ["leaderboard", "--results", "{p}/resutls", "--out", "{p}/boards"], "results folder {p}/resutls does not exist"),
    ("lb-empty-results", ["leaderboard", "--results", "{p}/empty", "--out", "{p}/boards"], "no run records under {p}/empty"),
    ("lb-results-file", ["leaderboard", "--results", "{p}/a_file", "--out", "{p}/boards"], "is not a directory"),
    ("lb-out-file", ["leaderboard", "--results", "{p}/results", "--out", "{p}/a_file"], "--out {p}/a_file is a file"),
    ("lb-seed-word", ["leaderboard", "--results", "@seed", "--out", "{p}/boards"], "1 malformed record(s) skipped"),
    ("lb-config-empty", ["leaderboard", "--results", "@config", "--out", "{p}/boards"], "1 malformed record(s) skipped"),
    # paper-check (items 2, 9)
    ("pc-missing-results", ["paper-check", "--results", "{p}/resutls"], "results folder {p}/resutls does not exist"),
    ("pc-task-list", ["paper-check", "--results", "@task"], "no run records under"),
    ("pc-pinned-word", ["paper-check", "--results", "@pinned-word", "--against", "pinned"], "value 'high' on line 2 is not a number"),
    ("pc-pinned-column", ["paper-check", "--results", "@pinned-column", "--against", "pinned"], "missing column 'value'"),
    ("pc-pinned-absent", ["paper-check", "--results", "{p}/results", "--against", "pinned"], "no pinned.csv in"),
    ("pc-tolerance-negative", ["paper-check", "--results", "{p}/results", "--tolerance", "-1"], "--tolerance must be a non-negative number"),
    ("pc-tolerance-nan", ["paper-check", "--results", "{p}/results", "--tolerance", "nan"], "--tolerance must be a non-negative number"),
]

HEADER = "task,method,backbone,dataset,metric,value\n"
SPECIAL = {
    "@seed": lambda p: _records_with(p, seed="one"),
    "@config": lambda p: _records_with(p, config={}),
    "@task": lambda p: _records_with(p, task=["base2new"]),
    "@pinned-word": lambda p: _pinned(p, HEADER + "base2new,zeroshot,mini,mini_shapes,all,high\n"),
    "@pinned-column": lambda p: _pinned(p, "task,method,backbone,dataset,metric\nbase2new,zeroshot,mini,mini_shapes,all\n"),
}


def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("argv,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(argv, fragment, place, capsys):
    (place / "empty").mkdir()
    args = []
    for a in argv:
        args.append(str(SPECIAL[a](place)) if a in SPECIAL else a.replace("{p}", str(place)))
    if args[0] == "run" and "--results" not in args:
        args += ["--results", str(place / "results")]
        if "--cache-dir" not in args:
            args += ["--cache-dir", str(place / "cache")]
    before = snapshot(place)
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("dmpbench: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert fragment.replace("{p}", str(place)) in err
    assert snapshot(place) == before  # nothing written, nothing lost (records, tables, caches)


def test_failed_run_leaves_no_results_folder(place, capsys):
    results = place / "new_results"
    code = main(RUN + ["--results", str(results), "--cache-dir", str(place / "a_file")])
    assert code == 2 and "not a directory" in capsys.readouterr().err
    assert not results.exists()


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["run", "--task", "base2new", "--method", "coop", "--set", "method.epochs=abc", "--results", "R"], "must be an integer"),
        (["leaderboard", "--results", "missing", "--out", "boards"], "results folder missing does not exist"),
    ],
    ids=["run", "leaderboard"],
)
def test_bad_input_in_a_real_process(argv, fragment, tmp_path):
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "base2new.md").write_text("kept\n")
    out = subprocess.run([sys.executable, "-m", "dmpbench.cli", *argv], capture_output=True, text=True, cwd=tmp_path,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert out.returncode == 2
    assert out.stderr.startswith("dmpbench: error: ") and out.stderr.count("\n") == 1 and fragment in out.stderr, out.stderr
    assert not (tmp_path / "R").exists() and (tmp_path / "boards" / "base2new.md").read_text() == "kept\n"
