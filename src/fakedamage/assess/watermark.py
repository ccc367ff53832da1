"""Read the invisible watermarks that Stable Diffusion's reference pipelines embed, torch-free.

The SD 1.x / 2.x reference scripts and the SDXL pipelines (Stability's ``sgm`` and
diffusers' ``StableDiffusionXLWatermarker``) embed a fixed message with the
`invisible-watermark <https://github.com/ShieldMnt/invisible-watermark>`_ package,
method ``dwtDct`` (class ``imwatermark.maxDct.EmbedMaxDct``):

* SD 1.x: the 17 bytes ``b"StableDiffusionV1"`` (136 bits), on a BGR array;
* SD 2.x: the 4 bytes ``b"SDV2"`` (32 bits), on a BGR array;
* SDXL: the 48-bit message ``0b101100111110110010010000011110111011000110011110``; diffusers
  hands the encoder an RGB array, Stability's ``sgm`` a BGR one.

``import imwatermark`` imports torch (its ``rivaGan`` module), so this module never imports
the package: it loads ``imwatermark/maxDct.py`` by file path (numpy, OpenCV and PyWavelets
only) for the embedding parameters, and decodes with a vectorised copy of
``EmbedMaxDct.decode`` that yields the same bits (checked against
``imwatermark.WatermarkDecoder`` in the tests) in milliseconds instead of a Python loop
over every 4x4 block. Both channel orders are tried for every message.

The dwtDct watermark is fragile: even on the PNG the pipeline wrote, decoding typically
recovers 70-100 % of the bits, and JPEG re-encoding or resizing destroys it. A message is
therefore reported when the number of matching bits would arise by chance on an unmarked
image with probability at most ``max_false_alarm`` (binomial tail, fair coin per bit): for
the default 1e-6 that is about 71 % of 136 bits (SD 1.x), 88 % of 48 bits (SDXL) and 94 %
of 32 bits (SD 2.x).
"""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["WatermarkMessage", "WatermarkHit", "SD_WATERMARKS", "watermark_available", "detect_sd_watermarks",
           "decode_bits", "chance_of_matching"]


@dataclass(frozen=True)
class WatermarkMessage:
    """A known watermark payload.

    Attributes:
        name: Human-readable model family.
        bits: The expected bits, ``(n,)`` uint8 of 0/1.
    """

    name: str
    bits: tuple[int, ...]


def _bytes_bits(payload: bytes) -> tuple[int, ...]:
    return tuple(int(b) for b in np.unpackbits(np.frombuffer(payload, dtype=np.uint8)))


_SDXL_MESSAGE = 0b101100111110110010010000011110111011000110011110

#: Messages embedded by Stable Diffusion reference pipelines.
SD_WATERMARKS: tuple[WatermarkMessage, ...] = (
    WatermarkMessage("Stable Diffusion 1.x", _bytes_bits(b"StableDiffusionV1")),
    WatermarkMessage("Stable Diffusion 2.x", _bytes_bits(b"SDV2")),
    WatermarkMessage("Stable Diffusion XL", tuple(int(c) for c in bin(_SDXL_MESSAGE)[2:])),
)


@dataclass(frozen=True)
class WatermarkHit:
    """A decoded watermark.

    Attributes:
        name: Model family of the message.
        bit_accuracy: Fraction of bits that match the message.
        n_bits: Message length.
        false_alarm: Probability of at least this many matching bits by chance.
        channel_order: ``"BGR"`` or ``"RGB"``: how the embedder saw the pixels.
    """

    name: str
    bit_accuracy: float
    n_bits: int
    channel_order: str
    false_alarm: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bit_accuracy": round(self.bit_accuracy, 4), "n_bits": self.n_bits,
                "channel_order": self.channel_order, "false_alarm": float(f"{self.false_alarm:.3g}")}


def chance_of_matching(k: int, n: int) -> float:
    """Probability that at least ``k`` of ``n`` fair random bits match a fixed message."""
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2.0**n


@lru_cache(maxsize=1)
def _maxdct_module() -> ModuleType | None:
    """``imwatermark/maxDct.py`` loaded on its own (the package ``__init__`` would import torch)."""
    try:
        spec = importlib.util.find_spec("imwatermark")  # locates the package without importing it
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    import os

    path = os.path.join(list(spec.submodule_search_locations)[0], "maxDct.py")
    if not os.path.isfile(path):
        return None
    name = "_fakedamage_imwatermark_maxdct"
    if name in sys.modules:
        return sys.modules[name]
    sub = importlib.util.spec_from_file_location(name, path)
    if sub is None or sub.loader is None:
        return None
    module = importlib.util.module_from_spec(sub)
    try:
        sub.loader.exec_module(module)  # imports numpy, cv2, pywt only
    except ImportError:
        return None
    sys.modules[name] = module
    return module


