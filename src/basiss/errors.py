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


#: Messages that only point at another exception (GDAL's "See previous exception").
_POINTERS = ("see previous exception",)


def reason(exc: BaseException) -> str:
    """The most telling one-line reason of ``exc``, for a one-line error.

    Follows the ``__cause__`` chain to its deepest message (GDAL's own words, e.g.
    ``TIFFReadEncodedStrip:Read error at scanline 4; got 4017 bytes, expected 8064`` under
    rasterio's ``Read failed. See previous exception``), first line only.
    """
    chain: list[BaseException] = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 16:
        chain.append(chain[-1].__cause__)
    for e in reversed(chain):
        text = str(e).strip().splitlines()
        if text and not any(p in text[0].lower() for p in _POINTERS):
            return text[0]
    return type(exc).__name__
