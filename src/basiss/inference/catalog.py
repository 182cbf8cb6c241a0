"""STAC beside predictions: ``<stem>_item.json`` per scene, ``collection.json`` over many.

The item (:func:`basiss.io.stac.prediction_item`) says what was made from what: the
footprint, the grid, the probability, mask and road-network assets, the source image, and
the model (architecture, bands, normalisation, classes, chip size, checkpoint SHA-256) in
``basiss:`` properties. Written atomically, hrefs relative, so the folder can move whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pystac

from basiss.io.raster import PathLike
from basiss.io.stac import collection, prediction_item, write_collection, write_item
from basiss.training.checkpoint import ModelSpec

#: Suffix of a prediction's STAC item, and the name of a run's collection.
ITEM_SUFFIX, COLLECTION_NAME = "_item.json", "collection.json"
#: Road-network formats in the order one is chosen as the item's ``network`` asset.
GRAPH_PREFERENCE = ("gpkg", "geojson")


def item_path(image: PathLike, out_dir: PathLike) -> Path:
    """``DIR/<stem>_item.json`` for an input image."""
    return Path(out_dir) / f"{Path(image).stem}{ITEM_SUFFIX}"


def model_info(spec: ModelSpec, digest: str) -> dict[str, Any]:
    """The model's facts for a STAC item (:func:`basiss.io.stac.model_properties`).

    Args:
        spec: the checkpoint's spec.
        digest: SHA-256 of the checkpoint file (of the weights and spec for an in-memory
            model: :func:`basiss.inference.predictor.model_digest`).
    """
    return {
        "architecture": spec.arch,
        "bands": list(spec.bands),
        "normalisation": dict(spec.norm),
        "classes": spec.n_classes,
        "chip_size": list(spec.slice),
        "checkpoint_sha256": digest,
    }


def network_file(graph_paths: Mapping[str, Path]) -> Path | None:
    """The road-network file an item links to: GeoPackage, else GeoJSON, else None."""
    for key in GRAPH_PREFERENCE:
        for fmt, path in graph_paths.items():
            if fmt.lower() == key or Path(path).suffix.lower() == f".{key}":
                return Path(path)
    return None


def write_prediction_item(
    image: PathLike,
    prob: PathLike,
    mask: PathLike,
    spec: ModelSpec,
    digest: str,
    graph_paths: Mapping[str, Path] | None = None,
    has_crs: bool = True,
) -> Path | None:
    """Write the STAC item of one prediction beside its outputs.

    Args:
        image: the input image.
        prob, mask: the written outputs (the item goes in their folder).
        spec, digest: the model (:func:`model_info`).
        graph_paths: the road network's files by format (``predict --graph``), if any.
        has_crs: False for an image without CRS: no footprint, so no item (None).

    Returns:
        The item's path, or None when the image has no CRS.
    """
    if not has_crs:
        return None
    graph = network_file(graph_paths or {})
    item = prediction_item(image, prob, mask, model_info(spec, digest), graph=graph)
    return write_item(item, item_path(image, Path(prob).parent))


def write_prediction_collection(items: Sequence[PathLike], out_dir: PathLike) -> Path | None:
    """Write ``DIR/collection.json`` linking the written items (None for fewer than two)."""
    if len(items) < 2:
        return None
    loaded = [pystac.Item.from_file(str(Path(p).resolve())) for p in items]
    return write_collection(collection(loaded), Path(out_dir) / COLLECTION_NAME)
