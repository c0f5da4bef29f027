"""The mini face-ID network (weights checked, verification pinned against random init), the verification
protocol, the LPIPS stand-in and the world -> metric-network map."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from dmpbench.errors import DmpbenchError
from dmpbench.metrics import verification
from dmpbench.metrics.lpips_distance import FeatureLpips
from dmpbench.metrics.mini_faceid import (
    CHECKPOINT_DIR, CONFIG_FILE, WEIGHTS_FILE, MiniFaceIdFeatures, load_mini_faceid, random_face_net, uint8_to_float,
)
from dmpbench.metrics.standins import ROLES, metric_network


# -- verification protocol ---------------------------------------------------------------------------
def test_best_threshold_by_hand():
    acc, thr = verification.best_threshold_accuracy(torch.tensor([0.1, 0.2, 0.8, 0.9]), [0, 0, 1, 1])
    assert acc == 100.0 and thr == pytest.approx(0.5)
    # one genuine pair scores below one impostor pair: 3 of 4 at best
    acc, thr = verification.best_threshold_accuracy(torch.tensor([0.1, 0.6, 0.5, 0.9]), [0, 0, 1, 1])
    assert acc == 75.0
    assert verification.accuracy_at(torch.tensor([0.1, 0.6, 0.5, 0.9]), [0, 0, 1, 1], thr) == 75.0
    # tied scores cannot be split: all four pairs score the same -> half right at best
    acc, _ = verification.best_threshold_accuracy(torch.full((4,), 0.3), [0, 1, 0, 1])
    assert acc == 50.0


def test_pairs_are_balanced_and_valid():
    pairs = verification.verification_pairs(7, 5, per_identity=4, seed=3)
    assert len(pairs) == 7 * 4 * 2 and pairs[:, 4].sum() == 7 * 4
    genuine, impostor = pairs[pairs[:, 4] == 1], pairs[pairs[:, 4] == 0]
    assert (genuine[:, 0] == genuine[:, 2]).all() and (genuine[:, 1] != genuine[:, 3]).all()
    assert (impostor[:, 0] != impostor[:, 2]).all()
    for k in range(7):  # per identity: its own genuine pairs are distinct, counts balanced
        own = genuine[genuine[:, 0] == k]
        assert len({tuple(r[[1, 3]]) for r in own}) == 4 and (impostor[:, 0] == k).sum() == 4
    assert np.array_equal(pairs, verification.verification_pairs(7, 5, per_identity=4, seed=3))
    with pytest.raises(ValueError):
        verification.verification_pairs(3, 3, per_identity=4)


# -- the shipped network -----------------------------------------------------------------------------
def test_weights_are_checked(tmp_path):
    net, config = load_mini_faceid()
    assert not net.training and config["model"]["parameters"] == sum(p.numel() for p in net.parameters())
    assert config["model"]["parameters"] < 500_000
    folder = tmp_path / "faceid"
    shutil.copytree(CHECKPOINT_DIR, folder)
    data = bytearray((folder / WEIGHTS_FILE).read_bytes())
    data[-10] ^= 0xFF
    (folder / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(DmpbenchError, match="sha256") as err:
        load_mini_faceid(folder)
    assert "\n" not in str(err.value) and "dmpbench mini build-faceid" in str(err.value)
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(DmpbenchError, match="missing"):
        MiniFaceIdFeatures(checkpoint_dir=folder)
    shutil.copy(CHECKPOINT_DIR / WEIGHTS_FILE, folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text("{not json")
    with pytest.raises(DmpbenchError, match="not a mini face-ID configuration"):
        load_mini_faceid(folder)


def test_verification_on_held_out_identities_is_pinned_and_beats_random_init():
    from dmpbench.data.mini.faces import identity_split, mini_face_identities
    from dmpbench.metrics.mini_faceid_build import evaluate

    net, config = load_mini_faceid()
    ver = config["verification"]
    pinned = ver["pinned_subset"]
    faces = mini_face_identities(config["training"]["data_seed"], config["model"]["image_size"])
    test_ids = faces.split("test")
    assert not set(test_ids) & set(identity_split("train", config["training"]["data_seed"]))
    ids = test_ids[:50]
    trained = evaluate(net, faces, ids, pinned["pairs_per_identity"], pinned["pair_seed"])
    untrained = evaluate(random_face_net(config["training"]["seed"], config["model"]), faces, ids,
                         pinned["pairs_per_identity"], pinned["pair_seed"])
    assert trained["pairs"] == 1000
    assert trained["accuracy"] == pytest.approx(pinned["trained"]["accuracy"], abs=1.0)
    assert untrained["accuracy"] == pytest.approx(pinned["random_init"]["accuracy"], abs=1.0)
    assert trained["accuracy"] > untrained["accuracy"] + 20
    assert trained["genuine_mean_cos"] > trained["impostor_mean_cos"] + 0.3
    # the full held-out figure the README quotes is clearly above the random-init network too
    assert ver["test"]["accuracy"] > ver["random_init_test"]["accuracy"] + 20
    assert ver["test"]["pairs"] == 2 * pinned["pairs_per_identity"] * len(test_ids)


def test_extractor_shape_normalisation_and_resize():
    from dmpbench.data.mini.faces import identity_images

    ext = MiniFaceIdFeatures()
    assert "stand-in for FaceNet" in ext.name and ext.config["sha256"][:8] in ext.name
    big, _ = identity_images(5, 3, size=64)
    x64 = uint8_to_float(big)
    feats = ext.features(x64)
    assert feats.shape == (3, ext.num_features) == (3, 128)
    assert torch.allclose(feats.norm(dim=-1), torch.ones(3), atol=1e-5)
    small = torch.nn.functional.interpolate(x64, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
    assert torch.allclose(ext(small), feats, atol=1e-5)
    with pytest.raises(DmpbenchError, match=r"\[N, 3, H, W\]"):
        ext(torch.rand(2, 1, 32, 32))
    rand = MiniFaceIdFeatures(pretrained=False)
    assert "random weights" in rand.name and rand(x64).shape == (3, 128)


# -- LPIPS stand-in ------------------------------------------------------------------------------------
def test_feature_lpips_by_hand():
    lp = FeatureLpips(lambda x: [x], "identity layer (test)")
    a = torch.zeros(1, 3, 2, 2)
    a[:, 0] = 2.0  # every position's channel vector (2, 0, 0) -> unit (1, 0, 0)
    b = torch.zeros(1, 3, 2, 2)
    b[:, 1] = 0.5  # -> (0, 1, 0): squared distance 2 everywhere
    assert float(lp.distances(a, b)[0]) == pytest.approx(2.0, abs=1e-6)
    assert lp(a, a * 3) == pytest.approx(0.0, abs=1e-6)  # scale-invariant per position, as LPIPS
    with pytest.raises(ValueError, match="paired images"):
        lp(a, torch.zeros(2, 3, 2, 2))


@pytest.fixture(scope="module")
def mini_clip():
    from dmpbench.backbones.mini import MiniCLIP

    return MiniCLIP()


def test_lpips_standin_zero_symmetric_monotone(mini_clip):
    from dmpbench.data.mini.faces import identity_images

    lp = metric_network("lpips", "mini", mini_clip).network
    imgs, _ = identity_images(3, 4, size=64)
    x = uint8_to_float(imgs)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(x.shape, generator=g)
    small, big = (x + 0.03 * noise).clamp(0, 1), (x + 0.3 * noise).clamp(0, 1)
    assert torch.allclose(lp.distances(x, x), torch.zeros(4), atol=1e-6)
    assert torch.allclose(lp.distances(x, big), lp.distances(big, x), atol=1e-6)
    d_small, d_big = lp.distances(x, small), lp.distances(x, big)
    assert (d_small > 0).all() and (d_big > d_small).all()
    other, _ = identity_images(8, 4, size=64)
    assert lp(x, uint8_to_float(other)) > lp(x, small)


# -- world -> network map ----------------------------------------------------------------------------
def test_mini_world_gets_named_standins(mini_clip):
    x = torch.rand(3, 3, 64, 64)
    for role in ROLES:
        net = metric_network(role, "mini", mini_clip)
        assert net.role == role and net.standin_for, role
        if role != "clip":
            assert "stand-in for" in net.name, (role, net.name)
        else:
            assert "mini-clip" in net.name
    assert "FaceNet" in metric_network("face_id", "mini").name
    dino = metric_network("dino", "mini", mini_clip)
    assert "DINO" in dino.name and "pre-projection" in dino.name
    assert dino.network(x).shape == (3, 128)
    fid = metric_network("fid", "mini", mini_clip)
    assert "Inception" in fid.name and fid.network(x).shape == (3, 384)
    assert not torch.allclose(fid.network(x)[:, :128], dino.network(x))
    with pytest.raises(DmpbenchError, match="unknown metric role"):
        metric_network("ssim", "mini", mini_clip)
    with pytest.raises(DmpbenchError, match="unknown world"):
        metric_network("fid", "moon")


def test_paper_world_gets_paper_networks():
    fid = metric_network("fid", "paper")
    assert fid.network == "inception" and fid.standin_for is None and "Inception-v3" in fid.name
    face = metric_network("face_id", "paper", pretrained=False)
    assert face.standin_for is None and face.name.startswith("facenet-pytorch InceptionResnetV1")
    with pytest.raises(DmpbenchError, match="backbone"):
        metric_network("clip", "paper")


def test_cli_has_build_faceid():
    from dmpbench.cli import build_parser

    args = build_parser().parse_args(["mini", "build-faceid", "--seed", "2"])
    assert args.mini_command == "build-faceid" and args.seed == 2
