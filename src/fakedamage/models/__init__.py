"""Detector models: a timm feature backbone behind in-graph normalisation, with an image head and a mask decoder."""

from .checkpoint import architecture_of, load_checkpoint, save_checkpoint
from .factory import PretrainedMismatchError, build_meta, create_detector, resolve_backbone, resolve_normalization
from .network import DetectorNet, ImageHead, MaskDecoder
from .pretrained import convert_efficientnet_lite0

__all__ = [
    "DetectorNet", "ImageHead", "MaskDecoder", "create_detector", "resolve_backbone", "resolve_normalization",
    "build_meta", "PretrainedMismatchError", "convert_efficientnet_lite0", "load_checkpoint", "save_checkpoint",
    "architecture_of",
]
