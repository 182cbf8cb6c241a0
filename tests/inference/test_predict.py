"""Streaming prediction: equivalence with an in-memory reference, georeference,
odd sizes, nodata, band handling, TTA, ONNX, atomic writes and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from basiss.cli import main
from basiss.errors import BasissError
from basiss.grid import chip_grid
from basiss.inference.predict import (
    PredictOptions,
    blend_weights,
    load_predictor,
    predict_image,
    predict_many,
)
from basiss.io.filelist import Pair, write_file_list
from basiss.io.raster import write_8bit
from basiss.training.checkpoint import ModelSpec, save_checkpoint

SLICE, STRIDE = (128, 128), (96, 96)


def _checkpoint(path: Path, bands: int, n_classes: int = 1, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    spec = ModelSpec(
        arch="unet-small",
        in_channels=bands,
        n_classes=n_classes,
        bands=list(range(1, bands + 1)),
        arch_kwargs={"base": 4},
        slice=SLICE,
        stride=STRIDE,
    )
    model = spec.build()
    # Non-trivial BatchNorm statistics, so the random net's output varies across pixels.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.fill_(0.05)
    return save_checkpoint(path, model.eval(), spec)


@pytest.fixture(scope="module")
def ckpt3(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ck") / "rgb.pt", 3)


def _image(rng: np.random.Generator, bands: int, h: int, w: int, dtype=np.uint8) -> np.ndarray:
    """Smooth-ish random imagery (blocky noise), so the model sees structure."""
    hi = 2047 if dtype == np.uint16 else 255
    small = rng.integers(1, hi, (bands, h // 8 + 1, w // 8 + 1))
    return np.kron(small, np.ones((1, 8, 8), dtype=np.int64))[:, :h, :w].astype(dtype)


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    with rasterio.open(path) as ds:
        return (
            ds.read(),
            ds.dataset_mask(),
            {
                "crs": ds.crs,
                "transform": ds.transform,
                "width": ds.width,
                "height": ds.height,
            },
        )


def _grid_of(path: Path) -> dict:
    with rasterio.open(path) as ds:
        return {"crs": ds.crs, "transform": ds.transform, "width": ds.width, "height": ds.height}


def _reference(arr: np.ndarray, ckpt: Path, weights: np.ndarray) -> np.ndarray:
    """The seed's in-memory method: predict every chip, sum (weighted), divide by coverage."""
    from basiss.training.checkpoint import load_checkpoint

    model, spec = load_checkpoint(ckpt)
    _, h, w = arr.shape
    grid = chip_grid(w, h, *SLICE, *STRIDE)
    sx, sy = SLICE
    ph, pw = max(h, grid.rows[-1] + sy), max(w, grid.cols[-1] + sx)
    padded = np.zeros((arr.shape[0], ph, pw), arr.dtype)
    padded[:, :h, :w] = arr
    total = np.zeros((ph, pw), np.float64)
    cover = np.zeros((ph, pw), np.float64)
    chips = [(r, c) for r in grid.rows for c in grid.cols]
    x = spec.normalisation.apply(np.stack([padded[:, r : r + sy, c : c + sx] for r, c in chips]))
    with torch.inference_mode():
        prob = torch.sigmoid(model(torch.from_numpy(x))).numpy()[:, 0]
    for (r, c), p in zip(chips, prob, strict=True):
        total[r : r + sy, c : c + sx] += p * weights
        cover[r : r + sy, c : c + sx] += weights
    return (total / cover)[:h, :w]


# ----------------------------------------------------------------- blend weights


def test_blend_weights_shapes_and_values():
    mean = blend_weights(40, 30, "mean")
    assert mean.shape == (30, 40) and np.all(mean == 1.0)
    cos = blend_weights(40, 30, "cosine")
    assert cos.shape == (30, 40) and cos.dtype == np.float32
    assert cos.min() > 0.0 and cos.max() <= 1.0
    assert np.allclose(cos, cos[::-1, ::-1])  # symmetric
    assert cos[15, 20] > 0.95 and cos[0, 0] < 0.02  # tapered towards the border
    with pytest.raises(ValueError):
        blend_weights(4, 4, "gauss")


# ----------------------------------------------------------------- equivalence


