"""`basiss graph`: the verb and its function, end to end from a mask to scored networks."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from basiss.cli import main
from basiss.evaluation.networks import evaluate_networks
from basiss.graph.read import read_network
from basiss.graph.run import graph_inputs, network_stem


def _write(path, arr, src):
    profile = {
        "driver": "GTiff", "width": src.width, "height": src.height, "count": 1,
        "dtype": "uint8", "crs": src.crs, "transform": src.transform,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(arr[None])


def test_names_and_folder_inputs(tmp_path):
    assert network_stem("a/X_prob.tif") == "X" and network_stem("X_mask.tif") == "X"
    assert network_stem("_prob.tif") == "_prob"
    for name in ("X_mask.tif", "X_prob.tif", "Y_mask.tif", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in graph_inputs([tmp_path])] == ["X_prob.tif", "Y_mask.tif"]


def test_vegas_truth_mask_gives_its_centerlines_back(shared_data, tmp_path, capsys):
    sn = shared_data / "spacenet" / "vegas_solaris_pan"
    with rasterio.open(sn / "expected_mask_2m.tif") as src:
        mask = src.read(1)
        _write(tmp_path / "AOI_2_Vegas_sample_prob.tif", (mask > 0).astype(np.uint8) * 255, src)
    out = tmp_path / "graphs"
    code = main(["graph", str(tmp_path / "AOI_2_Vegas_sample_prob.tif"), "--out", str(out)])
    assert code == 0
    assert "AOI_2_Vegas_sample_prob.tif:" in capsys.readouterr().out
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"AOI_2_Vegas_sample_graph.{e}" for e in ("csv", "geojson", "gpkg", "graphml")]
    G = read_network(out / "AOI_2_Vegas_sample_graph.gpkg")
    assert G.number_of_edges() > 0
    report = evaluate_networks(out / "AOI_2_Vegas_sample_graph.gpkg", sn / "roads.geojson")
    assert report.images[0].apls.apls >= 0.97
    assert report.images[0].pred_length_m == pytest.approx(
        report.images[0].truth_length_m, rel=0.02
    )


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    three = tmp_path / "rgb.tif"
    grid = {"crs": "EPSG:32611", "transform": from_origin(500_000, 4_000_000, 0.3, 0.3)}
    with rasterio.open(
        three, "w", driver="GTiff", width=8, height=8, count=3, dtype="uint8", **grid
    ) as ds:
        ds.write(np.zeros((3, 8, 8), np.uint8))
    afile = tmp_path / "file"
    afile.write_text("x")
    for args, problem in (
        ([str(three), "--out", str(tmp_path / "o")], "has 3 bands"),
        ([str(tmp_path / "missing.tif"), "--out", str(tmp_path / "o")], "no such file"),
        ([str(three), "--out", str(afile)], "is a file"),
    ):
        assert main(["graph", *args]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and problem in err, err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    with pytest.raises(SystemExit) as exc:
        main(["graph", str(three), "--out", str(tmp_path / "o"), "--spur-m", "-1"])
    assert exc.value.code == 2


def test_a_raster_without_crs_warns_in_one_line(tmp_path, capsys):
    mask = np.zeros((60, 80), np.uint8)
    mask[28:34, :] = 1
    path = tmp_path / "nocrs_mask.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=80, height=60, count=1, dtype="uint8",
        transform=from_origin(0, 60, 1, 1),
    ) as ds:  # fmt: skip
        ds.write(mask[None])
    assert main(["graph", str(path), "--out", str(tmp_path / "o"), "--formats", "gpkg"]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("basiss graph: warning: ") and "CRS" in err[0]
