"""Road networks from road masks: skeleton -> graph, streamed by row bands, cleaned in metres.

The network contract, shared by extraction, the vector writers and APLS:

* A network is a :class:`networkx.MultiGraph` (two roads may join the same pair of
  junctions). ``G.graph["crs"]`` is the CRS as WKT (``None`` for a raster without one,
  whose coordinates are then pixels); ``G.graph["units"]`` is ``"m"`` or ``"px"``;
  ``G.graph["transform"]``, when known, is the raster's affine transform as the six
  numbers ``(a, b, c, d, e, f)`` of :class:`rasterio.Affine` (pixel -> CRS), and
  ``G.graph["image_id"]`` the image's name (its file stem).
* Nodes (junctions and dead ends) have integer ids, stable for a given input: ``x`` and
  ``y`` are coordinates in the raster's CRS; ``kind`` is ``"junction"`` (degree >= 3),
  ``"end"`` (degree 1) or ``"node"``.
* Edges (``u``, ``v``, ``key``) carry ``geometry``: a :class:`shapely.LineString` in the
  raster's CRS that runs from node ``u`` to node ``v``; ``length_m``: its true length in
  metres (geodesic on a geographic CRS); and, when extracted from a raster,
  ``prob_mean`` (mean road probability 0..1 along it) and ``width_m`` (estimated width).
"""

from __future__ import annotations

from basiss.lazy import lazy_exports

#: Public names -> the module that defines them (imported on first use, so reading or
#: writing a network never loads scikit-image).
_EXPORTS = {
    "GraphOptions": "basiss.graph.options",
    "extract_network": "basiss.graph.extract",
    "network_from_array": "basiss.graph.extract",
    "GraphWarning": "basiss.graph.extract",
    "graph_image": "basiss.graph.run",
    "graph_many": "basiss.graph.run",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
