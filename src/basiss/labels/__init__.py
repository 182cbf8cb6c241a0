"""Road labels: centerlines buffered in metres and burnt onto an image grid; SpaceNet jobs."""

from basiss.labels.spacenet import prepare_spacenet

__all__ = ["prepare_spacenet"]
