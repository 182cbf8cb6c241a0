"""Process memory policy: large arrays go back to the operating system when freed.

glibc serves an allocation from its heap unless it is larger than the *mmap threshold*,
and it raises that threshold every time a large block is freed. A loop that allocates and
frees many large numpy arrays of varying size (a band of a scene, then the next) ends up
with those arrays on the heap, which fragments: the resident size creeps up with the number
of bands, i.e. with the scene's height. Fixing the threshold keeps every array of 1 MiB or
more in its own mapping, returned whole on free. Measured on road-network extraction of a
4000 x 32000 vs 4000 x 4000 raster: peak RSS ratio 1.19 without, 1.04 with.
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: ``M_MMAP_THRESHOLD`` of glibc's ``mallopt``.
_M_MMAP_THRESHOLD = -3
#: Allocations at least this large are mapped on their own (bytes).
MMAP_THRESHOLD = 1 << 20

_done = False


def return_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes, once per process.

    Returns:
        True when the policy is in force (glibc present), False elsewhere (no effect).
    """
    global _done
    if _done:
        return True
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        _done = bool(libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))
    except (OSError, AttributeError):
        return False
    return _done
