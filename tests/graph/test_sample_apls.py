"""The network of a truth mask scores APLS >= 0.97 against its centerlines on the sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from test_extract import same_network

from basiss.evaluation.apls import AplsParams, apls
from basiss.graph import network_from_array
from basiss.graph.from_lines import read_line_network
from basiss.labels.centerlines import road_mask_on_grid
from basiss.synthetic import write_sample

CHIPS = 4


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path, Path]]:
    """``(name, image, labels)`` of the sample's chips and its (small) broad scene."""
    layout = write_sample(
        tmp_path_factory.mktemp("sample"),
        seed=0,
        n_train=CHIPS,
        n_test=0,
        chip_size=1300,
        broad_size=1500,
    )
    labels = sorted((layout.train_dir / "geojson" / "spacenetroads").glob("*.geojson"))
    images = sorted((layout.train_dir / "RGB-PanSharpen").glob("*.tif"))
    assert len(labels) == len(images) == CHIPS
    for image, label in zip(images, labels, strict=True):
        assert image.stem.split("_")[-1] == label.stem.split("_")[-1]
    out = [(image.stem, image, label) for image, label in zip(images, labels, strict=True)]
    return [*out, ("broad", layout.broad_image, layout.broad_labels)]


def truth_mask(image: Path, labels: Path) -> tuple[np.ndarray, object, object]:
    """The 4 m wide (2 m buffer) road mask of ``labels`` on ``image``'s grid."""
    with rasterio.open(image) as ds:
        mask = road_mask_on_grid(labels, ds.crs, ds.transform, ds.width, ds.height)
        return mask, ds.transform, ds.crs


def test_truth_masks_score_apls_above_097_on_every_image(sample) -> None:
    scores = {}
    for name, image, labels in sample:
        mask, transform, crs = truth_mask(image, labels)
        proposal = network_from_array(mask, transform, crs)
        truth = read_line_network(labels)
        for preset in ("spacenet3", "apls_head"):
            scores[name, preset] = apls(truth, proposal, AplsParams.preset(preset)).apls
    low = {k: round(v, 4) for k, v in scores.items() if v < 0.97}
    assert not low, low
    assert len(scores) == 2 * (CHIPS + 1)


def test_bands_equal_whole_scene_on_the_sample_broad_scene(sample) -> None:
    _, image, labels = sample[-1]
    mask, transform, crs = truth_mask(image, labels)
    whole = network_from_array(mask, transform, crs)
    assert whole.number_of_nodes() > 20
    ends = [n for n, d in whole.nodes(data=True) if d["kind"] == "end"]
    assert len(ends) >= 8  # roads leave the scene on every side
    same_network(whole, network_from_array(mask, transform, crs, band_rows=173))
