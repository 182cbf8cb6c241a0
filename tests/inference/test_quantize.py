"""int8: calibrated on the predicted image's chips, within a stated tolerance of fp32 on a
tiny model trained on a synthetic road scene; cached like the export."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from basiss.errors import BasissError
from basiss.inference import engines
from basiss.inference.engines import OnnxEngine, Precision
from basiss.inference.options import PredictOptions
from basiss.inference.predict import predict_image
from basiss.inference.predictor import load_predictor
from basiss.inference.quantize import sample_chips
from basiss.inference.reader import ItemKind, read_rows
from basiss.inference.scene import scene_info
from basiss.io.raster import open_raster
from basiss.models import road_probability
from basiss.training.checkpoint import ModelSpec, save_checkpoint

SIZE = 192  # scene side (px)
CHIP, STRIDE = (64, 64), (48, 48)
#: int8 vs fp32 on the trained tiny model (probabilities 0..1): measured 0.0031 mean and
#: 0.034 max abs difference on its 16 calibration chips; the bars leave ~3x room.
MEAN_TOL, MAX_TOL = 0.01, 0.1
#: Mask pixels (at 0.5) on which int8 and fp32 agree, at least (measured 0.9967).
AGREE = 0.99


def road_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 3-band uint8 scene of textured ground crossed by bright 6 px roads, and its mask."""
    rng = np.random.default_rng(seed)
    ground = rng.integers(50, 130, (3, SIZE // 8, SIZE // 8)).repeat(8, 1).repeat(8, 2)
    img = (ground + rng.integers(-15, 15, (3, SIZE, SIZE))).astype(np.float32)
    mask = np.zeros((SIZE, SIZE), bool)
    for c in (30, 101, 160):
        mask[:, c : c + 6] = True
    for r in (20, 120):
        mask[r : r + 6, :] = True
    yy, xx = np.mgrid[:SIZE, :SIZE]
    mask |= np.abs(yy - xx * 0.7 - 40) < 3
    img[:, mask] = np.array([205.0, 200.0, 190.0])[:, None] + rng.normal(0, 8, (3, mask.sum()))
    return np.clip(img, 1, 255).astype(np.uint8), mask


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A unet-small (base 8) trained 20 Adam steps on the road scene; (checkpoint, image)."""
    d = tmp_path_factory.mktemp("int8")
    img, mask = road_scene()
    spec = ModelSpec(
        arch="unet-small", in_channels=3, n_classes=1, bands=[1, 2, 3],
        arch_kwargs={"base": 8}, slice=CHIP, stride=STRIDE,
    )  # fmt: skip
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = spec.build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(1)
    x_all = torch.from_numpy(spec.normalisation.apply(img))
    y_all = torch.from_numpy(mask.astype(np.float32))
    model.train()
    for _ in range(20):
        rs, cs = rng.integers(0, SIZE - CHIP[1], 4), rng.integers(0, SIZE - CHIP[0], 4)
        x = torch.stack(
            [x_all[:, r : r + CHIP[1], c : c + CHIP[0]] for r, c in zip(rs, cs, strict=True)]
        )
        y = torch.stack(
            [y_all[r : r + CHIP[1], c : c + CHIP[0]] for r, c in zip(rs, cs, strict=True)]
        )
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x)[:, 0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.inference_mode():
        p = road_probability(model(x_all[None]), 1)[0, 0].numpy()
    assert ((p >= 0.5) == mask).mean() > 0.9  # it learned the roads (not a constant map)
    ckpt = save_checkpoint(d / "tiny.pt", model, spec)
    path = d / "scene.tif"
    profile = dict(driver="GTiff", width=SIZE, height=SIZE, count=3, dtype="uint8")
    transform = rasterio.transform.from_origin(500000.0, 4000000.0, 0.3, 0.3)
    with rasterio.open(path, "w", crs="EPSG:32611", transform=transform, **profile) as dst:
        dst.write(img)
    return ckpt, path


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BASISS_CACHE_DIR", str(tmp_path / "cache"))


def _opts(precision: str = "fp32", **kw) -> PredictOptions:
    return PredictOptions(precision=precision, threads=1, show_progress=False, **kw)


def test_int8_is_within_tolerance_of_fp32_on_a_trained_model(trained, tmp_path, capsys):
    ckpt, image = trained
    engines._NOTES.clear()
    t0 = time.perf_counter()
    q = load_predictor(ckpt, _opts("int8"), images=[image])
    f = load_predictor(ckpt, _opts())
    assert isinstance(q.engine, OnnxEngine) and q.engine.precision is Precision.INT8
    chips = sample_chips([image], q.spec, CHIP, STRIDE, 16)
    pq, pf = q.engine(chips), f.engine(chips)
    diff = np.abs(pq - pf)
    assert diff.mean() < MEAN_TOL and diff.max() < MAX_TOL
    assert ((pq >= 0.5) == (pf >= 0.5)).mean() >= AGREE
    assert time.perf_counter() - t0 < 20
    err = capsys.readouterr().err
    line = next(s for s in err.splitlines() if "int8 vs fp32" in s)
    reported = float(line.split("max |diff| ")[1].split(",")[0])
    assert reported == pytest.approx(float(diff.max()), abs=1e-4)  # the same chips
    # end to end: the written probabilities agree as well
    out8 = predict_image(image, q, tmp_path / "q")
    out32 = predict_image(image, f, tmp_path / "f")
    with rasterio.open(out8.prob_path) as a, rasterio.open(out32.prob_path) as b:
        d = np.abs(a.read(1).astype(int) - b.read(1).astype(int)) / 255
    assert d.mean() < MEAN_TOL and d.max() < MAX_TOL


def test_int8_model_is_cached_and_rebuilt_for_other_calibration(trained, tmp_path):
    ckpt, image = trained
    cache = tmp_path / "cache" / "onnx"
    load_predictor(ckpt, _opts("int8"), images=[image])
    entries = sorted(cache.glob("*.onnx"))
    assert len(entries) == 2  # fp32 export + int8
    kinds = {p: json.loads(p.with_suffix(".json").read_text())["key"]["kind"] for p in entries}
    assert sorted(kinds.values()) == ["export", "int8"]
    int8 = next(p for p, k in kinds.items() if k == "int8")
    mtime = int8.stat().st_mtime_ns
    n0 = engines.export_count()
    load_predictor(ckpt, _opts("int8"), images=[image])
    assert int8.stat().st_mtime_ns == mtime and engines.export_count() == n0
    load_predictor(ckpt, _opts("int8", calibration_chips=4), images=[image])
    assert len(list(cache.glob("*.onnx"))) == 3 and engines.export_count() == n0


def test_calibration_chips_are_the_predictions_chips(trained, tmp_path, make_raster):
    ckpt, image = trained
    spec = load_predictor(ckpt, _opts(engine="torch")).spec
    img, _ = road_scene(1)
    img[:, :, :120] = 0  # nodata on the left: the chips there are empty
    half = make_raster(img, name="half.tif")
    with open_raster(half) as ds:
        scene = scene_info(ds, half, spec, CHIP, STRIDE)
        items = read_rows(ds, scene, scene.grid.rows, spec.normalisation, 1)
        seen = [it.x[0] for it in items if it.kind is ItemKind.BATCH]
    chips = sample_chips([half], spec, CHIP, STRIDE, 6, seed=5)
    assert len(chips) == 6
    for c in chips:  # each one exactly as the reader normalises it, and never empty
        assert any(np.array_equal(c, s) for s in seen)
    np.testing.assert_array_equal(chips, sample_chips([half], spec, CHIP, STRIDE, 6, seed=5))
    other = sample_chips([half], spec, CHIP, STRIDE, 6, seed=6)
    assert not np.array_equal(chips, other)
    assert len(sample_chips([half], spec, CHIP, STRIDE, 100)) == len(seen)  # all there are


def test_int8_needs_something_to_calibrate_on(trained, make_raster):
    ckpt, _ = trained
    with pytest.raises(BasissError, match="needs chips to calibrate on"):
        load_predictor(ckpt, _opts("int8"))
    empty = make_raster(np.zeros((3, 80, 80), np.uint8), name="empty.tif")
    with pytest.raises(BasissError, match="no chip with data"):
        load_predictor(ckpt, _opts("int8", calibration=str(empty)))
