"""Layered factory for detectors, in timm's style: resolve, create, build."""

from __future__ import annotations

import os
from typing import Any, Mapping

import timm

from .. import __version__
from ..meta import ModelMeta
from .detector import DamageDetector

__all__ = ["create_detector", "resolve_normalization", "build_meta"]


def resolve_normalization(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std (``[0, 1]`` scale) that a timm architecture was trained with."""
    cfg = timm.models.get_pretrained_cfg(backbone) if timm.models.is_model(backbone) else None
    if cfg is None:
        if not timm.models.is_model(backbone):
            import difflib

            close = difflib.get_close_matches(backbone, timm.list_models(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models()"
            raise ValueError(f"unknown timm backbone {backbone!r}{hint}")
        return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    return tuple(cfg.mean), tuple(cfg.std)


def create_detector(
    backbone: str,
    pretrained: bool = False,
    pretrained_file: str | os.PathLike | None = None,
    drop_rate: float = 0.0,
    **kwargs: Any,
) -> DamageDetector:
    """Create a :class:`DamageDetector` from any timm backbone name.

    Args:
        backbone: timm model name, e.g. ``tf_efficientnet_lite0`` or ``resnet18``.
        pretrained: Load timm's ImageNet weights (from the hub: needs network).
        pretrained_file: Local weights file (``.safetensors`` or ``.pth``) loaded through
            timm's ``pretrained_cfg_overlay``; works offline and implies ``pretrained``.
        drop_rate: Dropout before the classifier.
        **kwargs: Passed to :func:`timm.create_model`.

    Returns:
        The detector; its classifier has one output (the fake-damage logit).
    """
    mean, std = resolve_normalization(backbone)
    if pretrained_file:
        path = os.fspath(pretrained_file)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path}: pretrained weights not found; run scripts/convert_efficientnet_lite0.py "
                "or set model.pretrained_file=null"
            )
        kwargs["pretrained_cfg_overlay"] = dict(file=path)
        pretrained = True
    net = timm.create_model(backbone, pretrained=pretrained, num_classes=1, drop_rate=drop_rate, **kwargs)
    return DamageDetector(net, mean, std)


def build_meta(model: DamageDetector, backbone: str, tile_size: int, tile_stride: int | None = None,
               aggregation: str = "max", topk: int = 2, threshold: float = 0.5,
               training: Mapping[str, Any] | None = None) -> ModelMeta:
    """Describe a detector and its input policy as a frozen :class:`ModelMeta`."""
    return ModelMeta(
        backbone=backbone,
        tile_size=int(tile_size),
        tile_stride=int(tile_stride or tile_size),
        aggregation=aggregation,
        topk=int(topk),
        threshold=float(threshold),
        mean=tuple(float(v) for v in model.mean.flatten().tolist()),
        std=tuple(float(v) for v in model.std.flatten().tolist()),
        version=__version__,
        training=dict(training or {}),
    )
