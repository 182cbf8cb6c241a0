"""`basiss train`: train a road-segmentation model on image/mask pairs.

The options are derived from :class:`basiss.training.config.TrainConfig`'s fields and from
:data:`basiss.training.options.AUGMENT_OPTIONS`; nothing here restates a default.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields, replace
from typing import Any

from basiss.cli._common import Unset, add_chip_arguments, add_option, chip_pair, show_value
from basiss.training.config import TrainConfig
from basiss.training.options import AUGMENT_OPTIONS, cli_option

HELP = "train a road-segmentation model on chips of image/mask pairs"
DESCRIPTION = """\
Train a road-segmentation net on chips cut from image/mask pairs. Sources are
file-list CSVs (name, im_file, im_vis_file, mask_file, mask_vis_file) or folders
holding images/ and groundtruth/ (or masks/) files of the same name. Whole
images are held out for validation, per source; with several sources the log
has each source's validation F1 (val_f1_<source>) and --source-weights sets each
source's share of the training samples. Augmentation imitates imagery from other
sources (zoom, gain, contrast, gamma, colour, blur, noise); each part has an
option below (0, or 1 1 for ranges, switches it off). Writes OUT/best.pt (best
validation F1, or what --monitor names), OUT/last.pt (resumable) and OUT/log.csv.

The defaults are the best recipe measured on a 2-core CPU (--preset cpu);
--preset names another, and options given on the command line override it.
--init-from CKPT fine-tunes another run's model; --gsd records the ground sample
distance of PNG/JPEG sets so that `basiss predict` can resample other imagery."""

GROUPS = {
    "data": "data",
    "model": "model",
    "run": "optimisation and stopping",
    "augmentation": "augmentation (training chips only)",
    "machine": "machine",
}


class PresetDefault:
    """The default of an augmentation option: its value in ``Augment.sources()``.

    Read only when the help is shown (the preset's module imports scipy); a parsed value
    that is still a :class:`PresetDefault` means "not given".
    """

    def __init__(self, field: str) -> None:
        self.field = field

    def __str__(self) -> str:
        from basiss.data.augment import Augment

        return show_value(getattr(Augment.sources(), self.field))


def _config_defaults() -> dict[str, Unset]:
    """Each field's default (the default preset's value) as :class:`Unset`: an option left
    out keeps the value of the ``--preset`` given, not of the default preset."""
    out: dict[str, Unset] = {}
    for f in fields(TrainConfig):
        if f.default is not MISSING:
            out[f.name] = Unset(f.default)
        elif f.default_factory is not MISSING and f.name != "augmentation":
            out[f.name] = Unset(f.default_factory())
        else:
            out[f.name] = Unset(None)
    return out


def add_augment_arguments(group: Any) -> None:
    """``--aug-photometric`` and one option per :data:`AUGMENT_OPTIONS` entry."""
    action = group.add_argument(
        "--aug-photometric", action=argparse.BooleanOptionalAction, default=True
    )
    action.help = "photometric changes imitating other sources (the --aug-* values below); on"
    for a in AUGMENT_OPTIONS:
        group.add_argument(
            a.flag, dest=f"aug_{a.field}", type=a.rule, nargs=a.nargs, metavar=a.metavar,
            default=PresetDefault(a.field), help=a.help,
        )  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `basiss train`, from the config's fields (seed spellings as aliases)."""
    groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    defaults = _config_defaults()
    for f in fields(TrainConfig):
        opt = cli_option(f)
        if opt is not None:
            add_option(groups[opt.group], f.name, opt, defaults[f.name])
        elif f.name == "slice":
            add_chip_arguments(
                parser,
                slice_default=defaults["slice"].value,
                stride_help="; unset: the chip with random crops, else 3/4 of it (the seed's "
                "300 for 400)",
            )
    add_augment_arguments(groups["augmentation"])


def augment_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~basiss.data.augment.Augment` the parsed options describe.

    Options left at their :class:`PresetDefault` keep the preset's value; ranges are
    sorted (``--aug-scale 1.5 0.8`` is 0.8-1.5).
    """
    from basiss.data.augment import Augment

    given = {}
    for a in AUGMENT_OPTIONS:
        value = getattr(args, f"aug_{a.field}")
        if isinstance(value, PresetDefault):
            continue
        given[a.field] = (min(value), max(value)) if a.nargs == 2 else value
    aug = replace(Augment.sources(), **given)
    return aug if args.aug_photometric else aug.without_photometric()


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` the parsed options describe: the ``--preset`` with the
    options given on the command line over it."""
    values = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if cli_option(f) and not isinstance(getattr(args, f.name), Unset)
    }
    name = values.pop("preset", None) or args.preset.value
    for key in ("slice", "stride"):
        pair = chip_pair(args, key)
        if pair is not None:
            values[key] = pair
    values["augmentation"] = augment_from_args(args)
    return TrainConfig.from_preset(name, **values)


def _print_row(row: dict[str, float]) -> None:
    per_source = [k for k in row if k.startswith("val_f1_")]
    sources = ""
    if len(per_source) > 1:
        sources = " [" + ", ".join(f"{k[7:]} {row[k]:.4f}" for k in per_source) + "]"
    print(
        f"epoch {int(row['epoch'])}: train_loss {row['train_loss']:.4f} "
        f"val_loss {row['val_loss']:.4f} val_f1 {row['val_f1']:.4f}{sources} "
        f"val_iou {row['val_iou']:.4f} ({row['seconds']:.0f} s, {row['chips_per_s']:.2f} chips/s)",
        flush=True,
    )


def run(args: argparse.Namespace) -> int:
    """Train, print one line per epoch and a summary."""
    from basiss.training.loop import train

    result = train(config_from_args(args), on_epoch=_print_row)
    m = result.val_metrics
    print(
        f"best epoch {result.best_epoch} ({result.stopped}, {result.epochs_run} epochs, "
        f"{result.seconds / 60:.1f} min): val_loss {result.best_val_loss:.4f} "
        f"precision {m['precision']:.4f} recall {m['recall']:.4f} f1 {m['f1']:.4f} "
        f"iou {m['iou']:.4f}\ncheckpoint: {result.best_path}"
    )
    if result.adapted_path is not None:
        print(f"adapted to {args.adapt_to}: {result.adapted_path}")
    return 0
