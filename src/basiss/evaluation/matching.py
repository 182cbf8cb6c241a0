"""Pairing prediction and truth files by image id, only when the pair is sure.

Rules (stated once, here):

* **Image id.** A file's id is its name without extension(s), without a known
  suffix (``_prob``, ``_mask``, ``_pred``, ``_truth``, ``_gt``, ``_sat``,
  ``_label(s)``) and without a known prefix (``RGB-PanSharpen_``,
  ``MUL-PanSharpen_``, ``PAN-PanSharpen_``, ``PS-RGB_``, ``PS-MS_``, ``PAN_``,
  ``MUL_``, ``RGB_``, ``spacenetroads_``, ``satImage_``, ``satimage_``). So
  ``RGB-PanSharpen_AOI_2_Vegas_img123_prob.tif``,
  ``spacenetroads_AOI_2_Vegas_img123.geojson`` and
  ``AOI_2_Vegas_img123_mask.tif`` all have id ``AOI_2_Vegas_img123``. Files
  with equal ids pair up.
* **Scene key.** Files still unpaired then pair on their scene key, the AOI token
  (``AOI_<n>_<City>``, or none) and the last ``img<digits>`` token of the id, when the
  key is equal and unique on both sides: ``SN3_roads_train_AOI_2_Vegas_geojson_roads_img7``
  pairs with ``AOI_2_Vegas_img7``, but ``AOI_2_Vegas_img5`` never pairs with
  ``AOI_3_Paris_img5`` (nor ``img5`` with ``AOI_3_Paris_img5``). A single prediction file
  and a single truth file pair whatever their names, unless their keys conflict (both name
  an AOI, or an image number, and these differ): that is an error.
* **Truth candidates.** A truth folder's GeoJSON files are candidates, and its rasters
  that look like a mask (:mod:`basiss.evaluation.layers`); the other rasters (the
  imagery of the scene, say) are refused and listed with the reason. A truth file given
  alone that does not look like a mask is an error. Two truth candidates for one id
  (a mask and a GeoJSON, say) are an error naming both.
* **Several predictions for one id.** A prediction folder from ``basiss predict`` holds
  ``<stem>_prob.tif`` and ``<stem>_mask.tif``: the probability wins (it allows the
  threshold sweep); any other tie is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from basiss.errors import BasissError, file_error
from basiss.evaluation.layers import truth_raster_problem
from basiss.io.raster import RASTER_SUFFIXES, PathLike

#: Suffixes of centerline truth files.
VECTOR_SUFFIXES = (".geojson", ".json")
#: Suffixes of road-network files (:mod:`basiss.graph` outputs, osmnx GraphML, SpaceNet CSV).
NETWORK_SUFFIXES = (".gpkg", ".graphml", ".csv", *VECTOR_SUFFIXES)
#: Name endings that are not part of an image id.
ID_SUFFIXES = (
    "_prob", "_mask", "_pred", "_truth", "_gt", "_sat", "_labels", "_label", "_graph",
)  # fmt: skip
#: Name beginnings that are not part of an image id (SpaceNet products, CIL images).
ID_PREFIXES = (
    "RGB-PanSharpen_",
    "MUL-PanSharpen_",
    "PAN-PanSharpen_",
    "PS-RGB_",
    "PS-MS_",
    "PAN_",
    "MUL_",
    "RGB_",
    "spacenetroads_",
    "satImage_",
    "satimage_",
)
_IMG_TOKEN = re.compile(r"img\d+")
_AOI_TOKEN = re.compile(r"AOI_\d+_[A-Za-z]+")

Rank = Callable[[Path], int]


def image_id(path: PathLike) -> str:
    """The image id of a file name (see the module docstring for the rule).

    >>> image_id("RGB-PanSharpen_AOI_2_Vegas_img123_prob.tif")
    'AOI_2_Vegas_img123'
    >>> image_id("spacenetroads_AOI_2_Vegas_img123.geojson")
    'AOI_2_Vegas_img123'
    """
    name = Path(path).name
    lower = name.lower()
    for ext in RASTER_SUFFIXES + NETWORK_SUFFIXES:
        if lower.endswith(ext):
            name = name[: -len(ext)]
            break
    changed = True
    while changed:
        changed = False
        for suf in ID_SUFFIXES:
            if name.endswith(suf) and len(name) > len(suf):
                name, changed = name[: -len(suf)], True
        for pre in ID_PREFIXES:
            if name.startswith(pre) and len(name) > len(pre):
                name, changed = name[len(pre) :], True
    return name


def img_token(ident: str) -> str | None:
    """The last ``img<digits>`` token of an id, or None."""
    found = _IMG_TOKEN.findall(ident)
    return found[-1] if found else None


def aoi_token(ident: str) -> str | None:
    """The first ``AOI_<n>_<City>`` token of an id, or None."""
    found = _AOI_TOKEN.search(ident)
    return found.group(0) if found else None


def scene_key(ident: str) -> tuple[str | None, str] | None:
    """``(AOI token or None, img token)`` of an id; None without an ``img<digits>`` token.

    >>> scene_key("SN3_roads_train_AOI_2_Vegas_geojson_roads_img7")
    ('AOI_2_Vegas', 'img7')
    """
    tok = img_token(ident)
    return None if tok is None else (aoi_token(ident), tok)


def keys_conflict(a: str, b: str) -> bool:
    """True when two ids name different scenes: both carry an AOI, or an image number, and
    these differ."""
    pairs = ((aoi_token(a), aoi_token(b)), (img_token(a), img_token(b)))
    return any(x is not None and y is not None and x != y for x, y in pairs)


def is_vector(path: Path) -> bool:
    """True for a centerline GeoJSON (by suffix)."""
    return path.name.lower().endswith(VECTOR_SUFFIXES)


def list_files(path: Path, suffixes: tuple[str, ...], what: str) -> list[Path]:
    """``[path]`` for a file, else the visible files of the folder with one of ``suffixes``.

    Raises:
        BasissError: the path is missing, or the folder holds no such file.
    """
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise file_error(path, "no such file or folder")
    files = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(suffixes)
    )
    if not files:
        raise file_error(path, f"no {what} files ({', '.join(suffixes)}) in this folder")
    return files


def _pick(ident: str, cands: list[Path], rank: Rank, what: str) -> Path:
    """One file per id: the best ``rank`` wins; a tie is an error."""
    if len(cands) == 1:
        return cands[0]
    ranked = sorted(cands, key=rank)
    if rank(ranked[0]) == rank(ranked[1]):
        names = ", ".join(p.name for p in cands)
        raise file_error(ranked[0].parent, f"several {what} files for image id {ident}: {names}")
    return ranked[0]


def _pred_rank(p: Path) -> int:
    stem = p.name.rsplit(".", 1)[0]
    return 0 if stem.endswith("_prob") else 2 if stem.endswith("_mask") else 1


def _truth_rank(p: Path) -> int:
    return 0  # every truth candidate ranks the same: two for one id are an error


def _by_id(files: list[Path], rank: Rank, what: str) -> dict[str, Path]:
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(image_id(f), []).append(f)
    return {k: _pick(k, v, rank, what) for k, v in groups.items()}


@dataclass(frozen=True)
class Match:
    """A prediction file matched to its truth file by their shared image id."""

    ident: str
    pred: Path
    truth: Path


@dataclass(frozen=True)
class Refusal:
    """A truth-folder file that is no truth candidate, and why (``reason``)."""

    path: Path
    reason: str

    def to_json(self) -> dict[str, str]:
        """The report's entry: ``{"path", "reason"}``."""
        return {"path": str(self.path), "reason": self.reason}


