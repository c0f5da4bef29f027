"""What the CoOp recipe and the DMP put into every record's audit (tiny settings, mini world):
the optimiser steps taken, CoOp's convergence check (1x vs 2x the training) and the DMP's repository
fidelity on every label set it was trained on, measured by the task on the same test images."""

import pytest

from dmpbench.baselines.coop import COOP_DEFAULTS, schedule
from dmpbench.data.mini import MINI_SUITE
from dmpbench.runner.run import RunRequest, execute


def run(task, method, dataset, sets, tmp_path, cache):
    (record,) = execute(RunRequest(task=task, method=method, datasets=[dataset], seeds=[1], results=tmp_path, cache_dir=cache,
                                   sets=sets, progress=False), say=lambda line: None)
    return record


def test_schedule_by_epochs_is_coops_and_by_steps_is_fixed():
    assert schedule(COOP_DEFAULTS, 16000) == (25000, 500, 500)  # ImageNet 16 shots, batch 32, 50 epochs
    assert schedule(COOP_DEFAULTS, 80) == (150, 3, 3)  # a 5-class base split
    assert schedule({**COOP_DEFAULTS, "steps": 400}, 96)[0] == schedule({**COOP_DEFAULTS, "steps": 400}, 960)[0] == 400


def test_coop_records_its_steps_and_convergence(tmp_path, shared_cache):
    rec = run("base2new", "coop", "mini_letters", ["method.steps=6", "method.convergence_check=true"], tmp_path, shared_cache)
    audit = rec["audit"]
    assert audit["optimizer_steps"] == 6
    check = audit["convergence"]["mini_letters"]
    assert check["optimizer_steps_1x"] == 6 and check["optimizer_steps_2x"] == 12
    assert 0 <= check["acc_1x"] <= 100 and 0 <= check["acc_2x"] <= 100
    assert check["train_loss_1x"] > 0 and check["train_loss_2x"] > 0
    # the 1x classifier is the record's own: its accuracy is the record's Base
    assert check["acc_1x"] == pytest.approx(rec["metrics"]["mini_letters"]["base"], abs=1e-3)
    assert "convergence" not in run("base2new", "coop", "mini_letters", ["method.steps=6"], tmp_path / "off", shared_cache)["audit"]


def test_dmp_records_repository_fidelity_for_every_training_label_set(tmp_path, shared_cache):
    sets = ["method.repo_inits=2", "method.coop_steps=3", "method.dmp_steps=5", "method.num_prompts=2", "method.sample_steps=3"]
    rec = run("base2new", "dmp_coop", MINI_SUITE["base2new"][0], sets, tmp_path, shared_cache)
    audit = rec["audit"]
    pool = list(MINI_SUITE["base2new"])
    assert sorted(audit["repository_fidelity"]) == sorted(pool)
    for entry in audit["repository_fidelity"].values():
        assert set(entry) == {"repository_acc", "dmp_acc"}
        assert all(0 <= v <= 100 for v in entry.values())
    assert audit["optimizer_steps"] == {"repository": {d: 3 for d in pool}, "dmp": 5}
    # the mini batch is at most 4x the repository: 11 datasets x 2 inits = 22 prompts -> 88 (not 512)
    assert audit["dmp"]["repository"] == 22 and audit["dmp"]["batch_size"] == 88
    # the transfer tasks train on the source's classes: fidelity is measured there
    source = MINI_SUITE["cross_dataset"]["source"]
    rec = run("cross_dataset", "dmp_coop", source, sets, tmp_path, shared_cache)
    assert list(rec["audit"]["repository_fidelity"]) == [source]
    assert rec["audit"]["dmp"]["repository"] == 2 and rec["audit"]["dmp"]["batch_size"] == 8
