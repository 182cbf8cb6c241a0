"""Prediction at the model's ground sample distance (GSD), outputs on the input's grid.

A model learns roads a certain number of pixels wide: one trained at 0.3 m meets 1 m
imagery with roads a third as wide as it knows. When the checkpoint records its training
GSD (:attr:`~basiss.training.checkpoint.ModelSpec.gsd`) and the input's is known (its CRS,
or ``--input-gsd``), :func:`basiss.inference.predict.predict_image` predicts a *virtual*
resampled copy of the input and puts the probability back on the input's exact grid:

1. :func:`write_scaled_vrt` writes a GDAL VRT of the input at the model's GSD (bilinear):
   a few hundred bytes of XML; GDAL resamples each window only when it is read, so the
   streaming prediction of the VRT keeps its memory flat in scene height.
2. the VRT is predicted as any image (into a hidden working folder);
3. :func:`rows_on_grid` reads that prediction back through a second VRT with the input's
   width and height, row band by row band, thresholds it, and masks out the input's
   nodata, for the usual writer to store on the input's grid (same CRS, transform, size).

The scale is a pure function of two GSDs (:func:`scale_factor`); inputs within
:data:`TOLERANCE` of the model's GSD are predicted as they are. A model trained with
``--zoom`` (at a fraction of its images' resolution) is predicted the same way: through
its GSD when both are known, else by its zoom (the input taken to be like its training
images).
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from basiss.errors import BasissError
from basiss.geo import ground_sample_distance
from basiss.inference.blend import threshold_mask
from basiss.inference.stream import Rows
from basiss.io.raster import dataset_nodata, read_window, valid_pixels

#: GSD choices of ``basiss predict --gsd``.
GSD_MODES = ("auto", "off")
#: Relative GSD difference below which an input is predicted as it is: training's zoom
#: augmentation (0.7-1.4x) already covers it, and resampling costs the square of the
#: factor in chips. It also absorbs the anisotropy of degree grids: a SpaceNet chip's
#: 2.7e-6 degree pixel is 0.30 m north-south but 0.24 m east-west at 36 N (GSD 0.276 m),
#: the same imagery as a 0.3 m UTM mosaic.
TOLERANCE = 0.15
#: Output rows resampled per band.
BAND_ROWS = 256


def input_gsd(ds: rasterio.io.DatasetReader, given: float | None) -> float | None:
    """The input's GSD in metres: ``given`` (``--input-gsd``) or its CRS's, else None."""
    if given is not None:
        return float(given)
    return ground_sample_distance(ds.transform, ds.crs, ds.width, ds.height)


def scale_factor(
    model_gsd: float | None, image_gsd: float | None, mode: str = "auto", zoom: float = 1.0
) -> float:
    """How much to enlarge the input so its pixels are the model's size: ``image / model``.

    When either GSD is unknown the input is taken to be at the resolution of the model's
    training images, and the factor is the model's ``zoom`` (the fraction of that
    resolution it learnt at). 1.0 (predict as it is) with ``mode`` ``off``, or when the
    factor is within :data:`TOLERANCE` of 1.

    >>> scale_factor(0.3, 0.6)
    2.0
    >>> scale_factor(0.276, 0.3), scale_factor(None, 0.6), scale_factor(0.3, 0.6, "off")
    (1.0, 1.0, 1.0)
    >>> scale_factor(None, None, zoom=0.5), scale_factor(0.6, 0.3, zoom=0.5)
    (0.5, 0.5)
    """
    if mode not in GSD_MODES:
        raise BasissError(f"unknown --gsd {mode!r}; choose from {', '.join(GSD_MODES)}")
    if mode == "off":
        return 1.0
    f = zoom if model_gsd is None or image_gsd is None else image_gsd / model_gsd
    return 1.0 if abs(f - 1.0) < TOLERANCE else f


def scaled_size(width: int, height: int, factor: float) -> tuple[int, int]:
    """The input's size at ``factor`` (at least one pixel).

    >>> scaled_size(1000, 501, 2.0), scaled_size(1000, 501, 0.3)
    ((2000, 1002), (300, 150))
    """
    return max(1, round(width * factor)), max(1, round(height * factor))


def write_scaled_vrt(
    source: str | os.PathLike[str],
    ds: rasterio.io.DatasetReader,
    size: tuple[int, int],
    out: str | os.PathLike[str],
) -> Path:
    """A VRT of every band of ``source`` (open as ``ds``) resampled bilinearly to ``size``.

    The georeference is the input's, its pixel scaled to the new size (so the VRT covers
    the same ground); nodata values carry over. An ``out`` that already holds the same
    text is left untouched (its time stamp is part of a resumable run's key). Returns
    ``out``.
    """
    w, h = size
    sx, sy = ds.width / w, ds.height / h
    t = ds.transform
    lines = [f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">']
    if ds.crs is not None:
        lines.append(f"  <SRS>{html.escape(ds.crs.to_wkt())}</SRS>")
        gt = (t.c, t.a * sx, t.b * sy, t.f, t.d * sx, t.e * sy)
        lines.append(f"  <GeoTransform>{', '.join(repr(float(v)) for v in gt)}</GeoTransform>")
    src = html.escape(str(Path(source).resolve()))
    for b in range(1, ds.count + 1):
        dtype = _GDAL_TYPES[ds.dtypes[b - 1]]
        lines.append(f'  <VRTRasterBand dataType="{dtype}" band="{b}">')
        nodata = ds.nodatavals[b - 1]
        if nodata is not None:
            lines.append(f"    <NoDataValue>{nodata!r}</NoDataValue>")
        lines += [
            '    <SimpleSource resampling="bilinear">',
            f'      <SourceFilename relativeToVRT="0">{src}</SourceFilename>',
            f"      <SourceBand>{b}</SourceBand>",
            f'      <SrcRect xOff="0" yOff="0" xSize="{ds.width}" ySize="{ds.height}"/>',
            f'      <DstRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>',
            "    </SimpleSource>",
            "  </VRTRasterBand>",
        ]
    lines.append("</VRTDataset>")
    text = "\n".join(lines) + "\n"
    path = Path(out)
    if not (path.is_file() and path.read_text() == text):  # same file, same time stamp
        path.write_text(text)
    return path


_GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "float32": "Float32",
    "float64": "Float64",
}


def rows_on_grid(
    prob_path: str | os.PathLike[str],
    image: rasterio.io.DatasetReader,
    work_dir: str | os.PathLike[str],
    threshold: float,
    band_rows: int = BAND_ROWS,
) -> Iterator[Rows]:
    """The probability at ``prob_path`` (predicted at the model's GSD) resampled onto the
    grid of ``image``, as :class:`~basiss.inference.stream.Rows` bands for the writer.

    Each band is read through a bilinear VRT of the input's size, thresholded again
    (:func:`~basiss.inference.blend.threshold_mask`) and masked where the input is nodata.
    """
    with rasterio.open(prob_path) as prob_ds:
        vrt = write_scaled_vrt(
            prob_path, prob_ds, (image.width, image.height), Path(work_dir) / "on_grid.vrt"
        )
    nodata = dataset_nodata(image)
    bands = list(range(1, image.count + 1))
    with rasterio.open(vrt) as back:
        for row in range(0, image.height, band_rows):
            n = min(band_rows, image.height - row)
            win = Window(0, row, image.width, n)
            prob = back.read(window=win)
            valid = valid_pixels(read_window(image, win, bands), nodata)
            mask = threshold_mask(prob.astype(np.float32) / 255.0, threshold)
            mask[~valid] = 0
            prob[:, ~valid] = 0
            yield Rows(row, prob, mask, valid, 0)