@dataclass(frozen=True)
class Matching:
    """The outcome of :func:`match_files`.

    Attributes:
        pairs: the matched files, sorted by id.
        unmatched_pred: prediction files without a truth.
        unmatched_truth: truth files without a prediction.
        refused: truth-folder rasters that do not look like a mask, with the reason.
    """

    pairs: list[Match]
    unmatched_pred: list[Path]
    unmatched_truth: list[Path]
    refused: list[Refusal] = field(default_factory=list)


def _by_key(idents: Sequence[str]) -> dict[tuple[str | None, str], list[str]]:
    out: dict[tuple[str | None, str], list[str]] = {}
    for k in idents:
        if (key := scene_key(k)) is not None:
            out.setdefault(key, []).append(k)
    return out


def _truth_candidates(files: list[Path]) -> tuple[list[Path], list[Refusal]]:
    """The GeoJSON files and mask-like rasters of a truth folder; the other rasters refused."""
    keep: list[Path] = []
    refused: list[Refusal] = []
    for f in files:
        problem = None if is_vector(f) else truth_raster_problem(f)
        if problem is None:
            keep.append(f)
        else:
            refused.append(Refusal(f, f"not a truth mask: {problem}"))
    return keep, refused


def _single_pair(pred: Path, truth: Path) -> Matching:
    """The pair of one prediction file and one truth file (refused when they conflict)."""
    if not is_vector(truth) and (problem := truth_raster_problem(truth)) is not None:
        raise file_error(truth, f"not a truth mask: {problem}")
    ip, it = image_id(pred), image_id(truth)
    if keys_conflict(ip, it):
        raise file_error(pred, f"names image {ip}, but the truth {truth.name} names {it}")
    return Matching([Match(ip, pred, truth)], [], [])


