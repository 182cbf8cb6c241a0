"""A generic prefetch thread: run an iterator ahead of its consumer, in the background.

Inference reads, stretches and normalises the next chips from disk while the
model runs the current ones; GDAL and numpy release the GIL, so the two overlap.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds between checks of the stop flag while the queue is full.
POLL = 0.1


def prefetch(items: Iterator[T], depth: int, name: str = "basiss-prefetch") -> Iterator[T]:
    """Run ``items`` in a background thread, at most ``depth`` items ahead of the consumer.

    Args:
        items: the iterator to run (consumed only by the thread).
        depth: items the thread may prepare ahead (the queue size, >= 1).
        name: the thread's name.

    Yields:
        The items of ``items``, in order. An exception in the thread is re-raised
        here; when the consumer stops early (or closes this generator), the
        thread is told to stop and joined.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(obj: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(obj, timeout=POLL)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(exc)

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            obj = q.get()
            if obj is done:
                return
            if isinstance(obj, BaseException):
                raise obj
            yield obj
    finally:
        stop.set()
        thread.join(timeout=10)
