"""The evaluation figure's overview, max-pooled band by band.

The figure shows a scene pooled by an integer factor (block maximum, so a one-pixel
road stays visible). A block maximum of a block split across two bands is the
maximum of its two parts, so each band's core rows are pooled on their own (aligned
on the blocks they fall in) and folded into the overview with ``np.maximum``: the
result is the pooling of the whole scene, at the memory of a band plus the overview.
"""

from __future__ import annotations

import numpy as np

from basiss.evaluation.stream import BandReading
from basiss.viz.plots import EvaluationOverview, evaluation_overview, pooled_shape


def _on_blocks(arr: np.ndarray | None, start: int, factor: int) -> np.ndarray | None:
    """Rows starting at scene row ``start``, padded on top with 0 to the start of their block."""
    off = start % factor
    if arr is None or off == 0:
        return arr
    return np.concatenate([np.zeros((off, *arr.shape[1:]), dtype=arr.dtype), arr])


class OverviewTally:
    """The pooled panels of the evaluation figure, folded in band by band."""

    def __init__(self, shape: tuple[int, int], factor: int, is_prob: bool) -> None:
        self.shape, self.factor, self.is_prob = pooled_shape(shape, factor), factor, is_prob
        self.panels: dict[str, np.ndarray] = {}

    def add(self, b: BandReading) -> None:
        """Fold the core rows of one band into the overview."""
        core, start, f = b.band.core, b.band.start, self.factor
        part = evaluation_overview(
            _on_blocks(b.truth[core], start, f),
            _on_blocks(b.pred[core], start, f),
            _on_blocks(None if b.prob is None else b.prob[core], start, f),
            _on_blocks(None if b.valid is None else b.valid[core], start, f),
            f,
        )
        block = start // f
        for name in ("truth", "middle", "tp", "fp", "fn"):
            pooled = getattr(part, name)
            whole = self.panels.get(name)
            if whole is None:
                whole = self.panels[name] = np.zeros(self.shape, dtype=pooled.dtype)
            rows = slice(block, block + pooled.shape[0])
            np.maximum(whole[rows], pooled, out=whole[rows])

    def overview(self) -> EvaluationOverview:
        """The pooled panels of the scene (every band added)."""
        return EvaluationOverview(is_prob=self.is_prob, factor=self.factor, **self.panels)