def match_files(pred: PathLike, truth: PathLike) -> Matching:
    """Match prediction rasters and truth files (or folders) by image id.

    Raises:
        BasissError: when a path is missing, a folder holds no usable file, a truth file
            given alone is no mask, two files name different scenes, one id has two truth
            candidates, or no pair matches at all (the message lists the unmatched files).
    """
    pred_p, truth_p = Path(pred), Path(truth)
    preds = list_files(pred_p, RASTER_SUFFIXES, "prediction raster")
    truths = list_files(truth_p, RASTER_SUFFIXES + VECTOR_SUFFIXES, "truth")
    if pred_p.is_file() and truth_p.is_file():
        return _single_pair(pred_p, truth_p)
    truths, refused = _truth_candidates(truths)
    return _match_by_id(preds, truths, _pred_rank, refused)


def is_network_file(path: Path) -> bool:
    """True for a road-network file: ``*_graph.<ext>`` from :mod:`basiss.graph`, any
    GeoPackage or GraphML, or a SpaceNet CSV (a plain GeoJSON is centerlines, not a
    prediction, unless named ``*_graph.geojson``)."""
    name = path.name.lower()
    if name.endswith((".gpkg", ".graphml", ".csv")):
        return True
    return name.endswith(VECTOR_SUFFIXES) and path.name.rsplit(".", 1)[0].endswith("_graph")


def prediction_kinds(pred: PathLike) -> tuple[bool, bool]:
    """``(has rasters, has networks)`` of a prediction file or folder.

    A folder from ``basiss predict --graph`` holds both: its rasters are scored per pixel
    and its networks with APLS.
    """
    p = Path(pred)
    files = [p] if p.is_file() else sorted(p.iterdir()) if p.is_dir() else []
    visible = [f for f in files if f.is_file() and not f.name.startswith(".")]
    rasters = any(f.name.lower().endswith(RASTER_SUFFIXES) for f in visible)
    return rasters, any(is_network_file(f) for f in visible)


def _network_rank(p: Path) -> int:
    order = (".gpkg", ".graphml", ".geojson", ".json", ".csv")
    return order.index(p.suffix.lower()) if p.suffix.lower() in order else len(order)


