"""What `basiss view` shows: the scenes found in the paths a user gives, each a set of files.

A scene is one prediction's stem (``<stem>_prob.tif``, ``<stem>_mask.tif``,
``<stem>_graph.geojson`` / ``_graph.gpkg``) with, when found, its imagery ``<stem>.tif``
(predictions are named after the image they were made from). Paths are files or folders
(not searched recursively); anything else is a one-line :class:`BasissError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from basiss.errors import BasissError, file_error

#: File-name endings of a prediction's parts -> the scene attribute that holds them.
SUFFIXES: dict[str, str] = {
    "_prob.tif": "prob",
    "_mask.tif": "mask",
    "_graph.geojson": "graph",
    "_graph.gpkg": "graph",
}
RASTER_EXTS = (".tif", ".tiff")


@dataclass(frozen=True)
class Scene:
    """The files of one scene; any of them may be missing (None)."""

    name: str
    image: Path | None = None
    prob: Path | None = None
    mask: Path | None = None
    graph: Path | None = None

    def rasters(self) -> dict[str, Path]:
        """The scene's rasters by kind (``image``, ``prob``, ``mask``), those present only."""
        found = {"image": self.image, "prob": self.prob, "mask": self.mask}
        return {kind: path for kind, path in found.items() if path is not None}


@dataclass(frozen=True)
class ViewInputs:
    """Everything one page shows: the scenes and the truth vector files."""

    scenes: tuple[Scene, ...]
    truth: tuple[Path, ...] = field(default=())


def classify(path: Path) -> tuple[str, str] | None:
    """``(stem, kind)`` of a file by its name, kind one of image/prob/mask/graph; else None.

    Args:
        path: a file name (only its name is looked at).

    Returns:
        The scene stem and the part it is, e.g. ``("img1", "prob")`` for ``img1_prob.tif``;
        a plain ``.tif`` is imagery; None for a file the viewer does not show.
    """
    name = path.name
    for suffix, kind in SUFFIXES.items():
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], kind
    if path.suffix.lower() in RASTER_EXTS:
        return path.stem, "image"
    return None


def _listed(path: Path) -> list[Path]:
    """The files under one user path: itself, or a folder's files (sorted)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file())
    if path.is_file():
        return [path]
    raise file_error(path, "no such file or folder")


def _add(scenes: dict[str, Scene], files: Iterable[Path], images_only: bool = False) -> None:
    """Sort ``files`` into ``scenes`` by stem and kind (in place)."""
    for f in files:
        found = classify(f)
        if found is None or (images_only and found[1] != "image"):
            continue
        stem, kind = found
        scene = scenes.get(stem, Scene(stem))
        scenes[stem] = replace(scene, **{kind: f.resolve()})


def find_scenes(
    paths: Sequence[str | os.PathLike[str]],
    image: str | os.PathLike[str] | None = None,
    truth: Sequence[str | os.PathLike[str]] = (),
) -> ViewInputs:
    """Find the scenes to show in prediction files or folders.

    Args:
        paths: prediction files or folders (imagery ``.tif`` files may be among them).
        image: imagery file or folder, matched to the predictions by stem.
        truth: truth centerline vector files (GeoJSON, GeoPackage), shown as outlines.

    Returns:
        The scenes that have a raster to show, sorted by name, and the truth files.

    Raises:
        BasissError: a path that does not exist, a truth file missing, or nothing to show.
    """
    scenes: dict[str, Scene] = {}
    for p in paths:
        _add(scenes, _listed(Path(p)), images_only=False)
    if image is not None:
        # imagery joins the predictions' scenes; unmatched images are left out
        extra: dict[str, Scene] = {}
        _add(extra, _listed(Path(image)), images_only=True)
        for stem, s in extra.items():
            if stem in scenes or not scenes:
                scenes[stem] = replace(scenes.get(stem, Scene(stem)), image=s.image)
    shown = tuple(s for _, s in sorted(scenes.items()) if s.rasters())
    if not shown:
        where = ", ".join(os.fspath(p) for p in paths) or "(no path)"
        raise BasissError(f"{where}: no *_prob.tif, *_mask.tif or imagery .tif to show")
    truths = tuple(Path(t).resolve() for t in truth)
    for t in truths:
        if not t.is_file():
            raise file_error(t, "truth file not found")
    return ViewInputs(shown, truths)
