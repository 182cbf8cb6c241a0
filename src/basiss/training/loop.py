"""The training loop: split by image, lazy chips, early stopping, checkpoints, resume.

:func:`train` takes a :class:`TrainConfig` and writes into ``config.out``:

- ``best.pt``: the weights of the epoch with the best monitored score
  (validation loss by default, as the issue asks for early stopping; or
  validation F1 with ``monitor="val_f1"``) and the :class:`ModelSpec`
  prediction needs;
- ``last.pt``: the latest weights plus ``training_state`` (epoch, optimizer,
  schedule, best score, patience counter), which ``resume=True`` continues from;
- ``log.csv``: one row per epoch (losses, validation pixel metrics at 0.5,
  learning rate, seconds, training chips/s, then the validation F1 of each
  source as ``val_f1_<source>``).

Several sources (file lists or folders) train together: each is split by
image on its own, validated on its own (``val_f1_<source>``), and with
``source_weights`` the training chips are drawn so that each source gets its
share of the samples whatever its size.

The learning rate follows a cosine from ``lr`` down to ``lr / 100`` (with a
short linear warm-up) over the run's *progress*, which is the larger of the
fraction of epochs done and the fraction of ``max_minutes`` used, so a
time-boxed run still ends at a small learning rate. ``schedule="plateau"``
halves the rate when the monitored score stalls instead.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from basiss.data.augment import Augment
from basiss.data.dataset import (
    IGNORE,
    ChipDataset,
    ImageInfo,
    chip_index,
    dataset_statistics,
    discover_pairs,
    image_info,
    source_names,
    split_by_image,
)
from basiss.data.normalize import NORM_KINDS, Normalisation
from basiss.errors import BasissError
from basiss.evaluation.metrics import Counts
from basiss.io.filelist import Pair
from basiss.io.raster import atomic_output
from basiss.models import model_names, road_probability
from basiss.progress import progress
from basiss.training.checkpoint import ModelSpec, read_checkpoint, resolve_device, save_checkpoint
from basiss.training.losses import LOSSES, make_loss

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "plateau")
MONITORS = ("val_loss", "val_f1", "val_f1_min")
LOG_COLUMNS = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_precision",
    "val_recall",
    "val_f1",
    "val_iou",
    "lr",
    "seconds",
    "chips_per_s",
)


@dataclass
class TrainConfig:
    """Everything one training run needs.

    Attributes:
        file_lists: sources: file-list CSVs or folders of image/mask pairs.
        out: run folder (``best.pt``, ``last.pt``, ``log.csv``).
        arch, arch_kwargs: registry name and constructor arguments of the model.
        n_bands: bands the model reads (the first ``n_bands`` of each image's
            default bands; RGBA with alpha reads as RGB). None = all of them.
        n_classes: 1 = sigmoid road; 2 = the seed's background + road softmax.
        slice, stride: chip size and step (x, y) of the training chip grid.
            Validation uses the grid with ``stride = slice`` (little overlap).
        batch_size, epochs, lr, weight_decay: the usual (weight decay
            defaults to 1e-2 for adamw, 0 otherwise).
        loss: one of ``bce``, ``dice``, ``bce+dice``, ``focal``.
        optimizer: ``sgd`` (momentum 0.9), ``adam`` or ``adamw``.
        schedule: ``cosine`` (over progress, see the module doc) or ``plateau``.
        validation_split: fraction of images held out (per source, seeded).
        early_stopping_patience: epochs without improvement before stopping.
        monitor: ``val_loss`` (default), ``val_f1`` (all validation pixels) or
            ``val_f1_min`` (the worst source's F1): what best.pt and early
            stopping follow.
        augment: master switch of augmentation.
        augmentation: what augmentation does when on (see
            :class:`basiss.data.augment.Augment`); default :meth:`Augment.sources`:
            flips, rotations, zoom 0.7-1.4x and photometric changes that
            imitate other sources.
        random_crop: sample a random window of the chip's image per item.
        mask_threshold: mask values above it are road (CIL: 127).
        norm: ``image`` (default: each chip standardised per band, which
            makes the model blind to a source's gain and offset), ``fixed``
            (x/255) or ``dataset`` (per-band statistics of the training images);
            kind and statistics are stored in the checkpoint.
        source_weights: sampling weight of each source (same order as
            ``file_lists``): a source's share of the training samples, whatever
            its chip count (drawn with replacement). None = every chip once
            per epoch (shares follow the chip counts).
        max_minutes: wall-clock budget; the run stops cleanly (validating and
            saving) before it runs out.
        max_chips_per_epoch: cap an epoch at this many chips (random subset
            each epoch), for large datasets. None = all chips.
        resume: continue from ``out/last.pt`` up to ``epochs``.
        device, threads, workers: where to run, torch CPU threads, loader processes.
        channels_last: use the channels-last memory format (faster convs on CPU).
        seed: seeds the split, the initial weights, shuffling and augmentation.
    """

    file_lists: list[Path]
    out: Path
    arch: str = "unet-small"
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    n_bands: int | None = 3
    n_classes: int = 1
    slice: tuple[int, int] = (400, 400)
    stride: tuple[int, int] = (300, 300)
    batch_size: int = 4
    epochs: int = 50
    lr: float = 1e-3
    weight_decay: float | None = None
    loss: str = "bce"
    optimizer: str = "adam"
    schedule: str = "cosine"
    validation_split: float = 0.1
    early_stopping_patience: int = 4
    monitor: str = "val_loss"
    augment: bool = True
    augmentation: Augment = field(default_factory=Augment.sources)
    random_crop: bool = False
    mask_threshold: float = 0.0
    norm: str = "image"
    source_weights: list[float] | None = None
    max_minutes: float | None = None
    max_chips_per_epoch: int | None = None
    resume: bool = False
    device: str = "auto"
    threads: int | None = None
    workers: int = 0
    channels_last: bool = True
    seed: int = 0


@dataclass
class TrainResult:
    """What a run produced and how it went."""

    best_path: Path
    last_path: Path
    log_path: Path
    best_epoch: int
    best_val_loss: float
    val_metrics: dict[str, float]
    epochs_run: int
    seconds: float
    stopped: str = "epochs"
    history: list[dict[str, float]] = field(default_factory=list)
    val_f1_per_source: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- pure helpers


def pixel_metrics(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall, F1 and IoU from :class:`~basiss.evaluation.metrics.Counts`
    conventions for empty cases)."""
    c = Counts(tp=tp, fp=fp, fn=fn)
    return {"precision": c.precision, "recall": c.recall, "f1": c.f1, "iou": c.iou}


def cosine_lr(base: float, progress_: float, step: int, warmup_steps: int = 50) -> float:
    """Cosine from ``base`` (progress 0) to ``base / 100`` (progress 1), linear warm-up."""
    p = min(max(progress_, 0.0), 1.0)
    lr = base * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * p)))
    if step < warmup_steps:
        lr *= (step + 1) / warmup_steps
    return lr