@pytest.mark.parametrize(
    ("blend", "h", "w"), [("mean", 1300, 1300), ("cosine", 430, 520)], ids=["mean", "cosine"]
)
def test_streaming_equals_in_memory_reference(blend, h, w, ckpt3, make_raster, tmp_path):
    arr = _image(np.random.default_rng(1), 3, h, w)
    img = make_raster(arr)
    out = predict_image(img, ckpt3, tmp_path / "out", PredictOptions(blend=blend, batch_size=5))
    prob, valid, grid = _read(out.prob_path)
    ref = _reference(arr, ckpt3, blend_weights(*SLICE, blend))
    assert grid == _grid_of(img)
    assert out.chips == out.chips_total == len(chip_grid(w, h, *SLICE, *STRIDE))
    assert np.all(valid == 255)
    diff = np.abs(prob[0].astype(np.float64) - ref * 255.0)
    assert diff.max() <= 1.0, diff.max()
    assert ref.std() > 0.01  # the comparison is not between two constants
    mask, _, _ = _read(out.mask_path)
    agree = mask[0] == (ref >= 0.5)
    assert agree.mean() > 0.999  # only ties at the threshold may differ


def test_cosine_differs_from_mean_only_in_overlaps(ckpt3, make_raster, tmp_path):
    img = make_raster(_image(np.random.default_rng(2), 3, 300, 300))
    a = predict_image(img, ckpt3, tmp_path / "a", PredictOptions(blend="mean"))
    b = predict_image(img, ckpt3, tmp_path / "b", PredictOptions(blend="cosine"))
    pa, pb = _read(a.prob_path)[0][0], _read(b.prob_path)[0][0]
    # rows/cols 0..95 are covered by the first chip only: blending cannot change them
    assert np.array_equal(pa[:96, :96], pb[:96, :96])
    assert np.abs(pa.astype(int) - pb.astype(int)).max() > 0


# ----------------------------------------------------------------- georeference and sizes


@pytest.mark.parametrize(
    ("crs", "h", "w"),
    [(4326, 650, 650), (32611, 700, 1000), (32611, 50, 70), (32611, 217, 301)],
    ids=["epsg4326-chip", "utm-scene", "smaller-than-chip", "not-stride-multiple"],
)
def test_outputs_sit_on_the_input_grid(crs, h, w, ckpt3, make_raster, tmp_path):
    img = make_raster(_image(np.random.default_rng(3), 3, h, w), crs=crs)
    out = predict_image(img, ckpt3, tmp_path / "out")
    for path in (out.prob_path, out.mask_path):
        data, valid, grid = _read(path)
        assert grid == _grid_of(img)
        assert data.shape == (1, h, w) and data.dtype == np.uint8
        assert np.all(valid == 255)  # every pixel predicted, none left without weight
    mask = _read(out.mask_path)[0]
    assert set(np.unique(mask)) <= {0, 1}
    assert out.chips == len(chip_grid(w, h, *SLICE, *STRIDE))


def test_real_spacenet_chip_keeps_its_grid(ckpt3, shared_data, tmp_path):
    img = shared_data / "spacenet" / "paris_img1447" / "RGB-PanSharpen_img1447.tif"
    out = predict_image(img, ckpt3, tmp_path / "out")
    assert _grid_of(out.prob_path) == _grid_of(img)
    assert _grid_of(out.mask_path) == _grid_of(img)


def test_nodata_borders_are_nodata_and_empty_chips_skipped(ckpt3, make_raster, tmp_path):
    arr = _image(np.random.default_rng(4), 3, 500, 600)
    arr[:, :, :250] = 0  # left: outside the scene (all bands zero)
    arr[:, 400:, :] = 0  # bottom
    arr[0, 100:110, 300:310] = 0  # one band zero only: still valid
    img = make_raster(arr)
    out = predict_image(img, ckpt3, tmp_path / "out")
    expected = np.any(arr != 0, axis=0)
    for path in (out.prob_path, out.mask_path):
        data, valid, _ = _read(path)
        assert np.array_equal(valid == 255, expected)
        assert np.all(data[:, ~expected] == 0)
    assert out.chips < out.chips_total
    grid = chip_grid(600, 500, *SLICE, *STRIDE)
    live = sum(
        expected[r : r + SLICE[1], c : c + SLICE[0]].any() for r in grid.rows for c in grid.cols
    )
    assert out.chips == live


