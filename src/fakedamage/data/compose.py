"""Compose the content-aligned pair from one crop: painted damage made to look photographed,
pasted back as is (``real_damage``) or after a generator (``inpaint_pasted``).

Shared by the crop builder (:mod:`fakedamage.data.synth`) and whole-photo claims
(:mod:`fakedamage.data.whole`).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["paste_back", "simulate_capture", "content_aligned_pair"]


def _feathered(mask: np.ndarray, feather: float) -> np.ndarray:
    m = (mask > 0.05).astype(np.float32)
    if feather > 0:
        k = int(2 * round(3 * feather) + 1)
        m = cv2.dilate(m, np.ones((3, 3), np.uint8), iterations=max(1, int(feather)))
        m = cv2.GaussianBlur(m, (k, k), feather)
    return m


def paste_back(real: np.ndarray, generated: np.ndarray, mask: np.ndarray, feather: float) -> np.ndarray:
    """Composite generated pixels into the real image inside a feathered mask.

    Pixels where the feathered mask is 0 keep the real value exactly.

    Args:
        real: ``(H, W, 3)`` uint8.
        generated: ``(H, W, 3)`` uint8.
        mask: ``(H, W)`` float in ``[0, 1]``.
        feather: Gaussian sigma of the edge in pixels (0: hard edge).
    """
    m = _feathered(mask, feather)[..., None]
    out = real.astype(np.float32) * (1 - m) + generated.astype(np.float32) * m
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    keep = m[..., 0] == 0
    out[keep] = real[keep]
    return out


def simulate_capture(painted: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Make painted damage look photographed, at random: left crisp, optically blurred, or
    blurred with sensor noise (about a third each), inside the damage region only.

    The result is the *damaged photo* that both classes start from: pasted back as is it is a
    ``real_damage`` hard negative, passed through a generator it becomes a fake. Softening is
    never tied to one class, so "soft damage = real" cannot be learned. Pixels where
    ``mask == 0`` are returned unchanged.

    Args:
        painted: ``(H, W, 3)`` uint8, damage painted in.
        mask: ``(H, W)`` float alpha of the damage.
        rng: Source of the choice and its parameters.
    """
    style = rng.random()
    if style < 1 / 3:
        return painted
    soft = cv2.GaussianBlur(painted.astype(np.float32), (0, 0), float(rng.uniform(0.3, 0.9)))
    if style >= 2 / 3:
        soft += rng.normal(0.0, float(rng.uniform(0.5, 2.0)), soft.shape).astype(np.float32)
    out = np.clip(np.round(soft), 0, 255).astype(np.uint8)
    return np.where((mask > 0)[..., None], out, painted)


def content_aligned_pair(real: np.ndarray, damaged: np.ndarray, regenerated: np.ndarray, mask: np.ndarray,
                         feather: float) -> tuple[np.ndarray, np.ndarray]:
    """``(real_damage, inpaint_pasted)`` from one damaged image and the generator's output for it.

    Both paste into ``real`` with the same feathered mask; they differ only where the mask is
    non-zero, and only by ``regenerated - damaged`` (the generator's traces).

    Args:
        real: ``(H, W, 3)`` uint8, the untouched crop.
        damaged: ``(H, W, 3)`` uint8, damage painted (:func:`simulate_capture` applied).
        regenerated: ``(H, W, 3)`` uint8, the generator's output for ``damaged``.
        mask: ``(H, W)`` float alpha of the damage.
        feather: Paste-back edge sigma (px).
    """
    return paste_back(real, damaged, mask, feather), paste_back(real, regenerated, mask, feather)
