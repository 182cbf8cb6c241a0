"""The training loop: configure a run, then train, validate, log and checkpoint epoch by epoch.

:func:`train` takes a :class:`~basiss.training.config.TrainConfig` and writes into
``config.out``:

- ``best.pt``: the weights of the epoch with the best monitored score (validation
  loss by default, or validation F1 with ``monitor="val_f1"``) and the
  :class:`~basiss.training.checkpoint.ModelSpec` prediction needs; with ``ema``, the
  moving average of the weights (:mod:`basiss.training.ema`), which is also what
  validation scores;
- ``last.pt``: the latest (live) weights plus the :class:`~basiss.training.state.TrainingState`
  (epoch, optimizer, schedule, best score, patience counter) that ``resume=True``
  continues from;
- ``log.csv``: one row per epoch (losses, validation pixel metrics at 0.5, learning
  rate, seconds, training chips/s, then each source's validation F1 as ``val_f1_<source>``).

Several sources (file lists or folders) train together: each is split by image on its
own and validated on its own, and with ``source_weights`` the training chips are drawn so
that each source gets its share of the samples whatever its size. The learning rate
follows :mod:`basiss.training.schedule`.

The steps, in order: :func:`prepare_run` (sources, resume checks, normalisation, chips,
model, optimizer), then per epoch :func:`train_one_epoch`, :func:`validate_epoch`,
:func:`log_row`, :func:`save_epoch` and :func:`stop_reason`.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from basiss.errors import BasissError, file_error
from basiss.progress import progress
from basiss.training.adapt import adapt_batchnorm, target_images
from basiss.training.checkpoint import ModelSpec, init_weights, resolve_device, save_checkpoint
from basiss.training.config import ADAPTED, BEST, LAST, LOG, TrainConfig, default_stride
from basiss.training.data import Chips, Sources, load_sources, make_chips, training_gsd
from basiss.training.ema import WeightAverage
from basiss.training.kinds import Monitor, Stop
from basiss.training.log import Row, log_columns, read_log, write_log
from basiss.training.losses import LossFn, make_loss
from basiss.training.resume import read_resume_point
from basiss.training.schedule import (
    Plateau,
    cosine_lr,
    make_optimizer,
    make_plateau,
    set_lr,
    warmup_steps,
)
from basiss.training.state import TrainingState
from basiss.training.validation import Validation, validate

__all__ = ["TrainConfig", "TrainResult", "train"]


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
    stopped: str = Stop.EPOCHS
    history: list[dict[str, float]] = field(default_factory=list)
    val_f1_per_source: dict[str, float] = field(default_factory=dict)
    adapted_path: Path | None = None


@dataclass
class Clock:
    """The run's time budget and the batch/validation timings that forecast it."""

    budget: float = math.inf
    start: float = field(default_factory=time.monotonic)
    sec_per_batch: float = math.nan
    val_seconds: float = math.nan
    batches: int = 0

    @classmethod
    def for_minutes(cls, minutes: float | None) -> Clock:
        return cls(budget=minutes * 60.0 if minutes else math.inf)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def no_time_for_batch(self, n_val_chips: int, batch_size: int) -> bool:
        """True when one more batch and the validation would overrun the budget."""
        if self.batches == 0:
            return False
        est_val = self.val_seconds
        if math.isnan(est_val):  # validation (no gradients) runs ~2.5x faster than training
            est_val = n_val_chips / batch_size * self.sec_per_batch / 2.5
        return self.elapsed() + self.sec_per_batch + est_val + 2.0 > self.budget

    def no_time_for_epoch(self) -> bool:
        """True when a validation and two batches would overrun the budget."""
        return self.elapsed() + self.val_seconds + 2 * self.sec_per_batch > self.budget

    def record_batch(self, seconds: float) -> None:
        """Update the running batch time (exponential average)."""
        spb = self.sec_per_batch
        self.sec_per_batch = seconds if math.isnan(spb) else 0.8 * spb + 0.2 * seconds
        self.batches += 1


@dataclass
class Run:
    """The live objects of one run, built by :func:`prepare_run`."""

    config: TrainConfig
    out: Path
    sources: Sources
    chips: Chips
    spec: ModelSpec
    model: nn.Module
    optimizer: torch.optim.Optimizer
    plateau: Plateau | None
    loss_fn: LossFn
    device: torch.device
    state: TrainingState
    clock: Clock
    history: list[Row] = field(default_factory=list)
    warmup: int = 1
    ema: WeightAverage | None = None

    def path(self, name: str) -> Path:
        return self.out / name

    @property
    def scored(self) -> nn.Module:
        """The weights validation scores and best.pt keeps: the moving average, if any."""
        return self.model if self.ema is None else self.ema.model


