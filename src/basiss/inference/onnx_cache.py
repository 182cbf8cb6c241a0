"""The on-disk cache of ONNX exports and int8 models: built once per machine, checked on use.

An entry is two files in the cache folder (:func:`cache_root`):

- ``<name>.onnx``: the model;
- ``<name>.json``: its sidecar: the full key, the model file's size and SHA-256,
  and what the build measured (e.g. an int8 model's error against fp32).

``<name>`` is a digest of the key (:func:`entry_name`). The key holds what makes two
models differ: the checkpoint's SHA-256 (or an in-memory model's digest), chip size,
bands, classes, precision (for int8: the calibration chips' sources and sampling),
and the versions of torch, onnx and onnxruntime. An entry is used only when its
sidecar parses, names exactly this key, and the model file has the recorded size
and SHA-256; anything else (a truncated or foreign file, a sidecar of an older
basiss, a half-copied folder) is rebuilt, never trusted.

Writes are atomic (temporary name in the same folder, then rename; the sidecar
last), and a build holds an exclusive ``flock`` on ``<name>.lock``: several
processes of one machine (Dask workers) needing the same entry build it once, the
others wait and then read it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from basiss.inference.engines import OPSET, Precision, export_onnx, note
from basiss.io.raster import atomic_output, file_sha256
from basiss.training.checkpoint import ModelSpec

#: Environment variable naming the basiss cache folder (the ONNX entries are in ``onnx/``).
CACHE_ENV = "BASISS_CACHE_DIR"
#: Version of the entry layout; a sidecar of another version is rebuilt.
FORMAT = 1


def cache_root() -> Path:
    """The folder of the ONNX cache entries.

    ``$BASISS_CACHE_DIR/onnx`` when set, else ``$XDG_CACHE_HOME/basiss/onnx``, else
    ``~/.cache/basiss/onnx``. Not created here.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser() / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "basiss" / "onnx"


def versions() -> dict[str, str]:
    """The versions of the libraries that write and read an entry (part of every key)."""
    import onnx
    import onnxruntime
    import torch

    return {
        "format": str(FORMAT),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def canonical(obj: Any) -> str:
    """``obj`` as canonical JSON (sorted keys, tuples as lists): equal keys, equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def entry_name(key: dict[str, Any]) -> str:
    """The file stem of the entry of ``key``: 32 hex digits of its canonical SHA-256."""
    return hashlib.sha256(canonical(key).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class CacheEntry:
    """A checked cache entry.

    Attributes:
        path: the ``.onnx`` file.
        info: what its build recorded (the builder's return value).
        built: True when this call built it, False when it was reused.
    """

    path: Path
    info: dict[str, Any]
    built: bool


def read_entry(model: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The recorded info of the entry at ``model`` if it is whole and of ``key``, else None.

    Checks: the sidecar ``model.with_suffix('.json')`` parses, has this :data:`FORMAT`,
    names exactly ``key``; ``model`` has the recorded size and SHA-256.
    """
    try:
        meta = json.loads(model.with_suffix(".json").read_text())
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            return None
        if canonical(meta.get("key")) != canonical(key):
            return None
        if model.stat().st_size != meta.get("size") or file_sha256(model) != meta.get("sha256"):
            return None
    except (OSError, ValueError, TypeError):
        return None
    info = meta.get("info", {})
    return info if isinstance(info, dict) else None


def _write_entry(
    model: Path, key: dict[str, Any], build: Callable[[Path], dict[str, Any] | None]
) -> dict[str, Any]:
    """Build the model into a temporary file beside ``model``, rename it, then write the
    sidecar (atomically, last: a killed build leaves no sidecar, so no valid entry)."""
    with contextlib.suppress(FileNotFoundError):
        model.with_suffix(".json").unlink()
    with atomic_output(model) as tmp:
        info = dict(build(tmp) or {})
        digest, size = file_sha256(tmp), tmp.stat().st_size
    meta = {"format": FORMAT, "key": key, "size": size, "sha256": digest, "info": info}
    with atomic_output(model.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
    return info


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created) for the duration of the block."""
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _usable_root(root: Path | None) -> Path:
    """``root`` (default :func:`cache_root`) created, or a per-user temporary folder when
    that cannot be written (read-only home, container)."""
    first = cache_root() if root is None else Path(root)
    try:
        first.mkdir(parents=True, exist_ok=True)
        if os.access(first, os.W_OK):
            return first
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"basiss-{os.getuid()}" / "onnx"
    fallback.mkdir(parents=True, exist_ok=True)
    note(f"{first}: cannot write the ONNX cache there; using {fallback}")
    return fallback


def cached_model(
    key: dict[str, Any],
    build: Callable[[Path], dict[str, Any] | None],
    root: Path | None = None,
) -> CacheEntry:
    """The cache entry of ``key``: reused when whole and of this key, else built once.

    Args:
        key: what the model depends on (JSON-able); :func:`versions` is added to it.
        build: writes the model to the path it is given and returns facts to record
            (JSON-able, or None); runs only on a miss, under the entry's lock.
        root: the cache folder (default :func:`cache_root`).

    Returns:
        The entry (its file stays in the cache; sessions may read it at any time).
    """
    full = {**key, "versions": versions()}
    folder = _usable_root(root)
    model = folder / f"{entry_name(full)}.onnx"
    info = read_entry(model, full)
    if info is not None:
        return CacheEntry(model, info, built=False)
    with _locked(model.with_suffix(".lock")):
        info = read_entry(model, full)  # another process may have built it meanwhile
        if info is not None:
            return CacheEntry(model, info, built=False)
        return CacheEntry(model, _write_entry(model, full, build), built=True)


def export_key(digest: str, spec: ModelSpec, chip: tuple[int, int]) -> dict[str, Any]:
    """The key of an fp32 export: the weights' digest and what shapes the graph.

    Args:
        digest: SHA-256 of the checkpoint file (or of an in-memory model and its spec).
        spec: the model's spec (architecture, bands, classes).
        chip: ``(slice_x, slice_y)`` of the export.
    """
    return {
        "kind": "export",
        "model": digest,
        "arch": spec.arch,
        "chip": list(chip),
        "in_channels": spec.in_channels,
        "bands": list(spec.bands),
        "n_classes": spec.n_classes,
        "precision": str(Precision.FP32),
        "opset": OPSET,
    }


def cached_export(
    model: nn.Module,
    spec: ModelSpec,
    digest: str,
    chip: tuple[int, int],
    root: Path | None = None,
) -> tuple[CacheEntry, dict[str, Any]]:
    """The fp32 ONNX export of ``model`` at ``chip``, from the cache or exported once.

    Args:
        model: the loaded network.
        spec: its spec.
        digest: the checkpoint's SHA-256 (or :func:`~basiss.inference.predictor.model_digest`).
        chip: ``(slice_x, slice_y)``.
        root: the cache folder (default :func:`cache_root`).

    Returns:
        The entry and its key (an int8 entry's key embeds it).
    """
    key = export_key(digest, spec, chip)

    def build(out: Path) -> dict[str, Any]:
        export_onnx(model, spec.n_classes, spec.in_channels, chip, out)
        return {"arch": spec.arch}

    return cached_model(key, build, root), key


__all__ = [
    "CACHE_ENV",
    "CacheEntry",
    "cache_root",
    "cached_export",
    "cached_model",
    "entry_name",
    "export_key",
    "read_entry",
    "versions",
]
