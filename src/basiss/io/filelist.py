"""The file-list CSV of image/mask pairs (the seed's format).

Columns: ``name, im_file, im_vis_file, mask_file, mask_vis_file``. ``im_file``
is the image the model reads (8-bit, 3 or 8 bands), ``im_vis_file`` an 8-bit
RGB rendering for figures, ``mask_file`` the uint8 0/1 mask and
``mask_vis_file`` an optional figure. Relative paths are taken relative to the
CSV's folder, so a dataset folder can be moved as a whole.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from basiss.errors import file_error
from basiss.io.raster import atomic_output

COLUMNS = ("name", "im_file", "im_vis_file", "mask_file", "mask_vis_file")


@dataclass(frozen=True)
class Pair:
    """One row of the file list."""

    name: str
    im_file: str
    im_vis_file: str = ""
    mask_file: str = ""
    mask_vis_file: str = ""


def read_file_list(path: str | os.PathLike[str]) -> list[Pair]:
    """Read a file-list CSV; relative paths are resolved against its folder."""
    p = Path(path)
    if not p.is_file():
        raise file_error(p, "no such file list")
    base = p.parent
    with p.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in ("name", "im_file") if c not in header]
        if missing:
            raise file_error(p, f"not a basiss file list: missing column(s) {', '.join(missing)}")
        rows: list[Pair] = []
        for rec in reader:
            vals = {f.name: (rec.get(f.name) or "").strip() for f in fields(Pair)}
            for key in COLUMNS[1:]:
                if vals[key] and not os.path.isabs(vals[key]):
                    vals[key] = str(base / vals[key])
            rows.append(Pair(**vals))
    if not rows:
        raise file_error(p, "file list has no rows")
    return rows


def write_file_list(path: str | os.PathLike[str], pairs: list[Pair]) -> Path:
    """Write pairs as a file-list CSV (atomically), with absolute paths."""
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for pair in pairs:
            writer.writerow(asdict(pair))
    return Path(path)
