"""Progress bars that show on a terminal and stay quiet in logs and CI."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm:
    """A tqdm bar that is disabled when stderr is not a terminal.

    Args:
        iterable: what to iterate over (or None for a manual bar).
        **kwargs: passed to :class:`tqdm.tqdm` (``total``, ``desc``, ``unit``...).
    """
    kwargs.setdefault("disable", None)  # None: off when not a TTY
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)
