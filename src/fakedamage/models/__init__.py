"""Detector models: a timm backbone behind an in-graph normalisation layer."""

from .factory import build_meta, create_detector, resolve_normalization
from .detector import DamageDetector
from .pretrained import convert_efficientnet_lite0

__all__ = ["DamageDetector", "create_detector", "resolve_normalization", "build_meta", "convert_efficientnet_lite0"]
from .checkpoint import load_checkpoint, save_checkpoint

__all__ += ["load_checkpoint", "save_checkpoint"]
