"""The embedded sample: a synthetic dataset shaped exactly like SpaceNet 3 roads.

``write_sample(out_dir)`` writes, deterministically from a seed::

    OUT/AOI_9_Sample_Train/RGB-PanSharpen/RGB-PanSharpen_AOI_9_Sample_img{N}.tif   3 x uint16
    OUT/AOI_9_Sample_Train/MUL-PanSharpen/MUL-PanSharpen_AOI_9_Sample_img{N}.tif   8 x uint16
    OUT/AOI_9_Sample_Train/geojson/spacenetroads/spacenetroads_AOI_9_Sample_img{N}.geojson
    OUT/AOI_9_Sample_Test/...                                      (same layout, other ids)
    OUT/broad_area/RGB-PanSharpen_AOI_9_Sample_broad.tif           local UTM, 0.3 m
    OUT/broad_area/spacenetroads_AOI_9_Sample_broad.geojson        EPSG:4326 centerlines

Chips are tiles of one synthetic suburb near Plano, Texas (UTM zone 14N), on a
2.7e-6 degree grid in EPSG:4326 as SpaceNet 3 ships them; the broad scene is a
second, separate suburb nearby in EPSG:32614 at 0.3 m. Values are 11-bit
(1..2047, 0 = nodata); the 8 MUL bands follow WorldView-3 (coastal, blue,
green, yellow, red, red edge, NIR1, NIR2) and RGB is (red, green, blue) of them.

How it is made: a road network is drawn as vector geometry in metres
(arterial grid, residential grids, curved streets, loops, cul-de-sacs, a
diagonal, dirt tracks), then houses with driveways and pools, commercial
plots with parking lots, trees, cars and shadows are placed around it with
shapely. Every object becomes a polygon with a material (a reflectance
spectrum); each image window is made by one ``rasterio.features.rasterize``
of the polygons in paint order, a spectrum look-up, smooth value-noise
textures, a small blur and sensor noise, all vectorised numpy. Labels are the
same centerlines that were buffered to paint the roads (painted width from
the lane count, :func:`road_width_m`), clipped to each image's valid footprint.

Modules, in the order the data flows: :mod:`.layout` (names and grids), :mod:`.network`
(roads), :mod:`.scene` with :mod:`.houses`, :mod:`.details`, :mod:`.trees` (what is built
around them, as :mod:`.painter` layers of :mod:`.materials`), :mod:`.render` (pixels),
:mod:`.labels` (GeoJSON) and :mod:`.write` (the files). The preview figure is
:func:`basiss.viz.sample.write_preview`.
"""

from basiss.synthetic.labels import ROAD_PROPERTIES
from basiss.synthetic.layout import (
    AOI,
    BROAD_ORIGIN,
    CHIPS_ORIGIN,
    DEG_PER_PX,
    GSD_M,
    MAX_DN,
    MUL_BANDS,
    PLACE,
    RGB_FROM_MUL,
    UTM_EPSG,
    SampleLayout,
    image_ids,
    labels_path,
    mul_path,
    rgb_path,
)
from basiss.synthetic.network import LANE_M, SHOULDER_M, road_width_m
from basiss.synthetic.write import write_sample

__all__ = [
    "AOI",
    "BROAD_ORIGIN",
    "CHIPS_ORIGIN",
    "DEG_PER_PX",
    "GSD_M",
    "LANE_M",
    "MAX_DN",
    "MUL_BANDS",
    "PLACE",
    "RGB_FROM_MUL",
    "ROAD_PROPERTIES",
    "SHOULDER_M",
    "UTM_EPSG",
    "SampleLayout",
    "image_ids",
    "labels_path",
    "mul_path",
    "rgb_path",
    "road_width_m",
    "write_sample",
]
