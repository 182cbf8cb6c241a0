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


#: The columns whose files must exist when the list is read (the rest are figures).
REQUIRED_FILES = ("im_file", "mask_file")


def _row(rec: dict[str, str | None], base: Path, p: Path, line: int) -> Pair:
    """One CSV record as a :class:`Pair`: relative paths joined to ``base``, files checked."""
    vals = {f.name: (rec.get(f.name) or "").strip() for f in fields(Pair)}
    if not vals["name"] or not vals["im_file"]:
        raise file_error(p, f"line {line}: empty name or im_file")
    for key in COLUMNS[1:]:
        if vals[key] and not os.path.isabs(vals[key]):
            vals[key] = str(base / vals[key])
    for key in REQUIRED_FILES:
        if vals[key] and not Path(vals[key]).is_file():
            raise file_error(p, f"line {line} ({vals['name']}): {key} {vals[key]} does not exist")
    return Pair(**vals)


def read_file_list(path: str | os.PathLike[str]) -> list[Pair]:
    """Read a file-list CSV; relative paths are resolved against its folder.

    Args:
        path: the CSV, with at least the columns ``name`` and ``im_file``.

    Returns:
        One :class:`Pair` per row, in the file's order, its paths absolute when the CSV's
        folder is (relative paths are joined to that folder).

    Raises:
        BasissError: the CSV is missing, lacks a column, has no rows, a row has no name or
            image, or a row's ``im_file`` / ``mask_file`` does not exist.
    """
    p = Path(path)
    if not p.is_file():
        raise file_error(p, "no such file list")
    with p.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in ("name", "im_file") if c not in header]
        if missing:
            raise file_error(p, f"not a basiss file list: missing column(s) {', '.join(missing)}")
        rows = [_row(rec, p.parent, p, i) for i, rec in enumerate(reader, start=2)]
    if not rows:
        raise file_error(p, "file list has no rows")
    return rows


def write_file_list(path: str | os.PathLike[str], pairs: list[Pair]) -> Path:
    """Write pairs as a file-list CSV (atomically), with absolute paths.

    Relative paths are taken relative to the current folder (as the caller meant them), so
    :func:`read_file_list` gives the same files back wherever the CSV is read from.
    """
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for pair in pairs:
            row = asdict(pair)
            for key in COLUMNS[1:]:
                if row[key]:
                    row[key] = os.path.abspath(row[key])
            writer.writerow(row)
    return Path(path)
