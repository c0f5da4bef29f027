"""The ``dmpbench`` command: argument parsing only; the work happens in the runner and leaderboard layers.

Bad input ends with one line on stderr and exit code 2 (``DmpbenchError``), never a traceback.
Torch-heavy modules are imported inside the subcommands, so ``dmpbench list`` stays fast.
"""

from __future__ import annotations

import argparse
import errno
import sys
import warnings
from pathlib import Path

from dmpbench.errors import DmpbenchError

RUN_EXAMPLES = """examples:
  dmpbench run --task base2new --method dmp_coop                  # mini world, seeds 1 2 3
  dmpbench run --task base2new --method coop --dataset mini_shapes --seed 1
  dmpbench run --task cross_dataset --method zeroshot --set method.template=hand
  dmpbench run --task base2new --method zeroshot --backbone ViT-B-16 --pretrained none --data-root ~/data
  dmpbench run --task base2new --method coop --config my.yaml --set method.epochs=50 --force
  torchrun --nproc-per-node 4 -m dmpbench run --task base2new --method coop     # grid split over 4 ranks
  dmpbench run --task base2new --method coop --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT
"""

LIST_EXAMPLES = """examples:
  dmpbench list              # everything
  dmpbench list methods      # plugins from other packages show up too (entry point group dmpbench.methods)
"""

LEADERBOARD_EXAMPLES = """examples:
  dmpbench leaderboard                                    # results/ -> leaderboards/
  dmpbench leaderboard --results runs/ --out tables/ --task base2new
"""

PAPER_CHECK_EXAMPLES = """examples:
  dmpbench paper-check --results results/ --tolerance 1.0       # reproduced vs published cells
  dmpbench paper-check --results leaderboards/mini/records --against pinned
  dmpbench paper-check --results leaderboards/mini/records --write-pins     # (re)pin after a deliberate change
"""

MINI_EXAMPLES = """examples:
  dmpbench mini build                 # retrain the mini CLIP image tower (seed 0) into the package
  dmpbench mini build --out /tmp/mini --seed 1
  dmpbench mini build-sd              # retrain the mini SD (autoencoder + UNet) into the package
  dmpbench mini build-faceid          # retrain the mini face-ID network (CosFace, ~7 min on one CPU thread)
"""


