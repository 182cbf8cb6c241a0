"""Score predicted road networks against truth centerlines: APLS and TOPO per image.

The pixel scores of :mod:`basiss.evaluation.score` say how many road pixels are right; the
network scores say whether routes survive: APLS (:mod:`basiss.evaluation.apls`, SpaceNet 3's
metric) compares shortest-path lengths between control points of the two networks, TOPO
(:mod:`basiss.evaluation.topo`) counts holes and marbles around start nodes.

Rules (stated once, here):

* **Pairing.** Networks (GeoPackage, GraphML, GeoJSON, SpaceNet CSV) pair with truth files
  (centerline GeoJSON, or a network in any of those formats) by image id
  (:func:`basiss.evaluation.matching.match_networks`). A SpaceNet CSV holding many images
  pairs each ``ImageId`` with the truth file of that id.
* **Pixel coordinates.** A network without a CRS (a SpaceNet CSV) is in pixels of its image:
  it is scored after mapping through that image's grid, so ``image`` must give the imagery
  (a file or a folder matched by id); without it, the network is an error.
* **Aggregate.** The report's ``mean`` is the unweighted mean over images of each score
  (SpaceNet 3 ranked by the mean APLS over images).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import shapely
from rasterio.transform import Affine

from basiss.errors import file_error
from basiss.evaluation.apls import AplsParams, AplsResult, apls
from basiss.evaluation.matching import Match, image_id, match_images, match_networks
from basiss.evaluation.topo import TopoParams, TopoResult, topo
from basiss.geo import line_length_m
from basiss.graph.read import read_network
from basiss.graph.spacenet_csv import read_spacenet_csv
from basiss.io.raster import PathLike, atomic_output, open_raster
from basiss.progress import progress

#: TOPO settings used unless told otherwise.
DEFAULT_TOPO = TopoParams()

#: Columns of the per-image CSV beside the JSON report.
CSV_COLUMNS = (
    "image_id",
    "apls",
    "apls_gt_onto_prop",
    "apls_prop_onto_gt",
    "topo_precision",
    "topo_recall",
    "topo_f1",
    "truth_length_m",
    "pred_length_m",
    "truth_edges",
    "pred_edges",
    "pred",
    "truth",
)


@dataclass(frozen=True)
class NetworkResult:
    """The network scores of one image.

    Attributes:
        ident: the image id; ``pred`` / ``truth``: the files.
        apls: the APLS result (both directions and their harmonic mean).
        topo: the TOPO result, or None when not asked.
        truth_length_m / pred_length_m: total road length of each network, metres.
        truth_edges / pred_edges: edge counts.
    """

    ident: str
    pred: Path
    truth: Path
    apls: AplsResult
    topo: TopoResult | None
    truth_length_m: float
    pred_length_m: float
    truth_edges: int
    pred_edges: int

    def to_json(self) -> dict[str, Any]:
        """The report's per-image entry."""
        return {
            "image_id": self.ident,
            "pred": str(self.pred),
            "truth": str(self.truth),
            "apls": self.apls.to_dict(),
            "topo": None if self.topo is None else self.topo.to_dict(),
            "truth_length_m": self.truth_length_m,
            "pred_length_m": self.pred_length_m,
            "truth_edges": self.truth_edges,
            "pred_edges": self.pred_edges,
        }

    def csv_row(self) -> list[Any]:
        """One row of :data:`CSV_COLUMNS`."""
        t = self.topo
        return [
            self.ident,
            self.apls.apls,
            self.apls.gt_onto_prop,
            self.apls.prop_onto_gt,
            "" if t is None else t.precision,
            "" if t is None else t.recall,
            "" if t is None else t.f1,
            self.truth_length_m,
            self.pred_length_m,
            self.truth_edges,
            self.pred_edges,
            str(self.pred),
            str(self.truth),
        ]


