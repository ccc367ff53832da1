"""Test-time laundering conditions: what platforms, apps and fraudsters do to a photo.

Each :class:`Condition` maps an ``(H, W, 3)`` uint8 RGB image to another, and maps a
region mask the same way when it changes geometry, so pixel metrics stay aligned.
Conditions are deterministic (a noise condition seeds itself from the image), so a
sweep is repeatable.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from .errors import UsageError

__all__ = ["Condition", "CONDITIONS", "DEFAULT_SWEEP", "get_condition", "jpeg", "webp", "rescale", "gaussian_blur",
           "gaussian_noise", "screenshot", "center_crop"]


def _encode(image: np.ndarray, fmt: str, **kw) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **kw)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


def jpeg(quality: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda im: _encode(im, "JPEG", quality=int(quality))


def webp(quality: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda im: _encode(im, "WEBP", quality=int(quality))


def _resize(im: np.ndarray, factor: float, resample: int) -> np.ndarray:
    h, w = im.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(im).resize(size, resample=resample))


def rescale(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda im: _resize(im, factor, Image.Resampling.BICUBIC)


def gaussian_blur(sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda im: np.asarray(Image.fromarray(im).filter(ImageFilter.GaussianBlur(radius=sigma)))


def gaussian_noise(std: float) -> Callable[[np.ndarray], np.ndarray]:
    def f(im: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(int(im[::7, ::7].sum()) % 2**32)
        return np.clip(im.astype(np.float32) + rng.normal(0, std * 255, im.shape), 0, 255).round().astype(np.uint8)

    return f


def screenshot(factor: float = 0.8) -> Callable[[np.ndarray], np.ndarray]:
    """A screen recapture: display rescale, the viewer's sharpening, then a lossless PNG."""
    def f(im: np.ndarray) -> np.ndarray:
        small = Image.fromarray(_resize(im, factor, Image.Resampling.BILINEAR))
        return _encode(np.asarray(small.filter(ImageFilter.UnsharpMask(radius=1.5, percent=80, threshold=2))), "PNG")

    return f


def center_crop(keep: float) -> Callable[[np.ndarray], np.ndarray]:
    def f(im: np.ndarray) -> np.ndarray:
        h, w = im.shape[:2]
        ch, cw = max(1, round(h * keep)), max(1, round(w * keep))
        y, x = (h - ch) // 2, (w - cw) // 2
        return np.ascontiguousarray(im[y : y + ch, x : x + cw])

    return f


def _mask_like(fn_geometry: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Apply a geometric change to a bool mask (nearest neighbour via a 3-channel uint8 copy)."""
    def f(mask: np.ndarray) -> np.ndarray:
        m = np.repeat((mask.astype(np.uint8) * 255)[..., None], 3, axis=2)
        return fn_geometry(m)[..., 0] > 127

    return f


@dataclass(frozen=True)
class Condition:
    """One named laundering condition.

    Attributes:
        name: Short id used in tables (``jpeg75``, ``rescale0.5``).
        family: Group for the robustness curves (``jpeg``, ``rescale``...).
        level: Position on the family's x axis (quality, factor, sigma...).
        image: ``(H, W, 3)`` uint8 -> ``(H', W', 3)`` uint8.
        mask: The same geometric change on an ``(H, W)`` bool mask; ``None`` if geometry is unchanged.
    """

    name: str
    family: str
    level: float
    image: Callable[[np.ndarray], np.ndarray]
    mask: Callable[[np.ndarray], np.ndarray] | None = None

    def apply(self, image: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        out = self.image(image)
        if mask is None:
            return out, None
        return out, (self.mask(mask) if self.mask is not None else mask)


def _geo(name: str, family: str, level: float, fn_image, fn_mask_geometry) -> Condition:
    return Condition(name, family, level, fn_image, _mask_like(fn_mask_geometry))


CONDITIONS: dict[str, Condition] = {c.name: c for c in [
    Condition("none", "none", 0, lambda im: im),
    Condition("jpeg95", "jpeg", 95, jpeg(95)),
    Condition("jpeg75", "jpeg", 75, jpeg(75)),
    Condition("jpeg50", "jpeg", 50, jpeg(50)),
    Condition("webp80", "webp", 80, webp(80)),
    _geo("rescale0.5", "rescale", 0.5, rescale(0.5), lambda m: _resize(m, 0.5, Image.Resampling.NEAREST)),
    _geo("rescale0.75", "rescale", 0.75, rescale(0.75), lambda m: _resize(m, 0.75, Image.Resampling.NEAREST)),
    _geo("rescale1.5", "rescale", 1.5, rescale(1.5), lambda m: _resize(m, 1.5, Image.Resampling.NEAREST)),
    Condition("blur1.0", "blur", 1.0, gaussian_blur(1.0)),
    Condition("noise0.02", "noise", 0.02, gaussian_noise(0.02)),
    _geo("screenshot", "screenshot", 0.8, screenshot(0.8), lambda m: _resize(m, 0.8, Image.Resampling.NEAREST)),
    _geo("crop0.75", "crop", 0.75, center_crop(0.75), center_crop(0.75)),
]}

#: The sweep `fakedamage eval` runs by default.
DEFAULT_SWEEP = tuple(CONDITIONS)


def get_condition(name: str) -> Condition:
    """Look up a condition by name; unknown names get the valid ones."""
    try:
        return CONDITIONS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, CONDITIONS, n=2)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UsageError(f"unknown robustness condition {name!r}; {hint}valid: {', '.join(CONDITIONS)}") from None
