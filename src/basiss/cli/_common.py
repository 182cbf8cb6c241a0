"""Argument helpers shared by several verbs: number types, chip options, device, help format.

Nothing here imports torch, numpy or rasterio: building the parser stays instant.
"""

from __future__ import annotations

import argparse
import enum
import os
import sys
from typing import Any

from basiss.training.options import (
    COUNT,
    DEVICE,
    FRACTION,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    THREADS,
    Option,
    Rule,
)

#: argparse types: an integer >= 1, an integer >= 0, a float >= 0, a float > 0, [0, 1].
positive_int = COUNT
non_negative_int = NON_NEGATIVE_INT
non_negative = NON_NEGATIVE
positive = POSITIVE
fraction = FRACTION
#: argparse type: a percentile in [0, 100].
percentile = Rule(float, low=0.0, high=100.0)

#: The spellings of the batch size, the same on every verb that runs a model.
BATCH_FLAGS = ("--batch-size", "--batch_size", "--batchsize")


def show_value(value: Any) -> str:
    """A default as a user would type it: enums by value, sequences space-separated."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return " ".join(show_value(v) for v in value)
    return str(value)


class Unset:
    """The parsed value of an option the user did not give; ``value`` is what it defaults to.

    ``basiss train`` needs to tell "not given" from "given the default" (a ``--preset``
    supplies the defaults, and only options typed on the command line override it).
    """

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        return show_value(self.value)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help that states each default once: after the text, only when there is one to state.

    No default is shown for required options, switches (``store_true``/``store_false``),
    unset (None) settings or help that already speaks of its default.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if isinstance(default, Unset):
            default = default.value
        if (
            action.required
            or default is None
            or default is argparse.SUPPRESS
            or (isinstance(default, list | tuple) and not default)
            or isinstance(default, bool)
            or action.nargs == 0
            or "default" in text
            or "%(default)" in text
        ):
            return text
        return f"{text} (default: {show_value(default).replace('%', '%%')})"

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if isinstance(action, ChipSize):
            return "X [Y]"
        return super()._format_args(action, default_metavar)


class ChipSize(argparse.Action):
    """``--slice 256`` (square) or ``--slice 256 128`` (x, y), stored as an ``(x, y)`` tuple."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if len(values) > 2:
            parser.error(f"{option_string}: one (square) or two (x y) sizes, got {len(values)}")
        setattr(namespace, self.dest, (values[0], values[-1]))


def add_option(parser: Any, dest: str, opt: Option, default: Any = None) -> argparse.Action:
    """Add one :class:`~basiss.training.options.Option` to ``parser`` (or a group)."""
    kwargs = opt.argparse_kwargs()
    if not opt.required:
        kwargs["default"] = default
    return parser.add_argument(*opt.flags, dest=dest, **kwargs)


def add_chip_arguments(
    parser: argparse.ArgumentParser,
    slice_default: tuple[int, int] | None = None,
    slice_help: str = "",
    stride_help: str = "",
) -> None:
    """The chip grid, the same shape on every verb: ``--slice``/``--stride`` (one or two
    ints) and the seed's ``--slice_x --slice_y --stride_x --stride_y``."""
    g = parser.add_argument_group("chip grid")
    default = None if slice_default is None else slice_default[0]
    square = slice_default is not None and slice_default[0] == slice_default[1]
    g.add_argument(
        "--slice", type=COUNT, nargs="+", action=ChipSize, default=None,
        help=f"chip size in pixels, one int (square) or two (x y){slice_help}"
        + (f" (default: {default})" if square else ""),
    )  # fmt: skip
    g.add_argument(
        "--stride", type=COUNT, nargs="+", action=ChipSize, default=None,
        help=f"step between chips in pixels, one int or two (x y){stride_help}",
    )  # fmt: skip
    for name, axis, text in (
        ("slice", "x", "chip width"),
        ("slice", "y", "chip height"),
        ("stride", "x", "step across"),
        ("stride", "y", "step down"),
    ):
        g.add_argument(
            f"--{name}_{axis}", f"--{name}-{axis}", dest=f"{name}_{axis}", type=COUNT,
            default=None, metavar="N", help=f"{text} (overrides --{name})",
        )  # fmt: skip


def chip_pair(args: argparse.Namespace, name: str) -> tuple[int, int] | None:
    """``--NAME`` merged with ``--NAME_x``/``--NAME_y`` (either axis alone sets both when
    ``--NAME`` is absent); None when none of them was given."""
    both = getattr(args, name)
    x, y = getattr(args, f"{name}_x"), getattr(args, f"{name}_y")
    if both is None and x is None and y is None:
        return None
    bx, by = both if both is not None else (x or y, y or x)
    return (x or bx, y or by)


def default_workers() -> int:
    """The number of CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def add_device_arguments(parser: Any) -> None:
    """``--device`` and ``--threads``, for verbs that run a model."""
    add_option(parser, "device", DEVICE, "auto")
    add_option(parser, "threads", THREADS, None)


def add_batch_argument(parser: Any, default: int) -> None:
    """``--batch-size`` (also ``--batch_size``, ``--batchsize``): chips per model call."""
    parser.add_argument(
        *BATCH_FLAGS, dest="batch_size", type=COUNT, default=default, metavar="N",
        help="chips per model call",
    )  # fmt: skip


def refuse(parser_name: str, message: str) -> int:
    """Print a usage error for ``basiss VERB`` and return argparse's exit status 2."""
    print(f"basiss {parser_name}: error: {message}", file=sys.stderr)
    return 2


def not_implemented(verb: str) -> int:
    """What a verb says until it is written: plainly not implemented, exit 2."""
    print(f"basiss {verb}: not implemented yet", file=sys.stderr)
    return 2
