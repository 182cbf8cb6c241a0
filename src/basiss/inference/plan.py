"""Block planning for a distributed run: how many chip-row blocks each scene becomes.

Pure: numbers of chip rows and workers in, ``(first, stop)`` chip-row ranges out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from basiss.errors import BasissError
from basiss.grid import split_rows

#: Auto block size bounds, in chip rows: small blocks waste halo, big ones retry slowly.
MIN_BLOCK_ROWS = 4
MAX_BLOCK_ROWS = 16
#: Blocks aimed at per worker (load balance when few scenes are large).
BLOCKS_PER_WORKER = 2


def plan_blocks(
    chip_rows: Sequence[int], workers: int, block_rows: int | None = None
) -> list[list[tuple[int, int]]]:
    """Chip-row blocks for each scene of a run.

    Args:
        chip_rows: the number of chip rows of each scene.
        workers: worker threads of the cluster.
        block_rows: chip rows per block (the last block of a scene may have
            fewer); None: automatic. The automatic size
            aims at ``BLOCKS_PER_WORKER`` blocks per worker over the whole run,
            splitting a scene in proportion to its share of the rows, with
            blocks of ``MIN_BLOCK_ROWS`` to ``MAX_BLOCK_ROWS`` chip rows (a
            scene smaller than that stays one block). Many small scenes stay
            whole; one large scene is split so every worker is busy.

    Returns:
        Per scene, its ``(first, stop)`` chip-row ranges, in order.

    Raises:
        BasissError: ``block_rows`` below 1.
    """
    if block_rows is not None:
        if block_rows < 1:
            raise BasissError(f"block rows must be >= 1, got {block_rows}")
        return [[(a, min(a + block_rows, n)) for a in range(0, n, block_rows)] for n in chip_rows]
    total = max(1, sum(chip_rows))
    target = BLOCKS_PER_WORKER * max(1, workers)
    plans = []
    for n in chip_rows:
        share = math.ceil(target * n / total)
        k = max(math.ceil(n / MAX_BLOCK_ROWS), min(share, n // MIN_BLOCK_ROWS))
        plans.append(split_rows(n, max(1, k)))
    return plans
