"""The main job: the whole pipeline, end to end, on the embedded sample.

sample -> masks (with figures) -> train -> predict the broad-area scene
(streamed, cosine blend) and the held-out test chips -> evaluate (strict and
relaxed) -> ``report.md`` / ``report.json``. Defaults are sized so the demo
finishes in about five minutes on a 2-core CPU; :class:`DemoConfig` scales it
down to seconds for tests.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from basiss.io.raster import atomic_output

Log = Callable[[str], None]


@dataclass
class DemoConfig:
    """Sizes and budgets of one demo run.

    Attributes:
        out: output folder (created; a rerun replaces what it wrote before).
        seed: seeds the sample, the split and the training.
        n_train, n_test, chip_size, broad_size: the sample (:func:`~basiss.synthetic.write_sample`).
        arch, arch_kwargs: the model; a light U-Net trains in minutes on a CPU.
        slice, stride: training and prediction chip size and step (pixels).
        batch_size, lr, norm: training settings (one source, so mild augmentation
            and a fixed 1/255 scale; see :mod:`basiss.data.normalize`).
        train_minutes: training budget (wall clock).
        max_epochs: epoch cap (early stopping may end sooner).
        buffer_meters: road half-width of truth masks (SpaceNet: 2 m).
        relax_px: tolerance of the relaxed metric (pixels; 10 px = 3 m at 0.3 m).
        workers: processes for the masks stage (None: all cores).
        threads: torch threads (None: all cores).
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    out: Path = Path("demo_out")
    seed: int = 0
    n_train: int = 8
    n_test: int = 2
    chip_size: int = 1300
    broad_size: int = 6000
    arch: str = "unet-small"
    arch_kwargs: dict[str, Any] = field(default_factory=lambda: {"base": 8})
    slice: int = 256
    stride: int = 192
    batch_size: int = 8
    lr: float = 3e-3
    norm: str = "fixed"
    train_minutes: float = 3.0
    max_epochs: int = 40
    buffer_meters: float = 2.0
    relax_px: int = 10
    workers: int | None = None
    threads: int | None = None
    device: str = "auto"


@dataclass
class DemoResult:
    """Headline figures and where everything went."""

    report_json: Path
    report_md: Path
    summary: dict[str, Any]


def _stage(log: Log, n: int, total: int, name: str) -> float:
    log(f"[{n}/{total}] {name}")
    return time.monotonic()


