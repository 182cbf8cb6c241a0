"""Row bands of a scene for streamed evaluation: how many rows, and where each band's halo ends.

Pure arithmetic, no I/O. Evaluation reads a scene one band of full-width rows at a
time, so its memory is that of a band whatever the scene's height. A band's *core*
rows are counted once; its *slab* adds up to ``halo`` rows above and below (clipped
at the scene's edges), which a neighbourhood metric (the relaxed scores, with a
tolerance of ``halo`` pixels) needs to decide the core rows exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Pixels of one band (about 50 MB of working arrays at ~50 bytes a pixel: the raw
#: reads, float32 probabilities, bool masks, the sweep's float64 levels and the
#: distance transform of the relaxed scores).
BAND_PIXELS = 1 << 20


@dataclass(frozen=True)
class Band:
    """One band of rows.

    Attributes:
        start, stop: the core rows ``[start, stop)``, counted by this band alone.
        top, bottom: the slab ``[top, bottom)`` read for it (the core plus the halo).
    """

    start: int
    stop: int
    top: int
    bottom: int

    @property
    def core(self) -> slice:
        """The core rows inside the slab's arrays."""
        return slice(self.start - self.top, self.stop - self.top)

    @property
    def slab(self) -> tuple[int, int]:
        """``(top, bottom)``: the rows to read."""
        return self.top, self.bottom


def band_rows(width: int, band_pixels: int = BAND_PIXELS) -> int:
    """Rows of a band for a scene ``width`` pixels wide: about ``band_pixels`` pixels, >= 1."""
    return max(1, band_pixels // max(1, width))


def row_bands(height: int, rows: int, halo: int = 0) -> list[Band]:
    """Cut ``height`` rows into bands of ``rows`` core rows, each with ``halo`` rows each side.

    Args:
        height: rows of the scene.
        rows: core rows per band (the last band may be shorter), >= 1.
        halo: rows read above and below the core, >= 0 (clipped at the scene's edges).

    Returns:
        The bands, top to bottom; their cores tile ``[0, height)`` exactly.
    """
    if rows < 1 or halo < 0:
        raise ValueError(f"need rows >= 1 and halo >= 0, got rows={rows}, halo={halo}")
    return [
        Band(r0, min(height, r0 + rows), max(0, r0 - halo), min(height, r0 + rows + halo))
        for r0 in range(0, height, rows)
    ]
