"""The settings of one training run, each declared once with its default, rule and CLI spellings.

:class:`TrainConfig` is checked when it is built (a bad value is one
:class:`~basiss.errors.BasissError`), and the command line derives its options from the
fields (see :mod:`basiss.training.options`). Importing this module loads neither torch nor
numpy: the augmentation preset and the lists of architectures and normalisations are read
only when they are needed.
"""

from __future__ import annotations

import argparse
import enum
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basiss.errors import BasissError
from basiss.training.kinds import Loss, Monitor, Optimizer, Schedule, values
from basiss.training.options import (
    COUNT,
    DEVICE,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    NUMBER,
    PART,
    POSITIVE,
    THREADS,
    LazyChoices,
    check_fields,
    json_object,
    option,
)
from basiss.training.presets import CPU, DEFAULT, PRESETS, preset

if TYPE_CHECKING:
    from basiss.data.augment import Augment

#: Run files a training run writes into its folder.
BEST, LAST, LOG = "best.pt", "last.pt", "log.csv"
#: ``best.pt`` adapted to ``--adapt-to`` imagery.
ADAPTED = "best_adapted.pt"


def _model_names() -> list[str]:
    from basiss.models import model_names

    return model_names()


def _norm_kinds() -> tuple[str, ...]:
    from basiss.data.normalize import NORM_KINDS

    return NORM_KINDS


def _sources_preset() -> Augment:
    from basiss.data.augment import Augment

    return Augment.sources()


#: Zooms a run may learn at: below 1/8 roads vanish into a pixel; above 4 a chip is mostly
#: interpolation.
ZOOM_RANGE = (0.125, 4.0)


def default_stride(slice_: tuple[int, int], random_crop: bool = False) -> tuple[int, int]:
    """Three quarters of the chip, rounded (the seed's 300 for 400): a quarter of overlap.

    With random crops the grid only sets how many chips an image gives an epoch (each
    item is a random window anyway), so the stride is the chip itself.
    """
    if random_crop:
        return slice_
    return (max(1, round(0.75 * slice_[0])), max(1, round(0.75 * slice_[1])))