def _plain_config(c: TrainConfig) -> dict[str, Any]:
    """The config as plain values (paths as strings, tuples as lists), for the checkpoint."""
    return json.loads(json.dumps(asdict(c), default=str))


def sampling_probabilities(chip_sources: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """Probability of each training chip so that source ``k`` gets ``weights[k]`` of the draws.

    Args:
        chip_sources: the source number of each chip.
        weights: a non-negative weight per source (normalised here; sources
            without chips drop out and the others share their weight).

    Returns:
        float64 probabilities summing to 1: ``w_k / sum(w) / n_chips_k``.
    """
    src = np.asarray(chip_sources, dtype=np.intp)
    w = np.asarray(weights, dtype=np.float64)
    counts = np.bincount(src, minlength=len(w)).astype(np.float64)
    w = np.where(counts > 0, w, 0.0)
    if w.sum() <= 0:
        raise BasissError("source weights: every source with training chips has weight 0")
    per_chip = (w / w.sum()) / np.maximum(counts, 1.0)
    p = per_chip[src]
    return p / p.sum()


def epoch_order(
    n_chips: int,
    n_draw: int,
    seed: int,
    epoch: int,
    probabilities: np.ndarray | None = None,
) -> list[int]:
    """The chip indices of one epoch, seeded by ``(seed, epoch)``.

    Without probabilities: a permutation cut to ``n_draw`` (every chip at most
    once). With them: ``n_draw`` weighted draws with replacement.
    """
    g = torch.Generator().manual_seed(seed * 100003 + epoch)
    if probabilities is None:
        return torch.randperm(n_chips, generator=g)[:n_draw].tolist()
    p = torch.from_numpy(np.asarray(probabilities, dtype=np.float64))
    return torch.multinomial(p, n_draw, replacement=True, generator=g).tolist()


def _check_config(c: TrainConfig) -> None:
    if c.arch not in model_names():
        raise BasissError(f"unknown model {c.arch!r}; choose from {', '.join(model_names())}")
    checks = [
        (c.loss in LOSSES, f"unknown loss {c.loss!r}; choose from {', '.join(LOSSES)}"),
        (c.optimizer in OPTIMIZERS, f"unknown optimizer {c.optimizer!r}"),
        (c.schedule in SCHEDULES, f"unknown schedule {c.schedule!r}"),
        (c.norm in NORM_KINDS, f"unknown normalisation {c.norm!r}"),
        (c.monitor in MONITORS, f"unknown monitor {c.monitor!r}; choose from {MONITORS}"),
        (c.n_classes >= 1, "n_classes must be >= 1"),
        (
            c.source_weights is None
            or (
                len(c.source_weights) == len(c.file_lists)
                and min(c.source_weights) >= 0
                and sum(c.source_weights) > 0
            ),
            f"--source-weights needs {len(c.file_lists)} non-negative weight(s) "
            f"(one per --file-list), got {c.source_weights}",
        ),
        (0.0 <= c.validation_split < 1.0, "validation split must be in [0, 1)"),
        (min(*c.slice, *c.stride, c.batch_size, c.epochs) >= 1, "sizes must be >= 1"),
        (bool(c.file_lists), "no file list given"),
    ]
    for ok, msg in checks:
        if not ok:
            raise BasissError(msg)


def _make_optimizer(c: TrainConfig, params: Any) -> torch.optim.Optimizer:
    if c.optimizer == "sgd":
        wd = c.weight_decay if c.weight_decay is not None else 0.0
        return torch.optim.SGD(params, lr=c.lr, momentum=0.9, weight_decay=wd)
    if c.optimizer == "adamw":
        wd = c.weight_decay if c.weight_decay is not None else 1e-2
        return torch.optim.AdamW(params, lr=c.lr, weight_decay=wd)
    wd = c.weight_decay if c.weight_decay is not None else 0.0
    return torch.optim.Adam(params, lr=c.lr, weight_decay=wd)


# --------------------------------------------------------------------------- data set-up


@dataclass
class _Data:
    pairs: list[Pair]
    infos: list[ImageInfo]
    train_images: list[int]
    val_images: list[int]
    source_of: list[int]
    names: list[str]


def _load_sources(c: TrainConfig) -> _Data:
    """All sources' pairs, split by image per source (seed + source number)."""
    pairs: list[Pair] = []
    train_images: list[int] = []
    val_images: list[int] = []
    source_of: list[int] = []
    for k, source in enumerate(c.file_lists):
        src = discover_pairs(source)
        tr, va = split_by_image(len(src), c.validation_split, c.seed + k)
        off = len(pairs)
        pairs += src
        source_of += [k] * len(src)
        train_images += [off + i for i in tr]
        val_images += [off + i for i in va]
    infos = [image_info(p, c.n_bands) for p in pairs]
    n = len(infos[0].bands)
    for p, info in zip(pairs, infos, strict=True):
        if len(info.bands) != n:
            raise BasissError(
                f"{p.im_file}: has {len(info.bands)} bands, {pairs[0].im_file} has {n}; "
                "set --n-bands"
            )
    return _Data(pairs, infos, train_images, val_images, source_of, source_names(c.file_lists))


# --------------------------------------------------------------------------- log


def log_columns(names: Sequence[str]) -> tuple[str, ...]:
    """The log's columns: :data:`LOG_COLUMNS`, then ``val_f1_<source>`` per source."""
    return LOG_COLUMNS + tuple(f"val_f1_{n}" for n in names)


def _write_log(path: Path, rows: list[dict[str, float]], columns: Sequence[str]) -> None:
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def _read_log(path: Path, up_to_epoch: int) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        rows = [
            {k: float(v) if v not in ("", None) else math.nan for k, v in r.items()}
            for r in csv.DictReader(fh)
        ]
    out = [r for r in rows if r.get("epoch", 0) <= up_to_epoch]
    for r in out:
        r["epoch"] = int(r["epoch"])
    return out


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_loader(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    n_classes: int,
    device: torch.device,
    channels_last: bool = False,
) -> dict[str, float]:
    """Loss (mean over valid pixels) and pixel precision/recall/F1/IoU at 0.5, micro-averaged.

    The dict also holds the counts (``tp``, ``fp``, ``fn``, ``n_valid``), so
    results of several loaders combine exactly (:func:`combine_metrics`).
    """
    model.eval()
    tp = fp = fn = 0
    loss_sum = 0.0
    n_valid = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x)
        valid = y != IGNORE
        nv = int(valid.sum())
        if nv == 0:
            continue
        loss_sum += float(loss_fn(logits, y)) * nv
        n_valid += nv
        pred = road_probability(logits, n_classes).amax(dim=1) > 0.5
        truth = (y >= 1) & valid
        pred = pred & valid
        tp += int((pred & truth).sum())
        fp += int((pred & ~truth).sum())
        fn += int((~pred & truth).sum())
    out = {"loss": loss_sum / n_valid if n_valid else math.nan}
    out.update(pixel_metrics(tp, fp, fn))
    out.update({"tp": float(tp), "fp": float(fp), "fn": float(fn), "n_valid": float(n_valid)})
    return out


