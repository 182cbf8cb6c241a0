"""Imagery from another source: cross-source, adapted, multi-source and fine-tuned road F1.

Each mode is a time-boxed training run of ``basiss train``'s default recipe (the
``cpu`` preset of ``basiss.training.presets``, or ``--preset``) on this machine:

- ``cross``: train on ``../shared/data/cil2016`` only (90 images train, 10
  validation, split by image), then score ``best.pt`` on *all* 72 images of
  ``../shared/data/cil2022_train`` (another source: about twice as bright,
  sharper, roads under trees labelled), before and after ``basiss adapt``
  (AdaBN: BatchNorm statistics re-estimated on the 72 images, labels unused).
  Targets: F1 >= 0.65 on cil2022_train, with and without adaptation.
- ``multi``: train on both sources at once (split by image per source: 10 + 7
  validation images, equal sampling weights), best.pt by the worst source's
  validation F1. Targets: validation F1 >= 0.80 on cil2016, >= 0.78 on cil2022_train.
- ``selftrain``: self-training on unlabelled target imagery: ``--init-from CKPT`` (a
  ``cross`` run's best.pt) pseudo-labels all 72 cil2022_train images (``basiss adapt
  --pseudo-labels``: road at p >= ``--confidence``, background at p <= 1 -
  ``--background-confidence``,
  the rest ignored; their labels unused), then ``--minutes`` of training from CKPT on
  those masks alone; best.pt and last.pt scored on the 72 images with their labels.
  Target: F1 >= 0.65, as the cross mode's.
- ``finetune``: 10 labelled cil2022_train images (a seeded choice), ``--minutes``
  of training from ``--init-from CKPT`` (e.g. a ``cross`` run's best.pt) and the same
  from scratch; both scored on the other 62 images.

Scores are pixel precision/recall/F1/IoU at probability 0.5, micro-averaged,
each image read whole (one 400x400 chip; the nets are fully convolutional),
masks thresholded at 127.

    .venv/bin/python benchmarks/sources.py --mode cross --minutes 30 --seed 0
    .venv/bin/python benchmarks/sources.py --mode multi --minutes 30 --seed 0
    .venv/bin/python benchmarks/sources.py --mode finetune --minutes 10 \\
        --init-from /tmp/runs/cross_s0/cross/best.pt
    .venv/bin/python benchmarks/sources.py --mode selftrain --minutes 10 \\
        --init-from /tmp/runs/cross_s0/cross/best.pt
    .venv/bin/python benchmarks/sources.py --mode cross --quick   # ~2 min smoke

Prints a table and appends one line per mode to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basiss.data.dataset import discover_pairs, source_name
from basiss.inference.options import PredictOptions
from basiss.io.filelist import write_file_list
from basiss.training.adapt import adapt_batchnorm, target_images
from basiss.training.checkpoint import load_checkpoint
from basiss.training.loop import TrainConfig, TrainResult, train
from basiss.training.presets import DEFAULT, PRESETS
from basiss.training.pseudo import write_pseudo_labels

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    DATA,
    add_record_args,
    print_table,
    record,
    score_whole_images,
)

#: Target F1 of each mode's scored sets.
TARGETS = {
    "cross": {"cil2022_train all": 0.65, "cil2022_train all, adapted": 0.65},
    "multi": {"cil2016 val": 0.80, "cil2022_train val": 0.78},
    "finetune": {},
    "selftrain": {"cil2022_train all, self-trained": 0.65},
}
#: Labelled target images the fine-tuning mode trains on.
FINETUNE_IMAGES = 10


@dataclass
class Row:
    """One run of a mode: what was scored and how the training went."""

    mode: str
    scores: dict[str, dict[str, float]]  # label -> metrics
    result: TrainResult
    config: TrainConfig


def config(args: argparse.Namespace, sources: list[Path], out: Path, **kw: object) -> TrainConfig:
    """The preset with this benchmark's data, budget and machine settings."""
    given: dict[str, object] = {}
    if args.quick:
        given.update(slice=(128, 128), max_chips_per_epoch=48)
        if not kw.get("init_from"):  # a run from a checkpoint keeps its net's width
            given.update(arch_kwargs={"base": 8})
    if args.zoom is not None:
        given.update(zoom=args.zoom)
    if args.slice is not None:
        given.update(slice=(args.slice, args.slice))
    if args.arch_kwargs is not None:
        given.update(arch_kwargs=args.arch_kwargs)
    if args.ema is not None:
        given.update(ema=args.ema)
    given.update(kw)
    return TrainConfig.from_preset(
        args.preset,
        file_lists=sources,
        out=out,
        mask_threshold=127,
        max_minutes=min(args.minutes, 1.5) if args.quick else args.minutes,
        threads=args.threads,
        device="cpu",
        seed=args.seed,
        **given,
    )