@dataclass
class TrainConfig:
    """Everything one training run needs.

    The defaults are the :data:`~basiss.training.presets.DEFAULT` preset's values; build a
    config from another recipe with :meth:`from_preset`.

    Attributes:
        file_lists: sources: file-list CSVs or folders of image/mask pairs.
        out: run folder (``best.pt``, ``last.pt``, ``log.csv``).
        preset: the name of the recipe the defaults came from (set by :meth:`from_preset`;
            recorded in the checkpoint).
        init_from: start from this checkpoint's weights (fine-tuning); its architecture,
            bands, classes and normalisation must be this run's.
        adapt_to: unlabelled images of the area to be mapped: after training, ``best.pt``
            adapted to them (:func:`basiss.training.adapt.adapt_batchnorm`) is written to
            ``OUT/best_adapted.pt``.
        gsd: ground sample distance of the training images in metres, recorded in the
            checkpoint so prediction can resample other imagery to it. None = read it from
            georeferenced images (unknown for PNG/JPEG sets).
        zoom: the fraction of the training images' resolution the model learns at
            (0.5: every chip covers twice the ground in x and y, resampled down; a
            quarter of the compute per unit of area). The checkpoint records it, and
            prediction resamples its inputs by the same factor (``--gsd auto``).
        arch, arch_kwargs: registry name and constructor arguments of the model.
        n_bands: bands the model reads (the first ``n_bands`` of each image's
            default bands; RGBA with alpha reads as RGB). None = all of them.
        n_classes: 1 = sigmoid road; 2 = the seed's background + road softmax.
        slice, stride: chip size and step (x, y) of the training chip grid; stride
            None = :func:`default_stride` (the chip with random crops, else 3/4 of it).
            Validation uses ``stride = slice``.
        batch_size, epochs, lr, weight_decay: the usual (weight decay None =
            1e-2 for adamw, 0 otherwise).
        ema: decay of an exponential moving average of the weights that validation,
            best.pt and early stopping use instead of the live weights (see
            :mod:`basiss.training.ema`); 0 = off.
        loss, optimizer, schedule, monitor: a :class:`~basiss.training.kinds.Loss`,
            :class:`~basiss.training.kinds.Optimizer`, ... or its spelling.
            ``schedule`` cosine follows the run's progress (see :mod:`basiss.training.loop`);
            ``monitor`` is what best.pt and early stopping follow: ``val_loss``,
            ``val_f1`` (all validation pixels) or ``val_f1_min`` (the worst source's F1).
        validation_split: fraction of images held out (per source, seeded).
        early_stopping_patience: epochs without improvement before stopping.
        augment: master switch of augmentation.
        augmentation: what augmentation does when on (see
            :class:`basiss.data.augment.Augment`); default :meth:`Augment.sources`.
        random_crop: sample a random window of the chip's image per item.
        mask_threshold: mask values above it are road (CIL: 127).
        norm: ``image`` (each chip standardised per band), ``fixed`` (x/255) or
            ``dataset`` (per-band statistics of the training images); stored in the checkpoint.
        source_weights: sampling weight of each source (same order as ``file_lists``):
            a source's share of the training samples, drawn with replacement. None =
            every chip once per epoch.
        max_minutes: wall-clock budget; the run stops cleanly (validating and saving) in time.
        max_chips_per_epoch: cap an epoch at this many chips (a random subset each epoch).
        resume: continue from ``out/last.pt`` up to ``epochs``.
        overwrite: start afresh in an ``out`` that holds a run (else that is refused).
        device, threads, workers: where to run, torch CPU threads, data-loader processes.
        channels_last: use the channels-last memory format (faster convs on CPU).
        seed: seeds the split, the initial weights, shuffling and augmentation.

    Raises:
        BasissError: a value outside its rule or an unknown kind (when built); settings
            that contradict each other (:meth:`check`, when a run starts).
    """

    file_lists: list[Path] = option(
        help="file-list CSV or folder of image/mask pairs; repeat for several sources",
        flags=("--file-list", "--file_list"),
        parse=Path,
        metavar="CSV_OR_FOLDER",
        required=True,
        repeat=True,
        group="data",
    )
    out: Path = option(
        help="run folder for checkpoints and log",
        flags=("--out",),
        parse=Path,
        metavar="DIR",
        required=True,
        group="data",
    )
    preset: str = option(
        DEFAULT,
        help="training recipe the other defaults come from (options given override it): "
        + "; ".join(f"{p.name} = {p.summary}" for p in PRESETS.values()),
        flags=("--preset",),
        choices=tuple(PRESETS),
        metavar="NAME",
        group="model",
    )
    arch: str = option(
        CPU.values["arch"],
        help="architecture, a name of the model registry (the seed's --model)",
        flags=("--arch", "--model"),
        choices=LazyChoices(_model_names),
        metavar="ARCH",
        group="model",
    )
    arch_kwargs: dict[str, Any] = option(
        CPU.values["arch_kwargs"],
        help="JSON keyword arguments of the architecture, e.g. '{\"base\": 24}'",
        flags=("--arch-kwargs", "--arch_kwargs"),
        parse=json_object,
        metavar="JSON",
        group="model",
    )
    n_bands: int | None = option(
        3,
        help="image bands the model reads (the first N; RGBA with alpha reads as RGB)",
        flags=("--n-bands", "--n_bands"),
        rule=COUNT,
        metavar="N",
        group="model",
    )
    n_classes: int = option(
        1,
        help="1 = sigmoid road; 2 = the seed's softmax background + road",
        flags=("--n-classes", "--n_classes"),
        rule=COUNT,
        metavar="N",
        group="model",
    )
    slice: tuple[int, int] = CPU.values["slice"]
    stride: tuple[int, int] | None = None
    batch_size: int = option(
        CPU.values["batch_size"],
        help="chips per step",
        flags=("--batch-size", "--batch_size", "--batchsize"),
        rule=COUNT,
        metavar="N",
    )
    epochs: int = option(
        CPU.values["epochs"], help="maximum epochs", flags=("--epochs",), rule=COUNT, metavar="N"
    )
    lr: float = option(CPU.values["lr"], help="peak learning rate", flags=("--lr",), rule=POSITIVE)
    weight_decay: float | None = option(
        None,
        help="weight decay; unset: 1e-2 with adamw, else 0",
        flags=("--weight-decay",),
        rule=NON_NEGATIVE,
    )
    ema: float = option(
        0.0,
        help="validate and save a moving average of the weights with this decay "
        "(0.999: over ~1000 steps); 0 = off",
        flags=("--ema",),
        rule=PART,
        metavar="DECAY",
    )
    loss: Loss = option(
        Loss(CPU.values["loss"]), help="training loss", flags=("--loss",), choices=values(Loss)
    )
    optimizer: Optimizer = option(
        Optimizer.ADAM,
        help="optimizer (sgd with momentum 0.9)",
        flags=("--optimizer",),
        choices=values(Optimizer),
    )
    schedule: Schedule = option(
        Schedule(CPU.values["schedule"]),
        help="cosine over the run (epochs or --max-minutes) or halve on plateau",
        flags=("--schedule",),
        choices=values(Schedule),
    )
    validation_split: float = option(
        0.1,
        help="fraction of images (per source) held out for validation",
        flags=("--validation-split", "--validation_split"),
        rule=PART,
        group="data",
    )
    early_stopping_patience: int = option(
        CPU.values["early_stopping_patience"],
        help="stop after this many epochs without improvement",
        flags=("--early-stopping-patience", "--early_stopping_patience"),
        rule=COUNT,
        metavar="N",
    )
    monitor: Monitor = option(
        Monitor(CPU.values["monitor"]),
        help="score for best.pt and early stopping",
        flags=("--monitor",),
        choices=values(Monitor),
    )
    augment: bool = option(
        True,
        help="switch off all augmentation (geometric and photometric)",
        flags=("--no-augment",),
        action="store_false",
        group="augmentation",
    )
    augmentation: Augment = field(default_factory=_sources_preset)
    random_crop: bool = option(
        CPU.values["random_crop"],
        help="sample a random window of each chip's image instead of the grid window "
        "(default: on; off in the seed preset)",
        flags=("--random-crop",),
        action=argparse.BooleanOptionalAction,
        group="data",
    )
    mask_threshold: float = option(
        0.0,
        help="mask values above this are road (CIL anti-aliased masks: 127)",
        flags=("--mask-threshold", "--mask_threshold"),
        rule=NUMBER,
        group="data",
    )
    norm: str = option(
        "image",
        help="input normalisation: image = each chip standardised per band (robust to "
        "another source's brightness and contrast), fixed = x/255, dataset = training-set "
        "statistics",
        flags=("--norm",),
        choices=LazyChoices(_norm_kinds),
        metavar="KIND",
        group="model",
    )
    source_weights: list[float] | None = option(
        None,
        help="sampling weight of each --file-list, in order (a source's share of the "
        "training samples, drawn with replacement); unset: every chip once per epoch",
        flags=("--source-weights",),
        rule=NON_NEGATIVE,
        nargs="+",
        metavar="W",
        group="data",
    )
    max_minutes: float | None = option(
        None,
        help="wall-clock budget; the run stops cleanly in time",
        flags=("--max-minutes",),
        rule=POSITIVE,
    )
    max_chips_per_epoch: int | None = option(
        None,
        help="cap each epoch at this many randomly chosen chips",
        flags=("--max-chips-per-epoch",),
        rule=COUNT,
        metavar="N",
    )
    resume: bool = option(
        False,
        help="continue from OUT/last.pt",
        flags=("--resume",),
        action="store_true",
    )
    overwrite: bool = option(
        False,
        help="train into an OUT that already holds a run, replacing it",
        flags=("--overwrite",),
        action="store_true",
    )
    init_from: Path | None = option(
        None,
        help="start from the weights of this checkpoint (fine-tuning; same architecture, "
        "bands, classes and normalisation)",
        flags=("--init-from",),
        parse=Path,
        metavar="CKPT",
        group="model",
    )
    adapt_to: Path | None = option(
        None,
        help="after training, also write OUT/best_adapted.pt: best.pt with its BatchNorm "
        "statistics re-estimated on these unlabelled images (folder, file-list CSV or "
        "image; see basiss adapt)",
        flags=("--adapt-to",),
        parse=Path,
        metavar="IMAGES",
        group="data",
    )
    gsd: float | None = option(
        None,
        help="ground sample distance of the training images in metres (for PNG/JPEG sets; "
        "georeferenced images give their own); recorded so predict can resample to it",
        flags=("--gsd",),
        rule=POSITIVE,
        metavar="METRES",
        group="data",
    )
    zoom: float = option(
        CPU.values["zoom"],
        help="learn at this fraction of the training images' resolution (0.5 = half: "
        "each chip covers 2x the ground, 4x less compute per area); recorded, and predict "
        "resamples its inputs alike (default: the preset's; 1 = as they are)",
        flags=("--zoom",),
        rule=POSITIVE,
        metavar="F",
        group="data",
    )
    device: str = option("auto", spec=DEVICE, group="machine")
    threads: int | None = option(None, spec=THREADS, group="machine")
    workers: int = option(
        0,
        help="data-loader worker processes (0 = in this process)",
        flags=("--loader-workers", "--workers"),
        rule=NON_NEGATIVE_INT,
        metavar="N",
        group="machine",
    )
    channels_last: bool = option(
        True,
        help="keep the default memory format (channels-last is faster for BatchNorm nets on CPU)",
        flags=("--no-channels-last",),
        action="store_false",
        group="machine",
    )
    seed: int = option(
        0, help="seed of split, weights and augmentation", flags=("--seed",),
        rule=NON_NEGATIVE_INT,
    )  # fmt: skip

    def __post_init__(self) -> None:
        self.file_lists = [Path(p) for p in self.file_lists]
        self.out = Path(self.out)
        if self.init_from is not None:
            self.init_from = Path(self.init_from)
        if self.adapt_to is not None:
            self.adapt_to = Path(self.adapt_to)
        self.loss = _kind(Loss, self.loss, "loss")
        self.optimizer = _kind(Optimizer, self.optimizer, "optimizer")
        self.schedule = _kind(Schedule, self.schedule, "schedule")
        self.monitor = _kind(Monitor, self.monitor, "monitor")
        self.slice = _pair("slice", self.slice)
        self.stride = (
            default_stride(self.slice, self.random_crop)
            if self.stride is None
            else _pair("stride", self.stride)
        )
        if self.source_weights is not None:
            self.source_weights = [float(w) for w in self.source_weights]
        problem = check_fields(self)
        if problem is not None:
            raise BasissError(problem)

    @classmethod
    def from_preset(cls, name: str, **values: Any) -> TrainConfig:
        """A config of preset ``name`` with ``values`` (field names) overriding it.

        Raises:
            BasissError: an unknown preset or a bad value.
        """
        return cls(**{**preset(name).values, **values, "preset": name})

    def check(self) -> None:
        """Refuse settings that cannot go together (checked when a run starts, so a config
        may be built in steps with :func:`dataclasses.replace`).

        Raises:
            BasissError: the first contradiction found.
        """
        problem = _contradiction(self)
        if problem is not None:
            raise BasissError(problem)

    def plain(self) -> dict[str, Any]:
        """The settings as plain values (paths as strings, tuples as lists), for a checkpoint."""
        return json.loads(json.dumps(asdict(self), default=str))


