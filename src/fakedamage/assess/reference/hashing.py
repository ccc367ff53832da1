"""Step 1: the 64-bit DCT perceptual hash that shortlists references and drops repeated video frames.

The ``shortlist`` references nearest to the claim by Hamming distance go on to local-feature
matching (:mod:`.geometry`); consecutive video frames within distance 4 are kept once
(:mod:`.loading`).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["phash", "hamming", "gray"]


def gray(rgb: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8 grey levels of an ``(H, W, 3)`` uint8 RGB image."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def phash(image: np.ndarray) -> int:
    """64-bit DCT perceptual hash.

    Args:
        image: ``(H, W, 3)`` uint8 RGB or ``(H, W)`` grey.

    Returns:
        The hash as an int (bit ``i`` set when DCT coefficient ``i`` of the 8x8 low band exceeds the median).
    """
    g = image if image.ndim == 2 else gray(image)
    small = cv2.resize(g, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].reshape(-1)
    bits = low > np.median(low[1:])
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return int(bin(a ^ b).count("1"))
