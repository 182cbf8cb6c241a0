"""CRS math: UTM zones, pixel size in metres, true lengths."""

from __future__ import annotations

import pyproj
import pytest
from rasterio.crs import CRS
from rasterio.transform import from_origin

from basiss.geo import line_length_m, pixel_size_m, utm_crs_for, utm_epsg


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [(-115.2, 36.1, 32611), (2.35, 48.85, 32631), (151.2, -33.9, 32756), (-179.9, 10, 32601)],
)
def test_utm_epsg(lon, lat, epsg):
    assert utm_epsg(lon, lat) == epsg
    bounds = (lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001)
    assert utm_crs_for(bounds, "EPSG:4326").to_epsg() == epsg


def test_utm_zone_wraps_at_the_antimeridian():
    assert utm_epsg(180.0, 1.0) == 32601


def test_utm_crs_for_projected_bounds():
    x0, y0 = 500_000.0, 4_000_000.0
    bounds = (x0, y0 - 60, x0 + 60, y0)
    assert utm_crs_for(bounds, CRS.from_epsg(32611)).to_epsg() == 32611


def test_pixel_size_projected_and_geographic():
    assert pixel_size_m(from_origin(500_000, 4e6, 0.3, 0.3), "EPSG:32611", 100, 100) == (
        pytest.approx(0.3),
        pytest.approx(0.3),
    )
    # 2.7e-6 degrees at 36 N: north-south ~0.2996 m, east-west ~cos(36) of ~0.3006 m
    px, py = pixel_size_m(from_origin(-115.3, 36.2, 2.7e-6, 2.7e-6), "EPSG:4326", 1300, 1300)
    geod = pyproj.Geod(ellps="WGS84")
    lat = 36.2 - 650 * 2.7e-6
    assert py == pytest.approx(geod.inv(-115.3, lat, -115.3, lat + 2.7e-6)[2], rel=1e-6)
    assert px == pytest.approx(0.2436, abs=0.001)
    assert py == pytest.approx(0.2996, abs=0.001)


def test_line_length_metres():
    assert line_length_m([(0, 0), (3, 4), (3, 10)], "EPSG:32611") == pytest.approx(11.0)
    assert line_length_m([(0, 0), (3, 4)], None) == pytest.approx(5.0)
    # a degree of latitude is ~110.95 km at 36 N
    assert line_length_m([(-115.0, 35.5), (-115.0, 36.5)], "EPSG:4326") == pytest.approx(
        110_950, rel=1e-3
    )
    assert line_length_m([(1.0, 1.0)], "EPSG:4326") == 0.0
