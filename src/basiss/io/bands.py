"""Which bands of an image basiss reads: the one band policy for training and prediction.

An RGBA image contributes its RGB bands: a 4th band tagged alpha, or an untagged 4th band
constant at the dtype's maximum (an opaque alpha saved as a plain band). Every other image
contributes all its bands (a varying 4th band such as near infrared is kept). A model's
checkpoint records the bands it was trained on, and prediction reads exactly those.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, Resampling

from basiss.errors import file_error
from basiss.grid import decimated_shape


def opaque_fourth_band(ds: rasterio.io.DatasetReader, max_pixels: int = 250_000) -> bool:
    """True when ``ds`` has 4 bands and the 4th is the dtype's maximum everywhere.

    The band is read decimated to about ``max_pixels`` pixels.
    """
    if ds.count != 4 or ds.dtypes[3] not in ("uint8", "uint16"):
        return False
    top = np.iinfo(ds.dtypes[3]).max
    shape = decimated_shape(ds.height, ds.width, max_pixels)
    band = ds.read(4, out_shape=shape, resampling=Resampling.nearest)
    return bool((band == top).all())


def default_bands(ds: rasterio.io.DatasetReader) -> list[int]:
    """The 1-based bands an image contributes by default (RGBA -> RGB, else all)."""
    if ds.count == 4 and (ds.colorinterp[3] == ColorInterp.alpha or opaque_fourth_band(ds)):
        return [1, 2, 3]
    return list(range(1, ds.count + 1))


def image_bands(ds: rasterio.io.DatasetReader, n_bands: int | None = None) -> list[int]:
    """The 1-based bands an image contributes to training.

    By default :func:`default_bands`. ``n_bands`` asks for the first ``n_bands`` bands
    explicitly: ``n_bands=4`` keeps a 4th band whatever its tag (GDAL tags the 4th band of
    any 4-band uint8 GeoTIFF as alpha unless told otherwise, NIR included).
    """
    bands = default_bands(ds)
    if n_bands is not None and len(bands) < n_bands <= ds.count:
        bands = list(range(1, n_bands + 1))
    return bands if n_bands is None else bands[:n_bands]


def model_bands(
    ds: rasterio.io.DatasetReader,
    bands: Sequence[int],
    in_channels: int,
    path: str | os.PathLike[str],
) -> list[int]:
    """The bands to read from ``ds`` for a model; a mismatch is a one-line error.

    A model whose ``bands`` are ``1..in_channels`` (all bands of its training images)
    needs an image with exactly that many bands (an alpha 4th band is ignored; a model
    trained on 4 bands reads all 4, since GDAL tags NIR as alpha too); an explicit band
    selection needs those bands to exist.
    """
    wanted = list(bands)
    if wanted == list(range(1, in_channels + 1)):
        have = len(default_bands(ds))
        if have != in_channels and ds.count != in_channels:
            raise file_error(path, f"has {have} band(s), the model takes {in_channels}")
    elif max(wanted) > ds.count:
        raise file_error(path, f"has {ds.count} band(s), the model reads bands {wanted}")
    return wanted
