"""The ONNX export cache: reused when whole and of the same key, rebuilt otherwise."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from basiss.inference import engines, onnx_cache
from basiss.inference.onnx_cache import cache_root, cached_model, entry_name, read_entry
from basiss.inference.options import PredictOptions
from basiss.inference.predictor import load_predictor
from basiss.training.checkpoint import ModelSpec, save_checkpoint

CHIP = (32, 32)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh cache folder for the test (never ~/.cache)."""
    monkeypatch.setenv("BASISS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


def _checkpoint(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    spec = ModelSpec(
        arch="unet-small", in_channels=3, n_classes=1, bands=[1, 2, 3],
        arch_kwargs={"base": 4}, slice=CHIP, stride=(24, 24),
    )  # fmt: skip
    return save_checkpoint(path, spec.build().eval(), spec)


def _opts(**kw) -> PredictOptions:
    return PredictOptions(engine="onnx", threads=1, show_progress=False, **kw)


def _run(pred) -> np.ndarray:
    x = np.random.default_rng(0).random((1, 3, CHIP[1], CHIP[0]), dtype=np.float32)
    return pred.engine(x)


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BASISS_CACHE_DIR", str(tmp_path / "b"))
    assert cache_root() == tmp_path / "b" / "onnx"
    monkeypatch.delenv("BASISS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x" / "basiss" / "onnx"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "basiss" / "onnx"


def test_second_load_reuses_the_export(tmp_path, cache):
    ckpt = _checkpoint(tmp_path / "m.pt", 0)
    n0 = engines.export_count()
    first = _run(load_predictor(ckpt, _opts()))
    assert engines.export_count() == n0 + 1
    (model,) = cache.glob("*.onnx")
    mtime = model.stat().st_mtime_ns
    second = _run(load_predictor(ckpt, _opts(batch_size=2)))  # other options: same export
    assert engines.export_count() == n0 + 1  # no second export
    assert model.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(first, second)
    assert not list(cache.glob(".*part*"))  # no temporary file left
    meta = json.loads(model.with_suffix(".json").read_text())
    assert meta["key"]["chip"] == list(CHIP) and meta["key"]["bands"] == [1, 2, 3]
    assert set(meta["key"]["versions"]) == {"format", "torch", "onnx", "onnxruntime"}


def test_a_changed_checkpoint_or_chip_is_exported_again(tmp_path, cache):
    ckpt = _checkpoint(tmp_path / "m.pt", 0)
    n0 = engines.export_count()
    before = _run(load_predictor(ckpt, _opts()))
    _checkpoint(ckpt, 1)  # re-trained: same path, other weights
    after = _run(load_predictor(ckpt, _opts()))
    assert engines.export_count() == n0 + 2
    assert np.abs(before - after).max() > 1e-3  # the new weights run, not the stale export
    load_predictor(ckpt, _opts(slice=(48, 48)))
    assert engines.export_count() == n0 + 3
    assert len(list(cache.glob("*.onnx"))) == 3


@pytest.mark.parametrize("damage", ["truncate", "flip", "sidecar-garbage", "foreign-key", "gone"])
def test_a_damaged_or_foreign_entry_is_rebuilt(tmp_path, cache, damage):
    ckpt = _checkpoint(tmp_path / "m.pt", 0)
    good = _run(load_predictor(ckpt, _opts()))
    (model,) = cache.glob("*.onnx")
    side = model.with_suffix(".json")
    data = model.read_bytes()
    if damage == "truncate":
        model.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # same size, one byte changed
        model.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    elif damage == "sidecar-garbage":
        side.write_text("{not json")
    elif damage == "foreign-key":
        meta = json.loads(side.read_text())
        meta["key"]["model"] = "0" * 64
        side.write_text(json.dumps(meta))
    else:
        side.unlink()
    n0 = engines.export_count()
    again = _run(load_predictor(ckpt, _opts()))
    assert engines.export_count() == n0 + 1
    np.testing.assert_array_equal(good, again)
    key = json.loads(side.read_text())["key"]
    assert read_entry(model, key) is not None  # whole again


def test_concurrent_builders_build_once(tmp_path):
    builds = []

    def build(out: Path) -> dict:
        builds.append(1)
        time.sleep(0.3)
        out.write_bytes(b"model bytes")
        return {"n": len(builds)}

    key = {"kind": "test", "x": 1}
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cached_model(key, build, tmp_path)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert sorted(r.built for r in results) == [False, False, True]
    full = {**key, "versions": onnx_cache.versions()}
    assert {r.path for r in results} == {tmp_path / f"{entry_name(full)}.onnx"}
    assert all(r.info == {"n": 1} for r in results)
    assert results[0].path.read_bytes() == b"model bytes"


def test_a_failed_build_leaves_no_entry(tmp_path):
    def build(out: Path) -> dict:
        out.write_bytes(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cached_model({"kind": "test"}, build, tmp_path)
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob("*.json"))
    assert not list(tmp_path.glob(".*part*"))