GENERATE_EXAMPLES = """examples:
  dmpbench generate --prompt "a photo of a smiling person" --seed 0 --out face.png     # mini SD
  dmpbench generate --prompt "a red circle" --n 8 --out circles.png                    # 8 seeds in a row
  dmpbench generate --prompt "a photo of a person" --backbone sd-rv4 --out rv4.png     # local SD weights
  dmpbench generate --prompt "a cat" --backbone sdxl:/models/sdxl-base --steps 20 --out cat.png
  dmpbench generate --prompt "a photo of a <*>" --learned ti.safetensors --out subject.png  # a learned token
"""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dmpbench", description="Benchmark of generated prompts for frozen CLIP / diffusion models.", formatter_class=_formatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a task with a method over datasets and seeds", epilog=RUN_EXAMPLES, formatter_class=_formatter)
    run.add_argument("--task", required=True, help="task name (dmpbench list tasks)")
    run.add_argument("--method", required=True, help="method or baseline name (dmpbench list methods)")
    run.add_argument("--backbone", default="mini", help="'mini' (built in, default), 'openclip', or an open_clip model name such as ViT-B-16")
    run.add_argument("--pretrained", default=None, help="open_clip pretrained tag (default openai), 'none' for random weights, or a checkpoint path")
    run.add_argument("--dataset", nargs="+", default=None, help="datasets (default: the task's datasets in the chosen world)")
    run.add_argument("--seed", nargs="+", type=int, default=[1, 2, 3], help="seeds (default 1 2 3)")
    run.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when present)")
    run.add_argument("--precision", default=None, choices=["auto", "bf16", "fp32"], help="default: bf16 autocast on CUDA, fp32 on CPU")
    run.add_argument("--results", type=Path, default=Path("results"), help="results directory (default ./results)")
    run.add_argument("--cache-dir", type=Path, default=None, help="feature/artefact cache (default $DMPBENCH_CACHE or ~/.cache/dmpbench)")
    run.add_argument("--data-root", default=None, help="paper-world data root in the CoOp layout (default $DMPBENCH_DATA)")
    run.add_argument("--config", default=None, help="YAML file with sections task:, method:")
    run.add_argument("--set", dest="sets", nargs="+", default=[], metavar="SECTION.KEY=VALUE", help="override a setting, e.g. method.epochs=10")
    run.add_argument("--force", action="store_true", help="rerun units whose record already exists")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--shard", default=None, metavar="I/N", help="run only part I of N of the (dataset, seed) grid (independent jobs, e.g. a Slurm array)")
    run.add_argument("--data-parallel", action="store_true", help="under torchrun: ranks train each unit's DMP together with DDP instead of splitting the grid")

    lst = sub.add_parser("list", help="list tasks, methods, backbones and datasets", epilog=LIST_EXAMPLES, formatter_class=_formatter)
    lst.add_argument("kind", nargs="?", choices=["tasks", "methods", "backbones", "datasets"], help="only this kind")

    lb = sub.add_parser("leaderboard", help="build Markdown/CSV leaderboards from run records and published numbers", epilog=LEADERBOARD_EXAMPLES, formatter_class=_formatter)
    lb.add_argument("--results", type=Path, default=Path("results"), help="records directory (default ./results)")
    lb.add_argument("--out", type=Path, default=Path("leaderboards"), help="output directory (default ./leaderboards)")
    lb.add_argument("--task", nargs="+", default=None, help="only these tasks")

    pc = sub.add_parser("paper-check", help="compare reproduced records with published (or pinned) numbers", epilog=PAPER_CHECK_EXAMPLES, formatter_class=_formatter)
    pc.add_argument("--results", type=Path, default=Path("results"), help="records directory (default ./results)")
    pc.add_argument("--tolerance", type=float, default=1.0, help="largest allowed |reproduced - reference| in points (default 1.0)")
    pc.add_argument("--against", choices=["published", "pinned"], default="published", help="published paper cells (default) or the pinned values file next to the records")
    pc.add_argument("--write-pins", action="store_true", help="write pinned.csv (mean over seeds of every cell) beside the records and exit")

    g = sub.add_parser("generate", help="render a prompt to a PNG with a text-to-image model", epilog=GENERATE_EXAMPLES, formatter_class=_formatter)
    g.add_argument("--prompt", required=True, help="the text prompt")
    g.add_argument("--out", type=Path, required=True, help="PNG file to write")
    g.add_argument("--seed", type=int, default=0, help="seed of the first image (default 0)")
    g.add_argument("--n", type=int, default=1, help="images (seeds seed..seed+n-1), written side by side")
    g.add_argument("--backbone", default="mini", help="'mini' (mini SD, default), sd-rv4, sd15, sdxl, sd1:DIR, sdxl:DIR, or a diffusers folder / cached repo id")
    g.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (default: the model's recipe)")
    g.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's recipe)")
    g.add_argument("--scheduler", default=None, help="ddim (default), pndm, euler, dpm++, ... or a diffusers scheduler class")
    g.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when present)")
    g.add_argument("--learned", type=Path, default=None, help="learned tokens for the prompt's <*> (.safetensors or torch file, [d] or [K, d])")
    g.add_argument("--strength", type=float, default=1.0, help="scale of the learned tokens (a prompt slider's strength; default 1)")

    mini = sub.add_parser("mini", help="the built-in mini world", epilog=MINI_EXAMPLES, formatter_class=_formatter)
    mini_sub = mini.add_subparsers(dest="mini_command", required=True, parser_class=_Parser)
    build = mini_sub.add_parser("build", help="train the mini CLIP image tower", epilog=MINI_EXAMPLES, formatter_class=_formatter)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--out", type=Path, default=None, help="output directory (default: inside the package)")
    build_sd = mini_sub.add_parser("build-sd", help="train the mini SD (latent diffusion on MiniLM token states)", epilog=MINI_EXAMPLES, formatter_class=_formatter)
    build_sd.add_argument("--seed", type=int, default=0)
    build_sd.add_argument("--out", type=Path, default=None, help="output directory (default: inside the package)")
    build_sd.add_argument("--unet-steps", type=int, default=None, help="UNet training steps (default: mini_sd_build.DEFAULTS)")
    build_sd.add_argument("--objects-per-class", type=int, default=None, help="mini_objects train images per class with colour/size/background captions (0: none)")
    build_sd.add_argument("--shape-plain-share", type=float, default=None, help="share of mini_shapes captioned by class name only (1: all)")
    build_fid = mini_sub.add_parser("build-faceid", help="train the mini face-ID network (metric learning on mini-face identities)", epilog=MINI_EXAMPLES, formatter_class=_formatter)
    build_fid.add_argument("--seed", type=int, default=0)
    build_fid.add_argument("--out", type=Path, default=None, help="output directory (default: inside the package)")
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    from dmpbench.registry import REGISTRIES

    kinds = [args.kind] if args.kind else list(REGISTRIES)
    for kind in kinds:
        registry = REGISTRIES[kind]
        print(f"{kind}:")
        names = registry.names()
        width = max([18, *(len(n) for n in names)])  # the summaries line up whatever the longest name
        for name in names:
            source = registry.source(name)
            tag = f"  [{source}]" if source != "dmpbench" else ""
            print(f"  {name:<{width}} {registry.summary(name)}{tag}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from dmpbench.runner.run import RunRequest, execute

    req = RunRequest(
        task=args.task, method=args.method, backbone=args.backbone, pretrained=args.pretrained, datasets=args.dataset,
        seeds=args.seed, device=args.device, precision=args.precision, results=args.results, cache_dir=args.cache_dir,
        config_file=args.config, sets=args.sets, force=args.force, data_root=args.data_root, progress=not args.no_progress,
        shard=args.shard, data_parallel=args.data_parallel,
    )
    from dmpbench.cachefiles import remove_empty_dirs

    existed = args.results.exists()
    try:
        execute(req)
    except BaseException:
        if not existed:  # a failed run leaves no empty results folder behind
            remove_empty_dirs(args.results)
        raise
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from dmpbench.leaderboard.build import build_leaderboards

    written, problems = build_leaderboards(args.results, args.out, tasks=args.task)
    for problem in problems:
        print(f"dmpbench: skipped record {problem}", file=sys.stderr)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_paper_check(args: argparse.Namespace) -> int:
    from dmpbench.leaderboard.papercheck import paper_check

    return paper_check(args.results, args.tolerance, against=args.against, write=args.write_pins)


def cmd_generate(args: argparse.Namespace) -> int:
    from dmpbench.runner.generate import GenerateRequest, generate

    generate(GenerateRequest(prompt=args.prompt, out=args.out, seed=args.seed, backbone=args.backbone, n=args.n,
                             guidance=args.guidance, steps=args.steps, scheduler=args.scheduler, device=args.device,
                             learned=args.learned, strength=args.strength))
    return 0


def cmd_mini(args: argparse.Namespace) -> int:
    if args.mini_command == "build-sd":
        from dmpbench.backbones.synthesis.mini_sd_build import build_mini_sd

        options = {k: getattr(args, k) for k in ("unet_steps", "objects_per_class", "shape_plain_share")}
        if (options["unet_steps"] is not None and options["unet_steps"] < 1) or (options["objects_per_class"] or 0) < 0 \
                or not 0 <= (options["shape_plain_share"] if options["shape_plain_share"] is not None else 0) <= 1:
            raise DmpbenchError("mini build-sd: --unet-steps must be >= 1, --objects-per-class >= 0, --shape-plain-share in [0, 1]")
        build_mini_sd(seed=args.seed, out_dir=args.out, **{k: v for k, v in options.items() if v is not None})
        return 0
    if args.mini_command == "build-faceid":
        from dmpbench.metrics.mini_faceid_build import build_mini_faceid

        build_mini_faceid(seed=args.seed, out_dir=args.out)
        return 0
    from dmpbench.backbones.mini_build import build_mini_clip

    build_mini_clip(seed=args.seed, out_dir=args.out)
    return 0


COMMANDS = {"list": cmd_list, "run": cmd_run, "leaderboard": cmd_leaderboard, "paper-check": cmd_paper_check, "mini": cmd_mini,
            "generate": cmd_generate}


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"dmpbench: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DmpbenchError as exc:
        print(f"dmpbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dmpbench: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a full disk or a folder that became unwritable mid-run: one line, not a traceback
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        from dmpbench.cachefiles import os_error_message

        print(f"dmpbench: error: {os_error_message(exc.filename or 'a file', exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
