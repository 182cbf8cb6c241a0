"""Skeleton pixels of one band -> graph pieces that join exactly across band edges.

The pixel graph of a skeleton is defined pixel by pixel, so the same for a band and for
the whole scene: a skeleton pixel's *degree* is its number of 8-neighbours on the
skeleton; pixels of degree 1 are *ends*, of degree >= 3 *junction pixels* (8-adjacent
junction pixels form one junction, joined in :mod:`basiss.graph.stitch`), of degree 2
*path pixels*; edges are the chains of path pixels between node pixels.

A band sees its own rows plus two context rows each side (the neighbours' own skeleton
rows, so the degrees of the pixels next to the band edge are the scene's). Tracing a
chain stops where it steps out of the band's own rows: that end of the :class:`Piece` is
*open*, keyed by the unordered pair (last pixel inside, first pixel outside). The
neighbouring band sees the same step from the other side, under the same key, so pieces
are joined exactly, whatever the angle at which the road crosses the band edge.

The walk is a Python loop over the skeleton's pixels (numpy has no chain tracing; a
skeleton holds ~1% of a scene's pixels), on flat indices into a bytes buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basiss.graph.raster import NEIGHBOURS

#: A pixel as ``(row, col)`` in the scene.
Pixel = tuple[int, int]
#: One end of a piece: ``("n", pixel)`` at a node pixel, ``("o", (a, b))`` open across a
#: band edge (``a < b``, the two pixels of the step), or ``("c", None)`` for a closed loop.
End = tuple[str, object]


@dataclass(frozen=True)
class Piece:
    """A chain of skeleton pixels inside one band, in order from ``start`` to ``end``.

    Attributes:
        start: the first end (see :data:`End`).
        end: the last end.
        rows: the pixels' scene rows.
        cols: the pixels' columns.
        prob: road probability (0..1) at each pixel.
        dist: distance to the background (metres) at each pixel.
    """

    start: End
    end: End
    rows: np.ndarray
    cols: np.ndarray
    prob: np.ndarray
    dist: np.ndarray


@dataclass(frozen=True)
class BandPixels:
    """What one band contributes: its pieces and its node pixels.

    Attributes:
        pieces: the chains.
        junctions: ``(k, 2)`` scene ``(row, col)`` of the junction pixels in its rows.
        ends: ``(k, 2)`` scene ``(row, col)`` of its end pixels.
        end_dist: distance to the background (metres) at each end pixel.
    """

    pieces: list[Piece]
    junctions: np.ndarray
    ends: np.ndarray
    end_dist: np.ndarray


def degrees(padded: np.ndarray) -> np.ndarray:
    """Number of 8-neighbours on the skeleton of each skeleton pixel (0 elsewhere).

    ``padded`` has a border of one unset pixel all round; the result has its shape.
    """
    deg = np.zeros(padded.shape, dtype=np.uint8)
    h, w = padded.shape
    inner = deg[1:-1, 1:-1]
    for dr, dc in NEIGHBOURS:
        inner += padded[1 + dr : h - 1 + dr, 1 + dc : w - 1 + dc]
    return deg * padded


class _Walker:
    """Chain tracing on one band's padded skeleton (flat indices, bytes lookups)."""

    def __init__(self, ctx: np.ndarray, row0: int) -> None:
        self.h = ctx.shape[0] - 4
        self.wp = ctx.shape[1] + 2
        padded = np.zeros((ctx.shape[0], self.wp), dtype=np.uint8)
        padded[:, 1:-1] = ctx
        self.sk = padded.ravel().tobytes()
        self.deg = degrees(padded).ravel().tobytes()
        self.lo, self.hi = 2 * self.wp, (2 + self.h) * self.wp
        self.offs = tuple(dr * self.wp + dc for dr, dc in NEIGHBOURS)
        self.row0 = row0
        self.seen = bytearray(len(self.sk))

    def pixel(self, i: int) -> Pixel:
        """Scene ``(row, col)`` of flat index ``i``."""
        return (i // self.wp - 2 + self.row0, i % self.wp - 1)

    def inside(self, i: int) -> bool:
        """True when flat index ``i`` is in the band's own rows."""
        return self.lo <= i < self.hi

    def neighbours(self, i: int) -> list[int]:
        """Flat indices of the skeleton neighbours of ``i``."""
        sk = self.sk
        return [i + o for o in self.offs if sk[i + o]]

    def open_end(self, a: int, b: int) -> End:
        """The key of the step from ``a`` (inside) to ``b`` (outside)."""
        pa, pb = self.pixel(a), self.pixel(b)
        return ("o", (pa, pb) if pa < pb else (pb, pa))

    def walk(self, prev: int, cur: int, path: list[int]) -> End:
        """Follow path pixels from ``cur`` (coming from ``prev``), appending to ``path``.

        Returns the end reached: a node pixel (appended), an open step, or the loop closed.
        """
        first = cur
        while True:
            self.seen[cur] = 1
            path.append(cur)
            a, b = self.neighbours(cur)
            nxt = b if a == prev else a
            if not self.inside(nxt):
                return self.open_end(cur, nxt)
            if self.deg[nxt] != 2:
                path.append(nxt)
                return ("n", self.pixel(nxt))
            if nxt == first:
                return ("c", None)
            prev, cur = cur, nxt


def _from_nodes(wk: _Walker, nodes: np.ndarray) -> list[tuple[End, End, list[int]]]:
    """Chains that start at the band's node pixels (each chain once)."""
    out: list[tuple[End, End, list[int]]] = []
    deg = wk.deg
    for n in nodes.tolist():
        start = ("n", wk.pixel(n))
        junction = deg[n] >= 3
        for m in wk.neighbours(n):
            if not wk.inside(m):
                if not (junction and deg[m] >= 3):
                    out.append((start, wk.open_end(n, m), [n]))
            elif deg[m] != 2:
                if not (junction and deg[m] >= 3) and n < m:
                    out.append((start, ("n", wk.pixel(m)), [n, m]))
            elif not wk.seen[m]:
                path = [n]
                out.append((start, wk.walk(n, m, path), path))
    return out


def _from_paths(wk: _Walker, paths: np.ndarray) -> list[tuple[End, End, list[int]]]:
    """Chains of path pixels reached from no node: through the band, or closed loops."""
    out: list[tuple[End, End, list[int]]] = []
    for p in paths.tolist():
        if wk.seen[p]:
            continue
        outside = [m for m in wk.neighbours(p) if not wk.inside(m)]
        if outside:
            path: list[int] = []
            end = wk.walk(outside[0], p, path)
            out.append((wk.open_end(p, outside[0]), end, path))
    for p in paths.tolist():
        if not wk.seen[p]:
            path = []
            end = wk.walk(wk.neighbours(p)[0], p, path)
            out.append((("c", None), end, path))
    return out


def band_pieces(ctx: np.ndarray, row0: int, prob: np.ndarray, dist: np.ndarray) -> BandPixels:
    """Trace the skeleton of one band into pieces.

    Args:
        ctx: ``(h + 4, W)`` skeleton rows ``row0 - 2 .. row0 + h + 1`` (rows outside the
            image unset); the band's own rows are ``ctx[2 : 2 + h]``.
        row0: the band's first row in the scene.
        prob: ``(h, W)`` probability (0..1) of the band's rows.
        dist: ``(h, W)`` distance to the background (metres) of the band's rows.

    Returns:
        The band's pieces and node pixels, in scene coordinates.
    """
    wk = _Walker(ctx, row0)
    flat = np.flatnonzero(np.frombuffer(wk.sk, dtype=np.uint8)[wk.lo : wk.hi]) + wk.lo
    deg = np.frombuffer(wk.deg, dtype=np.uint8)[flat]
    chains = _from_nodes(wk, flat[(deg != 2) & (deg != 0)])
    chains += _from_paths(wk, flat[deg == 2])
    pieces = []
    for start, end, path in chains:
        idx = np.asarray(path, dtype=np.int64)
        rows = idx // wk.wp - 2
        cols = idx % wk.wp - 1
        pieces.append(  # int32 pixels, float32 values: the pieces are kept for the scene
            Piece(
                start,
                end,
                (rows + row0).astype(np.int32),
                cols.astype(np.int32),
                prob[rows, cols].astype(np.float32, copy=False),
                dist[rows, cols].astype(np.float32, copy=False),
            )
        )

    def scene(sel: np.ndarray) -> np.ndarray:
        idx = flat[sel]
        return np.stack([idx // wk.wp - 2 + row0, idx % wk.wp - 1], axis=1)

    ends = scene(deg == 1)
    end_dist = dist[ends[:, 0] - row0, ends[:, 1]] if len(ends) else np.zeros(0, np.float32)
    return BandPixels(pieces, scene(deg >= 3), ends, end_dist)
