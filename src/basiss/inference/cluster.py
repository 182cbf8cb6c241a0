"""Connecting to a Dask cluster: ``local:N`` (a loopback cluster) or a scheduler address."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from basiss.errors import BasissError

#: Seconds to wait for a cluster (connection, first workers).
CONNECT_TIMEOUT = 20.0
#: The ``--scheduler`` prefix of a loopback cluster.
LOCAL_PREFIX = "local:"


def parse_scheduler(text: str) -> tuple[str, Any]:
    """``local:N`` -> ``("local", N)``; ``tcp://HOST:PORT`` (or another Dask address) -> as is.

    Raises:
        BasissError: anything else.
    """
    if text.startswith(LOCAL_PREFIX):
        n = text.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise BasissError(f"--scheduler {text!r}: local:N needs N >= 1 workers")
        return "local", int(n)
    if "://" in text and text.split("://", 1)[1]:
        return "address", text
    raise BasissError(f"--scheduler {text!r}: use local:N or tcp://HOST:PORT")


@contextlib.contextmanager
def connect(scheduler: Any, timeout: float = CONNECT_TIMEOUT) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``scheduler``, closed (cluster too) on exit.

    Args:
        scheduler: ``local:N`` (a loopback :class:`~distributed.LocalCluster` of
            N one-thread worker processes), a scheduler address
            (``tcp://HOST:PORT``), or an existing ``Client`` (used, not closed).
        timeout: seconds to wait for the connection.

    Raises:
        BasissError: a bad scheduler string or an unreachable scheduler.
    """
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    kind, value = parse_scheduler(str(scheduler))
    if kind == "local":
        with (
            LocalCluster(
                n_workers=value,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster, timeout=timeout) as client,
        ):
            yield client
        return
    try:
        client = Client(value, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise BasissError(f"cannot reach the Dask scheduler at {value} ({exc})") from None
    with client:
        yield client


def local_threads(scheduler: Any) -> int | None:
    """Torch threads per worker of a ``local:N`` cluster (the cores shared out), else None."""
    if not isinstance(scheduler, str):
        return None
    kind, n = parse_scheduler(scheduler)
    if kind != "local":
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // n)
