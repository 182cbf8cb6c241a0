"""Input discovery: the images a predict run covers, from paths, folders and file lists."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from basiss.errors import file_error
from basiss.io.filelist import read_file_list
from basiss.io.raster import GEOTIFF_SUFFIXES, PathLike


def expand_inputs(items: Iterable[PathLike]) -> list[Path]:
    """Images from paths, folders (their ``*.tif``/``*.tiff``) and file-list CSVs (``im_file``).

    Args:
        items: image files, folders and file-list CSVs, in any mix.

    Returns:
        The images in the order given (folders sorted by name), each once.

    Raises:
        BasissError: a missing path, an empty folder, or two images with one stem
            (their outputs would overwrite each other).
    """
    images: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in GEOTIFF_SUFFIXES)
            if not found:
                raise file_error(p, "folder has no .tif images")
            images.extend(found)
        elif p.suffix.lower() == ".csv":
            images.extend(Path(pair.im_file) for pair in read_file_list(p))
        elif p.exists():
            images.append(p)
        else:
            raise file_error(p, "no such file")
    seen: dict[str, Path] = {}
    for img in images:
        if img.stem in seen and seen[img.stem] != img:
            raise file_error(img, f"has the same name as {seen[img.stem]}; outputs would clash")
        seen[img.stem] = img
    return list(dict.fromkeys(images))
