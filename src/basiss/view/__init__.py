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

from basiss.lazy import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS)
