"""What the scene is made of and how it is lit: reflectance spectra, materials, the sun.

Spectra are surface reflectances in the 8 WorldView-3 bands (coastal, blue, green,
yellow, red, red edge, NIR1, NIR2). Several palettes hold spectra that look like asphalt
on purpose (dark shingle, dark flat roofs), so a model must learn shape and not colour.
"""

from __future__ import annotations

import math

import numpy as np

# Sun in the south-south-east at 55 degrees elevation (a WorldView morning pass).
_SUN_AZIMUTH = math.radians(150.0)
#: Unit vector (east, north) towards the sun.
SUN_DIR = np.array([math.sin(_SUN_AZIMUTH), math.cos(_SUN_AZIMUTH)])
#: Shadow length per metre of height.
SHADOW_PER_M = 1.0 / math.tan(math.radians(55.0))


def _s(*values: float) -> np.ndarray:
    """An 8-band spectrum (float64) from its values."""
    return np.array(values, dtype=np.float64)


SPECTRA = {
    "lawn": _s(0.040, 0.045, 0.100, 0.076, 0.052, 0.240, 0.440, 0.460),
    "dry": _s(0.075, 0.085, 0.125, 0.145, 0.155, 0.215, 0.290, 0.310),
    "soil": _s(0.100, 0.120, 0.170, 0.215, 0.245, 0.275, 0.300, 0.315),
    "tree": _s(0.028, 0.032, 0.062, 0.046, 0.034, 0.160, 0.340, 0.360),
    "concrete": _s(0.210, 0.245, 0.280, 0.295, 0.305, 0.315, 0.325, 0.335),
    "asphalt": _s(0.094, 0.097, 0.100, 0.098, 0.095, 0.098, 0.102, 0.104),
    "dirt": _s(0.115, 0.135, 0.190, 0.230, 0.260, 0.280, 0.300, 0.310),
    "gravel": _s(0.160, 0.180, 0.205, 0.220, 0.230, 0.240, 0.250, 0.255),
    "paint_white": _s(0.440, 0.480, 0.500, 0.510, 0.510, 0.510, 0.500, 0.500),
    "paint_yellow": _s(0.110, 0.130, 0.290, 0.410, 0.440, 0.450, 0.450, 0.450),
    "water": _s(0.070, 0.085, 0.095, 0.060, 0.035, 0.022, 0.014, 0.012),
    "pool": _s(0.150, 0.195, 0.215, 0.150, 0.095, 0.055, 0.036, 0.032),
}
ROOF_PALETTE = np.array(
    [
        _s(0.085, 0.087, 0.090, 0.092, 0.094, 0.096, 0.099, 0.101),  # dark shingle (road-like)
        _s(0.135, 0.140, 0.145, 0.148, 0.150, 0.152, 0.156, 0.158),  # grey shingle (road-like)
        _s(0.070, 0.078, 0.098, 0.125, 0.155, 0.175, 0.195, 0.205),  # brown shingle
        _s(0.070, 0.080, 0.100, 0.140, 0.200, 0.240, 0.270, 0.280),  # terracotta tiles
        _s(0.150, 0.160, 0.175, 0.190, 0.200, 0.210, 0.220, 0.225),  # weathered wood
        _s(0.250, 0.265, 0.275, 0.280, 0.285, 0.290, 0.295, 0.300),  # light grey
    ]
)
ROOF_WEIGHTS = np.array([0.24, 0.20, 0.22, 0.14, 0.08, 0.12])
FLAT_ROOF_PALETTE = np.array(
    [
        _s(0.480, 0.520, 0.540, 0.550, 0.550, 0.550, 0.540, 0.540),  # white membrane
        _s(0.280, 0.290, 0.300, 0.305, 0.310, 0.315, 0.320, 0.325),  # light grey gravel
        _s(0.090, 0.092, 0.095, 0.097, 0.099, 0.101, 0.104, 0.106),  # dark (road-like)
        _s(0.170, 0.185, 0.210, 0.235, 0.250, 0.260, 0.270, 0.275),  # tan
    ]
)
CAR_PALETTE = np.array(
    [
        _s(0.520, 0.560, 0.580, 0.580, 0.580, 0.580, 0.570, 0.570),  # white
        _s(0.030, 0.031, 0.032, 0.033, 0.034, 0.035, 0.037, 0.038),  # black
        _s(0.280, 0.300, 0.310, 0.315, 0.320, 0.320, 0.320, 0.320),  # silver
        _s(0.050, 0.048, 0.045, 0.090, 0.330, 0.360, 0.380, 0.380),  # red
        _s(0.100, 0.140, 0.090, 0.060, 0.045, 0.055, 0.090, 0.100),  # blue
        _s(0.120, 0.125, 0.130, 0.132, 0.134, 0.136, 0.140, 0.142),  # grey
    ]
)
CAR_WEIGHTS = np.array([0.28, 0.2, 0.22, 0.1, 0.1, 0.1])
# Shade keeps more of the blue sky light than of the direct (redder) sun light.
SHADOW_FACTOR = _s(0.62, 0.58, 0.52, 0.49, 0.47, 0.46, 0.45, 0.45)


class Materials:
    """A growing table of materials: spectrum plus texture parameters.

    ``mix`` is how much the smooth dryness field pulls the material towards dry
    grass (lawns and fields); ``tex_mid``/``tex_fine`` are the amplitudes of
    the ~1.2 m and ~0.6 m brightness textures (large for tree crowns).
    """

    def __init__(self) -> None:
        self.spectra: list[np.ndarray] = []
        self.mix: list[np.ndarray] = []
        self.tex_mid: list[np.ndarray] = []
        self.tex_fine: list[np.ndarray] = []
        self.count = 0

    def add(
        self, spectra: np.ndarray, mix: float = 0.0, tex_mid: float = 0.03, tex_fine: float = 0.02
    ) -> np.ndarray:
        """Append ``(k, 8)`` spectra (or one ``(8,)``); returns their ids."""
        spec = np.atleast_2d(np.asarray(spectra, dtype=np.float64))
        k = spec.shape[0]
        ids = np.arange(self.count, self.count + k)
        self.spectra.append(np.clip(spec, 0.005, 0.95))
        self.mix.append(np.full(k, mix))
        self.tex_mid.append(np.full(k, tex_mid))
        self.tex_fine.append(np.full(k, tex_fine))
        self.count += k
        return ids

    def tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(spectra (n, 8), mix (n,), tex_mid (n,), tex_fine (n,)) as float32."""
        return (
            np.concatenate(self.spectra).astype(np.float32),
            np.concatenate(self.mix).astype(np.float32),
            np.concatenate(self.tex_mid).astype(np.float32),
            np.concatenate(self.tex_fine).astype(np.float32),
        )


def jitter_spectra(rng: np.random.Generator, base: np.ndarray, n: int, bright: float) -> np.ndarray:
    """``n`` copies of ``base`` with a random brightness and a little tint."""
    scale = rng.uniform(1 - bright, 1 + bright, size=(n, 1))
    tint = rng.normal(0, 0.025, size=(n, base.shape[-1]))
    return np.clip(base * scale * (1 + tint), 0.005, 0.95)
