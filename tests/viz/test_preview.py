"""The sample preview: a chip and the broad scene with their centerlines."""

import numpy as np
import pytest
from PIL import Image

from basiss.errors import BasissError
from basiss.synthetic import SampleLayout, write_sample
from basiss.viz import sample as preview


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> SampleLayout:
    root = tmp_path_factory.mktemp("sample")
    return write_sample(root, seed=0, n_train=2, n_test=0, chip_size=128, broad_size=256)


def test_preview_png(layout, tmp_path):
    png = preview.write_preview(layout, tmp_path / "preview.png")
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 500 and im.height > 500
        assert np.asarray(im.convert("RGB")).std() > 10  # imagery, not a blank page


def test_preview_of_a_decimated_broad_scene(layout, tmp_path, monkeypatch):
    monkeypatch.setattr(preview, "OVERVIEW_PIXELS", 64 * 64)
    monkeypatch.setattr(preview, "CROP_PX", 100)
    png = preview.write_preview(layout, tmp_path / "small.png")
    with Image.open(png) as im:
        assert im.format == "PNG"


def test_busiest_chip_has_the_most_road(layout):
    chip = preview._busiest_chip(layout.train_dir)
    lengths = {}
    for i in (1, 2):
        path = layout.train_dir / "geojson" / "spacenetroads"
        lines = preview._read_lines(path / f"spacenetroads_AOI_9_Sample_img{i}.geojson")
        lengths[i] = sum(np.hypot(*np.diff(c, axis=0).T).sum() for c in lines)
    assert chip == max(lengths, key=lengths.get)


def test_no_chips_is_a_user_error(tmp_path):
    with pytest.raises(BasissError, match="no RGB-PanSharpen chips"):
        preview.write_preview(SampleLayout.at(tmp_path), tmp_path / "p.png")
