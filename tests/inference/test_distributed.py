"""Prediction on Dask: block planning, exact-halo blocks equal to one process (in
process and on a 2-worker loopback LocalCluster), many scenes, one model load per
worker, a task error and a killed worker survived, and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from basiss.cli import main
from basiss.errors import BasissError
from basiss.grid import chip_grid, halo_start, owned_rows, split_rows
from basiss.inference import blocks as blk
from basiss.inference import cluster, worker
from basiss.inference import distributed as dist
from basiss.inference.plan import plan_blocks
from basiss.inference.predict import PredictOptions, load_predictor, predict_image
from basiss.inference.scene import scene_info
from basiss.io.raster import open_raster
from basiss.training.checkpoint import save_checkpoint
from helpers import random_checkpoint

SLICE, STRIDE = (64, 64), (48, 48)
TIMEOUT = 60.0  # seconds for any one distributed run: a hang fails, never blocks CI


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return random_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", SLICE, STRIDE)


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """References run with 1 torch thread, as the workers do (float sums depend on the
    thread count: bit-for-bit comparisons need the same); restore it for other tests."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def client():
    """A 2-worker loopback cluster: separate processes, one thread each."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=50,
        ) as cluster,
        Client(cluster, timeout=TIMEOUT) as c,
    ):
        yield c


def _image(seed: int, h: int, w: int, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hi = 2047 if dtype == np.uint16 else 255
    small = rng.integers(1, hi, (3, h // 8 + 1, w // 8 + 1))
    return np.kron(small, np.ones((1, 8, 8), dtype=np.int64))[:, :h, :w].astype(dtype)


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, tuple]:
    with rasterio.open(path) as ds:
        return ds.read(), ds.dataset_mask(), (ds.crs, ds.transform, ds.width, ds.height)


def _assert_same_outputs(a, b, max_diff: int = 0) -> None:
    """Probability within ``max_diff``/255, the same nodata mask, grid and mask file."""
    for pa, pb in ((a.prob_path, b.prob_path), (a.mask_path, b.mask_path)):
        da, ma, ga = _read(pa)
        db, mb, gb = _read(pb)
        assert ga == gb and np.array_equal(ma, mb)
        diff = np.abs(da.astype(int) - db.astype(int)).max()
        assert diff <= max_diff, (pa.name, diff)
        if max_diff == 0:
            assert np.array_equal(da, db)


def _leftovers(out: Path) -> list[str]:
    finals = ("_prob.tif", "_mask.tif", "_item.json", "collection.json")
    return sorted(p.name for p in out.iterdir() if not p.name.endswith(finals))


# ----------------------------------------------------------------- planning (pure)


def test_split_rows_and_plan_blocks():
    assert split_rows(27, 4) == [(0, 6), (6, 13), (13, 20), (20, 27)]
    assert split_rows(3, 10) == [(0, 1), (1, 2), (2, 3)]
    # many small scenes stay whole; one large scene keeps every worker busy
    assert plan_blocks([4] * 10, workers=2) == [[(0, 4)]] * 10
    assert len(plan_blocks([27], workers=2)[0]) == 4
    assert plan_blocks([3], workers=8) == [[(0, 3)]]  # too small to split
    assert len(plan_blocks([100], workers=1)[0]) == 7  # <= MAX_BLOCK_ROWS each
    assert plan_blocks([5, 2], workers=2, block_rows=2) == [[(0, 2), (2, 4), (4, 5)], [(0, 2)]]
    with pytest.raises(BasissError):
        plan_blocks([5], workers=2, block_rows=0)


@pytest.mark.parametrize(
    ("h", "sy", "ty"), [(700, 64, 48), (50, 64, 48), (217, 64, 20), (1300, 400, 300), (64, 64, 64)]
)
def test_blocks_tile_the_rows_and_halos_cover_every_chip(h, sy, ty):
    grid = chip_grid(100, h, 64, sy, 48, ty)
    n = len(grid.rows)
    for size in range(1, n + 1):
        covered = []
        for first, stop in split_rows(n, -(-n // size)):
            row0, row1 = owned_rows(grid, first, stop)
            covered.append((row0, row1))
            begin = halo_start(grid.rows, sy, first)
            # brute force: every chip row reaching a pixel row of the band is run
            need = [i for i, r in enumerate(grid.rows) if r < row1 and r + sy > row0]
            assert need and begin <= min(need) and max(need) < stop, (first, stop, need)
        assert covered[0][0] == 0 and covered[-1][1] == h
        assert all(a[1] == b[0] for a, b in zip(covered, covered[1:], strict=False))


def test_scheduler_strings():
    assert cluster.parse_scheduler("local:3") == ("local", 3)
    assert cluster.parse_scheduler("tcp://10.0.0.5:8786") == ("address", "tcp://10.0.0.5:8786")
    for bad in ("local:0", "local:x", "10.0.0.5:8786", "tcp://"):
        with pytest.raises(BasissError, match="scheduler"):
            cluster.parse_scheduler(bad)


# ----------------------------------------------------------------- blocks in one process


@pytest.mark.parametrize("blend", ["mean", "cosine"])
def test_blocks_assembled_equal_one_process_bit_for_bit(blend, ckpt, make_raster, tmp_path):
    arr = _image(1, 460, 330, np.uint16)  # 16-bit: the stretch is fixed once per scene
    arr[:, 380:, :] = 0  # nodata bottom
    arr[:, :, :40] = 0
    img = make_raster(arr)
    opts = PredictOptions(blend=blend, batch_size=3, threads=1, show_progress=False)
    pred = load_predictor(ckpt, opts)
    single = predict_image(img, pred, tmp_path / "single")
    with open_raster(img) as ds:
        scene = scene_info(ds, img, pred.spec, pred.chip, pred.stride)
    n = len(scene.grid.rows)
    for size in (1, 4):
        part = tmp_path / f"p{size}"
        parts = [
            blk.predict_block(pred, scene, a, b, part / f"{a}_prob.tif", part / f"{a}_mask.tif")
            for a, b in split_rows(n, -(-n // size))
        ]
        out = tmp_path / f"blocks{size}"
        chips = blk.assemble_blocks(
            scene, parts[::-1], out / "image_prob.tif", out / "image_mask.tif"
        )
        assert chips > single.chips  # the halo chip rows ran again
        blocks = type(single)(out / "image_prob.tif", out / "image_mask.tif", 0.0, chips)
        _assert_same_outputs(single, blocks)
    assert not _read(single.prob_path)[1].all()  # nodata is present, and matched


# ----------------------------------------------------------------- on a 2-worker cluster


def test_cluster_many_scenes_equal_one_process_model_loaded_once(
    ckpt, client, make_raster, tmp_path
):
    big = make_raster(_image(2, 700, 500), name="big.tif")  # 14 chip rows
    small = [make_raster(_image(3 + i, 90 + 40 * i, 120), name=f"s{i}.tif") for i in range(2)]
    images = [big, *small]
    client.run(lambda: setattr(worker, "_CACHE", {}))  # fresh caches, whatever ran before
    before = client.run(worker.worker_loads)
    opts = PredictOptions(blend="mean", threads=1, show_progress=False)
    outs = dist.predict_distributed(
        images, ckpt, tmp_path / "d", opts, scheduler=client, block_rows=3, timeout=TIMEOUT
    )
    loads = client.run(worker.worker_loads)
    # 5 blocks + 1 assembly + 2 scenes = 8 tasks on 2 workers, one load per worker
    assert all(loads[w] - before[w] <= 1 for w in loads), (before, loads)
    assert sum(loads.values()) > sum(before.values())
    assert [o.prob_path.name for o in outs] == ["big_prob.tif", "s0_prob.tif", "s1_prob.tif"]
    for img, out in zip(images, outs, strict=True):
        ref = predict_image(img, ckpt, tmp_path / "one", opts)
        assert out.chips_total == ref.chips_total and out.chips >= ref.chips
        _assert_same_outputs(ref, out)
    assert _leftovers(tmp_path / "d") == []  # block files removed

    cos = PredictOptions(blend="cosine", threads=1, show_progress=False)
    out = dist.predict_distributed(
        [big], ckpt, tmp_path / "c", cos, scheduler=client, block_rows=4, timeout=TIMEOUT
    )[0]
    ref = predict_image(big, ckpt, tmp_path / "one_cos", cos)
    _assert_same_outputs(ref, out, max_diff=1)  # the bound ...
    _assert_same_outputs(ref, out)  # ... and in fact bit for bit


def test_user_error_is_one_line_and_writes_nothing(ckpt, client, make_raster, tmp_path):
    pan = make_raster(_image(4, 80, 80)[:1], name="pan.tif")
    with pytest.raises(BasissError, match=r"pan\.tif: has 1 band\(s\), the model takes 3"):
        dist.predict_distributed([pan], ckpt, tmp_path / "o", scheduler=client, timeout=TIMEOUT)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_cli_scheduler_address(ckpt, client, make_raster, tmp_path, capsys):
    img = make_raster(_image(5, 300, 200), name="cli.tif")
    argv = ["predict", "--weights", str(ckpt), "--out", str(tmp_path / "o"), str(img)]
    assert main([*argv, "--scheduler", client.scheduler.address, "--block-rows", "2"]) == 0
    assert "cli_prob.tif" in capsys.readouterr().out
    ref = predict_image(img, ckpt, tmp_path / "one", PredictOptions(threads=1, show_progress=False))
    got = type(ref)(tmp_path / "o" / "cli_prob.tif", tmp_path / "o" / "cli_mask.tif", 0, 0)
    _assert_same_outputs(ref, got)
    assert main([*argv, "--scheduler", "nowhere"]) == 1
    assert "local:N or tcp://HOST:PORT" in capsys.readouterr().err


def test_cli_local_cluster(ckpt, make_raster, tmp_path, capsys):
    img = make_raster(_image(7, 150, 130), name="loc.tif")
    out = tmp_path / "o"
    argv = ["predict", "--weights", str(ckpt), "--out", str(out), str(img), "--threads", "1"]
    assert main([*argv, "--scheduler", "local:1"]) == 0
    ref = predict_image(img, ckpt, tmp_path / "one", PredictOptions(threads=1, show_progress=False))
    _assert_same_outputs(ref, type(ref)(out / "loc_prob.tif", out / "loc_mask.tif", 0, 0))
    assert _leftovers(out) == []


def test_task_error_and_killed_worker_still_give_the_complete_output(
    ckpt, client, make_raster, tmp_path
):
    """The first engine call anywhere raises (a retry re-runs the task); a later one
    kills its worker process (the nanny restarts it, the scheduler re-runs its
    tasks, including finished blocks whose results died with it)."""
    failed, killed = tmp_path / "failed", tmp_path / "killed"

    def arm() -> None:
        import dataclasses
        import os

        import basiss.inference.worker as d

        real = getattr(d, "_real_worker_predictor", d.worker_predictor)

        def once(marker: Path) -> bool:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return False
            return True

        def patched(checkpoint, options):
            pred = real(checkpoint, options)
            calls = [0]

            def engine(x):
                calls[0] += 1
                if once(failed):
                    raise RuntimeError("injected engine failure")
                if calls[0] == 2 and once(killed):
                    os._exit(1)
                return pred.engine(x)

            return dataclasses.replace(pred, engine=engine)

        d._real_worker_predictor = real
        d.worker_predictor = patched

    def disarm() -> None:
        import basiss.inference.worker as d

        d.worker_predictor = getattr(d, "_real_worker_predictor", d.worker_predictor)

    img = make_raster(_image(6, 560, 400), name="victim.tif")
    opts = PredictOptions(blend="cosine", threads=1, show_progress=False)
    client.run(arm)
    try:
        out = dist.predict_distributed(
            [img], ckpt, tmp_path / "d", opts, scheduler=client, block_rows=1, retries=2,
            timeout=TIMEOUT,
        )[0]  # fmt: skip
    finally:
        client.run(disarm)
    assert failed.exists() and killed.exists()  # both faults really happened
    ref = predict_image(img, ckpt, tmp_path / "one", opts)
    _assert_same_outputs(ref, out)
    assert _leftovers(tmp_path / "d") == []


def test_rerun_after_an_interrupted_run_reuses_its_blocks(ckpt, client, make_raster, tmp_path):
    """Blocks left by an interrupted run (same key) are not submitted again; the output
    equals one process's, and nothing is left over."""
    from basiss.inference.predictor import checkpoint_digest
    from basiss.inference.resume import block_dir, open_block_dir, run_key

    img = make_raster(_image(8, 600, 200), name="resume.tif")
    opts = PredictOptions(blend="cosine", threads=1, show_progress=False)
    out = tmp_path / "d"
    pred = load_predictor(ckpt, opts)
    with open_raster(img) as ds:
        scene = scene_info(ds, img, pred.spec, pred.chip, pred.stride)
    plan = plan_blocks([len(scene.grid.rows)], 2, 3)[0]
    key = run_key(checkpoint_digest(ckpt.resolve()), opts, pred.chip, pred.stride, img)
    folder = open_block_dir(block_dir(out, "resume", key), key)
    for first, stop in plan[: len(plan) // 2]:
        blk.predict_block(pred, scene, first, stop, *blk.block_paths(folder, first, stop))
    stale = out / ".resume_prob.part-999999999.tif"
    stale.write_bytes(b"dead run")
    got = dist.predict_distributed(
        [img], ckpt, out, opts, scheduler=client, block_rows=3, timeout=TIMEOUT
    )[0]
    ref = predict_image(img, ckpt, tmp_path / "one", opts)
    _assert_same_outputs(ref, got)
    assert got.chips < ref.chips  # half of the blocks were reused
    names = sorted(p.name for p in out.iterdir())
    assert names == ["resume_item.json", "resume_mask.tif", "resume_prob.tif"]


def test_graph_on_the_cluster_equals_graph_in_one_process(ckpt, client, make_raster, tmp_path):
    from test_predict_graph import _roads, same_network

    from basiss.graph.options import GraphOptions
    from basiss.graph.read import read_network

    img = make_raster(_roads(260, 200), name="net.tif")
    opts = PredictOptions(threads=1, show_progress=False)
    graph = GraphOptions(spur_m=0.0, min_component_m=0.0)
    one = predict_image(img, ckpt, tmp_path / "one", opts, graph=graph)
    (dask,) = dist.predict_distributed(
        [img], ckpt, tmp_path / "dask", opts, scheduler=client, block_rows=2, graph=graph,
        timeout=TIMEOUT,
    )  # fmt: skip
    _assert_same_outputs(one, dask)
    assert sorted(dask.graph_paths) == sorted(one.graph_paths)
    a, b = read_network(one.graph_paths["gpkg"]), read_network(dask.graph_paths["gpkg"])
    assert a.number_of_edges() > 0 and same_network(a, b)


def test_a_scene_at_another_gsd_is_resampled_on_the_cluster_too(
    ckpt, client, make_raster, tmp_path
):
    """A 0.6 m scene, a model trained at 0.3 m: the cluster's output (one scene task that
    resamples, however many blocks were asked for) == one process's, on the input grid."""
    from dataclasses import replace as dc_replace

    from rasterio.transform import from_origin

    from basiss.training.checkpoint import load_checkpoint

    model, spec = load_checkpoint(ckpt)
    ckpt = save_checkpoint(tmp_path / "gsd.pt", model, dc_replace(spec, gsd=0.3))
    t = from_origin(500000.0, 4e6, 0.6, 0.6)
    img = make_raster(_image(7, 300, 140), transform=t, name="coarse.tif")
    opts = PredictOptions(threads=1, show_progress=False)
    torch.set_num_threads(1)
    one = predict_image(img, ckpt, tmp_path / "one", opts)
    (out,) = dist.predict_distributed(
        [img], ckpt, tmp_path / "d", opts, scheduler=client, block_rows=2, timeout=TIMEOUT
    )
    a, b = _read(one.prob_path), _read(out.prob_path)
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]
    assert out.chips_total == one.chips_total > len(chip_grid(140, 300, *SLICE, *STRIDE))
