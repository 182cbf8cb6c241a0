"""`basiss graph` as a function: road networks of probability or mask rasters, written out.

One raster in, one network out in every format asked (:func:`basiss.graph.write.write_network`),
named after the image: ``X_prob.tif`` and ``X_mask.tif`` both give ``X_graph.<ext>``, the id
that :mod:`basiss.evaluation.matching` pairs with ``X``'s truth. Given a folder, a
probability raster wins over the mask of the same image (its edges then carry the mean
probability).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from basiss.errors import file_error
from basiss.graph.options import DEFAULT_OPTIONS, GraphOptions
from basiss.graph.vector import ALL_FORMATS
from basiss.io.raster import GEOTIFF_SUFFIXES, PathLike
from basiss.progress import progress

#: Raster name endings that are not part of the network's name.
RASTER_ROLES = ("_prob", "_mask")


@dataclass(frozen=True)
class GraphOutputs:
    """What one raster gave: the files written and the network's size.

    Attributes:
        raster: the input; ``paths``: format -> file written.
        nodes, edges: counts; ``length_m``: total road length in metres.
    """

    raster: Path
    paths: dict[str, Path]
    nodes: int
    edges: int
    length_m: float


def network_stem(raster: PathLike) -> str:
    """The name of a raster's network: its stem without ``_prob`` / ``_mask``."""
    stem = Path(raster).stem
    for role in RASTER_ROLES:
        if stem.endswith(role) and len(stem) > len(role):
            return stem[: -len(role)]
    return stem


def graph_inputs(items: Iterable[PathLike]) -> list[Path]:
    """Rasters from files and folders; in a folder one raster per image, ``_prob`` first.

    Raises:
        BasissError: a missing path, or a folder without a GeoTIFF.
    """
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_file():
            out.append(p)
            continue
        if not p.is_dir():
            raise file_error(p, "no such file or folder")
        found = sorted(
            f for f in p.iterdir() if f.suffix.lower() in GEOTIFF_SUFFIXES and f.is_file()
        )
        if not found:
            raise file_error(p, "folder has no .tif rasters")
        best: dict[str, Path] = {}
        for f in found:
            stem, keep = network_stem(f), best.get(network_stem(f))
            if keep is None or (f.stem.endswith("_prob") and not keep.stem.endswith("_prob")):
                best[stem] = f
        out.extend(best[s] for s in sorted(best))
    return list(dict.fromkeys(out))


def total_length_m(G: nx.MultiGraph) -> float:
    """Sum of the edges' ``length_m``."""
    return float(sum(d.get("length_m", 0.0) for _, _, d in G.edges(data=True)))


def graph_image(
    raster: PathLike,
    out_dir: PathLike,
    options: GraphOptions = DEFAULT_OPTIONS,
    formats: Sequence[str] = ALL_FORMATS,
    band_rows: int | None = None,
) -> GraphOutputs:
    """Extract the road network of one raster and write it to ``out_dir``.

    Args:
        raster: a probability (``*_prob.tif``) or mask raster with one band.
        out_dir: folder of the outputs (created).
        options: extraction options (metres).
        formats: any of ``gpkg``, ``geojson``, ``graphml``, ``csv``.
        band_rows: rows per band (None: automatic).
    """
    from basiss.graph.extract import extract_network
    from basiss.graph.write import write_network

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise file_error(out, "is a file; --out must be a folder")
    G = extract_network(raster, options, band_rows=band_rows)
    stem = network_stem(raster)
    G.graph["image_id"] = stem
    paths = write_network(G, out, stem, formats=formats)
    return GraphOutputs(
        Path(raster), paths, G.number_of_nodes(), G.number_of_edges(), total_length_m(G)
    )


def graph_many(
    rasters: Iterable[PathLike],
    out_dir: PathLike,
    options: GraphOptions = DEFAULT_OPTIONS,
    formats: Sequence[str] = ALL_FORMATS,
    band_rows: int | None = None,
) -> list[GraphOutputs]:
    """:func:`graph_image` over files and folders (see :func:`graph_inputs`)."""
    inputs = graph_inputs(rasters)
    stems: dict[str, Path] = {}
    for p in inputs:
        if (other := stems.setdefault(network_stem(p), p)) != p:
            raise file_error(p, f"gives the same network name as {other}; outputs would clash")
    bar = progress(inputs, desc="graphs", unit="image", disable=len(inputs) < 2)
    return [graph_image(p, out_dir, options, formats, band_rows) for p in bar]
