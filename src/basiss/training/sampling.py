"""Which training chips an epoch visits, and how several sources share the draws."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from basiss.errors import BasissError


def sampling_probabilities(chip_sources: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """Probability of each training chip so that source ``k`` gets ``weights[k]`` of the draws.

    Args:
        chip_sources: the source number of each chip.
        weights: a non-negative weight per source (normalised here; sources
            without chips drop out and the others share their weight).

    Returns:
        float64 probabilities summing to 1: ``w_k / sum(w) / n_chips_k``.
    """
    src = np.asarray(chip_sources, dtype=np.intp)
    w = np.asarray(weights, dtype=np.float64)
    counts = np.bincount(src, minlength=len(w)).astype(np.float64)
    w = np.where(counts > 0, w, 0.0)
    if w.sum() <= 0:
        raise BasissError("source weights: every source with training chips has weight 0")
    per_chip = (w / w.sum()) / np.maximum(counts, 1.0)
    p = per_chip[src]
    return p / p.sum()


def epoch_order(
    n_chips: int,
    n_draw: int,
    seed: int,
    epoch: int,
    probabilities: np.ndarray | None = None,
) -> list[int]:
    """The chip indices of one epoch, seeded by ``(seed, epoch)``.

    Without probabilities: a permutation cut to ``n_draw`` (every chip at most
    once). With them: ``n_draw`` weighted draws with replacement.
    """
    g = torch.Generator().manual_seed(seed * 100003 + epoch)
    if probabilities is None:
        return torch.randperm(n_chips, generator=g)[:n_draw].tolist()
    p = torch.from_numpy(np.asarray(probabilities, dtype=np.float64))
    return torch.multinomial(p, n_draw, replacement=True, generator=g).tolist()
