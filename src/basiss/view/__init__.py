"""The map page over basiss outputs: `basiss view`.

:func:`~basiss.view.scenes.find_scenes` finds the scenes in the user's paths,
:func:`~basiss.view.page.load` opens their rasters and vectors once,
:class:`~basiss.view.server.ViewServer` serves the page with tiles cut on demand
(rio-tiler) on loopback, and :func:`~basiss.view.export.export_view` writes a static folder
that opens from disk. The map library (Leaflet 1.9.4, BSD-2-Clause, ``static/leaflet/``
with its LICENSE) ships with the package: nothing is fetched at run time unless the user
turns on the online basemap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Scene": "basiss.view.scenes",
    "ViewInputs": "basiss.view.scenes",
    "find_scenes": "basiss.view.scenes",
    "PageData": "basiss.view.page",
    "load": "basiss.view.page",
    "ViewServer": "basiss.view.server",
    "export_view": "basiss.view.export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