@dataclass(frozen=True)
class NetworkReport:
    """Network scores of every matched image and their means.

    Attributes:
        preset: the APLS parameter set's name (or ``"custom"``); ``params``: its values.
        images: per-image results, sorted by id.
        unmatched_pred / unmatched_truth: files left without a partner.
    """

    preset: str
    params: AplsParams
    images: list[NetworkResult]
    unmatched_pred: list[Path] = field(default_factory=list)
    unmatched_truth: list[Path] = field(default_factory=list)

    @property
    def apls(self) -> float:
        """Mean APLS over images (0.0 when there is none)."""
        return float(np.mean([r.apls.apls for r in self.images])) if self.images else 0.0

    @property
    def topo_f1(self) -> float | None:
        """Mean TOPO F1 over images, None when TOPO was not computed."""
        vals = [r.topo.f1 for r in self.images if r.topo is not None]
        return float(np.mean(vals)) if vals else None

    def mean(self) -> dict[str, float]:
        """Unweighted means over images of every score."""
        keys = {"apls": lambda r: r.apls.apls, "apls_gt_onto_prop": lambda r: r.apls.gt_onto_prop}
        keys["apls_prop_onto_gt"] = lambda r: r.apls.prop_onto_gt
        out = {k: float(np.mean([f(r) for r in self.images])) for k, f in keys.items()}
        with_topo = [r.topo for r in self.images if r.topo is not None]
        for k in ("precision", "recall", "f1"):
            if with_topo:
                out[f"topo_{k}"] = float(np.mean([getattr(t, k) for t in with_topo]))
        return out

    def to_json(self) -> dict[str, Any]:
        """The JSON report: parameters, means, per-image entries, unmatched files."""
        params = {k: (v.value if hasattr(v, "value") else v) for k, v in vars(self.params).items()}
        return {
            "preset": self.preset,
            "params": params,
            "n_images": len(self.images),
            "mean": self.mean() if self.images else {},
            "images": [r.to_json() for r in self.images],
            "unmatched": {
                "pred": [str(p) for p in self.unmatched_pred],
                "truth": [str(p) for p in self.unmatched_truth],
            },
        }


def resolve_params(params: AplsParams | str) -> tuple[str, AplsParams]:
    """``(name, params)`` for a preset name or an explicit :class:`AplsParams`."""
    if isinstance(params, str):
        return params, AplsParams.preset(params)
    return "custom", params


def total_length_m(G: nx.MultiGraph) -> float:
    """Sum of the edges' ``length_m`` (metres)."""
    return float(sum(d.get("length_m", 0.0) for _, _, d in G.edges(data=True)))


def georeference(G: nx.MultiGraph, transform: Affine, crs: Any) -> nx.MultiGraph:
    """A copy of a pixel-coordinate network mapped through a raster's grid into its CRS.

    Node ``x``/``y`` and edge geometries go from (col, row) to the CRS; ``length_m`` is the
    true length of the mapped geometry in metres.
    """
    out = G.copy()
    crs_wkt = crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs)
    for _, d in out.nodes(data=True):
        d["x"], d["y"] = transform * (d["x"], d["y"])

    def to_crs(xy: np.ndarray) -> np.ndarray:
        xs, ys = transform * (xy[:, 0], xy[:, 1])
        return np.column_stack([xs, ys])

    for _, _, d in out.edges(data=True):
        d["geometry"] = shapely.transform(d["geometry"], to_crs)
        d["length_m"] = line_length_m(list(d["geometry"].coords), crs_wkt)
    out.graph.update(crs=crs_wkt, units="m", transform=tuple(transform)[:6])
    return out


def _in_crs(G: nx.MultiGraph, path: Path, image: Path | None) -> nx.MultiGraph:
    """``G`` itself when it has a CRS, else georeferenced through ``image``'s grid."""
    if G.graph.get("crs") is not None:
        return G
    if image is None:
        raise file_error(path, "network in pixel coordinates: give --image to georeference it")
    with open_raster(image) as ds:
        if ds.crs is None:
            raise file_error(image, "image has no CRS: cannot georeference the network")
        return georeference(G, ds.transform, ds.crs)


def score_networks(
    truth: nx.MultiGraph,
    pred: nx.MultiGraph,
    params: AplsParams,
    topo_params: TopoParams | None = DEFAULT_TOPO,
    seed: int = 0,
) -> tuple[AplsResult, TopoResult | None]:
    """APLS (and TOPO unless ``topo_params`` is None) of ``pred`` against ``truth``."""
    a = apls(truth, pred, params, seed=seed)
    t = None if topo_params is None else topo(truth, pred, topo_params, seed=seed)
    return a, t


def _pairs_from_csv(csv: Path, truth: Path) -> tuple[list[tuple[Match, nx.MultiGraph]], list]:
    """Each image of a SpaceNet CSV with the truth file of its id."""
    graphs = read_spacenet_csv(csv)
    files = sorted(truth.iterdir()) if truth.is_dir() else [truth]
    by_id = {image_id(f): f for f in files if f.suffix.lower() in (".geojson", ".json", ".gpkg")}
    out, missing = [], []
    for ident, G in graphs.items():
        key = image_id(ident)
        if key in by_id:
            out.append((Match(key, csv, by_id[key]), G))
        else:
            missing.append(ident)
    if not out:
        raise file_error(csv, f"no ImageId matches a truth file in {truth}")
    return out, missing