@dataclass
class EpochTrain:
    """What one epoch of training did."""

    loss_sum: float = 0.0
    n_seen: int = 0
    n_batches: int = 0
    out_of_time: bool = False
    seconds: float = 0.0

    @property
    def loss(self) -> float:
        return self.loss_sum / self.n_seen if self.n_seen else math.nan


# --------------------------------------------------------------------------- configure


def configure_model(c: TrainConfig, spec: ModelSpec, device: torch.device) -> nn.Module:
    """A fresh model of ``spec`` seeded by ``c.seed``, on ``device`` (channels-last if asked).

    Raises:
        BasissError: ``arch_kwargs`` the architecture does not take.
    """
    torch.manual_seed(c.seed)
    try:
        model = spec.build()
    except TypeError as err:
        raise BasissError(f"--arch-kwargs {c.arch_kwargs} do not fit {c.arch}: {err}") from None
    model = model.to(device)
    if c.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def make_spec(c: TrainConfig, sources: Sources, norm: dict[str, Any]) -> ModelSpec:
    """What prediction will need: architecture, bands, classes, normalisation, chip grid,
    the ground sample distance and zoom the model learnt at."""
    gsd = training_gsd(c, sources)
    return ModelSpec(
        arch=c.arch,
        in_channels=len(sources.bands),
        n_classes=c.n_classes,
        bands=sources.bands,
        norm=norm,
        slice=tuple(c.slice),  # type: ignore[arg-type]
        # random crops: the training stride only counts chips per epoch; prediction gets
        # the grid's quarter overlap, which its blending needs to hide chip borders
        stride=default_stride(c.slice) if c.random_crop else tuple(c.stride),  # type: ignore[arg-type]
        arch_kwargs=dict(c.arch_kwargs),
        mask_threshold=float(c.mask_threshold),
        gsd=None if gsd is None else gsd / c.zoom,
        zoom=float(c.zoom),
    )


def refuse_existing_run(c: TrainConfig, out: Path) -> None:
    """Refuse an ``out`` that is a file, or holds a run, unless resuming or overwriting.

    Raises:
        BasissError: naming ``out`` and what to pass.
    """
    if out.exists() and not out.is_dir():
        raise file_error(out, "exists and is not a folder")
    held = [name for name in (BEST, LAST, LOG) if (out / name).exists()]
    if held and not (c.resume or c.overwrite):
        raise file_error(
            out, f"already holds a run ({', '.join(held)}); pass --resume or --overwrite"
        )


def prepare_run(c: TrainConfig, clock: Clock) -> Run:
    """Everything before the first epoch: sources, resume point, chips, model and optimizer."""
    c.check()
    if c.threads:
        torch.set_num_threads(c.threads)
    device = resolve_device(c.device)
    out = Path(c.out)
    refuse_existing_run(c, out)
    out.mkdir(parents=True, exist_ok=True)
    if c.adapt_to is not None:
        target_images(c.adapt_to)  # a missing or empty target fails now, not after training
    sources = load_sources(c)
    point = read_resume_point(c, out / LAST, sources)
    spec = make_spec(c, sources, point.norm.to_dict())
    chips = make_chips(c, sources, point.norm)
    model = configure_model(c, spec, device)
    optimizer = make_optimizer(c.optimizer, model.parameters(), c.lr, c.weight_decay)
    plateau = make_plateau(c.schedule, optimizer, c.early_stopping_patience)
    state, history = TrainingState(), []
    if point.payload is not None:
        state = point.state
        model.load_state_dict(point.payload["state_dict"])
        optimizer.load_state_dict(state.optimizer)
        if plateau is not None and state.scheduler:
            plateau.load_state_dict(state.scheduler)
        history = read_log(out / LOG, state.epoch)
    elif c.init_from is not None:
        model.load_state_dict(init_weights(c.init_from, spec))
    ema = WeightAverage(model, c.ema) if c.ema > 0 else None
    if ema is not None and state.ema:  # a resumed run's average (else: from its weights)
        ema.load_state_dict(state.ema)
    n_per_epoch = chips.per_epoch(c.max_chips_per_epoch)
    return Run(
        config=c,
        out=out,
        sources=sources,
        chips=chips,
        spec=spec,
        model=model,
        optimizer=optimizer,
        plateau=plateau,
        loss_fn=make_loss(c.loss),
        device=device,
        state=state,
        clock=clock,
        history=history,
        warmup=warmup_steps(c.epochs, n_per_epoch, c.batch_size),
        ema=ema,
    )


