"""How basiss starts worker processes: the multiprocessing start method.

A plain ``fork`` starts workers in ~50 ms with everything imported, but is only safe when
the parent runs a single thread: a thread holding a lock at fork time leaves that lock
locked forever in the child. So :func:`pool_context` forks when the process has no other
Python thread (tqdm's monitor aside) and no thread-pool library loaded (a plain ``basiss
masks`` run), and otherwise uses ``forkserver`` (~1 s: the server imports the modules named
once, then forks workers from that clean state), or ``spawn`` where neither exists.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections.abc import Sequence

#: Modules that start native thread pools; a plain fork after them is unsafe.
THREADED_MODULES = ("torch", "onnxruntime", "tensorflow")


def _busy() -> bool:
    """True when forking now could copy a lock held by another thread."""
    # tqdm's monitor thread only ever locks tqdm's own state, which workers never use.
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    others = [t for t in others if type(t).__name__ != "TMonitor"]
    return bool(others) or any(m in sys.modules for m in THREADED_MODULES)


def pool_context(preload: Sequence[str] = ()) -> multiprocessing.context.BaseContext:
    """The multiprocessing context for a pool of workers started now.

    Args:
        preload: modules a forkserver imports before forking workers (the module whose
            functions the workers run, so each worker starts with it imported).

    Returns:
        A ``fork`` context when that is safe, else ``forkserver``, else ``spawn``.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and not _busy():
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return multiprocessing.get_context("spawn")
