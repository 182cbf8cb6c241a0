"""The worker start-method policy: fork only when no other thread could hold a lock."""

import sys
import threading

import pytest

from basiss import parallel


def _idle(monkeypatch) -> None:
    """Pretend this process has no thread-pool library and only its main thread."""
    for name in parallel.THREADED_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(threading, "enumerate", lambda: [threading.main_thread()])


def test_fork_when_single_threaded(monkeypatch):
    _idle(monkeypatch)
    assert parallel.pool_context().get_start_method() == "fork"


def test_tqdm_monitor_does_not_count(monkeypatch):
    _idle(monkeypatch)

    class TMonitor(threading.Thread):
        pass

    monitor = TMonitor(target=lambda: None)
    monkeypatch.setattr(threading, "enumerate", lambda: [threading.main_thread(), monitor])
    assert parallel.pool_context().get_start_method() == "fork"


@pytest.mark.parametrize("module", parallel.THREADED_MODULES)
def test_forkserver_when_a_thread_pool_library_is_loaded(monkeypatch, module):
    _idle(monkeypatch)
    monkeypatch.setitem(sys.modules, module, object())
    assert parallel.pool_context().get_start_method() == "forkserver"


def test_forkserver_when_another_thread_runs(monkeypatch):
    for name in parallel.THREADED_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        ctx = parallel.pool_context(preload=["basiss.labels.spacenet"])
        assert ctx.get_start_method() == "forkserver"
    finally:
        stop.set()
        t.join()
