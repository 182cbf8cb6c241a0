"""`basiss evaluate`: not implemented yet (its issue fills it in)."""

from __future__ import annotations

import argparse

from basiss.cli._common import not_implemented

HELP = "evaluate (not implemented yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options yet."""


def run(args: argparse.Namespace) -> int:
    return not_implemented("evaluate")