def combine_metrics(parts: Sequence[dict[str, float]]) -> dict[str, float]:
    """Metrics of the union of several :func:`evaluate_loader` results (counts summed)."""
    if len(parts) == 1:
        return dict(parts[0])
    tp, fp, fn, nv = (sum(p.get(k, 0.0) for p in parts) for k in ("tp", "fp", "fn", "n_valid"))
    loss = sum(p["loss"] * p.get("n_valid", 0.0) for p in parts if p.get("n_valid", 0.0) > 0)
    out = {"loss": loss / nv if nv else math.nan}
    out.update(pixel_metrics(int(tp), int(fp), int(fn)))
    out.update({"tp": tp, "fp": fp, "fn": fn, "n_valid": nv})
    return out


# --------------------------------------------------------------------------- the loop


def _score(monitor: str, val: dict[str, float], train_loss: float) -> float:
    """Lower is better. Without validation images, the training loss."""
    if math.isnan(val["loss"]):
        return train_loss
    if monitor == "val_f1_min":
        per_source = [v for k, v in val.items() if k.startswith("f1_") and not math.isnan(v)]
        return -min(per_source, default=val["f1"])
    return val["loss"] if monitor == "val_loss" else -val["f1"]


def train(
    config: TrainConfig, on_epoch: Callable[[dict[str, float]], None] | None = None
) -> TrainResult:
    """Train a road-segmentation model; see the module doc for what is written.

    Args:
        config: the run's settings.
        on_epoch: called with each epoch's log row (e.g. to print it).

    Returns:
        Paths, the best epoch and its validation metrics, and how the run ended.
    """
    c = config
    t_start = time.monotonic()
    _check_config(c)
    if c.threads:
        torch.set_num_threads(c.threads)
    device = resolve_device(c.device)
    out = Path(c.out)
    out.mkdir(parents=True, exist_ok=True)
    best_path, last_path, log_path = out / "best.pt", out / "last.pt", out / "log.csv"

    data = _load_sources(c)
    if not data.train_images:
        raise BasissError("no training images (validation split took them all)")
    bands = list(data.infos[0].bands)

    saved: dict[str, Any] | None = None
    if c.resume:
        if not last_path.is_file():
            raise BasissError(f"{last_path}: no such checkpoint to resume from")
        saved = read_checkpoint(last_path)
        if "training_state" not in saved:
            raise BasissError(f"{last_path}: has no training state to resume from")
        s = saved["spec"]
        if (s["arch"], s["in_channels"], s["n_classes"]) != (c.arch, len(bands), c.n_classes):
            raise BasissError(
                f"{last_path}: was trained as {s['arch']} with {s['in_channels']} bands and "
                f"{s['n_classes']} classes; this run asks {c.arch}, {len(bands)}, {c.n_classes}"
            )
        val_names = [data.pairs[i].name for i in data.val_images]
        if s.get("extra", {}).get("val_images", val_names) != val_names:
            raise BasissError(
                f"{last_path}: was validated on other images (same sources, --seed and "
                "--validation-split are needed to resume)"
            )
        norm = Normalisation.from_dict(s["norm"])
        if norm.kind != c.norm:
            raise BasissError(f"{last_path}: was trained with --norm {norm.kind}, not {c.norm}")
    elif c.norm == "dataset":
        norm = dataset_statistics(data.pairs, data.infos, data.train_images)
    else:
        norm = Normalisation(c.norm)

    spec = ModelSpec(
        arch=c.arch,
        in_channels=len(bands),
        n_classes=c.n_classes,
        bands=bands,
        norm=norm.to_dict(),
        slice=tuple(c.slice),  # type: ignore[arg-type]
        stride=tuple(c.stride),  # type: ignore[arg-type]
        arch_kwargs=dict(c.arch_kwargs),
        mask_threshold=float(c.mask_threshold),
    )

    train_chips = chip_index(data.pairs, data.infos, data.train_images, c.slice, c.stride)
    n_sources = len(data.names)
    val_chips_of = [
        chip_index(
            data.pairs,
            data.infos,
            [i for i in data.val_images if data.source_of[i] == k],
            c.slice,
            c.slice,
        )
        for k in range(n_sources)
    ]
    n_val_chips = sum(len(v) for v in val_chips_of)
    if not train_chips:
        raise BasissError("no training chips: every chip of the training images is nodata")
    common = dict(
        pairs=data.pairs,
        infos=data.infos,
        slice_=tuple(c.slice),
        norm=norm,
        mask_threshold=c.mask_threshold,
        n_classes=c.n_classes,
    )
    train_ds = ChipDataset(
        chips=train_chips,
        augment=c.augmentation if c.augment else None,
        random_crop=c.random_crop,
        seed=c.seed,
        **common,  # type: ignore[arg-type]
    )
    val_sets = [
        (k, ChipDataset(chips=chips, **common))  # type: ignore[arg-type]
        for k, chips in enumerate(val_chips_of)
        if chips
    ]
    val_loaders = [
        (k, DataLoader(ds, batch_size=c.batch_size, num_workers=c.workers)) for k, ds in val_sets
    ]
    probabilities = None
    if c.source_weights is not None:
        chip_sources = [data.source_of[ch.image] for ch in train_chips]
        probabilities = sampling_probabilities(chip_sources, c.source_weights)
    columns = log_columns(data.names)

    torch.manual_seed(c.seed)
    model = spec.build().to(device)
    if c.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = _make_optimizer(c, model.parameters())
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(1, c.early_stopping_patience // 2)
        )
        if c.schedule == "plateau"
        else None
    )
    loss_fn = make_loss(c.loss)

    start_epoch, step, run_progress = 0, 0, 0.0
    best_score, best_epoch, bad_epochs = math.inf, 0, 0
    best_val: dict[str, float] = {}
    history: list[dict[str, float]] = []
    if saved is not None:
        st = saved["training_state"]
        model.load_state_dict(saved["state_dict"])
        optimizer.load_state_dict(st["optimizer"])
        if plateau is not None and st.get("scheduler"):
            plateau.load_state_dict(st["scheduler"])
        start_epoch, step = int(st["epoch"]), int(st["step"])
        run_progress = float(st["progress"])
        best_score, best_epoch = float(st["best_score"]), int(st["best_epoch"])
        bad_epochs = int(st["bad_epochs"])
        best_val = {k: float(v) for k, v in st.get("best_val", {}).items()}
        history = _read_log(log_path, start_epoch)

    budget = c.max_minutes * 60.0 if c.max_minutes else math.inf
    n_per_epoch = len(train_chips)
    if c.max_chips_per_epoch:
        n_per_epoch = min(n_per_epoch, c.max_chips_per_epoch)
    # warm-up: 5% of the planned steps, at most 50
    warmup = max(1, min(50, int(0.05 * c.epochs * math.ceil(n_per_epoch / c.batch_size))))
    val_seconds = math.nan
    sec_per_batch = math.nan
    stopped = "epochs"
    epochs_run = 0
    trained_batches = 0

    for epoch in range(start_epoch + 1, c.epochs + 1):
        t_epoch = time.monotonic()
        model.train()
        train_ds.set_epoch(epoch)
        order = epoch_order(len(train_chips), n_per_epoch, c.seed, epoch, probabilities)
        loader = DataLoader(
            torch.utils.data.Subset(train_ds, order),
            batch_size=c.batch_size,
            num_workers=c.workers,
            drop_last=n_per_epoch > c.batch_size,
        )
        loss_sum, n_seen, n_batches = 0.0, 0, 0
        out_of_time = False
        bar = progress(total=len(loader), desc=f"epoch {epoch}/{c.epochs}", unit="batch")
        for i, (x, y) in enumerate(loader):
            elapsed = time.monotonic() - t_start
            if trained_batches > 0:
                est_val = (
                    val_seconds
                    if not math.isnan(val_seconds)
                    else (n_val_chips / c.batch_size * sec_per_batch / 2.5)
                )
                if elapsed + sec_per_batch + est_val + 2.0 > budget:
                    out_of_time = True
                    break
            t_b = time.monotonic()
            run_progress = max(
                run_progress, (epoch - 1 + i / len(loader)) / c.epochs, elapsed / budget
            )
            lr = c.lr
            if plateau is None:
                lr = cosine_lr(c.lr, run_progress, step, warmup)
                for group in optimizer.param_groups:
                    group["lr"] = lr
            x, y = x.to(device), y.to(device)
            if c.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            if not torch.isfinite(loss):
                raise BasissError(
                    f"training diverged at epoch {epoch} (loss {float(loss)}); lower --lr"
                )
            loss.backward()
            optimizer.step()
            step += 1
            trained_batches += 1
            loss_sum += float(loss.detach()) * x.shape[0]
            n_seen += x.shape[0]
            n_batches += 1
            dt = time.monotonic() - t_b
            sec_per_batch = dt if math.isnan(sec_per_batch) else 0.8 * sec_per_batch + 0.2 * dt
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / n_seen:.4f}", lr=f"{lr:.2g}")
        bar.close()
        if n_batches == 0:
            stopped = "max-minutes"
            break
        train_seconds = time.monotonic() - t_epoch
        t_val = time.monotonic()
        per_source = {
            k: evaluate_loader(model, loader, loss_fn, c.n_classes, device, c.channels_last)
            for k, loader in val_loaders
        }
        val = (
            combine_metrics(list(per_source.values()))
            if per_source
            else {"loss": math.nan, **pixel_metrics(0, 0, 0)}
        )
        for k, name in enumerate(data.names):
            val[f"f1_{name}"] = per_source[k]["f1"] if k in per_source else math.nan
        val_seconds = time.monotonic() - t_val
        train_loss = loss_sum / n_seen
        score = _score(c.monitor, val, train_loss)
        if plateau is not None:
            plateau.step(score)
        row: dict[str, float] = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val["loss"],
            "val_precision": val["precision"],
            "val_recall": val["recall"],
            "val_f1": val["f1"],
            "val_iou": val["iou"],
            "lr": float(optimizer.param_groups[0]["lr"]),
            "seconds": time.monotonic() - t_epoch,
            "chips_per_s": n_seen / max(train_seconds, 1e-9),
        }
        row.update({f"val_f1_{n}": val[f"f1_{n}"] for n in data.names})
        history.append(row)
        epochs_run += 1
        spec.extra = {"epoch": epoch, "monitor": c.monitor, "loss": c.loss, "seed": c.seed}
        spec.extra.update({k: float(v) for k, v in row.items() if k.startswith(("val_", "train_"))})
        spec.extra["val_images"] = [data.pairs[i].name for i in data.val_images]
        spec.extra["config"] = _plain_config(c)
        if score < best_score:
            best_score, best_epoch, bad_epochs = score, epoch, 0
            best_val = {k: float(v) for k, v in val.items()}
            save_checkpoint(best_path, model, spec)
        else:
            bad_epochs += 1
        state = {
            "epoch": epoch,
            "step": step,
            "progress": float(run_progress),
            "best_score": float(best_score),
            "best_epoch": best_epoch,
            "bad_epochs": bad_epochs,
            "best_val": best_val,
            "optimizer": optimizer.state_dict(),
            "scheduler": plateau.state_dict() if plateau is not None else {},
        }
        save_checkpoint(last_path, model, spec, training_state=state)
        _write_log(log_path, history, columns)
        if on_epoch is not None:
            on_epoch(row)
        if out_of_time:
            stopped = "max-minutes"
            break
        if bad_epochs >= c.early_stopping_patience:
            stopped = "early-stopping"
            break
        if time.monotonic() - t_start + (val_seconds + sec_per_batch * 2) > budget:
            stopped = "max-minutes"
            break
    train_ds.close()
    for _, ds in val_sets:
        ds.close()
    if not best_path.is_file():
        raise BasissError("the run ended before a single epoch finished (raise --max-minutes)")
    return TrainResult(
        best_path=best_path,
        last_path=last_path,
        log_path=log_path,
        best_epoch=best_epoch,
        best_val_loss=best_val.get("loss", math.nan),
        val_metrics={k: best_val.get(k, math.nan) for k in ("precision", "recall", "f1", "iou")},
        epochs_run=epochs_run,
        seconds=time.monotonic() - t_start,
        stopped=stopped,
        history=history,
        val_f1_per_source={n: best_val.get(f"f1_{n}", math.nan) for n in data.names},
    )
