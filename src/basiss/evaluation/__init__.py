"""Evaluation: pixel metrics, file matching, typed reports."""

from basiss.evaluation.score import evaluate

__all__ = ["evaluate"]
