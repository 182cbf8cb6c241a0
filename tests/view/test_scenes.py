"""Finding scenes in the user's paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from basiss.errors import BasissError
from basiss.view.scenes import classify, find_scenes


def test_classify() -> None:
    assert classify(Path("a/img1_prob.tif")) == ("img1", "prob")
    assert classify(Path("img1_mask.tif")) == ("img1", "mask")
    assert classify(Path("img1_graph.gpkg")) == ("img1", "graph")
    assert classify(Path("img1_graph.geojson")) == ("img1", "graph")
    assert classify(Path("img1.tif")) == ("img1", "image")
    assert classify(Path("report.json")) is None
    assert classify(Path("_prob.tif")) == ("_prob", "image")  # no stem: not a prediction


def test_folder_and_image_folder(view_scene, tmp_path: Path) -> None:
    found = find_scenes([view_scene.folder])
    assert [s.name for s in found.scenes] == ["scene"]
    s = found.scenes[0]
    assert (s.prob, s.mask, s.graph, s.image) == (
        view_scene.prob, view_scene.mask, view_scene.graph, view_scene.image,
    )  # fmt: skip
    only_prob = find_scenes([view_scene.prob], image=view_scene.folder)
    assert only_prob.scenes[0].image == view_scene.image
    assert only_prob.scenes[0].mask is None


def test_errors(view_scene, tmp_path: Path) -> None:
    with pytest.raises(BasissError, match="nope: no such file or folder"):
        find_scenes([tmp_path / "nope"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BasissError, match="no \\*_prob.tif"):
        find_scenes([tmp_path])
    with pytest.raises(BasissError, match="truth file not found"):
        find_scenes([view_scene.folder], truth=[tmp_path / "t.geojson"])
