"""One-off migration of schema-1 mini-world records to schema 2 (issue 14): adds the data identity and the
device type the record key now covers, recomputes the key and renames the file to match.

Only for records of the mini world made on a CPU (the committed ones): their data identity is the mini data
version they were made with, which the pinned test (tests/test_mini_pinned.py) confirms by reproducing them.
Usage: python benchmarks/migrate_records_v2.py leaderboards/mini/records
"""

import json
import sys
from pathlib import Path

from dmpbench.runner.records import SCHEMA, read_record, record_path, record_identity, write_atomic
from dmpbench.runner.worlds import data_identity


def migrate(results: Path) -> int:
    moved = 0
    for path in sorted(results.rglob("*.json")):
        if path.name.startswith("."):
            continue
        rec = read_record(path)
        if rec["schema"] >= 2:
            continue
        if rec.get("world") != "mini" or not str(rec.get("device", "")).startswith("cpu"):
            raise SystemExit(f"{path}: only CPU mini-world records can be migrated")
        rec.update(schema=SCHEMA, data=data_identity("mini", None), device_type="cpu")
        identity = record_identity(rec)
        new = record_path(results, rec["task"], rec["method"], rec["backbone"], rec["dataset"], rec["seed"], rec["config"], identity)
        rec["key"] = new.stem.split("-", 1)[1]
        write_atomic(new, rec)
        if new != path:
            path.unlink()
        moved += 1
    return moved


if __name__ == "__main__":
    print(f"migrated {migrate(Path(sys.argv[1]))} records")