# --------------------------------------------------------------------------- one epoch


def training_step(run: Run, x: torch.Tensor, y: torch.Tensor, epoch: int) -> float:
    """One optimizer step on a batch; returns its loss.

    Raises:
        BasissError: the loss is not finite (the run diverged).
    """
    x, y = x.to(run.device), y.to(run.device)
    if run.config.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    run.optimizer.zero_grad(set_to_none=True)
    loss = run.loss_fn(run.model(x), y)
    if not torch.isfinite(loss):
        raise BasissError(f"training diverged at epoch {epoch} (loss {float(loss)}); lower --lr")
    loss.backward()
    run.optimizer.step()
    if run.ema is not None:
        run.ema.update(run.model)
    run.state.step += 1
    return float(loss.detach())


def _step_lr(run: Run, epoch: int, i: int, n_batches: int) -> float:
    """Advance the run's progress and set the cosine learning rate (plateau: leave it)."""
    c, st = run.config, run.state
    st.progress = max(
        st.progress, (epoch - 1 + i / n_batches) / c.epochs, run.clock.elapsed() / run.clock.budget
    )
    if run.plateau is not None:
        return c.lr
    lr = cosine_lr(c.lr, st.progress, st.step, run.warmup)
    set_lr(run.optimizer, lr)
    return lr


def train_one_epoch(run: Run, epoch: int) -> EpochTrain:
    """Train on one epoch's chips, stopping early when the time budget would run out."""
    c, clock = run.config, run.clock
    t_epoch = time.monotonic()
    run.model.train()
    loader = run.chips.epoch_loader(c, epoch)
    done = EpochTrain()
    bar = progress(total=len(loader), desc=f"epoch {epoch}/{c.epochs}", unit="batch")
    for i, (x, y) in enumerate(loader):
        if clock.no_time_for_batch(run.chips.n_val, c.batch_size):
            done.out_of_time = True
            break
        t_batch = time.monotonic()
        lr = _step_lr(run, epoch, i, len(loader))
        loss = training_step(run, x, y, epoch)
        done.loss_sum += loss * x.shape[0]
        done.n_seen += x.shape[0]
        done.n_batches += 1
        clock.record_batch(time.monotonic() - t_batch)
        bar.update(1)
        bar.set_postfix(loss=f"{done.loss:.4f}", lr=f"{lr:.2g}")
    bar.close()
    done.seconds = time.monotonic() - t_epoch
    return done


def validate_epoch(run: Run) -> tuple[Validation, dict[str, float]]:
    """Validate every source; returns the union's :class:`Validation` and each source's F1."""
    c = run.config
    t_val = time.monotonic()
    per_source = {
        k: validate(run.scored, loader, run.loss_fn, c.n_classes, run.device, c.channels_last)
        for k, loader in run.chips.val_loaders(c)
    }
    total = sum(per_source.values(), Validation())
    f1 = {
        name: per_source[k].counts.f1 if k in per_source else math.nan
        for k, name in enumerate(run.sources.names)
    }
    run.clock.val_seconds = time.monotonic() - t_val
    return total, f1


def monitored_score(
    monitor: Monitor, val: Validation, f1_per_source: dict[str, float], train_loss: float
) -> float:
    """The score best.pt and early stopping follow; lower is better.

    Without validation pixels, the training loss.
    """
    if val.n_valid == 0:
        return train_loss
    if monitor is Monitor.VAL_F1_MIN:
        scores = [v for v in f1_per_source.values() if not math.isnan(v)]
        return -min(scores, default=val.counts.f1)
    return val.loss if monitor is Monitor.VAL_LOSS else -val.counts.f1


def log_row(
    epoch: int,
    done: EpochTrain,
    val: Validation,
    f1_per_source: dict[str, float],
    lr: float,
    seconds: float,
) -> Row:
    """The log row of one epoch (see :data:`basiss.training.log.LOG_COLUMNS`)."""
    m = val.metrics()
    row: Row = {
        "epoch": epoch,
        "train_loss": done.loss,
        "val_loss": m["loss"],
        "val_precision": m["precision"],
        "val_recall": m["recall"],
        "val_f1": m["f1"],
        "val_iou": m["iou"],
        "lr": lr,
        "seconds": seconds,
        "chips_per_s": done.n_seen / max(done.seconds, 1e-9),
    }
    row.update({f"val_f1_{name}": v for name, v in f1_per_source.items()})
    return row


# --------------------------------------------------------------------------- checkpoints


