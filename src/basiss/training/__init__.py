"""Training: configuration, the loop (epochs, validation, stopping), resume state, checkpoints."""

from basiss.training.loop import TrainConfig, train

__all__ = ["TrainConfig", "train"]