def _kind(kind: type[enum.StrEnum], value: Any, what: str) -> Any:
    """``value`` as a member of ``kind``, or a one-line error listing the spellings."""
    try:
        return kind(value)
    except ValueError:
        raise BasissError(
            f"unknown {what} {value!r}; choose from {', '.join(values(kind))}"
        ) from None


def _pair(name: str, value: Any) -> tuple[int, int]:
    """A chip size or stride as two ints >= 1."""
    try:
        x, y = (int(v) for v in value)
    except (TypeError, ValueError):
        raise BasissError(f"{name} must be two whole numbers (x, y), got {value!r}") from None
    if min(x, y) < 1:
        raise BasissError(f"{name} must be >= 1 in x and y, got {(x, y)}")
    return (x, y)


def _contradiction(c: TrainConfig) -> str | None:
    """The first pair of settings that cannot go together, or None."""
    if not c.file_lists:
        return "no file list given"
    if c.stride[0] > c.slice[0] or c.stride[1] > c.slice[1]:
        return (
            f"stride {c.stride} is larger than the chip {c.slice}: chips would leave gaps "
            "and prediction refuses such a checkpoint"
        )
    if not ZOOM_RANGE[0] <= c.zoom <= ZOOM_RANGE[1]:
        return f"--zoom must be in [{ZOOM_RANGE[0]:g}, {ZOOM_RANGE[1]:g}], got {c.zoom:g}"
    if c.resume and c.init_from is not None:
        return "--resume continues OUT/last.pt; --init-from starts a new run: give one"
    if c.resume and c.overwrite:
        return "--resume and --overwrite contradict each other; give one"
    if c.norm not in _norm_kinds():
        return f"unknown normalisation {c.norm!r}; choose from {', '.join(_norm_kinds())}"
    if c.source_weights is not None and (
        len(c.source_weights) != len(c.file_lists) or sum(c.source_weights) <= 0
    ):
        return (
            f"--source-weights needs {len(c.file_lists)} non-negative weight(s) "
            f"(one per --file-list, not all 0), got {c.source_weights}"
        )
    return None


def config_fields() -> tuple[Any, ...]:
    """The fields of :class:`TrainConfig` (for the command line to derive its options)."""
    return fields(TrainConfig)
