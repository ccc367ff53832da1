"""Native-resolution tiling and tile-score pooling (numpy only).

Forensic traces die in interpolation, so images are never resized: they are cut
into square tiles at their own resolution. Training evaluation (PyTorch), the ONNX
parity gate and the torch-free :class:`~fakedamage.Detector` all call these
functions, so every path sees exactly the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..meta import SCANS

__all__ = ["tile_origins", "extract_tiles", "stitch_tiles", "pool_logits", "sigmoid", "SCANS", "ScanResult",
           "ScanCancelled", "scan_image", "size_correction", "pad_to_tile", "tiles_at", "HeatmapStitcher",
           "blend_window"]


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

    Images smaller than ``size`` along an axis are padded on the bottom/right by repeating
    the last row / column (:func:`pad_to_tile`).

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
    image = pad_to_tile(image, size)
    origins = tile_origins(image.shape[0], image.shape[1], size, stride)
    tiles = np.stack([image[y : y + size, x : x + size] for y, x in origins])
    tiles = tiles.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(tiles), origins


def stitch_tiles(maps: np.ndarray, origins: list[tuple[int, int]], height: int, width: int) -> np.ndarray:
    """Assemble per-tile maps into one image-sized map, blended with :func:`blend_window` where tiles overlap.

    Args:
        maps: ``(N, size, size)`` (or ``(N, 1, size, size)``) per-tile maps, in the order of ``origins``.
        origins: Tile origins from :func:`extract_tiles`.
        height: Original image height (padding added by :func:`extract_tiles` is cropped off).
        width: Original image width.

    Returns:
        ``(height, width)`` float32 map (:class:`HeatmapStitcher` in one go).
    """
    maps = np.asarray(maps, dtype=np.float32)
    size = maps.shape[-1]
    ph = max(height, max(y for y, _ in origins) + size)
    pw = max(width, max(x for _, x in origins) + size)
    stitcher = HeatmapStitcher(height, width, (ph, pw))
    stitcher.add(maps, origins)
    return stitcher.result()


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


# --------------------------------------------------------------------------- bounded-memory scan



class ScanCancelled(RuntimeError):
    """Raised by :func:`scan_image` when its ``cancelled`` callback returns true between batches."""


@dataclass(frozen=True)
class ScanResult:
    """Tiles scored on one image by :func:`scan_image`.

    Attributes:
        logits: ``(n,)`` float64 raw logits of the scored tiles (before size correction and temperature).
        origins: ``(y, x)`` of each scored tile, in scoring order.
        pooled: ``pool_logits(logits)``.
        adjusted: ``pooled`` minus the size correction (:func:`size_correction`).
        heatmap: ``(H, W)`` float32 stitched map, or ``None``.
    """

    logits: np.ndarray
    origins: list[tuple[int, int]]
    pooled: float
    adjusted: float
    heatmap: np.ndarray | None = None


def size_correction(height: int, width: int, tile_size: int, slope: float, reference_pixels: int) -> float:
    """Logit subtracted from the pooled logit of an ``height x width`` image.

    ``slope * ln(max(H W, T^2) / reference_pixels)``: the expected growth of a maximum over
    tiles with the image area (Gumbel tail: the maximum of ``n`` draws moves by ``beta ln n``),
    fitted on genuine whole photos (:func:`fakedamage.calibration.fit_size_slope`). 0 when
    ``slope`` is 0.
    """
    if not slope:
        return 0.0
    area = max(int(height) * int(width), int(tile_size) ** 2)
    return float(slope) * math.log(area / float(reference_pixels))


def pad_to_tile(image: np.ndarray, size: int) -> np.ndarray:
    """Pad an image smaller than ``size`` on an axis to ``size`` on the bottom/right by repeating the
    last row / column ('edge'; the scoring spec's ``pad`` rule, format 3)."""
    h, w = image.shape[:2]
    pad_h, pad_w = max(0, size - h), max(0, size - w)
    if not (pad_h or pad_w):
        return image
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def tiles_at(image: np.ndarray, origins: Sequence[tuple[int, int]], size: int) -> np.ndarray:
    """``(n, 3, size, size)`` float32 tiles in ``[0, 1]`` of a (padded) uint8 image at ``origins``."""
    out = np.empty((len(origins), 3, size, size), np.float32)
    for i, (y, x) in enumerate(origins):
        out[i] = image[y : y + size, x : x + size].transpose(2, 0, 1)
    out /= np.float32(255.0)  # exactly uint8 / 255 in float32, as extract_tiles
    return out


def blend_window(size: int) -> np.ndarray:
    """The ``(size, size)`` float32 weight of a tile's map when overlapping tiles are stitched.

    A Hann window sampled at pixel centres, 2-D as the outer product (computed in float64,
    then rounded to float32)::

        w(i)    = 0.5 - 0.5 * cos(2 * pi * (i + 0.5) / T)      for i = 0 .. T-1, T = size
        W[r, c] = float32(w(r) * w(c))                        r = row, c = column in the tile

    Stitching (:class:`HeatmapStitcher`, :func:`stitch_tiles`) is, per pixel, the weighted mean
    ``sum_k W_k * map_k / sum_k W_k`` over the scored tiles ``k`` covering it (``W_k`` at the
    pixel's position inside tile ``k``), accumulated in float32 in scoring order.

    The weight is largest in the tile centre and falls smoothly towards the tile edges, where
    a network's output is least reliable, so neighbouring tiles cross-fade instead of meeting
    at a visible seam (the weighted mean moves monotonically from one tile's value to the
    other's across an overlap). It never reaches zero (``w(0) = w(T-1) = 0.5 - 0.5 cos(pi / T)
    > 0``), so a pixel that one tile alone covers (the image borders) gets that tile's value
    (to float32 rounding). Inside a grid of stride ``T / 2`` the overlapping windows sum to 1.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"tile size must be >= 1, got {size}")
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * (np.arange(size, dtype=np.float64) + 0.5) / size)
    return np.outer(w, w).astype(np.float32)


class HeatmapStitcher:
    """Blend per-tile maps into an image-sized map, one batch at a time (bounded memory).

    Each tile's map is weighted by :func:`blend_window` (no visible seams at tile edges); holds a
    float32 weighted sum and a float32 weight sum at the padded image size; :meth:`result`
    divides and crops. Where one tile alone covers a pixel, the result is that tile's value.
    Adding the tiles in batches gives bit for bit the result of adding them all at once (same order).
    """

    def __init__(self, height: int, width: int, padded: tuple[int, int]) -> None:
        self.height, self.width = int(height), int(width)
        self.total = np.zeros(padded, np.float32)
        self.weight = np.zeros(padded, np.float32)
        self._window: np.ndarray | None = None
        self._scratch: np.ndarray | None = None

    def add(self, maps: np.ndarray, origins: Sequence[tuple[int, int]]) -> None:
        """Accumulate ``(n, T, T)`` (or ``(n, 1, T, T)``) tile maps at their ``(y, x)`` origins."""
        maps = np.asarray(maps, np.float32)
        size = maps.shape[-1]
        if self._window is None or self._window.shape[0] != size:
            self._window = blend_window(size)
            self._scratch = np.empty((size, size), np.float32)
        win, tmp = self._window, self._scratch
        for m, (y, x) in zip(maps.reshape(len(origins), size, size), origins):
            np.multiply(m, win, out=tmp)
            self.total[y : y + size, x : x + size] += tmp
            self.weight[y : y + size, x : x + size] += win

    def result(self) -> np.ndarray:
        """The ``(height, width)`` weighted mean (computed in place: call once); 0 where no tile lies."""
        t = self.total[: self.height, : self.width]
        w = self.weight[: self.height, : self.width]
        np.divide(t, w, out=t, where=w > 0)
        return np.ascontiguousarray(t)


def _refine_origins(coarse: Sequence[tuple[int, int]], coarse_logits: np.ndarray, height: int, width: int,
                    size: int, stride: int, top: int) -> list[tuple[int, int]]:
    """Stride-grid origins whose tile overlaps one of the ``top`` best coarse tiles and is not a coarse
    tile, in row-major order (ties between coarse tiles: the earlier one first)."""
    if top <= 0 or len(coarse) == 0:
        return []
    order = np.argsort(-np.asarray(coarse_logits, np.float64), kind="stable")[:top]
    ys, xs = _axis_origins(height, size, stride), _axis_origins(width, size, stride)
    done = set(coarse)
    wanted: set[tuple[int, int]] = set()
    for i in order:
        by, bx = coarse[i]
        wanted.update((y, x) for y in ys if abs(y - by) < size for x in xs if abs(x - bx) < size)
    return sorted(wanted - done)


def scan_image(
    image: np.ndarray,
    score_batch: Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray | None]],
    *,
    tile_size: int,
    tile_stride: int,
    aggregation: str = "max",
    topk: int = 2,
    scan: str = "dense",
    refine_top: int = 8,
    size_slope: float = 0.0,
    size_reference_pixels: int = 65536,
    batch_size: int = 8,
    with_map: bool = False,
    cancelled: Callable[[], bool] | None = None,
) -> ScanResult:
    """Score an image tile by tile, ``batch_size`` tiles at a time (never all tiles at once).

    Args:
        image: ``(H, W, 3)`` uint8 RGB at native resolution.
        score_batch: ``(tiles (n, 3, T, T) float32, with_map) -> (logits (n,), maps (n, T, T) or None)``.
        tile_size, tile_stride, aggregation, topk: As :class:`~fakedamage.meta.ModelMeta`.
        scan: ``dense``: every tile of the ``tile_stride`` grid (:func:`tile_origins`).
            ``coarse_to_fine``: first the tiles of the ``tile_size`` grid (no overlap), then every
            dense-grid tile that overlaps one of the ``refine_top`` highest coarse tiles; the
            pool is over all scored tiles.
        size_slope, size_reference_pixels: Size correction (:func:`size_correction`).
        batch_size: Tiles per ``score_batch`` call; bounds memory with the image size.
        with_map: Also stitch the tile maps (:class:`HeatmapStitcher`: blended with
            :func:`blend_window` where scored tiles overlap).
        cancelled: Called before every batch; when it returns true, :class:`ScanCancelled` is raised.

    Returns:
        :class:`ScanResult`. Peak memory is the image, ``batch_size`` tiles and (with the
        map) two float32 arrays of the padded image size.
    """
    if scan not in SCANS:
        raise ValueError(f"unknown scan {scan!r}; use one of {SCANS}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {image.shape}")
    h, w = image.shape[:2]
    padded = pad_to_tile(image, tile_size)
    ph, pw = padded.shape[:2]
    stitcher = HeatmapStitcher(h, w, (ph, pw)) if with_map else None
    logits: list[np.ndarray] = []
    scored: list[tuple[int, int]] = []

    def run(origins: Sequence[tuple[int, int]]) -> np.ndarray:
        part = []
        for i in range(0, len(origins), batch_size):
            if cancelled is not None and cancelled():
                raise ScanCancelled("scan cancelled")
            chunk = list(origins[i : i + batch_size])
            lg, maps = score_batch(tiles_at(padded, chunk, tile_size), with_map)
            part.append(np.asarray(lg, np.float64).reshape(-1))
            if stitcher is not None:
                stitcher.add(maps, chunk)
        out = np.concatenate(part) if part else np.zeros(0, np.float64)
        logits.append(out)
        scored.extend(origins)
        return out

    if scan == "dense":
        run(tile_origins(ph, pw, tile_size, tile_stride))
    else:
        coarse = tile_origins(ph, pw, tile_size, tile_size)
        coarse_logits = run(coarse)
        run(_refine_origins(coarse, coarse_logits, ph, pw, tile_size, tile_stride, refine_top))
    all_logits = np.concatenate(logits)
    pooled = pool_logits(all_logits, aggregation, topk)
    adjusted = pooled - size_correction(h, w, tile_size, size_slope, size_reference_pixels)
    return ScanResult(all_logits, scored, pooled, adjusted, stitcher.result() if stitcher is not None else None)