def run_demo(config: DemoConfig, log: Log = print) -> DemoResult:
    """Run the whole pipeline on a freshly written sample; return the report.

    Args:
        config: sizes and budgets.
        log: receives one line per step (the CLI prints them).
    """
    # Imported here so `basiss --help` stays fast.
    from basiss.data.augment import Augment
    from basiss.evaluation.score import evaluate
    from basiss.inference.predict import PredictOptions, predict_image, predict_many
    from basiss.labels.centerlines import write_road_mask
    from basiss.labels.spacenet import prepare_spacenet
    from basiss.synthetic import write_sample
    from basiss.viz.sample import write_preview
    from basiss.training.loop import TrainConfig, train

    c = config
    out = Path(c.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = out / "figures"
    seconds: dict[str, float] = {}
    t_all = time.monotonic()
    steps = 6

    t = _stage(log, 1, steps, f"sample: synthetic SpaceNet-like suburb -> {out / 'sample'}")
    layout = write_sample(
        out / "sample",
        seed=c.seed,
        n_train=c.n_train,
        n_test=c.n_test,
        chip_size=c.chip_size,
        broad_size=c.broad_size,
    )
    preview = write_preview(layout, figures / "sample_preview.png")
    seconds["sample"] = time.monotonic() - t

    t = _stage(log, 2, steps, f"masks: {c.buffer_meters:g} m buffered centerlines + 8-bit images")
    csvs: dict[str, Path] = {}
    for split, folder in (("train", layout.train_dir), ("test", layout.test_dir)):
        if split == "test" and c.n_test == 0:
            continue
        rep = prepare_spacenet(
            folder,
            out / f"{split}_files.csv",
            n_bands=3,
            buffer_meters=c.buffer_meters,
            make_plots=True,
            overwrite=True,
            workers=c.workers,
        )
        for msg in rep.messages:
            log(f"    {msg}")
        csvs[split] = out / f"{split}_files.csv"
        log(f"    {split}: {rep.summary()}")
    truth_dir = out / "truth"
    broad_truth = write_road_mask(
        layout.broad_labels,
        layout.broad_image,
        truth_dir / f"{layout.broad_image.stem}_mask.tif",
        buffer_meters=c.buffer_meters,
    )
    seconds["masks"] = time.monotonic() - t

    t = _stage(log, 3, steps, f"train: {c.arch} for up to {c.train_minutes:g} min")
    run_dir = out / "run"
    for stale in ("best.pt", "last.pt", "log.csv"):
        (run_dir / stale).unlink(missing_ok=True)

    def _epoch(row: dict[str, float]) -> None:
        log(
            f"    epoch {int(row['epoch'])}: train loss {row['train_loss']:.3f}, "
            f"val loss {row['val_loss']:.3f}, val F1 {row['val_f1']:.3f}"
        )

    result = train(
        TrainConfig(
            file_lists=[csvs["train"]],
            out=run_dir,
            arch=c.arch,
            arch_kwargs=dict(c.arch_kwargs),
            n_bands=3,
            slice=(c.slice, c.slice),
            stride=(c.stride, c.stride),
            batch_size=c.batch_size,
            epochs=c.max_epochs,
            lr=c.lr,
            loss="bce+dice",
            norm=c.norm,
            augmentation=Augment(),
            validation_split=0.15,
            max_minutes=c.train_minutes,
            device=c.device,
            threads=c.threads,
            seed=c.seed,
        ),
        on_epoch=_epoch,
    )
    seconds["train"] = time.monotonic() - t

    t = _stage(log, 4, steps, "predict: streaming sliding window, cosine blend")
    pred_dir = out / "predictions"
    options = PredictOptions(
        stride=(c.stride, c.stride), blend="cosine", device=c.device, threads=c.threads
    )
    broad = predict_image(layout.broad_image, result.best_path, pred_dir, options)
    log(
        f"    broad scene {c.broad_size}x{c.broad_size}: {broad.chips} chips, "
        f"{broad.seconds:.1f} s, {broad.mpx_per_s:.2f} Mpx/s"
    )
    test_outputs = []
    if "test" in csvs:
        test_outputs = predict_many(
            [layout.test_dir / "RGB-PanSharpen"], result.best_path, pred_dir / "test", options
        )
    seconds["predict"] = time.monotonic() - t

    t = _stage(log, 5, steps, f"evaluate: strict and relaxed ({c.relax_px} px) F1")
    broad_report = evaluate(
        broad.prob_path,
        broad_truth,
        out_json=out / "evaluation_broad.json",
        relax_px=c.relax_px,
        plots_dir=figures,
        image=layout.broad_image,
    )
    test_report = None
    if test_outputs:
        test_report = evaluate(
            pred_dir / "test",
            layout.test_dir / "geojson" / "spacenetroads",
            out_json=out / "evaluation_test.json",
            relax_px=c.relax_px,
            buffer_meters=c.buffer_meters,
        )
    seconds["evaluate"] = time.monotonic() - t

    _stage(log, 6, steps, "report")
    seconds["total"] = time.monotonic() - t_all
    micro = broad_report["micro"]
    summary: dict[str, Any] = {
        "f1": micro["f1"],
        "precision": micro["precision"],
        "recall": micro["recall"],
        "iou": micro["iou"],
        "relaxed_f1": broad_report["relaxed"]["f1"],
        "relax_px": c.relax_px,
        "best_threshold": broad_report.get("best_threshold"),
        "test_chips_f1": test_report["micro"]["f1"] if test_report else None,
        "test_chips_relaxed_f1": test_report["relaxed"]["f1"] if test_report else None,
        "train": {
            "arch": c.arch,
            "arch_kwargs": c.arch_kwargs,
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "stopped": result.stopped,
            "val": result.val_metrics,
        },
        "predict": {
            "chips": broad.chips,
            "seconds": round(broad.seconds, 2),
            "mpx_per_s": round(broad.mpx_per_s, 3),
        },
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or ""},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(c).items()},
    }
    outputs = {
        "sample/": "the synthetic SpaceNet-3-like dataset (train, test, broad_area)",
        str(preview.relative_to(out)): "preview of a chip and the broad scene with centerlines",
        "train_files.csv": "file list of 8-bit training images and masks (seed format)",
        "sample/AOI_9_Sample_Train/masks_2m/": "training masks (2 m buffer), uint8 0/1 GeoTIFF",
        "sample/AOI_9_Sample_Train/masks_2m_plots/": "per-chip figures: lines, image, mask",
        str(broad_truth.relative_to(out)): "truth mask of the broad scene (2 m buffer)",
        "run/best.pt": "the trained model (weights + everything predict needs)",
        "run/log.csv": "per-epoch training log",
        str(broad.prob_path.relative_to(out)): "road probability of the broad scene (uint8 0..255)",
        str(broad.mask_path.relative_to(out)): "road mask of the broad scene (0/1 at 0.5)",
        "predictions/test/": "predictions for the held-out test chips",
        "evaluation_broad.json": "metrics of the broad scene (and .csv beside it)",
        "evaluation_test.json": "metrics of the test chips against their GeoJSON labels",
        "figures/": "evaluation figure: truth | prediction | TP/FP/FN overlay",
    }
    summary["outputs"] = outputs
    report_json = out / "report.json"
    with atomic_output(report_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    report_md = out / "report.md"
    with atomic_output(report_md) as tmp:
        tmp.write_text(_markdown(summary, outputs))
    return DemoResult(report_json, report_md, summary)


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _markdown(s: dict[str, Any], outputs: dict[str, str]) -> str:
    """The human-readable report."""
    lines = [
        "# basiss demo report",
        "",
        "The whole pipeline on the embedded synthetic sample: masks from centerlines, a",
        f"`{s['train']['arch']}` trained for {s['seconds']['train']:.0f} s, streaming prediction",
        "of the broad-area scene with a cosine blend, and pixel metrics against 2 m-buffer truth.",
        "",
        "## Headline",
        "",
        "| metric (broad scene, threshold 0.5) | value |",
        "|---|---|",
        f"| F1 (strict) | {_fmt(s['f1'])} |",
        f"| precision | {_fmt(s['precision'])} |",
        f"| recall | {_fmt(s['recall'])} |",
        f"| IoU | {_fmt(s['iou'])} |",
        f"| relaxed F1 ({s['relax_px']} px) | {_fmt(s['relaxed_f1'])} |",
        f"| test chips F1 (strict / relaxed) | {_fmt(s['test_chips_f1'])} / "
        f"{_fmt(s['test_chips_relaxed_f1'])} |",
        "",
        "## Time per stage (seconds)",
        "",
        "| stage | seconds |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in s["seconds"].items()],
        "",
        "## Outputs",
        "",
        *[f"- `{path}`: {what}" for path, what in outputs.items()],
        "",
    ]
    return "\n".join(lines)
