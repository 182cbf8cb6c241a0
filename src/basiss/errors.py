"""The one exception type a user ever sees.

Stages raise :class:`BasissError` with a one-line message that names the file
and the problem; the CLI prints it without a traceback and exits non-zero.
"""

from __future__ import annotations

import os


class BasissError(Exception):
    """A problem with the user's input or environment, explained in one line."""


def file_error(path: str | os.PathLike[str], problem: str) -> BasissError:
    """Build the conventional ``<path>: <problem>`` error."""
    return BasissError(f"{os.fspath(path)}: {problem}")
