"""How each layer looks: colours of roads, truth and footprints, the probability ramp.

One home for the colours, shared by the tile renderer (Python) and the page (sent to it in
the page's configuration), so a test can look for the exact road colour on a screenshot.
"""

from __future__ import annotations

#: RGB of a road pixel of the mask layer (a saturated orange, unlike imagery).
MASK_RGB: tuple[int, int, int] = (255, 64, 0)
#: Stroke colours of the vector layers (CSS hex).
NETWORK_COLOR = "#00e5ff"
TRUTH_COLOR = "#39ff14"
FOOTPRINT_COLOR = "#ffffff"
#: The probability ramp's stops: (value 0..255, RGB); alpha grows with the value.
RAMP_STOPS: tuple[tuple[int, tuple[int, int, int]], ...] = (
    (0, (48, 18, 59)),
    (64, (70, 107, 227)),
    (128, (26, 228, 182)),
    (192, (250, 186, 57)),
    (255, (255, 255, 0)),
)
#: Below this probability (0..255) a pixel is drawn fully transparent.
RAMP_FLOOR = 13


def _lerp(a: int, b: int, t: float) -> int:
    return int(round(a + (b - a) * t))


def ramp_rgb(value: int) -> tuple[int, int, int]:
    """The ramp's colour at ``value`` (0..255), linear between :data:`RAMP_STOPS`."""
    for (v0, c0), (v1, c1) in zip(RAMP_STOPS, RAMP_STOPS[1:], strict=False):
        if v0 <= value <= v1:
            t = (value - v0) / (v1 - v0)
            return (_lerp(c0[0], c1[0], t), _lerp(c0[1], c1[1], t), _lerp(c0[2], c1[2], t))
    return RAMP_STOPS[-1][1]


def probability_colormap() -> dict[int, tuple[int, int, int, int]]:
    """rio-tiler colour map of the probability layer: value -> RGBA.

    Low probabilities fade out (alpha rises from 0 at :data:`RAMP_FLOOR` to 255 at 128), so
    the imagery shows through where the model sees no road.
    """
    cmap = {}
    for v in range(256):
        alpha = 0 if v < RAMP_FLOOR else min(255, int(round(255 * (v - RAMP_FLOOR) / 115)))
        cmap[v] = (*ramp_rgb(v), alpha)
    return cmap


def mask_colormap() -> dict[int, tuple[int, int, int, int]]:
    """rio-tiler colour map of the 0/1 mask: 0 transparent, road :data:`MASK_RGB`."""
    cmap = {v: (0, 0, 0, 0) for v in range(256)}
    for v in range(1, 256):
        cmap[v] = (*MASK_RGB, 255)
    return cmap


def ramp_css() -> str:
    """A CSS ``linear-gradient`` of the ramp, for the page's legend."""
    stops = ", ".join(f"rgb{ramp_rgb(v)} {100 * v / 255:.0f}%" for v, _ in RAMP_STOPS)
    return f"linear-gradient(to right, {stops})"