def test_eight_band_input(tmp_path, make_raster):
    ck = _checkpoint(tmp_path / "ms.pt", 8)
    img = make_raster(_image(np.random.default_rng(5), 8, 200, 260))
    out = predict_image(img, ck, tmp_path / "out")
    assert _read(out.prob_path)[0].shape == (1, 200, 260)


def test_sixteen_bit_input_is_stretched_as_training_sees_it(ckpt3, make_raster, tmp_path):
    arr = _image(np.random.default_rng(6), 3, 300, 400, np.uint16)
    arr[:, :40] = 0
    img = make_raster(arr, name="raw16.tif")
    eight = write_8bit(img, tmp_path / "eight.tif")
    a = predict_image(img, ckpt3, tmp_path / "a")
    b = predict_image(eight, ckpt3, tmp_path / "b")
    pa, va, _ = _read(a.prob_path)
    pb, vb, _ = _read(b.prob_path)
    assert np.array_equal(pa, pb) and np.array_equal(va, vb)
    assert not np.all(va == 255)


def test_multiclass_checkpoint_writes_one_band_per_road_class(tmp_path, make_raster):
    ck = _checkpoint(tmp_path / "mc.pt", 3, n_classes=3)
    img = make_raster(_image(np.random.default_rng(7), 3, 150, 150))
    out = predict_image(img, ck, tmp_path / "out", PredictOptions(threshold=0.0))
    prob = _read(out.prob_path)[0]
    mask = _read(out.mask_path)[0][0]
    assert prob.shape == (2, 150, 150)
    assert set(np.unique(mask)) <= {1, 2}  # threshold 0: every pixel gets its best class
    clear = np.abs(prob[1].astype(int) - prob[0].astype(int)) > 1  # not a quantisation tie
    assert np.array_equal(mask[clear], np.where(prob[1] > prob[0], 2, 1)[clear])


# ----------------------------------------------------------------- tta and engines


def test_tta_is_flip_equivariant(ckpt3, make_raster, tmp_path):
    arr = _image(np.random.default_rng(8), 3, 128, 128)  # one chip: symmetric grid and weights
    img = make_raster(arr, name="a.tif")
    flipped = make_raster(np.ascontiguousarray(arr[:, :, ::-1]), name="b.tif")
    outs = {}
    for tta in (False, True):
        a = _read(
            predict_image(img, ckpt3, tmp_path / f"a{tta}", PredictOptions(tta=tta)).prob_path
        )
        b = _read(
            predict_image(flipped, ckpt3, tmp_path / f"b{tta}", PredictOptions(tta=tta)).prob_path
        )
        outs[tta] = np.abs(a[0][0].astype(int) - b[0][0][:, ::-1].astype(int)).max()
    assert outs[True] <= 1
    assert outs[False] > 1  # without TTA the random net is not flip-invariant


def test_onnx_engine_agrees_with_torch(ckpt3, make_raster, tmp_path):
    torch_pred = load_predictor(ckpt3, PredictOptions(engine="torch", device="cpu"))
    onnx_pred = load_predictor(ckpt3, PredictOptions(engine="onnx"))
    x = np.random.default_rng(9).random((3, 3, *SLICE[::-1]), dtype=np.float32)
    for n in (1, 3):
        diff = np.abs(onnx_pred.engine(x[:n]) - torch_pred.engine(x[:n])).max()
        assert diff < 1e-4, diff
    img = make_raster(_image(np.random.default_rng(10), 3, 250, 300))
    a = _read(predict_image(img, torch_pred, tmp_path / "t").prob_path)[0]
    b = _read(predict_image(img, onnx_pred, tmp_path / "o").prob_path)[0]
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


# ----------------------------------------------------------------- errors and atomicity


