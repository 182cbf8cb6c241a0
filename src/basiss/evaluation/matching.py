"""Pairing prediction and truth files by image id.

Rules (stated once, here):

* **Image id.** A file's id is its name without extension(s), without a known
  suffix (``_prob``, ``_mask``, ``_pred``, ``_truth``, ``_gt``, ``_sat``,
  ``_label(s)``) and without a known prefix (``RGB-PanSharpen_``,
  ``MUL-PanSharpen_``, ``PAN-PanSharpen_``, ``PS-RGB_``, ``PS-MS_``, ``PAN_``,
  ``MUL_``, ``RGB_``, ``spacenetroads_``, ``satImage_``, ``satimage_``). So
  ``RGB-PanSharpen_AOI_2_Vegas_img123_prob.tif``,
  ``spacenetroads_AOI_2_Vegas_img123.geojson`` and
  ``AOI_2_Vegas_img123_mask.tif`` all have id ``AOI_2_Vegas_img123``. Files
  with equal ids pair up; files still unpaired then pair on their trailing
  ``img<digits>`` token when it is unique on both sides. A single prediction
  file and a single truth file always pair, whatever their names.
* **Several candidates for one id.** A prediction folder from ``basiss
  predict`` holds ``<stem>_prob.tif`` and ``<stem>_mask.tif``: the probability
  wins (it allows the threshold sweep); a truth raster wins over a GeoJSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from basiss.errors import BasissError, file_error
from basiss.io.raster import RASTER_SUFFIXES, PathLike

#: Suffixes of centerline truth files.
VECTOR_SUFFIXES = (".geojson", ".json")
#: Name endings that are not part of an image id.
ID_SUFFIXES = ("_prob", "_mask", "_pred", "_truth", "_gt", "_sat", "_labels", "_label")
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
    for ext in RASTER_SUFFIXES + VECTOR_SUFFIXES:
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
    return 1 if is_vector(p) else 0


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
class Matching:
    """The outcome of :func:`match_files`.

    Attributes:
        pairs: the matched files, sorted by id.
        unmatched_pred: prediction files without a truth.
        unmatched_truth: truth files without a prediction.
    """

    pairs: list[Match]
    unmatched_pred: list[Path]
    unmatched_truth: list[Path]


def _by_token(keys: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k in keys:
        if (tok := img_token(k)) is not None:
            out.setdefault(tok, []).append(k)
    return out


def match_files(pred: PathLike, truth: PathLike) -> Matching:
    """Match prediction and truth files (or folders) by image id.

    Raises:
        BasissError: when a path is missing, a folder holds no usable file, or
            no pair matches at all (the message lists the unmatched files).
    """
    pred_p, truth_p = Path(pred), Path(truth)
    preds = list_files(pred_p, RASTER_SUFFIXES, "prediction raster")
    truths = list_files(truth_p, RASTER_SUFFIXES + VECTOR_SUFFIXES, "truth")
    if pred_p.is_file() and truth_p.is_file():
        return Matching([Match(image_id(pred_p), pred_p, truth_p)], [], [])
    pmap = _by_id(preds, _pred_rank, "prediction")
    tmap = _by_id(truths, _truth_rank, "truth")
    pairs = [Match(k, pmap[k], tmap[k]) for k in sorted(pmap.keys() & tmap.keys())]
    rest_p = {k: v for k, v in pmap.items() if k not in tmap}
    rest_t = {k: v for k, v in tmap.items() if k not in pmap}
    # second chance: a unique trailing img<digits> token on both sides
    tok_p, tok_t = _by_token(list(rest_p)), _by_token(list(rest_t))
    for tok in sorted(tok_p.keys() & tok_t.keys()):
        if len(tok_p[tok]) == 1 and len(tok_t[tok]) == 1:
            kp, kt = tok_p[tok][0], tok_t[tok][0]
            pairs.append(Match(kp, rest_p.pop(kp), rest_t.pop(kt)))
    pairs.sort(key=lambda p: p.ident)
    unmatched_p, unmatched_t = sorted(rest_p.values()), sorted(rest_t.values())
    if not pairs:
        raise BasissError(
            f"no prediction matches a truth by image id: predictions {_names(unmatched_p)}; "
            f"truths {_names(unmatched_t)}"
        )
    return Matching(pairs, unmatched_p, unmatched_t)


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
        return {pairs[0].ident: ip}
    files = list_files(ip, RASTER_SUFFIXES, "image")
    by_id = {image_id(f): f for f in files}
    by_tok = {tok: [by_id[k] for k in keys] for tok, keys in _by_token(list(by_id)).items()}
    out: dict[str, Path] = {}
    for pair in pairs:
        if pair.ident in by_id:
            out[pair.ident] = by_id[pair.ident]
        elif (tok := img_token(pair.ident)) is not None and len(by_tok.get(tok, [])) == 1:
            out[pair.ident] = by_tok[tok][0]
    return out
