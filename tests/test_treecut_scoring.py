"""Treecut scores every kind of classifier: one per label set, one per image (CoCoOp, Prompt Diffusion), and image
features that follow the label set (TAC, a generated prompt that prompts the tower). ``common.LabelSetPredictor``
asks the method for each label set as a task scoring it alone would, except that an image-conditioned method whose
classes are independent embeds the whole vocabulary once."""

import json

import pytest
import torch

from dmpbench.baselines.base import LabelSet
from dmpbench.context import RunContext
from dmpbench.errors import DmpbenchError
from dmpbench.runner.run import RunRequest, execute
from dmpbench.tasks import common
from dmpbench.tasks.treecut import Treecut
from cli_checks import assert_run_refused

VOCAB = ("ant", "bee", "cat", "dog", "eel")
N, D = 30, 8


def _row(name: str, image: int) -> torch.Tensor:
    """A class embedding for one image that depends on the name and the image only."""
    gen = torch.Generator().manual_seed(sum(map(ord, name)) * 1000 + image)
    v = torch.randn(D, generator=gen)
    return v / v.norm()


class FakeMethod:
    name = "fake"
    per_image = True
    classes_independent = True
    features_follow_labels = False
    encodes_images = False

    def __init__(self):
        self.asked: list[tuple[str, ...]] = []
        self.encoded: list[tuple[str, ...]] = []

    def image_class_embeddings(self, labels: LabelSet, feats: torch.Tensor) -> torch.Tensor:
        self.asked.append(labels.classnames)
        return torch.stack([torch.stack([_row(c, i) for c in labels.classnames]) for i in range(len(feats))])[None]

    def class_embeddings(self, labels: LabelSet) -> torch.Tensor:
        self.asked.append(labels.classnames)
        return torch.stack([_row(c, 0) for c in labels.classnames])[None]

    def image_features(self, images, labels: LabelSet) -> torch.Tensor:
        self.encoded.append(labels.classnames)
        gen = torch.Generator().manual_seed(len(labels.classnames))
        return torch.randn(N, D, generator=gen)


def _test_set() -> common.TestSet:
    gen = torch.Generator().manual_seed(0)
    return common.TestSet(LabelSet(VOCAB, "zoo"), torch.randn(N, D, generator=gen), torch.arange(N) % len(VOCAB), images=None)


def _ctx(tmp_path) -> RunContext:
    return RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=tmp_path, progress=False)


SETS = [("ant", "bee"), ("cat", "dog", "eel"), VOCAB, ("eel", "ant")]


def test_a_per_image_method_with_independent_classes_embeds_the_vocabulary_once(tmp_path):
    once, each = FakeMethod(), FakeMethod()
    each.classes_independent = False
    ts, ctx = _test_set(), _ctx(tmp_path)
    fast, slow = common.LabelSetPredictor(once, ctx, ts, [c for s in SETS for c in s]), common.LabelSetPredictor(each, ctx, ts, VOCAB)
    for names in SETS:
        got = fast.predict(LabelSet(names, "zoo"))
        assert got.shape == (1, N) and torch.equal(got, slow.predict(LabelSet(names, "zoo")))
    assert once.asked == [VOCAB] and each.asked == SETS
    with pytest.raises(DmpbenchError, match="outside the vocabulary"):
        fast.predict(LabelSet(("ant", "fox"), "zoo"))


def test_features_that_follow_the_label_set_are_taken_per_label_set(tmp_path):
    ts, ctx = _test_set(), _ctx(tmp_path)
    for follow, expected in ((True, SETS), (False, [VOCAB])):
        method = FakeMethod()
        method.per_image, method.encodes_images, method.features_follow_labels = False, True, follow
        predictor = common.LabelSetPredictor(method, ctx, ts, VOCAB)
        for names in SETS:
            assert predictor.predict(LabelSet(names, "zoo")).shape == (1, N)
        assert method.encoded == expected  # (the shared features: asked once, for the test set's own labels)


SHAPES_TREE = {  # mini_shapes' 12 classes in 4 groups of 3, each with a pair below it: 81 cuts to draw 25 from
    "root": "shape",
    "children": {
        "shape": ["round", "angular", "pointed", "other"],
        "round": ["curved", "heart"], "curved": ["circle", "crescent moon"],
        "angular": ["box", "pentagon"], "box": ["square", "diamond"],
        "pointed": ["spiky", "triangle"], "spiky": ["star", "lightning bolt"],
        "other": ["mark", "hexagon"], "mark": ["cross", "arrow"],
    },
}


def test_treecut_runs_prompt_diffusion_per_image(tmp_path, shared_cache, tenth_of_test_images):
    tree = tmp_path / "shapes_tree.json"
    tree.write_text(json.dumps(SHAPES_TREE))
    sets = [f"task.tree={tree}", "task.source=mini_shapes", "task.shots=2", "method.coop_steps=3", "method.overfit_steps=2",
            "method.train_steps=20", "method.width=32", "method.layers=1"]
    (rec,) = execute(RunRequest(task="treecut", method="prompt_diffusion", datasets=["mini_shapes"], seeds=[1], results=tmp_path / "r",
                                cache_dir=shared_cache, sets=sets, progress=False), say=lambda line: None)
    metrics = rec["metrics"]["mini_shapes"]
    assert 0 < metrics["mta"] <= 100 and 0 <= metrics["hca"] <= 100
    assert rec["audit"]["treecuts"]["count"] == 25
    assert rec["audit"]["prompt_diffusion"]["seconds_per_image"]["mini_shapes"] > 0


@pytest.mark.parametrize("method, words", [("cocoop", "gives one per image"), ("dmp_maple", "once per generated prompt")])
def test_a_task_that_scores_one_classifier_per_label_set_refuses_the_others_before_any_work(method, words, tmp_path, capsys, monkeypatch):
    """A (plugin) task may declare that it cannot score image-conditioned classifiers; the built-in ones all can."""
    monkeypatch.setattr(Treecut, "per_image_methods", False)
    assert_run_refused("treecut", method, ["--no-progress"], words, tmp_path, capsys)
