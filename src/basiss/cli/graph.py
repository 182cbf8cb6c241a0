"""`basiss graph`: road networks (vector graphs) from probability or mask rasters."""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any

from basiss.cli._common import fraction, non_negative, non_negative_int, positive, positive_int

HELP = "road networks from probability/mask rasters (GeoPackage, GeoJSON, GraphML, CSV)"

DESCRIPTION = """\
Turn road probability or mask rasters (basiss predict's *_prob.tif / *_mask.tif,
or any 0/1 or 0/255 mask GeoTIFF) into road networks: junctions and dead ends as
nodes, centerlines as edges with their true length in metres, mean probability
and width.

The raster is thresholded, cleaned (holes and blobs in m2), thinned to a
skeleton and traced into a graph, band by band with a halo, so memory depends
on the scene width, never its height, and the network equals the one of the
whole scene in one piece. The graph is then cleaned in metres: spurs pruned,
gaps between dead ends bridged, junction clusters merged, edges simplified.

Writes OUT/<name>_graph.gpkg (layers edges and nodes, in the raster's CRS),
_graph.geojson (RFC 7946, EPSG:4326), _graph.graphml (osmnx attributes) and
_graph.csv (SpaceNet 3 submission: ImageId, WKT_Pix, length_m); <name> is the
raster's name without _prob / _mask."""

#: argparse types by option (the rest are floats >= 0).
_TYPES: dict[str, Any] = {
    "threshold": fraction,
    "pixel_size_m": positive,
    "halo_px": non_negative_int,
    "band_m": positive,
}
_SKIP = ("hysteresis",)


def attribute_help(cls: type) -> dict[str, str]:
    """The ``Attributes:`` entries of a dataclass's docstring, by name, as one line each."""
    doc = cls.__doc__ or ""
    body = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    out: dict[str, str] = {}
    name = None
    for line in body.splitlines():
        m = re.match(r"^\s{8}(\w+): (.*)$", line)
        if m:
            name, out[m.group(1)] = m.group(1), m.group(2).strip()
        elif name and line.strip():
            out[name] += " " + line.strip()
    return {k: re.sub(r":\w+:`~?([^`]+)`", r"\1", v).replace("``", "") for k, v in out.items()}


def _metavar(name: str) -> str:
    for suffix, metavar in (("_m2", "M2"), ("_m", "M"), ("_deg", "DEG"), ("_px", "PX")):
        if name.endswith(suffix):
            return metavar
    return "P" if name == "threshold" else "N"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `basiss graph`: inputs, outputs, and every GraphOptions field."""
    parser.add_argument("rasters", nargs="+", metavar="RASTER", help="rasters or folders")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--formats",
        nargs="+",
        metavar="FORMAT",
        default=["gpkg", "geojson", "graphml", "csv"],
        choices=("gpkg", "geojson", "graphml", "csv"),
        help="formats to write: gpkg, geojson, graphml, csv",
    )
    parser.add_argument(
        "--band-rows",
        type=positive_int,
        default=None,
        metavar="N",
        help="rows per band (default: automatic, from --band-m)",
    )
    add_graph_options(parser.add_argument_group("extraction (lengths in metres, areas in m2)"))


def add_graph_options(opts: Any, skip: tuple[str, ...] = ()) -> None:
    """Every :class:`~basiss.graph.options.GraphOptions` field as an option of ``opts`` (a
    parser or argument group), its help taken from the class docstring; ``skip``: fields
    the verb sets otherwise (``predict --graph`` uses its own ``--threshold``)."""
    from basiss.graph.options import GraphOptions

    helps = attribute_help(GraphOptions)
    if "hysteresis" in skip:
        return
    opts.add_argument(
        "--hysteresis",
        nargs=2,
        type=fraction,
        metavar=("LOW", "HIGH"),
        default=None,
        help=helps["hysteresis"],
    )
    for f in dataclasses.fields(GraphOptions):
        if f.name in _SKIP or f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        text = helps.get(f.name, "").replace("%", "%%")
        kind = _TYPES.get(f.name, non_negative)
        opts.add_argument(
            flag, dest=f.name, type=kind, default=f.default, metavar=_metavar(f.name), help=text
        )


def options_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~basiss.graph.options.GraphOptions` the parsed arguments describe."""
    from basiss.graph.options import GraphOptions

    names = [f.name for f in dataclasses.fields(GraphOptions)]
    values = {n: getattr(args, n) for n in names if hasattr(args, n)}
    if values["hysteresis"] is not None:
        values["hysteresis"] = tuple(values["hysteresis"])
    return GraphOptions(**values)


def run(args: argparse.Namespace) -> int:
    """Extract and write the networks, one line per raster."""
    from basiss.graph.run import graph_many

    outs = graph_many(args.rasters, args.out, options_from_args(args), args.formats, args.band_rows)
    for o in outs:
        print(
            f"{o.raster.name}: {o.nodes} nodes, {o.edges} edges, {o.length_m / 1000:.3f} km "
            f"-> {', '.join(str(p) for p in o.paths.values())}"
        )
    return 0