def _spec_extra(run: Run, epoch: int, row: Row) -> dict[str, Any]:
    """The training facts stored in the checkpoint's spec (plain values only)."""
    c = run.config
    extra: dict[str, Any] = {
        "epoch": epoch,
        "monitor": c.monitor.value,
        "loss": c.loss.value,
        "seed": c.seed,
    }
    extra.update({k: float(v) for k, v in row.items() if k.startswith(("val_", "train_"))})
    extra["val_images"] = run.sources.val_names
    extra["config"] = c.plain()
    return extra


def save_epoch(run: Run, epoch: int, row: Row, score: float, val: dict[str, float]) -> None:
    """Update the best score and patience; write best.pt (when better), last.pt and the log."""
    st = run.state
    run.history.append(row)
    run.spec.extra = _spec_extra(run, epoch, row)
    st.epoch = epoch
    if score < st.best_score:
        st.best_score, st.best_epoch, st.bad_epochs = score, epoch, 0
        st.best_val = {k: float(v) for k, v in val.items()}
        save_checkpoint(run.path(BEST), run.scored, run.spec)
    else:
        st.bad_epochs += 1
    st.optimizer = run.optimizer.state_dict()
    st.scheduler = run.plateau.state_dict() if run.plateau is not None else {}
    st.ema = run.ema.state_dict() if run.ema is not None else {}
    save_checkpoint(run.path(LAST), run.model, run.spec, training_state=st)
    write_log(run.path(LOG), run.history, log_columns(run.sources.names))


def stop_reason(run: Run, done: EpochTrain) -> Stop | None:
    """Why the run stops after this epoch, or None to go on."""
    if done.out_of_time:
        return Stop.MAX_MINUTES
    if run.state.bad_epochs >= run.config.early_stopping_patience:
        return Stop.EARLY_STOPPING
    if run.clock.no_time_for_epoch():
        return Stop.MAX_MINUTES
    return None


# --------------------------------------------------------------------------- the loop


def run_epoch(run: Run, epoch: int) -> tuple[Row | None, Stop | None]:
    """Train, validate, log and checkpoint one epoch; returns its row and why to stop."""
    t_epoch = time.monotonic()
    done = train_one_epoch(run, epoch)
    if done.n_batches == 0:
        return None, Stop.MAX_MINUTES
    val, f1 = validate_epoch(run)
    score = monitored_score(run.config.monitor, val, f1, done.loss)
    if run.plateau is not None:
        run.plateau.step(score)
    lr = float(run.optimizer.param_groups[0]["lr"])
    row = log_row(epoch, done, val, f1, lr, time.monotonic() - t_epoch)
    best_val = {**val.metrics(), **{f"f1_{name}": v for name, v in f1.items()}}
    save_epoch(run, epoch, row, score, best_val)
    return row, stop_reason(run, done)


def _result(run: Run, stopped: Stop, epochs_run: int) -> TrainResult:
    best = run.state.best_val
    return TrainResult(
        best_path=run.path(BEST),
        last_path=run.path(LAST),
        log_path=run.path(LOG),
        best_epoch=run.state.best_epoch,
        best_val_loss=best.get("loss", math.nan),
        val_metrics={k: best.get(k, math.nan) for k in ("precision", "recall", "f1", "iou")},
        epochs_run=epochs_run,
        seconds=run.clock.elapsed(),
        stopped=stopped,
        history=run.history,
        val_f1_per_source={n: best.get(f"f1_{n}", math.nan) for n in run.sources.names},
    )


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
    clock = Clock.for_minutes(config.max_minutes)
    created = not Path(config.out).exists()
    try:
        run = prepare_run(config, clock)
    except BaseException:
        if created:  # a failed start leaves no empty run folder behind
            shutil.rmtree(config.out, ignore_errors=True)
        raise
    stopped, epochs_run = Stop.EPOCHS, 0
    try:
        for epoch in range(run.state.epoch + 1, config.epochs + 1):
            row, stop = run_epoch(run, epoch)
            if row is not None:
                epochs_run += 1
                if on_epoch is not None:
                    on_epoch(row)
            if stop is not None:
                stopped = stop
                break
    finally:
        run.chips.close()
    if not run.path(BEST).is_file():
        raise BasissError("the run ended before a single epoch finished (raise --max-minutes)")
    result = _result(run, stopped, epochs_run)
    if config.adapt_to is not None:
        adapted = adapt_batchnorm(
            result.best_path, config.adapt_to, run.path(ADAPTED), seed=config.seed,
            device=config.device,
        )  # fmt: skip
        result.adapted_path = adapted.path
    return result
