"""basiss: Broad Area Satellite Imagery Semantic Segmentation.

Road maps from satellite imagery over areas of any size: masks from road
centerlines, chips, a segmentation net, streaming sliding-window inference
and pixel metrics, each stage a plain function with a CLI verb over it.
"""

from basiss.errors import BasissError

__version__ = "0.1.0"
__all__ = ["BasissError", "__version__"]
