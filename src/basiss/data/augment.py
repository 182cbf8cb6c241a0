"""Training augmentation: pure functions on numpy chips, every draw from a seeded Generator.

Imagery from another source differs in brightness, contrast, tone curve,
colour balance, sharpness, sensor noise and ground sample distance. The
transforms here imitate those differences so that a model trained on one
source transfers to others:

- geometric (image and mask together): flips, 90-degree rotations, and
  rotation by any angle and scale jitter (the dataset reads a window large
  enough to hold the turned, zoomed chip and resamples it: :func:`resize_pair`
  and :func:`warp_pair`; bilinear image, nearest mask). Road grids of one city
  run mostly along the image axes; without free rotation a net learns that,
  and misses the diagonal roads of the next city;
- photometric (image only): gain, brightness, contrast, gamma, per-band gain
  (white balance), saturation, hue rotation, Gaussian blur and sensor noise.

Images are channels-first ``(bands, rows, cols)`` on the 0..255 scale, masks
``(rows, cols)``. Pixels that are zero in every band (nodata) stay zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import gaussian_filter1d, map_coordinates

from basiss.errors import BasissError


@dataclass(frozen=True)
class Augment:
    """Augmentation switches and ranges; zero (or ``(1, 1)``) switches a transform off.

    ``Augment()`` is the mild set (flips, rotations, brightness/contrast);
    :meth:`sources` is the set that imitates other sources (training's default).

    Attributes:
        flips: random horizontal flip (with rotations: all 8 symmetries).
        rotate90: random multiple of 90 degrees (square chips only).
        brightness: max additive shift, as a fraction of 255.
        contrast: max relative contrast change around the chip mean.
        gain: multiplicative brightness range (low, high), drawn log-uniform
            (another source may be twice as bright).
        gamma: tone curve ``255 * (x / 255) ** g`` with ``g`` log-uniform in
            ``[1 / (1 + gamma), 1 + gamma]``.
        band_gain: max relative gain per band (colour balance).
        saturation: max relative change of the distance from grey (RGB).
        hue: max hue rotation, in turns (0.05 = 18 degrees) (RGB).
        blur: max Gaussian sigma in pixels (sharpness, resampling).
        noise: max std of additive Gaussian noise, on the 0..255 scale.
        scale: zoom range (low, high), drawn log-uniform; > 1 magnifies.
        rotate: max rotation by any angle, in degrees (uniform in
            ``[-rotate, rotate]``); with ``rotate90`` 45 already covers every
            direction.
        p: probability of each photometric transform other than
            brightness/contrast (those are always drawn), of scale jitter and
            of free rotation.
    """

    flips: bool = True
    rotate90: bool = True
    brightness: float = 0.1
    contrast: float = 0.2
    gain: tuple[float, float] = (1.0, 1.0)
    gamma: float = 0.0
    band_gain: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    rotate: float = 0.0
    p: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.gain[0] <= self.gain[1]:
            raise BasissError(f"gain range must be 0 < low <= high, got {self.gain}")
        if not 0 < self.scale[0] <= self.scale[1]:
            raise BasissError(f"scale range must be 0 < low <= high, got {self.scale}")
        if not 0.0 <= self.rotate <= 180.0:
            raise BasissError(f"rotate must be in [0, 180] degrees, got {self.rotate}")
        if not 0.0 <= self.p <= 1.0:
            raise BasissError(f"p must be in [0, 1], got {self.p}")

    @classmethod
    def sources(
        cls,
        photometric: bool = True,
        scale: tuple[float, float] = (0.7, 1.4),
        rotate: float = 45.0,
    ) -> Augment:
        """Training's default: imitate other sources.

        Gain 0.5-2x, contrast +-30%, gamma 0.67-1.5, band gain +-10%,
        saturation +-30%, hue +-0.03 turn, blur sigma <= 1.2 px, noise std
        <= 8, zoom 0.7-1.4x and rotation by up to +-45 degrees; each
        photometric transform, the zoom and the rotation with probability 0.5.
        ``photometric=False`` keeps only the geometric part (and the mild
        brightness/contrast of :class:`Augment`).
        """
        if not photometric:
            return cls(scale=scale, rotate=rotate)
        return cls(
            brightness=0.1,
            contrast=0.3,
            gain=(0.5, 2.0),
            gamma=0.5,
            band_gain=0.1,
            saturation=0.3,
            hue=0.03,
            blur=1.2,
            noise=8.0,
            scale=scale,
            rotate=rotate,
        )

    def without_photometric(self) -> Augment:
        """The same geometry with every photometric transform off."""
        return replace(
            self,
            brightness=0.0,
            contrast=0.0,
            gain=(1.0, 1.0),
            gamma=0.0,
            band_gain=0.0,
            saturation=0.0,
            hue=0.0,
            blur=0.0,
            noise=0.0,
        )

    @property
    def scales(self) -> bool:
        """True when scale jitter is on."""
        return self.scale != (1.0, 1.0)


# --------------------------------------------------------------------------- geometry


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A value in ``[low, high]`` whose logarithm is uniform (so x and 1/x are alike)."""
    if low == high:
        return float(low)
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def draw_scale(rng: np.random.Generator, aug: Augment) -> float:
    """The zoom of one sample: 1 with probability ``1 - p``, else log-uniform in ``aug.scale``."""
    if not aug.scales or rng.random() >= aug.p:
        return 1.0
    return log_uniform(rng, *aug.scale)


def draw_angle(rng: np.random.Generator, aug: Augment) -> float:
    """The free rotation of one sample, in degrees: 0 with probability ``1 - p``.

    Nothing is drawn when rotation is off, so the other draws of a sample are
    the same as without this transform.
    """
    if aug.rotate <= 0:
        return 0.0
    on = rng.random() < aug.p
    angle = float(rng.uniform(-aug.rotate, aug.rotate))
    return angle if on else 0.0


def window_size(size: tuple[int, int], scale: float, angle: float) -> tuple[int, int]:
    """Size ``(cols, rows)`` of the source window that holds a chip of ``size``
    turned by ``angle`` degrees and zoomed by ``scale``.

    Without rotation this is ``size / scale`` rounded (what :func:`resize_pair`
    resamples); with rotation the bounding box of the turned chip, rounded up.
    """
    sx, sy = size
    if angle == 0.0:
        return max(1, int(round(sx / scale))), max(1, int(round(sy / scale)))
    c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    w = math.ceil((sx * c + sy * s) / scale - 1e-9)
    h = math.ceil((sx * s + sy * c) / scale - 1e-9)
    return max(1, w), max(1, h)


def warp_pair(
    image: np.ndarray,
    mask: np.ndarray,
    size: tuple[int, int],
    scale: float,
    angle: float,
    fill: int = 255,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn and zoom a window about its centre and cut a chip of ``size = (cols, rows)``.

    Output pixel centre ``d`` (relative to the chip centre) samples the window
    at ``centre + R(angle) d / scale``: bilinear for the image (float32),
    nearest for the mask and for validity, so a road stays under its label and
    nodata (all-zero) pixels stay zero. Output pixels whose source lies outside
    the window get image 0 and mask ``fill`` (ignored by the losses). With
    ``angle == 0`` this is :func:`resize_pair`.
    """
    if angle == 0.0:
        return resize_pair(image, mask, size)
    sx, sy = size
    rows_in, cols_in = image.shape[-2:]
    a = math.radians(angle)
    c, s = math.cos(a) / scale, math.sin(a) / scale
    dx = (np.arange(sx, dtype=np.float64) + 0.5 - sx / 2)[None, :]
    dy = (np.arange(sy, dtype=np.float64) + 0.5 - sy / 2)[:, None]
    xs = cols_in / 2 + c * dx - s * dy - 0.5
    ys = rows_in / 2 + s * dx + c * dy - 0.5
    coords = np.stack([ys, xs])
    out_mask = map_coordinates(mask, coords, order=0, mode="constant", cval=fill)
    valid = map_coordinates(image.any(axis=0).astype(np.uint8), coords, order=0, cval=0) > 0
    img = image.astype(np.float32)
    out = np.stack([map_coordinates(band, coords, order=1, mode="nearest") for band in img]).astype(
        np.float32
    )
    out = np.where(valid, out, np.float32(0.0)).astype(np.float32)
    return out, np.ascontiguousarray(out_mask.astype(mask.dtype))


def _source_coords(n_out: int, n_in: int) -> np.ndarray:
    """Source coordinate of each output pixel centre (pixel centres map onto pixel centres)."""
    return (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5


def resize_pair(
    image: np.ndarray, mask: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Resize an image (bilinear, float32) and its mask (nearest) to ``size = (cols, rows)``.

    Both use the same pixel-centre mapping, so a feature stays under its label.
    Nodata (all-zero) pixels stay zero: an output pixel is nodata where its
    nearest source pixel is.
    """
    sx, sy = size
    rows_in, cols_in = image.shape[-2:]
    yc, xc = _source_coords(sy, rows_in), _source_coords(sx, cols_in)
    # nearest: mask and validity
    yn = np.clip(np.floor(yc + 0.5).astype(np.intp), 0, rows_in - 1)
    xn = np.clip(np.floor(xc + 0.5).astype(np.intp), 0, cols_in - 1)
    out_mask = mask[yn[:, None], xn[None, :]]
    valid = image.any(axis=0)[yn[:, None], xn[None, :]]
    # bilinear: image
    yc = np.clip(yc, 0, rows_in - 1)
    xc = np.clip(xc, 0, cols_in - 1)
    y0 = np.floor(yc).astype(np.intp)
    x0 = np.floor(xc).astype(np.intp)
    y1 = np.minimum(y0 + 1, rows_in - 1)
    x1 = np.minimum(x0 + 1, cols_in - 1)
    wy = (yc - y0).astype(np.float32)[:, None]
    wx = (xc - x0).astype(np.float32)[None, :]
    img = image.astype(np.float32)
    rows = img[:, y0] * (1 - wy) + img[:, y1] * wy  # separable: rows, then columns
    out = rows[:, :, x0] * (1 - wx) + rows[:, :, x1] * wx
    out = np.where(valid, out, np.float32(0.0)).astype(np.float32)
    return out, np.ascontiguousarray(out_mask)


def geometric(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, aug: Augment
) -> tuple[np.ndarray, np.ndarray]:
    """Random rotation by a multiple of 90 degrees (square chips) and horizontal flip."""
    if aug.rotate90 and image.shape[-1] == image.shape[-2]:
        k = int(rng.integers(4))
        if k:
            image = np.rot90(image, k, axes=(-2, -1))
            mask = np.rot90(mask, k, axes=(-2, -1))
    if aug.flips and rng.random() < 0.5:
        image = image[..., ::-1]
        mask = mask[..., ::-1]
    return image, mask


# --------------------------------------------------------------------------- photometry


def hue_matrix(turns: float) -> np.ndarray:
    """3x3 rotation of RGB about the grey axis by ``turns`` of a full circle.

    Grey stays grey and the mean of the three bands is kept: a hue shift.
    """
    a = 2.0 * math.pi * turns
    c, s = math.cos(a), math.sin(a)
    k = 1.0 / 3.0
    r = math.sqrt(k)
    # Rodrigues' rotation about the unit vector (1, 1, 1) / sqrt(3)
    return np.array(
        [
            [c + k * (1 - c), k * (1 - c) - r * s, k * (1 - c) + r * s],
            [k * (1 - c) + r * s, c + k * (1 - c), k * (1 - c) - r * s],
            [k * (1 - c) - r * s, k * (1 - c) + r * s, c + k * (1 - c)],
        ],
        dtype=np.float32,
    )


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each band (separable), edges reflected."""
    if sigma <= 0:
        return x
    y = gaussian_filter1d(x, sigma, axis=-1, mode="reflect", truncate=3.0)
    return gaussian_filter1d(y, sigma, axis=-2, mode="reflect", truncate=3.0)


def photometric(x: np.ndarray, rng: np.random.Generator, aug: Augment) -> np.ndarray:
    """Random photometric changes of a float32 ``(bands, rows, cols)`` image (0..255).

    Order: gain, brightness/contrast, gamma, band gain, saturation, hue, blur,
    noise; clipped to 0..255 at the end. The draws happen whether or not a
    transform applies, so one switch does not change the others' randomness.
    """
    x = x.astype(np.float32, copy=True)
    valid = x.any(axis=0)
    n_bands = x.shape[0]
    on = rng.random(7) < aug.p
    g = log_uniform(rng, *aug.gain)
    c = 1.0 + rng.uniform(-aug.contrast, aug.contrast)
    b = 255.0 * rng.uniform(-aug.brightness, aug.brightness)
    gam = log_uniform(rng, 1.0 / (1.0 + aug.gamma), 1.0 + aug.gamma)
    bg = 1.0 + rng.uniform(-aug.band_gain, aug.band_gain, size=n_bands)
    sat = 1.0 + rng.uniform(-aug.saturation, aug.saturation)
    hue = rng.uniform(-aug.hue, aug.hue)
    sigma = rng.uniform(0.0, aug.blur)
    noise_std = rng.uniform(0.0, aug.noise)
    if on[0] and g != 1.0:
        x *= np.float32(g)
    if aug.brightness > 0 or aug.contrast > 0:
        mean = x.mean(axis=(-2, -1), keepdims=True)
        x = (x - mean) * np.float32(c) + mean + np.float32(b)
    if on[1] and gam != 1.0:
        x = np.float32(255.0) * np.power(
            np.clip(x, 0.0, 255.0) / np.float32(255.0), np.float32(gam)
        )
    if on[2] and aug.band_gain > 0:
        x *= bg.astype(np.float32).reshape(-1, 1, 1)
    if n_bands == 3 and on[3] and aug.saturation > 0:
        grey = x.mean(axis=0, keepdims=True)
        x = grey + (x - grey) * np.float32(sat)
    if n_bands == 3 and on[4] and aug.hue > 0:
        x = np.einsum("ij,jrc->irc", hue_matrix(hue), x).astype(np.float32)
    if on[5] and aug.blur > 0:
        x = blur(x, sigma)
    if on[6] and aug.noise > 0:
        x += rng.standard_normal(size=x.shape, dtype=np.float32) * np.float32(noise_std)
    x = np.clip(x, 0.0, 255.0)
    return np.where(valid, x, np.float32(0.0)).astype(np.float32)


def augment_pair(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, aug: Augment
) -> tuple[np.ndarray, np.ndarray]:
    """Randomly transform a ``(bands, rows, cols)`` image and its ``(rows, cols)`` mask.

    Geometry (rotation by 90 degrees, flip) first, then photometry. Scale
    jitter and free rotation are not done here: they need a larger read, see
    :func:`draw_scale`, :func:`draw_angle`, :func:`window_size` and
    :func:`warp_pair`.

    Returns:
        The image as float32 on the 0..255 scale (clipped) and the mask, both
        contiguous. Zero (nodata) pixels stay zero.
    """
    image, mask = geometric(image, mask, rng, aug)
    x = image.astype(np.float32)
    x = photometric(x, rng, aug)
    return np.ascontiguousarray(x), np.ascontiguousarray(mask)