def run_training(name: str, cfg: TrainConfig) -> TrainResult:
    """Train, printing one line per epoch."""
    t = time.monotonic()

    def show(row: dict[str, float]) -> None:
        per = " ".join(f"{k[7:]} {v:.4f}" for k, v in row.items() if k.startswith("val_f1_"))
        print(
            f"[{name}] epoch {int(row['epoch']):3d} {(time.monotonic() - t) / 60:5.1f} min  "
            f"train {row['train_loss']:.4f}  val {row['val_loss']:.4f}  F1 {row['val_f1']:.4f} "
            f"({per})  {row['chips_per_s']:.2f} chips/s",
            flush=True,
        )

    return train(cfg, on_epoch=show)


def run_cross(args: argparse.Namespace, out: Path) -> list[Row]:
    c16, c22 = args.data / "cil2016", args.data / "cil2022_train"
    cfg = config(args, [c16], out / "cross")
    res = run_training("cross", cfg)
    _, spec = load_checkpoint(res.best_path)
    limit = 12 if args.quick else None
    scores = {
        "cil2016 val": score_whole_images(res.best_path, c16, set(spec.extra["val_images"])),
        "cil2022_train all": score_whole_images(res.best_path, c22, None, limit),
    }
    adapted = adapt_batchnorm(res.best_path, c22, out / "cross" / "best_adapted_cil2022.pt")
    scores["cil2022_train all, adapted"] = score_whole_images(adapted.path, c22, None, limit)
    return [Row("cross", scores, res, cfg)]


def run_multi(args: argparse.Namespace, out: Path) -> list[Row]:
    sources = [args.data / "cil2016", args.data / "cil2022_train"]
    cfg = config(args, sources, out / "multi", source_weights=[1.0, 1.0])
    res = run_training("multi", cfg)
    _, spec = load_checkpoint(res.best_path)
    val = set(spec.extra["val_images"])
    scores = {f"{source_name(s)} val": score_whole_images(res.best_path, s, val) for s in sources}
    return [Row("multi", scores, res, cfg)]


def run_finetune(args: argparse.Namespace, out: Path) -> list[Row]:
    if args.init_from is None:
        raise SystemExit("--mode finetune needs --init-from CKPT (e.g. a cross run's best.pt)")
    c22 = args.data / "cil2022_train"
    pairs = discover_pairs(c22)
    order = np.random.default_rng(args.seed).permutation(len(pairs))
    chosen = sorted(int(i) for i in order[:FINETUNE_IMAGES])
    out.mkdir(parents=True, exist_ok=True)
    labelled = write_file_list(out / "cil2022_10.csv", [pairs[i] for i in chosen])
    rest = {p.name for i, p in enumerate(pairs) if i not in chosen}
    rows = []
    for name, init in (("finetune", args.init_from), ("scratch", None)):
        cfg = config(args, [labelled], out / name, init_from=init)
        res = run_training(name, cfg)
        scores = {"cil2022_train other 62": score_whole_images(res.best_path, c22, rest)}
        rows.append(Row(f"finetune {name}", scores, res, cfg))
    return rows


def run_selftrain(args: argparse.Namespace, out: Path) -> list[Row]:
    if args.init_from is None:
        raise SystemExit("--mode selftrain needs --init-from CKPT (e.g. a cross run's best.pt)")
    c22 = args.data / "cil2022_train"
    images = target_images(c22)[: 12 if args.quick else None]
    t0 = time.monotonic()
    opts = PredictOptions(threads=args.threads, show_progress=False)
    pl = write_pseudo_labels(
        args.init_from, images, out / "pseudo", args.confidence, opts, args.background_confidence
    )
    print(
        f"pseudo-labels of {len(images)} images in {time.monotonic() - t0:.0f} s: "
        f"{pl.labelled:.1%} of the pixels labelled, {pl.road:.1%} of those road",
        flush=True,
    )
    cfg = config(args, [pl.file_list], out / "selftrain", init_from=args.init_from)
    res = run_training("selftrain", cfg)
    names = {p.stem for p in images}
    scores = {
        "cil2022_train all, teacher": score_whole_images(args.init_from, c22, names),
        "cil2022_train all, self-trained": score_whole_images(res.best_path, c22, names),
        "cil2022_train all, self-trained last": score_whole_images(res.last_path, c22, names),
    }
    return [Row("selftrain", scores, res, cfg)]


