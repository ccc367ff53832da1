"""Torch-free runtime: decode photos and score them with an exported ONNX model.

Needs only numpy, Pillow and onnxruntime; importing this package never imports torch.
"""

from __future__ import annotations

from .detector import Detector, ModelLoadError, Prediction, PredictionError
from .image_io import ImageDecodeError, load_image
from .overlay import heatmap_overlay, save_overlay

__all__ = ["Detector", "Prediction", "PredictionError", "ImageDecodeError", "ModelLoadError", "load_image", "heatmap_overlay",
           "save_overlay"]
