"""The image-synthesis figures of Diffusion Meta-Prompts on the mini world, from the methods' cached fits.

    python benchmarks/slider_figures.py [--cache-dir DIR] [--out leaderboards/figures] [--figures sliders,identity,variations]

* ``slider_strengths.png`` (DMP Figure 5 / 13): rows = prompt_slider, dmp_slider, concept_slider for "age" and
  "smiling" on "a photo of a man", columns = slider strengths 0, 0.5, 1, 1.5, 2 (strength 0 = the plain prompt).
* ``negative_sliders.png`` (Figure 19): dmp_slider sampled with the concept as the positive condition (top) and
  as the negative one with an empty positive (bottom), strength 1, four concepts.
* ``identity_composition.png`` (Figure 18 / 26): DMPMulti prompts for "identity-1" + "identity-2" composed with
  equation 3 (weights w and 4.5 - w over w = 0 .. 4.5), beside each identity's real training image.
* ``variations.png`` (Figure 16): for three unseen subjects of the variation task, a real training image, the
  subject's textual inversion, and five DMPVariation prompts conditioned on it ("a photo of a {}").

Each method is fitted through its own code with the mini defaults and seed 1 (the cached prompt sliders,
textual inversions and DMPs are reused when ``--cache-dir`` holds them, else trained). Images use the same seed
across a row, so a row shows one image changing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def fitted(method_name: str, task_name: str, cache_dir: Path | None, sets: list[str] | None = None):
    """``(method, data, synthesis)``: a generation method fitted as the task fits it (seed 1, mini world)."""
    from dmpbench.baselines.generation import GenerationData
    from dmpbench.context import PhaseTimer, RunContext
    from dmpbench.data.identity_subjects import DEFAULT_SUBJECTS, DEFAULT_TRAIN_IMAGES, subjects_for
    from dmpbench.data.slider_concepts import concepts_for
    from dmpbench.runner.run import RunRequest, default_cache_dir, resolve
    from dmpbench.runner.worlds import make_world
    from dmpbench.tasks import generation as gen

    req = RunRequest(task=task_name, method=method_name, progress=False, cache_dir=cache_dir, sets=sets or [])
    task_cls, method_cls, config = resolve(req)
    device = torch.device("cpu")
    world = make_world("mini", None, None, device)
    ctx = RunContext(device=device, precision="fp32", seed=1, cache_dir=(cache_dir or default_cache_dir()).expanduser(),
                     progress=True, timer=PhaseTimer(device))
    method = method_cls(world.backbone, config["method"], ctx)
    synthesis = gen.synthesis_for(world)
    if task_name == "slider":
        data = GenerationData(synthesis, "mini_faces", extra={"concepts": concepts_for("mini")})
    else:  # the identity and variation tasks' subjects (the same people in the mini world)
        s = subjects_for("mini", DEFAULT_SUBJECTS["mini"], DEFAULT_TRAIN_IMAGES, synthesis.image_size)
        data = GenerationData(synthesis, "mini_face_identities", list(s.names), images=s.train, labels=s.train_labels,
                              extra={"subject_words": s.words})
    method.fit(data)
    return method, data, synthesis


def render(method, synthesis, prompt: str, concept: str, strength: float, seed: int) -> torch.Tensor:
    from dmpbench.baselines.generation import GenerationRequest

    request = GenerationRequest((prompt,), concept=concept, n=1, strength=strength)
    with torch.no_grad():
        answer = method.prompt_embeddings(request, synthesis)
        cond = synthesis.encode(answer.texts, answer.learned)
        with method.denoiser(request, synthesis):
            return synthesis.generate(cond, [seed])[0]


def plain(synthesis, prompt: str, seed: int) -> torch.Tensor:
    with torch.no_grad():
        return synthesis.generate(synthesis.encode([prompt]), [seed])[0]


def save_grid(rows: list[list[torch.Tensor]], row_labels: list[str], col_labels: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), len(rows[0]), figsize=(1.3 * len(rows[0]) + 1.6, 1.3 * len(rows) + 0.6), squeeze=False)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            ax = axes[r][c]
            ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=7, rotation=0, ha="right", va="center")
            if r == 0:
                ax.set_title(col_labels[c], fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("leaderboards/figures"))
    parser.add_argument("--figures", default="sliders,identity,variations", help="which of sliders, identity, variations")
    args = parser.parse_args()
    chosen = set(args.figures.split(","))
    if not chosen <= {"sliders", "identity", "variations"}:
        parser.error(f"--figures takes sliders, identity, variations; got {args.figures}")
    seed = 7
    if "sliders" in chosen:
        slider_figures(args, seed)
    if "identity" in chosen:
        identity_figure(args, seed)
    if "variations" in chosen:
        variation_figure(args, seed)
    print(f"wrote {', '.join(sorted(chosen))} figures to {args.out}")


def slider_figures(args, seed: int) -> None:
    prompt = "a photo of a man"
    strengths = [0.0, 0.5, 1.0, 1.5, 2.0]
    methods = {m: fitted(m, "slider", args.cache_dir) for m in ("prompt_slider", "dmp_slider", "concept_slider")}
    synthesis = methods["prompt_slider"][2]
    rows, labels = [], []
    for concept in ("age", "smiling"):
        for name, (method, _, _) in methods.items():
            rows.append([plain(synthesis, prompt, seed) if s == 0 else render(method, synthesis, prompt, concept, s, seed) for s in strengths])
            labels.append(f"{name}\n{concept}")
    save_grid(rows, labels, [f"strength {s:g}" for s in strengths], f'mini SD, "{prompt}" + slider (seed {seed})',
              args.out / "slider_strengths.png")

    negative, _, _ = fitted("dmp_slider", "slider", args.cache_dir, ["method.negative=true"])
    positive = methods["dmp_slider"][0]
    concepts = ["age", "smiling", "hair_length", "glasses"]
    rows = [[plain(synthesis, prompt, seed) for _ in concepts],
            [render(positive, synthesis, prompt, c, 1.0, seed) for c in concepts],
            [render(negative, synthesis, prompt, c, 1.0, seed) for c in concepts]]
    save_grid(rows, ["plain prompt", "dmp_slider\n+concept", "dmp_slider\n-concept"], concepts,
              f'DMPSlider positive vs negative (empty positive, concept negative), "{prompt}"', args.out / "negative_sliders.png")


def identity_figure(args, seed: int) -> None:
    multi, data, synthesis = fitted("dmp_multi", "identity", args.cache_dir)
    a, b = multi.conds["identity-1"], multi.conds["identity-2"]
    weights = [0.0, 1.5, 2.25, 3.0, 4.5]
    row = [data.images[data.labels == 0][0]]
    for w in weights:
        prompts = multi.dmp.compose([(a, w), (b, 4.5 - w)], num_prompts=1, seed=1)
        with torch.no_grad():
            row.append(synthesis.generate(synthesis.encode(["a photo of a <*>"], prompts[0]), [seed])[0])
    row.append(data.images[data.labels == 1][0])
    save_grid([row], ["DMPMulti\ncomposition"], ["identity-1 (real)"] + [f"w1={w:g}" for w in weights] + ["identity-2 (real)"],
              "eq. 3: w1 * identity-1 + (4.5 - w1) * identity-2", args.out / "identity_composition.png")


def variation_figure(args, seed: int) -> None:
    variation, vdata, synthesis = fitted("dmp_variation", "variation", args.cache_dir)
    ti, _, _ = fitted("textual_inversion", "variation", args.cache_dir)
    rows, labels = [], []
    for i, name in enumerate(vdata.classnames[:3]):
        row = [vdata.images[vdata.labels == i][0], render(ti, synthesis, "a photo of a {}", name, 1.0, seed)]
        for k in range(5):
            row.append(synthesis.generate(synthesis.encode(["a photo of a <*>"], variation.samples[name][k]), [seed])[0])
        rows.append(row)
        labels.append(name)
    save_grid(rows, labels, ["real", "TI"] + [f"DMPVariation {k + 1}" for k in range(5)],
              '"a photo of a {}": textual inversion vs DMPVariation samples (unseen subjects)', args.out / "variations.png")


if __name__ == "__main__":
    main()
