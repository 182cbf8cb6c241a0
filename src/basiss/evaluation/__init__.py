"""Evaluation: pixel metrics, file matching, typed reports."""

from basiss.evaluation.report import EvaluationReport, ImageResult, ImageStatus, format_table
from basiss.evaluation.score import evaluate

__all__ = ["EvaluationReport", "ImageResult", "ImageStatus", "evaluate", "format_table"]
