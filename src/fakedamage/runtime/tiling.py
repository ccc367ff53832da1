"""Native-resolution tiling and tile-score pooling (numpy only).

Forensic traces die in interpolation, so images are never resized: they are cut
into square tiles at their own resolution. Training evaluation (PyTorch), the ONNX
parity gate and the torch-free :class:`~fakedamage.Detector` all call these
functions, so every path sees exactly the same pixels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["tile_origins", "extract_tiles", "stitch_tiles", "pool_logits", "sigmoid"]


def _axis_origins(length: int, size: int, stride: int) -> list[int]:
    """Start offsets along one axis; the last tile is aligned to the far edge."""
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def tile_origins(height: int, width: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners ``(y, x)`` of the tiles covering an image.

    Args:
        height: Image height in pixels (after any padding to ``size``).
        width: Image width in pixels (after any padding to ``size``).
        size: Tile side in pixels.
        stride: Step between tiles in pixels.

    Returns:
        Row-major list of ``(y, x)`` origins; every pixel is covered at least once.
    """
    return [(y, x) for y in _axis_origins(height, size, stride) for x in _axis_origins(width, size, stride)]


def extract_tiles(image: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Cut an RGB image into model-ready tiles without resizing.

    Images smaller than ``size`` along an axis are padded by reflection (edge
    replication when the image is too small to reflect) on the bottom/right.

    Args:
        image: ``(H, W, 3)`` uint8 RGB array.
        size: Tile side in pixels.
        stride: Step between tiles in pixels.

    Returns:
        ``tiles``: ``(N, 3, size, size)`` float32 array in ``[0, 1]`` (NCHW), and the
        ``(y, x)`` origin of each tile in the padded image.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {image.shape}")
    h, w = image.shape[:2]
    pad_h, pad_w = max(0, size - h), max(0, size - w)
    if pad_h or pad_w:
        mode = "reflect" if (pad_h < h and pad_w < w) else "edge"
        image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)
    origins = tile_origins(image.shape[0], image.shape[1], size, stride)
    tiles = np.stack([image[y : y + size, x : x + size] for y, x in origins])
    tiles = tiles.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(tiles), origins


def stitch_tiles(maps: np.ndarray, origins: list[tuple[int, int]], height: int, width: int) -> np.ndarray:
    """Assemble per-tile maps into one image-sized map, averaging where tiles overlap.

    Args:
        maps: ``(N, size, size)`` (or ``(N, 1, size, size)``) per-tile maps, in the order of ``origins``.
        origins: Tile origins from :func:`extract_tiles`.
        height: Original image height (padding added by :func:`extract_tiles` is cropped off).
        width: Original image width.

    Returns:
        ``(height, width)`` float32 map.
    """
    maps = np.asarray(maps, dtype=np.float32)
    maps = maps.reshape(maps.shape[0], maps.shape[-2], maps.shape[-1])
    size = maps.shape[-1]
    ph = max(height, max(y for y, _ in origins) + size)
    pw = max(width, max(x for _, x in origins) + size)
    total = np.zeros((ph, pw), np.float32)
    count = np.zeros((ph, pw), np.float32)
    for m, (y, x) in zip(maps, origins):
        total[y : y + size, x : x + size] += m
        count[y : y + size, x : x + size] += 1.0
    return (total / np.maximum(count, 1.0))[:height, :width]


def pool_logits(logits: np.ndarray, aggregation: str, topk: int = 2) -> float:
    """Pool per-tile logits into one image logit.

    Args:
        logits: ``(N,)`` tile logits.
        aggregation: ``max`` (suits small local edits), ``mean``, or ``topk``
            (mean of the ``topk`` largest).
        topk: Tiles averaged for ``topk``; clipped to ``N``.

    Returns:
        The pooled logit.
    """
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    if logits.size == 0:
        raise ValueError("no tile logits to pool")
    if aggregation == "max":
        return float(logits.max())
    if aggregation == "mean":
        return float(logits.mean())
    if aggregation == "topk":
        k = min(max(1, int(topk)), logits.size)
        return float(np.sort(logits)[-k:].mean())
    raise ValueError(f"unknown aggregation {aggregation!r}; use max, mean or topk")


def sigmoid(x: float | np.ndarray) -> float | np.ndarray:
    """Numerically stable logistic function."""
    x = np.asarray(x, dtype=np.float64)
    out = np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))
    return float(out) if out.ndim == 0 else out
