"""Heatmap overlays for reviewers: numpy and Pillow only (no matplotlib, no torch)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..utils.io import atomic_path

__all__ = ["colorize", "heatmap_overlay", "save_overlay"]

# A perceptual dark-to-bright ramp (black -> purple -> red -> yellow), 5 anchors like "inferno".
_ANCHORS = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32)


def colorize(heatmap: np.ndarray) -> np.ndarray:
    """``(H, W)`` values in ``[0, 1]`` -> ``(H, W, 3)`` uint8 colours."""
    h = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0) * (len(_ANCHORS) - 1)
    lo = np.floor(h).astype(int).clip(0, len(_ANCHORS) - 2)
    t = (h - lo)[..., None]
    return np.round(_ANCHORS[lo] * (1 - t) + _ANCHORS[lo + 1] * t).astype(np.uint8)


def heatmap_overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend the coloured heatmap over the photo, weighted by the map itself.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        heatmap: ``(H, W)`` float in ``[0, 1]`` (e.g. ``Prediction.heatmap``).
        alpha: Opacity where the map is 1.

    Returns:
        ``(H, W, 3)`` uint8: the photo where the map is 0, the colour where it is high.
    """
    if image.shape[:2] != heatmap.shape:
        raise ValueError(f"image {image.shape[:2]} and heatmap {heatmap.shape} differ in size")
    w = (alpha * np.clip(heatmap, 0, 1))[..., None]
    out = image.astype(np.float32) * (1 - w) + colorize(heatmap).astype(np.float32) * w
    return np.round(out).astype(np.uint8)


def save_overlay(path: str | os.PathLike, image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.6) -> Path:
    """Write the overlay as PNG atomically (temp file + ``os.replace``)."""
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(heatmap_overlay(image, heatmap, alpha)).save(tmp, format="PNG")
    return path
