"""A miniature demo, end to end: every listed output exists, rasters are georeferenced."""

import json
import math

import rasterio

from basiss.demo import DemoConfig, run_demo


def test_miniature_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    lines: list[str] = []
    cfg = DemoConfig(
        out=out,
        n_train=3,
        n_test=1,
        chip_size=256,
        broad_size=384,
        arch_kwargs={"base": 4},
        slice=128,
        stride=96,
        batch_size=4,
        train_minutes=0.05,
        max_epochs=1,
        workers=1,
        threads=1,
    )
    result = run_demo(cfg, log=lines.append)
    assert [ln for ln in lines if ln.startswith("[")][-1].startswith("[8/8]")

    summary = json.loads(result.report_json.read_text())
    for key in ("f1", "relaxed_f1"):
        assert isinstance(summary[key], float) and 0.0 <= summary[key] <= 1.0
        assert not math.isnan(summary[key])
    net = summary["network"]
    assert 0.0 <= net["apls"] <= 1.0 and net["truth_length_km"] > 0
    assert summary["view_command"].startswith("basiss view ")
    assert (out / "view" / "index.html").is_file() and any((out / "view" / "tiles").rglob("*.png"))
    for stage in ("sample", "masks", "train", "predict", "graph", "evaluate", "view", "total"):
        assert summary["seconds"][stage] >= 0.0
    for rel in summary["outputs"]:
        assert (out / rel).exists(), rel
    md = result.report_md.read_text()
    assert "F1 (strict)" in md and "relaxed F1" in md and "APLS" in md

    broad = out / "sample" / "broad_area" / "RGB-PanSharpen_AOI_9_Sample_broad.tif"
    prob = out / "predictions" / "RGB-PanSharpen_AOI_9_Sample_broad_prob.tif"
    with rasterio.open(broad) as a, rasterio.open(prob) as b:
        assert b.crs == a.crs and b.crs.to_epsg() != 4326
        assert b.transform == a.transform and (b.width, b.height) == (a.width, a.height)
    for mask in (out / "sample" / "AOI_9_Sample_Train" / "masks_2m").glob("*.tif"):
        with rasterio.open(mask) as m:
            assert m.crs.to_epsg() == 4326
