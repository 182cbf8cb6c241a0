"""The ``basiss`` command: a thin shell of verbs over the library's functions.

Each verb lives in its own module here, exposing ``HELP`` (one line),
``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args) -> int``. Building
the parser imports no part of the library that loads torch, numpy or rasterio:
a verb imports what it needs inside ``run``. This module only dispatches, and
turns a :class:`~basiss.errors.BasissError` into a one-line message and a
non-zero exit (no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from basiss import __version__
from basiss.cli._common import HelpFormatter
from basiss.errors import BasissError

#: The verbs, in pipeline order; each is the module ``basiss.cli.<verb>`` (add one here).
VERBS: tuple[str, ...] = (
    "sample",
    "masks",
    "train",
    "adapt",
    "predict",
    "graph",
    "evaluate",
    "view",
    "demo",
)

EPILOG = """\
pipeline: sample -> masks -> train [-> adapt] -> predict -> graph -> evaluate -> view
          (demo runs them all)
run 'basiss VERB --help' for the options of one verb."""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one sub-parser per verb."""
    parser = argparse.ArgumentParser(
        prog="basiss",
        description="Broad Area Satellite Imagery Semantic Segmentation: "
        "road maps from satellite imagery over areas of any size.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"basiss {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in VERBS:
        mod = importlib.import_module(f"basiss.cli.{verb}")
        p = sub.add_parser(
            verb,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=HelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def one_line_warnings(verb: str) -> Any:
    """A ``warnings.showwarning`` that prints ``basiss VERB: warning: <first line>`` (no
    source line, no file name of the library): what a user needs, and once per message."""
    shown: set[str] = set()

    def show(message: Any, category: type, *_args: Any, **_kwargs: Any) -> None:
        text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
        if text not in shown:
            shown.add(text)
            print(f"basiss {verb}: warning: {text}", file=sys.stderr)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``basiss`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line_warnings(args.verb)
            return int(args._run(args) or 0)
    except BasissError as exc:
        print(f"basiss {args.verb}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"basiss {args.verb}: interrupted", file=sys.stderr)
        return 130