def match_networks(pred: PathLike, truth: PathLike) -> Matching:
    """Match predicted road networks with truth centerlines (or networks) by image id.

    A prediction folder may hold one network in several formats (``<stem>_graph.gpkg``,
    ``.graphml``, ``.geojson``, ``.csv``, as :func:`basiss.graph.write.write_network`
    writes them): the GeoPackage wins, then GraphML, GeoJSON, CSV. The truth side holds
    GeoJSON centerlines or network files. The id rules are those of :func:`match_files`.

    Raises:
        BasissError: as :func:`match_files`.
    """
    pred_p, truth_p = Path(pred), Path(truth)
    preds = list_files(pred_p, NETWORK_SUFFIXES, "road network")
    if any(is_network_file(f) for f in preds):  # basiss outputs: leave other files alone
        preds = [f for f in preds if is_network_file(f)]
    truths = list_files(truth_p, NETWORK_SUFFIXES, "truth network")
    if pred_p.is_file() and truth_p.is_file():
        ip, it = image_id(pred_p), image_id(truth_p)
        if keys_conflict(ip, it):
            raise file_error(pred_p, f"names image {ip}, but the truth {truth_p.name} names {it}")
        return Matching([Match(ip, pred_p, truth_p)], [], [])
    return _match_by_id(preds, truths, _network_rank, [])


def _match_by_id(
    preds: list[Path], truths: list[Path], pred_rank: Rank, refused: list[Refusal]
) -> Matching:
    """Pair by equal image id, then by equal and unique scene key (module docstring)."""
    pmap = _by_id(preds, pred_rank, "prediction")
    tmap = _by_id(truths, _truth_rank, "truth")
    pairs = [Match(k, pmap[k], tmap[k]) for k in sorted(pmap.keys() & tmap.keys())]
    rest_p = {k: v for k, v in pmap.items() if k not in tmap}
    rest_t = {k: v for k, v in tmap.items() if k not in pmap}
    key_p, key_t = _by_key(list(rest_p)), _by_key(list(rest_t))
    for key in sorted(key_p.keys() & key_t.keys(), key=str):
        if len(key_p[key]) == 1 and len(key_t[key]) == 1:
            kp, kt = key_p[key][0], key_t[key][0]
            pairs.append(Match(kp, rest_p.pop(kp), rest_t.pop(kt)))
    pairs.sort(key=lambda p: p.ident)
    unmatched_p, unmatched_t = sorted(rest_p.values()), sorted(rest_t.values())
    if not pairs:
        why = "; ".join(f"{r.path.name} {r.reason}" for r in refused[:3])
        raise BasissError(
            f"no prediction matches a truth by image id: predictions {_names(unmatched_p)}; "
            f"truths {_names(unmatched_t)}" + (f"; refused: {why}" if why else "")
        )
    return Matching(pairs, unmatched_p, unmatched_t, refused)


def _names(paths: Sequence[Path], limit: int = 5) -> str:
    shown = [f"{p.name} (id {image_id(p)})" for p in paths[:limit]]
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(shown) + more if shown else "none"


def match_images(image: PathLike | None, pairs: list[Match]) -> dict[str, Path]:
    """Imagery for figures and the nodata mask, by image id (a single file fits a single pair)."""
    if image is None:
        return {}
    ip = Path(image)
    if ip.is_file() and len(pairs) == 1:
        if keys_conflict(image_id(ip), pairs[0].ident):
            raise file_error(ip, f"names image {image_id(ip)}, the prediction {pairs[0].ident}")
        return {pairs[0].ident: ip}
    files = list_files(ip, RASTER_SUFFIXES, "image")
    by_id = {image_id(f): f for f in files}
    by_key = {key: [by_id[k] for k in keys] for key, keys in _by_key(list(by_id)).items()}
    out: dict[str, Path] = {}
    for pair in pairs:
        if pair.ident in by_id:
            out[pair.ident] = by_id[pair.ident]
        elif (key := scene_key(pair.ident)) is not None and len(by_key.get(key, [])) == 1:
            out[pair.ident] = by_key[key][0]
    return out