def watermark_available() -> bool:
    """Whether invisible-watermark (and PyWavelets) are installed."""
    return _maxdct_module() is not None


def _embed_params() -> tuple[list[float], int]:
    mod = _maxdct_module()
    if mod is None:
        raise ImportError("invisible-watermark is not installed (pip install --no-deps invisible-watermark PyWavelets)")
    embed = mod.EmbedMaxDct(watermarks=[], wmLen=8)
    return list(embed._scales), int(embed._block)


def _block_scores(bgr: np.ndarray) -> np.ndarray:
    """Per-block 0/1 scores of ``EmbedMaxDct.decode``, in its order (channels, then raster order).

    Args:
        bgr: ``(H, W, 3)`` uint8 array handed to the decoder as BGR.

    Returns:
        ``(n_blocks,)`` float64 array of 0/1 scores.
    """
    import cv2
    import pywt

    scales, block = _embed_params()
    row, col = bgr.shape[:2]
    yuv = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2YUV)
    out = []
    for channel in range(2):  # EmbedMaxDct.decode visits channels 0 and 1
        scale = scales[channel]
        if scale <= 0:
            continue
        ca1, _ = pywt.dwt2(yuv[: row // 4 * 4, : col // 4 * 4, channel], "haar")
        nr, nc = ca1.shape[0] // block, ca1.shape[1] // block
        blocks = ca1[: nr * block, : nc * block].reshape(nr, block, nc, block).transpose(0, 2, 1, 3)
        flat = blocks.reshape(nr * nc, block * block)
        pos = np.argmax(np.abs(flat[:, 1:]), axis=1) + 1
        val = np.abs(flat[np.arange(flat.shape[0]), pos])
        out.append(((val % scale) > 0.5 * scale).astype(np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def _bits_from_scores(scores: np.ndarray, n_bits: int, n_per_channel: int, n_channels: int) -> np.ndarray:
    """Average the block scores per bit index the way ``EmbedMaxDct.decode`` does."""
    idx = np.concatenate([np.arange(n_per_channel) % n_bits for _ in range(n_channels)])
    sums = np.bincount(idx, weights=scores, minlength=n_bits)
    counts = np.bincount(idx, minlength=n_bits)
    avg = np.divide(sums, counts, out=np.zeros(n_bits), where=counts > 0)
    return (avg * 255 > 127).astype(np.uint8)


def decode_bits(bgr: np.ndarray, n_bits: int) -> np.ndarray:
    """Decode ``n_bits`` with the ``dwtDct`` method, bit-identical to ``WatermarkDecoder("bits", n).decode(bgr)``.

    Args:
        bgr: ``(H, W, 3)`` uint8 image as the decoder sees it (BGR order), at least 256x256 pixels.
        n_bits: Message length.

    Returns:
        ``(n_bits,)`` uint8 array of 0/1.
    """
    scales, _ = _embed_params()
    scores = _block_scores(bgr)
    n_channels = sum(1 for s in scales[:2] if s > 0)
    return _bits_from_scores(scores, n_bits, len(scores) // max(1, n_channels), n_channels)


def detect_sd_watermarks(rgb: np.ndarray, max_false_alarm: float = 1e-6) -> tuple[list[WatermarkHit], float]:
    """Look for every message of :data:`SD_WATERMARKS` in both channel orders.

    Args:
        rgb: ``(H, W, 3)`` uint8 RGB image; ``H * W >= 256 * 256`` (the package's minimum).
        max_false_alarm: Report a message when its matching bits would occur by chance with at
            most this probability.

    Returns:
        ``(hits, best_accuracy)``: the messages found (best first), and the best bit accuracy
        over all messages and orders (for the record when nothing is found).

    Raises:
        ImportError: invisible-watermark is not installed.
        ValueError: The image is smaller than 256x256 pixels.
    """
    h, w = rgb.shape[:2]
    if h * w < 256 * 256:
        raise ValueError(f"image of {w}x{h} is too small for the watermark (needs 256x256 pixels)")
    scales, _ = _embed_params()
    n_channels = sum(1 for s in scales[:2] if s > 0)
    hits: list[WatermarkHit] = []
    best = 0.0
    for order, arr in (("BGR", np.ascontiguousarray(rgb[..., ::-1])), ("RGB", np.ascontiguousarray(rgb))):
        scores = _block_scores(arr)
        per_channel = len(scores) // max(1, n_channels)
        for msg in SD_WATERMARKS:
            bits = _bits_from_scores(scores, len(msg.bits), per_channel, n_channels)
            k = int(np.sum(bits == np.asarray(msg.bits, dtype=np.uint8)))
            acc = k / len(msg.bits)
            best = max(best, acc)
            chance = chance_of_matching(k, len(msg.bits))
            if chance <= max_false_alarm:
                hits.append(WatermarkHit(msg.name, acc, len(msg.bits), order, chance))
    hits.sort(key=lambda x: x.false_alarm)
    return hits, best