def test_band_mismatch_is_a_one_line_error(ckpt3, make_raster, tmp_path, capsys):
    img = make_raster(_image(np.random.default_rng(11), 1, 100, 100), name="pan.tif")
    with pytest.raises(BasissError, match=r"pan\.tif: has 1 band\(s\), the model takes 3"):
        predict_image(img, ckpt3, tmp_path / "out")
    rc = main(["predict", "--weights", str(ckpt3), "--out", str(tmp_path / "o"), str(img)])
    err = capsys.readouterr().err
    assert rc == 1 and "pan.tif" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_stride_larger_than_slice_is_an_error(ckpt3):
    with pytest.raises(BasissError, match="gaps"):
        load_predictor(ckpt3, PredictOptions(slice=(64, 64), stride=(80, 64)))


def test_failure_leaves_no_partial_output(ckpt3, make_raster, tmp_path):
    img = make_raster(_image(np.random.default_rng(12), 3, 600, 400))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    old = out_dir / "image_prob.tif"
    old.write_bytes(b"previous run")
    pred = load_predictor(ckpt3, PredictOptions(batch_size=2))
    real = pred.engine
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        if calls["n"] == 6:  # after the first rows were written
            raise RuntimeError("engine died")
        return real(x)

    pred.engine = flaky
    with pytest.raises(RuntimeError, match="engine died"):
        predict_image(img, pred, out_dir)
    assert sorted(p.name for p in out_dir.iterdir()) == ["image_prob.tif"]
    assert old.read_bytes() == b"previous run"


# ----------------------------------------------------------------- many images and CLI


def test_cli_with_seed_aliases_folder_and_csv(ckpt3, make_raster, tmp_path):
    rng = np.random.default_rng(13)
    a = make_raster(_image(rng, 3, 90, 150), name="a.tif")
    b = make_raster(_image(rng, 3, 140, 100), name="b.tif")
    folder = tmp_path / "imgs"
    folder.mkdir()
    a.rename(folder / "a.tif")
    csv = write_file_list(tmp_path / "list.csv", [Pair(name="b", im_file=str(b))])
    out = tmp_path / "out"
    argv = ["predict", "--model_weights", str(ckpt3), "--out", str(out), str(folder), str(csv)]
    argv += ["--slice_x", "64", "--slice_y", "64", "--stride_x", "48", "--stride_y", "48"]
    argv += ["--batchsize", "3", "--blend", "mean", "--threads", "1"]
    assert main(argv) == 0
    assert _grid_of(out / "a_prob.tif") == _grid_of(folder / "a.tif")
    assert _grid_of(out / "b_mask.tif") == _grid_of(b)


def test_predict_many_rejects_clashing_names(ckpt3, make_raster, tmp_path):
    a = make_raster(_image(np.random.default_rng(14), 3, 64, 64), name="x.tif")
    other = tmp_path / "sub"
    other.mkdir()
    b = other / "x.tif"
    b.write_bytes(a.read_bytes())
    with pytest.raises(BasissError, match="same name"):
        predict_many([a, b], ckpt3, tmp_path / "out")


def test_model_runs_the_next_batch_while_rows_are_written(ckpt3, make_raster, tmp_path):
    """The model thread takes the next chip row's first batch before this thread yields
    the rows the previous chip row finished; closing the stream early stops both threads."""
    import threading
    import time

    from basiss.inference.scene import scene_info
    from basiss.inference.stream import stream_rows
    from basiss.io.raster import open_raster

    img = make_raster(_image(np.random.default_rng(3), 3, 500, 420))
    pred = load_predictor(ckpt3, PredictOptions(batch_size=5))  # 4 chips a row: one batch
    calls: list[str] = []
    engine = pred.engine

    def recording(x: np.ndarray) -> np.ndarray:
        calls.append(threading.current_thread().name)
        return engine(x)

    pred.engine = recording
    with open_raster(img) as ds:
        scene = scene_info(ds, img, pred.spec, pred.chip, pred.stride)
        stream = stream_rows(pred, ds, scene)
        first = next(stream)
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:  # not held back by this thread
            time.sleep(0.01)
        assert first.row == 0 and len(calls) == 2  # chip row 2's batch ran meanwhile
        assert all(name.startswith("basiss-model") for name in calls)
        stream.close()
    alive = {t.name.split("_")[0] for t in threading.enumerate()}
    assert not alive & {"basiss-model", "basiss-reader"}
