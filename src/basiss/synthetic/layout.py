"""Where the sample lives on disk and on the Earth: SpaceNet 3 names, grids and sensor range.

The chips follow SpaceNet 3's naming (``RGB-PanSharpen_AOI_9_Sample_img{N}.tif`` and
friends) so that every tool written for SpaceNet reads them unchanged; this module only
names paths and holds the constants of the grids, it creates nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from basiss.io.raster import PathLike

AOI = "AOI_9_Sample"
#: SpaceNet 3 chips: 0.3 m expressed as degrees in EPSG:4326.
DEG_PER_PX = 2.7e-6
GSD_M = 0.3
PLACE = "Plano, Texas, USA"
#: Top-left (lon, lat) of the chip tiles and of the broad scene.
CHIPS_ORIGIN = (-96.7650, 33.0500)
BROAD_ORIGIN = (-96.7330, 33.0480)
UTM_EPSG = 32614  # zone 14N holds -102..-96 degrees of longitude
MAX_DN = 2047  # 11-bit sensor
MUL_BANDS = ("coastal", "blue", "green", "yellow", "red", "red_edge", "nir1", "nir2")
RGB_FROM_MUL = (4, 2, 1)  # red, green, blue: 0-based indices into the MUL bands


@dataclass(frozen=True)
class SampleLayout:
    """Where :func:`~basiss.synthetic.write_sample` puts each part of the dataset."""

    root: Path
    train_dir: Path
    test_dir: Path
    broad_image: Path
    broad_labels: Path

    @classmethod
    def at(cls, root: PathLike) -> SampleLayout:
        """The layout under ``root`` (nothing is created)."""
        r = Path(root)
        return cls(
            root=r,
            train_dir=r / f"{AOI}_Train",
            test_dir=r / f"{AOI}_Test",
            broad_image=r / "broad_area" / f"RGB-PanSharpen_{AOI}_broad.tif",
            broad_labels=r / "broad_area" / f"spacenetroads_{AOI}_broad.geojson",
        )


def rgb_path(split_dir: PathLike, image_id: int) -> Path:
    """``split_dir/RGB-PanSharpen/RGB-PanSharpen_AOI_9_Sample_img{N}.tif``."""
    return Path(split_dir) / "RGB-PanSharpen" / f"RGB-PanSharpen_{AOI}_img{image_id}.tif"


def mul_path(split_dir: PathLike, image_id: int) -> Path:
    """``split_dir/MUL-PanSharpen/MUL-PanSharpen_AOI_9_Sample_img{N}.tif``."""
    return Path(split_dir) / "MUL-PanSharpen" / f"MUL-PanSharpen_{AOI}_img{image_id}.tif"


def labels_path(split_dir: PathLike, image_id: int) -> Path:
    """``split_dir/geojson/spacenetroads/spacenetroads_AOI_9_Sample_img{N}.geojson``."""
    name = f"spacenetroads_{AOI}_img{image_id}.geojson"
    return Path(split_dir) / "geojson" / "spacenetroads" / name


def image_ids(split_dir: PathLike) -> list[int]:
    """The image ids N present in ``split_dir/RGB-PanSharpen``, sorted."""
    pattern = re.compile(rf"RGB-PanSharpen_{AOI}_img(\d+)\.tif$")
    folder = Path(split_dir) / "RGB-PanSharpen"
    if not folder.is_dir():
        return []
    found = (pattern.match(p.name) for p in folder.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


#: What one chip of the sample is made of, for :func:`sample_files`.
SAMPLE_FILE = re.compile(
    rf"^(RGB-PanSharpen|MUL-PanSharpen|spacenetroads)_{AOI}_img\d+\.(tif|geojson)$"
)


def sample_files(layout: SampleLayout) -> list[Path]:
    """Every chip file (images and labels) found under the train and test folders."""
    found = []
    for split in (layout.train_dir, layout.test_dir):
        for sub in ("RGB-PanSharpen", "MUL-PanSharpen", "geojson/spacenetroads"):
            folder = split / sub
            if folder.is_dir():
                found += [f for f in folder.iterdir() if SAMPLE_FILE.match(f.name)]
    return found
