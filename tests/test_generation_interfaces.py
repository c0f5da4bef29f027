"""The generation side of the plugin interface: text_prompt, the generation_quality task through the
unchanged runner (records, resume), and ``dmpbench generate`` (on a random-weight tiny SD pipeline)."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from dmpbench.baselines.generation import GenerationRequest, PromptEmbeddings
from dmpbench.cli import main
from dmpbench.errors import DmpbenchError
from dmpbench.registry import METHODS, TASKS
from dmpbench.runner.run import RunRequest, execute, resolve
from tiny_diffusers import tiny_sd1


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return tiny_sd1(tmp_path_factory.mktemp("tiny-sd1"))


def test_text_prompt_answers_plain_texts():
    cls = METHODS.get("text_prompt")
    assert cls.capabilities == ("generation",) and TASKS.get("generation_quality").capability == "generation"
    method = cls.__new__(cls)
    answer = method.prompt_embeddings(GenerationRequest(("a photo of a {}.", "a {} drawing"), concept="circle", n=2), None)
    assert answer.texts == ["a photo of a circle."] * 2 + ["a circle drawing"] * 2 and answer.learned is None
    with pytest.raises(ValueError):
        PromptEmbeddings(["a photo of <*>"])


def test_capabilities_are_checked_before_work():
    with pytest.raises(DmpbenchError, match="cannot serve task 'generation_quality'"):
        resolve(RunRequest(task="generation_quality", method="zeroshot"))
    with pytest.raises(DmpbenchError, match="cannot serve task 'base2new'"):
        resolve(RunRequest(task="base2new", method="text_prompt"))
    with pytest.raises(DmpbenchError, match="no setting 'nope'"):
        resolve(RunRequest(task="generation_quality", method="text_prompt", sets=["task.nope=1"]))


def test_generation_quality_record_through_the_runner(sd_folder, tmp_path, shared_cache):
    req = RunRequest(task="generation_quality", method="text_prompt", datasets=["mini_shapes"], seeds=[1],
                     results=tmp_path / "results", cache_dir=shared_cache, progress=False,
                     sets=[f"task.synthesis={sd_folder}", "task.per_class=1", "task.real_per_class=10",
                           "task.attribute_images=2", "task.steps=2"])
    lines: list[str] = []
    (record,) = execute(req, say=lines.append)
    m = record["metrics"]["mini_shapes"]
    assert set(m) == {"gen_acc", "real_acc", "acc_ratio", "clip_score", "attr_sep", "fid", "fid_untrained", "density", "coverage"}
    assert 0 <= m["gen_acc"] <= 100 and 0 <= m["clip_score"] <= 100 and m["fid"] > 0 and 0 <= m["coverage"] <= 1
    assert m["real_acc"] > 15  # the mini CLIP on real shapes: 28% zero-shot on the test split, chance 8.3% (random tiny SD images are near chance)
    audit = record["audit"]
    assert audit["extractors"]["fid"].startswith("CLIP image tower (mini-clip)") and "stand-in" in audit["extractors"]["fid"]
    assert audit["synthesis"]["steps"] == 2 and audit["synthesis"]["scheduler"] == "ddim"
    assert audit["images"] == {"generated": 12, "real": 120, "classes": 12, "template": "a photo of a {}.",
                               "attribute_pairs": [["a photo of a smiling person.", "a photo of a person."]]}
    assert {"fit", "sample", "generate", "evaluate"} <= set(record["timings"]["wall_s"])
    files = list((tmp_path / "results").rglob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["metrics"] == record["metrics"]
    again = execute(req, say=lines.append)  # resume: the record is read, nothing is rerun
    assert again[0]["metrics"] == record["metrics"] and any(line.startswith("skip") for line in lines)
    # the synthesis weights are part of the record's key: other weights (here: another key) are a new run
    from dmpbench.tasks import generation

    assert record["models"]["synthesis"].startswith(f"sd1:{sd_folder}:")  # a local SD 1.x folder: path + content hash
    loaded = next(v for k, v in generation._LOADED.items() if k[0] == str(sd_folder))
    original = loaded._cache_key
    try:
        loaded._cache_key = original + "-retrained"
        lines.clear()
        (other,) = execute(req, say=lines.append)
    finally:
        loaded._cache_key = original
    assert other["models"]["synthesis"] == original + "-retrained" and not any(line.startswith("skip") for line in lines)
    assert len(list((tmp_path / "results").rglob("*.json"))) == 2
    for path in (tmp_path / "results").rglob("*.json"):
        if json.loads(path.read_text())["models"]["synthesis"] != original:
            path.unlink()
    from dmpbench.leaderboard.build import build_leaderboards

    written, problems = build_leaderboards(tmp_path / "results", tmp_path / "boards", tasks=["generation_quality"])
    board = (tmp_path / "boards" / "generation_quality.md").read_text()
    assert not problems and "mini_shapes fid" in board and "text_prompt" in board
    assert "Networks behind the numbers" in board and "FID stand-in for Inception" in board


def test_generate_writes_a_png(sd_folder, tmp_path, capsys):
    out = tmp_path / "img.png"
    assert main(["generate", "--prompt", "a red circle", "--seed", "3", "--out", str(out), "--backbone", str(sd_folder),
                 "--steps", "2"]) == 0
    img = Image.open(out)
    assert img.size == (16, 16) and img.mode == "RGB"
    assert "wrote" in capsys.readouterr().out
    first = out.read_bytes()
    assert main(["generate", "--prompt", "a red circle", "--seed", "3", "--out", str(out), "--backbone", str(sd_folder),
                 "--steps", "2"]) == 0
    assert out.read_bytes() == first  # same seed, same image
    row = tmp_path / "row.png"
    assert main(["generate", "--prompt", "a red circle", "--n", "3", "--out", str(row), "--backbone", str(sd_folder), "--steps", "2"]) == 0
    assert Image.open(row).size == (48, 16)


@pytest.mark.parametrize("args,message", [
    (["--prompt", " "], "--prompt is empty"),
    (["--prompt", "a <*>"], "only learned tokens fill (--learned FILE)"),
    (["--prompt", "a cat", "--learned", "nope.safetensors"], "has no <*>"),
    (["--prompt", "a <*>", "--learned", "nope.safetensors"], "--learned file nope.safetensors does not exist"),
    (["--prompt", "a cat", "--seed", "-1"], "invalid seed"),
    (["--prompt", "a cat", "--n", "0"], "--n must be"),
    (["--prompt", "a cat", "--steps", "0"], "--steps must be positive"),
    (["--prompt", "a cat", "--scheduler", "nope"], "unknown scheduler"),
    (["--prompt", "a cat", "--backbone", "sd-rv4"], "Realistic_Vision_V4.0_noVAE are not in the local Hugging Face cache"),
])
def test_generate_bad_input_is_one_line(args, message, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["generate", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmpbench: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_generate_bad_out_path(tmp_path, capsys):
    assert main(["generate", "--prompt", "a cat", "--out", str(tmp_path / "x.jpg")]) == 2
    assert main(["generate", "--prompt", "a cat", "--out", str(tmp_path / "missing" / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "must name a .png" in err and "does not exist" in err


def test_generate_with_learned_tokens_checks_their_width(tmp_path, capsys):
    from safetensors.torch import save_file

    good, wide, two = tmp_path / "ti.safetensors", tmp_path / "wide.safetensors", tmp_path / "two.pt"
    save_file({"<subject>": torch.randn(384)}, str(good))  # diffusers' learned_embeds layout, the mini SD's width
    save_file({"<subject>": torch.randn(768)}, str(wide))
    torch.save({"a": torch.randn(384), "b": torch.randn(384)}, two)
    out = tmp_path / "x.png"
    assert main(["generate", "--prompt", "a photo of a <*>", "--learned", str(good), "--steps", "2", "--out", str(out)]) == 0
    assert Image.open(out).size == (32, 32)
    bad = tmp_path / "y.png"
    assert main(["generate", "--prompt", "a photo of a <*>", "--learned", str(wide), "--steps", "2", "--out", str(bad)]) == 2
    assert main(["generate", "--prompt", "a photo of a <*>", "--learned", str(two), "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "are 768 wide but mini-sd's text encoder takes 384-wide tokens" in err[0] and "holds 2 tensors" in err[1]
    assert len(err) == 2 and not bad.exists()
