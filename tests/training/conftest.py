"""Fixtures of the training tests: a tiny road data set built on the fly."""

from pathlib import Path

import numpy as np
import pytest

from helpers import write_png


@pytest.fixture
def roads(tmp_path) -> Path:
    """Eight 64 px RGB images with bright roads, 0/255 masks, in images/ + groundtruth/."""
    rng = np.random.default_rng(0)
    for i in range(8):
        img = rng.integers(30, 90, size=(3, 64, 64), dtype=np.uint8)
        mask = np.zeros((64, 64), np.uint8)
        r, c = rng.integers(4, 56, size=2)
        mask[r : r + 5, :] = 255
        mask[:, c : c + 5] = 255
        img[:, mask > 0] = rng.integers(150, 220)
        write_png(tmp_path / "data" / "images" / f"im{i}.png", img)
        write_png(tmp_path / "data" / "groundtruth" / f"im{i}.png", mask)
    return tmp_path / "data"
