import json
import os

import pytest

from dmpbench.errors import DmpbenchError
from dmpbench.runner.records import check_writable, load_records, read_record, record_path, write_atomic


def _record(**over):
    rec = {"schema": 1, "task": "base2new", "method": "coop", "backbone": "mini", "dataset": "d", "seed": 1, "config": {"task": {}, "method": {}}, "metrics": {"d": {"base": 50.0}}}
    rec.update(over)
    return rec


def test_record_path_depends_on_every_key_part(tmp_path):
    base = record_path(tmp_path, "t", "m", "b", "d", 1, {"a": 1})
    others = [
        record_path(tmp_path, "t2", "m", "b", "d", 1, {"a": 1}),
        record_path(tmp_path, "t", "m2", "b", "d", 1, {"a": 1}),
        record_path(tmp_path, "t", "m", "b2", "d", 1, {"a": 1}),
        record_path(tmp_path, "t", "m", "b", "d2", 1, {"a": 1}),
        record_path(tmp_path, "t", "m", "b", "d", 2, {"a": 1}),
        record_path(tmp_path, "t", "m", "b", "d", 1, {"a": 2}),
    ]
    assert len({base, *others}) == 7
    assert base == record_path(tmp_path, "t", "m", "b", "d", 1, {"a": 1})


def test_atomic_write_leaves_old_file_when_serialisation_fails(tmp_path):
    path = tmp_path / "r.json"
    write_atomic(path, _record())
    with pytest.raises(TypeError):
        write_atomic(path, _record(metrics={"d": {"base": object()}}))
    assert json.loads(path.read_text())["metrics"] == {"d": {"base": 50.0}}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left behind


def test_malformed_records_are_reported_by_name(tmp_path):
    write_atomic(tmp_path / "good.json", _record())
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "partial.json").write_text(json.dumps({"task": "x"}))
    (tmp_path / "nonnumeric.json").write_text(json.dumps(_record(metrics={"d": {"base": "high"}})))
    records, problems = load_records(tmp_path)
    assert [os.path.basename(r["_path"]) for r in records] == ["good.json"]
    reasons = {p.path.name: p.reason for p in problems}
    assert "invalid JSON" in reasons["bad.json"]
    assert "missing" in reasons["partial.json"]
    assert "not a number" in reasons["nonnumeric.json"]
    with pytest.raises(DmpbenchError, match="bad.json"):
        read_record(tmp_path / "bad.json")


def test_unwritable_results_dir(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(DmpbenchError, match="not writable"):
        check_writable(target / "sub")