MODES = {
    "cross": run_cross,
    "multi": run_multi,
    "finetune": run_finetune,
    "selftrain": run_selftrain,
}


def record_row(r: Row, args: argparse.Namespace) -> None:
    """One RESULTS.md line for a run."""
    targets = TARGETS.get(r.mode, {})
    f1s = ", ".join(f"{k} F1 {v['f1']:.4f}" for k, v in r.scores.items())
    verdict = ""
    if targets:
        ok = all(r.scores[k]["f1"] >= t for k, t in targets.items())
        verdict = (
            " (targets "
            + ", ".join(f"{k} >= {t:.2f}" for k, t in targets.items())
            + f": {'PASS' if ok else 'FAIL'})"
        )
    c = r.config
    init = f", init from {c.init_from}" if c.init_from else ""
    if r.mode == "selftrain":
        bg = args.background_confidence or args.confidence
        init += f", pseudo-labels at confidence {args.confidence} (background {bg})"
    record(
        f"sources {r.mode}",
        f"preset {c.preset} ({c.arch} {c.arch_kwargs}, slice {c.slice[0]}, zoom {c.zoom:g}, "
        f"norm {c.norm}{f', ema {c.ema:g}' if c.ema else ''}), "
        f"seed {c.seed}{init}: {r.result.epochs_run} epochs, {r.result.seconds / 60:.1f} min; "
        f"{f1s}{verdict}",
    )


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--mode", choices=sorted(MODES), default="cross", help="which experiment")
    p.add_argument("--minutes", type=float, default=30.0, help="training budget per run")
    p.add_argument("--preset", default=DEFAULT, choices=sorted(PRESETS), help="training recipe")
    p.add_argument(
        "--init-from", type=Path, default=None, help="finetune, selftrain: starting checkpoint"
    )
    p.add_argument(
        "--confidence", type=float, default=0.9, help="selftrain: pseudo-labels' road confidence"
    )
    p.add_argument(
        "--background-confidence", type=float, default=0.98,
        help="selftrain: the background's confidence (basiss adapt's default)",
    )  # fmt: skip
    p.add_argument(
        "--zoom", type=float, default=None, help="train at this zoom (default: the preset's)"
    )
    p.add_argument(
        "--slice", type=int, default=None, help="chip size in model pixels (default: the preset's)"
    )
    p.add_argument(
        "--arch-kwargs", type=json.loads, default=None,
        help="the net's constructor arguments as JSON, e.g. '{\"base\": 16}' (default: preset)",
    )  # fmt: skip
    p.add_argument(
        "--ema",
        type=float,
        default=None,
        help="weights' moving-average decay (default: the preset's)",
    )
    p.add_argument("--quick", action="store_true", help="smoke: 1.5 min, small net, 12 images")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--seed", type=int, default=0, help="split/weights/augmentation seed")
    p.add_argument(
        "--data", type=Path, default=DATA, help="folder holding cil2016/, cil2022_train/"
    )
    p.add_argument("--out", type=Path, default=None, help="run folder (default: a temp dir)")
    add_record_args(p)
    args = p.parse_args()
    for sub in ("cil2016", "cil2022_train"):
        if not (args.data / sub).is_dir():
            print(f"{args.data / sub}: absent; nothing to benchmark", file=sys.stderr)
            return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="sources_"))
    rows = MODES[args.mode](args, out)
    table: list[tuple | str] = []
    for r in rows:
        for label, m in r.scores.items():
            t = TARGETS.get(r.mode, {}).get(label)
            tgt = f">={t:.2f}" if t is not None else ""
            table.append(
                (r.mode, label, int(m["images"]), m["precision"], m["recall"], m["f1"], tgt)
            )
        res = r.result
        table.append(
            f"{r.mode} {res.epochs_run} epochs in {res.seconds / 60:.1f} min, best epoch "
            f"{res.best_epoch}; run folder {r.config.out}"
        )
    print()
    print_table(
        ["mode", "scored on", "images", "P", "R", "F1", "target"],
        table,
        ["<16", "<28", ">6d", ">6.3f", ">6.3f", ">6.3f", ">7"],
    )
    if not args.no_record:
        for r in rows:
            record_row(r, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