def evaluate_networks(
    pred: PathLike,
    truth: PathLike,
    out_json: PathLike | None = None,
    params: AplsParams | str = "spacenet3",
    topo_params: TopoParams | None = DEFAULT_TOPO,
    image: PathLike | None = None,
    plots_dir: PathLike | None = None,
    seed: int = 0,
) -> NetworkReport:
    """Score predicted road networks against truth networks or centerlines.

    Args:
        pred: a network file, a folder of them, or a SpaceNet CSV of many images.
        truth: centerline GeoJSON / network file, or a folder of them.
        out_json: write the JSON report there, and a CSV (one row per image) beside it.
        params: an APLS preset name (``"spacenet3"``, ``"apls_head"``) or parameters.
        topo_params: TOPO settings; None skips TOPO.
        image: imagery (file or folder, matched by id) for figures and for georeferencing
            pixel-coordinate networks.
        plots_dir: one figure per image: truth vs predicted network over the image.
        seed: seeds the node sample of large graphs.

    Returns:
        The :class:`NetworkReport`.
    """
    name, prm = resolve_params(params)
    pred_p, truth_p = Path(pred), Path(truth)
    unmatched_t: list[Path] = []
    if pred_p.is_file() and pred_p.suffix.lower() == ".csv" and truth_p.is_dir():
        items, _ = _pairs_from_csv(pred_p, truth_p)
        unmatched_p: list[Path] = []
    else:
        m = match_networks(pred_p, truth_p)
        items = [(pair, None) for pair in m.pairs]
        unmatched_p, unmatched_t = m.unmatched_pred, m.unmatched_truth
    images = match_images(image, [pair for pair, _ in items])
    results = []
    for pair, G in progress(items, desc="networks", unit="image", disable=len(items) < 2):
        img = images.get(pair.ident)
        pred_g = _in_crs(G if G is not None else read_network(pair.pred), pair.pred, img)
        truth_g = _in_crs(read_network(pair.truth), pair.truth, img)
        results.append(_score_one(pair, truth_g, pred_g, prm, topo_params, seed))
        if plots_dir is not None:
            _plot_one(results[-1], truth_g, pred_g, img, Path(plots_dir))
    report = NetworkReport(name, prm, results, unmatched_p, unmatched_t)
    if out_json is not None:
        write_network_report(report, out_json)
    return report


def _score_one(
    pair: Match,
    truth_g: nx.MultiGraph,
    pred_g: nx.MultiGraph,
    params: AplsParams,
    topo_params: TopoParams | None,
    seed: int,
) -> NetworkResult:
    a, t = score_networks(truth_g, pred_g, params, topo_params, seed)
    return NetworkResult(
        pair.ident,
        pair.pred,
        pair.truth,
        a,
        t,
        total_length_m(truth_g),
        total_length_m(pred_g),
        truth_g.number_of_edges(),
        pred_g.number_of_edges(),
    )


def write_network_report(report: NetworkReport, out_json: PathLike) -> tuple[Path, Path]:
    """Write the JSON report and a CSV beside it (``<stem>.csv``), each atomically."""
    import csv

    out = Path(out_json)
    if out.is_dir():
        raise file_error(out, "is a folder; give a file name for the JSON report")
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    csv_out = out.with_suffix(".csv")
    with atomic_output(csv_out) as tmp, tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for r in report.images:
            w.writerow(r.csv_row())
    return out, csv_out


def format_network_table(report: NetworkReport) -> str:
    """A plain-text table: one row per image and the mean."""
    width = max([len("mean"), *(len(r.ident) for r in report.images)])
    head = f"{'image':<{width}}  {'APLS':>6}  {'gt->p':>6}  {'p->gt':>6}  {'TOPO F1':>7}"
    rows = [head]
    for r in report.images:
        tf = "" if r.topo is None else f"{r.topo.f1:.3f}"
        a = r.apls
        rows.append(
            f"{r.ident:<{width}}  {a.apls:6.3f}  {a.gt_onto_prop:6.3f}  "
            f"{a.prop_onto_gt:6.3f}  {tf:>7}"
        )
    if report.images:
        m = report.mean()
        tf = f"{m['topo_f1']:.3f}" if "topo_f1" in m else ""
        rows.append(
            f"{'mean':<{width}}  {m['apls']:6.3f}  {m['apls_gt_onto_prop']:6.3f}  "
            f"{m['apls_prop_onto_gt']:6.3f}  {tf:>7}"
        )
    return "\n".join(rows)


def _plot_one(
    result: NetworkResult,
    truth_g: nx.MultiGraph,
    pred_g: nx.MultiGraph,
    image: Path | None,
    plots_dir: Path,
) -> Path:
    from basiss.viz.networks import network_figure

    out = plots_dir / f"{result.ident}_network.png"
    title = f"{result.ident}: APLS {result.apls.apls:.3f}"
    network_figure(truth_g, pred_g, out, image=image, title=title)
    return out
