"""The Stable Diffusion invisible watermark as provenance evidence.

The decoder is :mod:`fakedamage.assess.watermark` (torch-free); this module decides when it
applies (pixels given, invisible-watermark installed, an image size SD pipelines write) and
words the ``sd_watermark`` item.
"""

from __future__ import annotations

import numpy as np

from ..settings import AssessConfig
from ..watermark import detect_sd_watermarks, watermark_available
from .collector import Collector

__all__ = ["read_watermark"]


def read_watermark(pixels: np.ndarray | None, cfg: AssessConfig, col: Collector) -> None:
    """Look for the SD / SDXL watermark in ``pixels`` (``(H, W, 3)`` uint8 RGB, or ``None``)."""
    if pixels is None:
        col.not_checked.append("SD watermark (no pixels)")
        return
    if not watermark_available():
        col.not_checked.append("SD watermark (invisible-watermark not installed)")
        return
    h, w = pixels.shape[:2]
    if h * w < 256 * 256 or h * w > cfg.watermark_max_pixels:
        col.not_checked.append(f"SD watermark (image size {w}x{h} outside what SD pipelines write)")
        return
    col.checked.append("SD/SDXL invisible watermark")
    hits, _ = detect_sd_watermarks(pixels, cfg.watermark_max_false_alarm)
    if hits:
        hit = hits[0]
        col.add("sd_watermark", cfg.watermark_strength,
                f"The pixels carry the invisible watermark that {hit.name} writes into every image it generates "
                f"({hit.bit_accuracy:.0%} of {hit.n_bits} bits match; chance match {hit.false_alarm:.0e}).",
                **hit.to_dict(),
                all_hits=[h.to_dict() for h in hits])
