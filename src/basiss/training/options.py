"""Declaring a setting once: its rule, its command-line spellings and its help, beside its default.

A :class:`TrainConfig <basiss.training.config.TrainConfig>` field is declared with
:func:`option`, which stores an :class:`Option` in the field's metadata. The command line
derives its argparse options from those fields (:func:`basiss.cli.train.add_arguments`), and
the config checks its values with the same :class:`Rule` the parser uses, so a default, a
bound or a help text lives in one place.

Stdlib only: building the parser must not import torch, numpy or rasterio.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    """A number's kind and bounds; parses command-line text and checks a value.

    Attributes:
        kind: ``int`` or ``float``.
        low, high: bounds (None = unbounded).
        open_low, open_high: exclude the bound itself (``> low`` rather than ``>= low``).
    """

    kind: type = float
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    @property
    def __name__(self) -> str:  # argparse names a type by it in some messages
        return "integer" if self.kind is int else "number"

    def problem(self, value: Any) -> str | None:
        """Why ``value`` breaks the rule, or None when it is fine."""
        if self.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            return f"must be an integer, got {value!r}"
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
            return f"must be a number, got {value!r}"
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return f"must be {'>' if self.open_low else '>='} {self.low:g}, got {value:g}"
        if self.high is not None and (value >= self.high if self.open_high else value > self.high):
            return f"must be {'<' if self.open_high else '<='} {self.high:g}, got {value:g}"
        return None

    def __call__(self, text: str) -> Any:
        """argparse type: the value of ``text``, or an ``ArgumentTypeError`` (exit 2)."""
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not {'an integer' if self.kind is int else 'a number'}: {text!r}"
            ) from None
        problem = self.problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value


#: Counts and sizes: integers >= 1.
COUNT = Rule(int, low=1)
#: Integers >= 0 (seeds, loader workers, tolerances in pixels).
NON_NEGATIVE_INT = Rule(int, low=0)
#: Numbers > 0 (rates, lengths, budgets).
POSITIVE = Rule(float, low=0.0, open_low=True)
#: Numbers >= 0.
NON_NEGATIVE = Rule(float, low=0.0)
#: Numbers in [0, 1].
FRACTION = Rule(float, low=0.0, high=1.0)
#: Numbers in [0, 1) (a share that must leave something behind).
PART = Rule(float, low=0.0, high=1.0, open_high=True)
#: Any number.
NUMBER = Rule(float)


def json_object(text: str) -> dict[str, Any]:
    """argparse type: a JSON object (``'{"base": 24}'``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not JSON ({err.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"must be a JSON object such as '{{\"base\": 24}}': {text!r}"
        )
    return value


class LazyChoices(Sequence[str]):
    """Choices read on first use, so declaring them imports nothing (e.g. the model registry)."""

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        self._load = load
        self._values: tuple[str, ...] | None = None

    def _all(self) -> tuple[str, ...]:
        if self._values is None:
            self._values = tuple(self._load())
        return self._values

    def __getitem__(self, i: Any) -> Any:
        return self._all()[i]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __contains__(self, value: object) -> bool:
        return value in self._all()


@dataclass(frozen=True)
class Option:
    """How one setting appears on the command line.

    Attributes:
        flags: the spellings, preferred first (seed spellings as aliases).
        help: one phrase; the default is appended by the CLI's help formatter.
        rule: the bounds of a number (also checked by the config), or None.
        parse: an argparse type for other values (e.g. :func:`json_object`).
        choices: the allowed spellings (a tuple or :class:`LazyChoices`).
        nargs, metavar: as in argparse.
        action: ``store_true`` / ``store_false`` for switches (``--no-x`` stores False), or
            :class:`argparse.BooleanOptionalAction` for ``--x`` / ``--no-x``.
        required: the command line must give it (the config field has no default).
        repeat: the flag may be repeated, each time adding one value (a list).
        group: the help section it is listed under.
    """

    flags: tuple[str, ...]
    help: str
    rule: Rule | None = None
    parse: Callable[[str], Any] | None = None
    choices: Sequence[str] | None = None
    nargs: str | int | None = None
    metavar: str | tuple[str, ...] | None = None
    action: str | type[argparse.Action] | None = None
    required: bool = False
    repeat: bool = False
    group: str = "run"

    def argparse_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``add_argument`` (without ``dest`` and ``default``)."""
        if self.action is not None:
            return {"action": self.action, "help": self.help}
        kw: dict[str, Any] = {"help": self.help, "type": self.rule or self.parse}
        for key in ("choices", "nargs", "metavar"):
            if getattr(self, key) is not None:
                kw[key] = getattr(self, key)
        if self.required:
            kw["required"] = True
        if self.repeat:
            kw["action"] = "append"
        return {k: v for k, v in kw.items() if v is not None}


def option(default: Any = dataclasses.MISSING, *, spec: Option | None = None, **kw: Any) -> Any:
    """A dataclass field with ``default`` whose metadata holds its :class:`Option`.

    The option is ``Option(**kw)``, or ``spec`` with ``kw`` replaced (a shared option such
    as :data:`DEVICE`). A list or dict default is copied per instance (``default_factory``).
    """
    opt = Option(**kw) if spec is None else dataclasses.replace(spec, **kw)
    meta = {"cli": opt}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def cli_option(f: dataclasses.Field) -> Option | None:
    """The :class:`Option` a field declares, or None for a field without one."""
    return f.metadata.get("cli")


def check_fields(obj: Any) -> str | None:
    """The first problem of a dataclass's values against their fields' rules, or None.

    Sequences are checked element by element; None passes (an unset optional setting).
    """
    for f in dataclasses.fields(obj):
        opt = cli_option(f)
        if opt is None or opt.rule is None:
            continue
        value = getattr(obj, f.name)
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if item is None:
                continue
            problem = opt.rule.problem(item)
            if problem is not None:
                return f"{opt.flags[0]} {problem}"
    return None


#: Where a model runs (training and prediction alike).
DEVICE = Option(
    flags=("--device",),
    help="where the model runs; auto = CUDA when available, else CPU",
    choices=("auto", "cpu", "cuda"),
)
#: Torch's CPU threads (training and prediction alike).
THREADS = Option(
    flags=("--threads",), help="CPU threads for torch; unset: all cores", rule=COUNT, metavar="N"
)


@dataclass(frozen=True)
class AugmentOption:
    """A command-line setting of one :class:`~basiss.data.augment.Augment` field.

    Its default is the field's value in :meth:`Augment.sources()
    <basiss.data.augment.Augment.sources>`, read there and nowhere else.
    """

    field: str
    help: str
    rule: Rule = NON_NEGATIVE
    nargs: int | None = None
    metavar: str | tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return "--aug-" + self.field.replace("_", "-")


#: The augmentation settings the command line offers (training chips only).
AUGMENT_OPTIONS: tuple[AugmentOption, ...] = (
    AugmentOption("scale", "zoom range (log-uniform) of image and mask; 1 1 = off", POSITIVE, 2,
                  ("LOW", "HIGH")),
    AugmentOption("rotate", "max rotation by any angle of image and mask (with the 90-degree "
                  "turns, 45 covers every direction; a city's road grid otherwise teaches one "
                  "orientation); 0 = off", NON_NEGATIVE, metavar="DEGREES"),
    AugmentOption("gain", "multiplicative brightness range (log-uniform); 1 1 = off", POSITIVE, 2,
                  ("LOW", "HIGH")),
    AugmentOption("brightness", "max additive brightness shift, fraction of 255"),
    AugmentOption("contrast", "max relative contrast change"),
    AugmentOption("gamma", "gamma drawn in [1/(1+G), 1+G]"),
    AugmentOption("band_gain", "max relative gain per band (colour balance)"),
    AugmentOption("saturation", "max relative saturation change (3-band images)"),
    AugmentOption("hue", "max hue rotation in turns (3 bands)"),
    AugmentOption("blur", "max Gaussian blur sigma in pixels"),
    AugmentOption("noise", "max std of Gaussian sensor noise (0..255 scale)"),
    AugmentOption("p", "probability of each of gain, gamma, band gain, saturation, hue, blur, "
                  "noise, zoom, rotation", FRACTION),
)  # fmt: skip
