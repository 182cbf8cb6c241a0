"""Broad-area inference: engines, the streaming sliding window, tile writer, Dask."""

from basiss.inference.predict import PredictOptions, predict_image, predict_many

__all__ = ["PredictOptions", "predict_image", "predict_many"]
