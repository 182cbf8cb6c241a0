"""Broad-area inference, one concept per module.

``options`` (what to do), ``engines`` (torch / ONNX back ends), ``predictor``
(a checkpoint loaded once), ``scene`` (per-image planning), ``reader`` and
``prefetch`` (chips read ahead in a thread), ``blend`` (weights, TTA, pure math),
``stream`` (the streaming core), ``writer`` (tile rows into the output pair),
``blocks`` (row-block files and their assembly), ``inputs`` (which images),
``predict`` (one process), and for Dask ``plan``, ``cluster``, ``worker`` and
``distributed``.
"""

from basiss.inference.options import PredictOptions
from basiss.inference.predict import predict_image, predict_many

__all__ = ["PredictOptions", "predict_image", "predict_many"]
