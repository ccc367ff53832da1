"""Whole-photo claims at native size: the data half of :mod:`fakedamage.whole_photos`.

A genuine photo (native, or resampled: apps and phones resize photos), and the same photo with
damage painted into a window and pasted back directly (``real_damage``) or after a generator
(``inpaint_pasted``), content-aligned exactly as the crops of :mod:`fakedamage.data.synth`;
every variant gets the same JPEG encoding, so both classes share their file history.
"""

from __future__ import annotations

import io
from typing import Any, Iterator

import numpy as np

__all__ = ["resample", "jpeg_bytes", "jpeg_roundtrip", "claim_pixels", "whole_photo_claim"]


def resample(image: np.ndarray, factor: float) -> np.ndarray:
    """Resize by ``factor`` (area averaging down, bicubic up), as apps and phones resample photos."""
    import cv2

    if factor == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


def jpeg_bytes(image: np.ndarray, quality: int = 92) -> bytes:
    """A baseline JPEG (4:2:0, Pillow) of ``image``, as a phone or app saves a photo."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def jpeg_roundtrip(image: np.ndarray, quality: int = 92) -> np.ndarray:
    """:func:`jpeg_bytes` decoded again."""
    from PIL import Image

    with Image.open(io.BytesIO(jpeg_bytes(image, quality))) as im:
        return np.asarray(im.convert("RGB"))


def claim_pixels(image: np.ndarray, generator: Any, seed: int, window: int = 256, feather: float = 1.5
                 ) -> Iterator[tuple[str, np.ndarray, str, np.ndarray | None, tuple[int, int]]]:
    """``(variant, pixels, damage kind, window mask, (y, x))`` of one whole photo, unencoded, one at a time.

    ``pristine`` first (the photo itself); with a ``generator``, then ``real_damage`` and
    ``inpaint_pasted``: damage of a random kind painted into a random ``window`` px square (the
    generator sees that window, as an AI editor's brush region), pasted back into the
    full-resolution photo. At most one full-size copy is made at a time.
    """
    from .compose import content_aligned_pair, simulate_capture
    from .damage import DAMAGE_TYPES, make_damage_mask, paint_damage

    yield "pristine", image, "", None, (0, 0)
    if generator is None:
        return
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    win = min(window, h, w)
    y, x = int(rng.integers(0, h - win + 1)), int(rng.integers(0, w - win + 1))
    crop = np.ascontiguousarray(image[y : y + win, x : x + win])
    kind = DAMAGE_TYPES[int(rng.integers(len(DAMAGE_TYPES)))]
    mask = make_damage_mask(kind, win, win, rng, image=crop)
    damaged = simulate_capture(paint_damage(crop, mask, kind, rng), mask, rng)
    regenerated = generator.regenerate(damaged, mask, prompt="", seed=seed % 2**31)
    real_damage, pasted = content_aligned_pair(crop, damaged, regenerated, mask, feather)
    for variant, window_pixels in (("real_damage", real_damage), ("inpaint_pasted", pasted)):
        out = image.copy()
        out[y : y + win, x : x + win] = window_pixels
        yield variant, out, kind, mask, (y, x)
        del out


def whole_photo_claim(image: np.ndarray, generator: Any, seed: int, window: int = 256,
                      feather: float = 1.5, quality: int = 92) -> Iterator[tuple[str, np.ndarray]]:
    """``("pristine" | "real_damage" | "inpaint_pasted", image)`` of :func:`claim_pixels`, each through
    :func:`jpeg_roundtrip` at ``quality``. With ``generator=None`` only ``pristine``."""
    for variant, pixels, _, _, _ in claim_pixels(image, generator, seed, window, feather):
        yield variant, jpeg_roundtrip(pixels, quality)
