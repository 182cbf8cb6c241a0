"""The SpaceNet 3 submission CSV: ``ImageId,WKT_Pix,length_m``, roads in pixel coordinates.

One row per edge: the image's id, the edge's LineString in the raster's continuous pixel
coordinates (column, row; the corner of the top-left pixel is ``0 0``, through the inverse
of ``G.graph["transform"]``) and its true length in metres. An image without roads is one
``LINESTRING EMPTY`` row (length 0), as in the SpaceNet truth files. Many images share one
file (:func:`write_spacenet_csv`); reading gives one pixel network per image, with nodes
where line ends coincide exactly (the CSV holds no node ids).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

import networkx as nx
import numpy as np
import shapely
from rasterio import Affine

from basiss.errors import BasissError, file_error
from basiss.graph.vector import (
    cell_float,
    edge_records,
    fill_kinds,
    first_line,
    network_crs,
    wkt,
)
from basiss.io.raster import atomic_output

#: Header of the SpaceNet 3 submission CSV (``length_m`` added, as SpaceNet 5 has it).
CSV_HEADER = ("ImageId", "WKT_Pix", "length_m")
#: The SpaceNet row of an image without roads.
EMPTY_WKT = "LINESTRING EMPTY"
_LINE_TYPES = {"LineString", "MultiLineString"}


def pixel_transform(G: nx.MultiGraph) -> Affine | None:
    """The network's pixel -> CRS transform; identity for a pixel network; None if unknown."""
    t = G.graph.get("transform")
    if t is not None:
        return Affine(*tuple(t)[:6])
    return Affine.identity() if network_crs(G) is None else None


def pixel_line(line: shapely.LineString, transform: Affine) -> shapely.LineString:
    """``line`` (CRS coordinates) in the raster's continuous pixel coordinates (col, row)."""
    inv = ~transform

    def _apply(xy: np.ndarray) -> np.ndarray:
        cols = inv.a * xy[:, 0] + inv.b * xy[:, 1] + inv.c
        rows = inv.d * xy[:, 0] + inv.e * xy[:, 1] + inv.f
        return np.column_stack([cols, rows])

    return shapely.transform(line, _apply)


def spacenet_rows(G: nx.MultiGraph, image_id: str) -> list[tuple[str, str, str]]:
    """The SpaceNet CSV rows of one image: ``(ImageId, WKT_Pix, length_m)`` per edge.

    Raises:
        BasissError: a georeferenced network without a transform (pixels unknown).
    """
    transform = pixel_transform(G)
    if transform is None:
        raise BasissError(f"{image_id}: network has a CRS but no transform: no pixel coordinates")
    edges = edge_records(G)
    if not edges:
        return [(image_id, EMPTY_WKT, "0.0")]
    return [(image_id, wkt(pixel_line(r.geometry, transform)), repr(r.length_m)) for r in edges]


def write_spacenet_csv(graphs: Iterable[nx.MultiGraph], path: str | os.PathLike[str]) -> Path:
    """Write the networks of many images into one SpaceNet 3 submission CSV, atomically.

    Args:
        graphs: networks, each with ``graph["image_id"]`` (the ``ImageId`` of its rows) and
            ``graph["transform"]`` (or no CRS: its coordinates are then pixels already).
        path: the ``.csv`` file to write.

    Returns:
        ``path``.

    Raises:
        BasissError: a network has no image id, or a CRS but no transform.
    """
    rows: list[tuple[str, str, str]] = []
    for G in graphs:
        image_id = G.graph.get("image_id")
        if not image_id:
            raise file_error(path, "a network without graph['image_id'] has no SpaceNet ImageId")
        rows.extend(spacenet_rows(G, str(image_id)))
    with atomic_output(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)
    return Path(path)


def _csv_lines(path: Path, row: dict[str, str], number: int) -> list[shapely.LineString]:
    try:
        geom = shapely.from_wkt(row["WKT_Pix"])
    except Exception:
        raise file_error(path, f"row {number}: WKT_Pix does not parse") from None
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type not in _LINE_TYPES:
        raise file_error(path, f"row {number}: a {geom.geom_type}; road networks are lines")
    return list(shapely.get_parts(shapely.force_2d(geom)))


def _add_csv_edge(
    G: nx.MultiGraph, index: dict[tuple[float, float], int], line: shapely.LineString, length: float
) -> None:
    """Add ``line`` to a pixel network, with nodes where line ends coincide exactly.

    ``index`` maps the end coordinates seen so far in this image to their node ids; the
    edge's id is its rank in the file (kept in ``G.graph["_edges"]`` while reading).
    """
    ends = []
    for x, y in (line.coords[0], line.coords[-1]):
        if (x, y) not in index:
            index[(x, y)] = len(index)
            G.add_node(index[(x, y)], x=float(x), y=float(y))
        ends.append(index[(x, y)])
    edge_id = G.graph["_edges"] = G.graph.get("_edges", -1) + 1
    G.add_edge(ends[0], ends[1], id=edge_id, geometry=line, length_m=length)


def read_spacenet_csv(path: str | os.PathLike[str]) -> dict[str, nx.MultiGraph]:
    """Read a SpaceNet 3 CSV: one pixel-coordinate network per ``ImageId``, in file order.

    A row's ``length_m`` is kept (shared by the parts of a MultiLineString in proportion to
    their lengths); without it the length is in pixels. ``LINESTRING EMPTY`` rows give an
    image without roads.

    Raises:
        BasissError: no ``ImageId``/``WKT_Pix`` columns, or a row that does not parse.
    """
    p = Path(path)
    graphs: dict[str, nx.MultiGraph] = {}
    indices: dict[str, dict[tuple[float, float], int]] = {}
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not {"ImageId", "WKT_Pix"} <= set(reader.fieldnames or ()):
                raise file_error(p, "not a SpaceNet CSV (needs ImageId and WKT_Pix columns)")
            for number, row in enumerate(reader, start=2):
                image = str(row["ImageId"])
                G = graphs.setdefault(image, nx.MultiGraph(crs=None, units="px", image_id=image))
                lines = _csv_lines(p, row, number)
                total = sum(line.length for line in lines)
                row_length = cell_float(row.get("length_m"))
                for line in lines:
                    share = line.length / total if total > 0 else 1.0 / len(lines)
                    length = line.length if row_length is None else row_length * share
                    _add_csv_edge(G, indices.setdefault(image, {}), line, length)
    except (UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise file_error(p, f"not a readable CSV ({first_line(exc)})") from None
    for G in graphs.values():
        G.graph.pop("_edges", None)
        fill_kinds(G)
    return graphs
