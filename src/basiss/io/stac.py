"""STAC metadata of predictions: an Item per scene (what was made from what), a Collection.

:func:`prediction_item` describes one prediction: its footprint in EPSG:4326 (the raster's
outline, densified, so it contains the scene after reprojection), the projection extension
(EPSG code or WKT2, affine transform, shape, native bbox), assets for the probability,
the mask, the road network and the imagery, and the model that made it in
``basiss:``-prefixed properties. :func:`write_item` writes it atomically with asset hrefs
relative to the item, so a prediction folder can be moved whole. :func:`collection` links
many items.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pystac
import rasterio
import shapely
from pyproj import Transformer
from pystac.extensions.projection import ProjectionExtension

from basiss.errors import BasissError, file_error
from basiss.io.raster import PathLike, atomic_output

#: The names a checkpoint's facts may come under -> the property they become.
MODEL_KEYS = {
    "architecture": "architecture",
    "arch": "architecture",
    "bands": "bands",
    "normalisation": "normalisation",
    "normalization": "normalisation",
    "norm": "normalisation",
    "checkpoint_sha256": "checkpoint_sha256",
    "sha256": "checkpoint_sha256",
}
#: Properties every item must carry about its model.
REQUIRED_MODEL = ("architecture", "checkpoint_sha256")
PREFIX = "basiss:"
#: Outward margin of the footprint, degrees (~1 cm): reprojection curves the raster's edges.
FOOTPRINT_MARGIN_DEG = 1e-7
GPKG_MEDIA = "application/geopackage+sqlite3"


def lonlat_footprint(crs: Any, bounds: Sequence[float], densify: int = 32) -> shapely.Polygon:
    """The outline of ``bounds`` (left, bottom, right, top in ``crs``) in EPSG:4326.

    Each side is cut in ``densify`` steps and the polygon grown by
    :data:`FOOTPRINT_MARGIN_DEG`, so it contains every point of the scene.
    """
    w, s, e, n = bounds
    t = [i / densify for i in range(densify)]
    ring = (
        [(w + (e - w) * f, n) for f in t]
        + [(e, n + (s - n) * f) for f in t]
        + [(e + (w - e) * f, s) for f in t]
        + [(w, s + (n - s) * f) for f in t]
    )
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform([p[0] for p in ring], [p[1] for p in ring])
    poly = shapely.Polygon(zip(lon, lat, strict=True))
    return shapely.buffer(poly, FOOTPRINT_MARGIN_DEG, join_style="mitre")


def _grid(path: Path) -> dict[str, Any]:
    """CRS, transform, shape, bounds, band facts and the acquisition time tag of a raster."""
    try:
        with rasterio.open(path) as ds:
            facts = {
                "crs": ds.crs,
                "transform": list(ds.transform)[:6],
                "shape": [ds.height, ds.width],
                "bounds": list(ds.bounds),
                "dtype": ds.dtypes[0],
                "count": ds.count,
                "tiled": ds.profile.get("tiled", False),
                "overviews": ds.overviews(1),
                "datetime": ds.tags().get("TIFFTAG_DATETIME"),
            }
    except rasterio.errors.RasterioError as exc:
        raise file_error(path, f"cannot read raster ({str(exc).splitlines()[0]})") from None
    if facts["crs"] is None:
        raise file_error(path, "raster has no CRS: no footprint for STAC")
    return facts


def _when(image: Path | None, prob: Path) -> dt.datetime:
    """The image's TIFF date tag if it has one, else the probability file's time (UTC)."""
    if image is not None:
        tag = _grid(image)["datetime"]
        try:
            return dt.datetime.strptime(tag, "%Y:%m:%d %H:%M:%S").replace(tzinfo=dt.UTC)
        except (TypeError, ValueError):
            pass
    return dt.datetime.fromtimestamp(prob.stat().st_mtime, tz=dt.UTC)


def model_properties(info: Mapping[str, Any]) -> dict[str, Any]:
    """The model's description as ``basiss:`` item properties.

    Args:
        info: checkpoint facts: ``architecture`` (or ``arch``), ``checkpoint_sha256`` (or
            ``sha256``), ``bands``, ``normalisation`` (or ``norm``); other JSON-able keys
            are kept under their own name.

    Raises:
        BasissError: architecture or checkpoint hash missing, or a value JSON cannot hold.
    """
    props = {}
    for key, value in info.items():
        name = MODEL_KEYS.get(key, key)
        try:
            props[PREFIX + name] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            raise BasissError(f"checkpoint info {key!r}: not JSON-serialisable") from None
    missing = [k for k in REQUIRED_MODEL if PREFIX + k not in props]
    if missing:
        raise BasissError(f"checkpoint info lacks {', '.join(missing)}")
    return props


def _media(facts: dict[str, Any]) -> str:
    """COG media type for tiled rasters with overviews (or small enough not to need any)."""
    small = max(facts["shape"]) <= 512
    cog = facts["tiled"] and (facts["overviews"] or small)
    return pystac.MediaType.COG if cog else pystac.MediaType.GEOTIFF


def _raster_asset(path: Path, facts: dict[str, Any], title: str, band: dict) -> pystac.Asset:
    band = {"data_type": facts["dtype"], **band}
    return pystac.Asset(
        href=str(path), media_type=_media(facts), title=title, roles=["data"],
        extra_fields={"bands": [band]},
    )  # fmt: skip


def _apply_projection(item: pystac.Item, facts: dict[str, Any]) -> None:
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    epsg = facts["crs"].to_epsg()
    proj.apply(
        epsg=epsg, wkt2=None if epsg else facts["crs"].to_wkt(),
        transform=facts["transform"], shape=facts["shape"], bbox=facts["bounds"],
    )  # fmt: skip


def prediction_item(
    image: PathLike | None,
    prob: PathLike,
    mask: PathLike | None,
    checkpoint_info: Mapping[str, Any],
    graph: PathLike | None = None,
) -> pystac.Item:
    """The STAC Item of one prediction.

    Args:
        image: the imagery it was predicted from (an asset with role ``source``), or None.
        prob: ``<stem>_prob.tif``; the item's id is ``<stem>``, its grid this raster's.
        mask: ``<stem>_mask.tif``, or None.
        checkpoint_info: the model's facts (see :func:`model_properties`).
        graph: the road network file (GeoPackage or GeoJSON), or None.

    Returns:
        An item with absolute asset hrefs (:func:`write_item` makes them relative).

    Raises:
        BasissError: a raster that cannot be read or has no CRS, or incomplete model facts.
    """
    prob_p = Path(prob).resolve()
    facts = _grid(prob_p)
    geom = lonlat_footprint(facts["crs"], facts["bounds"])
    stem = prob_p.name.removesuffix("_prob.tif").removesuffix(".tif")
    image_p = Path(image).resolve() if image is not None else None
    item = pystac.Item(
        id=stem, geometry=shapely.geometry.mapping(geom), bbox=list(geom.bounds),
        datetime=_when(image_p, prob_p), properties=model_properties(checkpoint_info),
    )  # fmt: skip
    item.common_metadata.created = dt.datetime.now(dt.UTC)
    _apply_projection(item, facts)
    band = {"name": "road_probability", "description": "road probability x 255 (0..255)"}
    item.add_asset("probability", _raster_asset(prob_p, facts, "road probability", band))
    if mask is not None:
        mask_p = Path(mask).resolve()
        band = {"name": "road_mask", "description": "1 = road, 0 = background"}
        item.add_asset("mask", _raster_asset(mask_p, _grid(mask_p), "road mask", band))
    if graph is not None:
        g = Path(graph).resolve()
        media = GPKG_MEDIA if g.suffix.lower() == ".gpkg" else pystac.MediaType.GEOJSON
        item.add_asset(
            "network", pystac.Asset(str(g), "road network", media_type=media, roles=["data"])
        )
    if image_p is not None:
        item.add_asset("image", pystac.Asset(str(image_p), "source imagery", roles=["source"]))
    return item


def write_item(item: pystac.Item, path: PathLike) -> Path:
    """Write ``item`` as JSON at ``path`` atomically, asset hrefs relative to it.

    Sets the item's self href to ``path`` (so :func:`collection` can link to it).
    """
    final = Path(path).resolve()
    item.set_self_href(str(final))
    item.make_asset_hrefs_relative()
    text = json.dumps(item.to_dict(include_self_link=False, transform_hrefs=False), indent=2)
    with atomic_output(final) as tmp:
        Path(tmp).write_text(text + "\n", encoding="utf-8")
    return final


def collection(
    items: Sequence[pystac.Item],
    collection_id: str = "basiss-predictions",
    description: str = "Road predictions made by basiss",
) -> pystac.Collection:
    """A Collection whose extent covers ``items`` and whose links point at them.

    Items already written (:func:`write_item`) are linked by their file; others are added
    as children (written with the collection by :meth:`pystac.Collection.save`).

    Raises:
        BasissError: no items.
    """
    if not items:
        raise BasissError("a STAC collection needs at least one item")
    boxes = [i.bbox for i in items if i.bbox is not None]
    bbox = [min(b[0] for b in boxes), min(b[1] for b in boxes)]
    bbox += [max(b[2] for b in boxes), max(b[3] for b in boxes)]
    times = [i.datetime for i in items if i.datetime is not None]
    extent = pystac.Extent(
        pystac.SpatialExtent([bbox]), pystac.TemporalExtent([[min(times), max(times)]])
    )
    col = pystac.Collection(collection_id, description, extent, license="other")
    for item in items:
        href = item.get_self_href()
        if href is None:
            col.add_item(item)
        else:
            col.add_link(pystac.Link("item", href, pystac.MediaType.JSON, title=item.id))
    return col


def write_collection(col: pystac.Collection, path: PathLike) -> Path:
    """Write ``col`` (links to written items only) at ``path`` atomically, hrefs relative."""
    final = Path(path).resolve()
    d = col.to_dict(include_self_link=False, transform_hrefs=False)
    for link in d["links"]:
        href = link["href"]
        if link["rel"] == "item" and os.path.isabs(href):
            link["href"] = Path(os.path.relpath(href, final.parent)).as_posix()
    with atomic_output(final) as tmp:
        Path(tmp).write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")
    return final
