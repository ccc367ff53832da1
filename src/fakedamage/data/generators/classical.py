"""A non-AI editor: procedural damage blended into the photo with OpenCV.

The painted damage is blended with Poisson seamless cloning (``cv2.seamlessClone``)
and its outline smoothed with Telea inpainting (``cv2.inpaint``), what a manual
photo editor does. Nothing outside the (dilated) mask changes and no decoder runs,
so this generator has only the ``inpaint_pasted`` variant. Its fakes test whether a
detector trained on learned generators also flags hand edits.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...errors import UsageError
from .base import register_generator

__all__ = ["ClassicalGenerator"]


@register_generator("classical")
class ClassicalGenerator:
    """Seamless-clone + inpainting blend of painted damage.

    Args:
        name: Manifest name.
        mode: ``normal`` or ``mixed`` seamless cloning.
        inpaint_radius: Radius (px) of the Telea inpainting of the outline.
    """

    decodes_whole_image = False
    uses_prompt = False

    def __init__(self, name: str = "classical", mode: str = "mixed", inpaint_radius: int = 2) -> None:
        if mode not in ("normal", "mixed"):
            raise UsageError(f"mode must be 'normal' or 'mixed', got {mode!r}")
        self.name = name
        self.flag = cv2.NORMAL_CLONE if mode == "normal" else cv2.MIXED_CLONE
        self.inpaint_radius = int(inpaint_radius)

    def regenerate(self, image: np.ndarray, mask: np.ndarray, prompt: str = "", seed: int = 0) -> np.ndarray:
        """``(H, W, 3)`` uint8 painted image and ``(H, W)`` mask -> blended image."""
        m = (mask > 0.05).astype(np.uint8) * 255
        if not m.any():
            return image.copy()
        m = cv2.dilate(m, np.ones((3, 3), np.uint8), iterations=2)
        # seamlessClone needs the mask's bounding box strictly inside the image
        m[:1], m[-1:], m[:, :1], m[:, -1:] = 0, 0, 0, 0
        if not m.any():
            return image.copy()
        ys, xs = np.nonzero(m)
        center = (int((xs.min() + xs.max() + 1) // 2), int((ys.min() + ys.max() + 1) // 2))
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        try:
            out = cv2.seamlessClone(bgr, bgr.copy(), m.copy(), center, self.flag)  # OpenCV may write to the mask
        except cv2.error:
            out = bgr.copy()
        edge = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        if self.inpaint_radius > 0 and edge.any():
            out = cv2.inpaint(out, edge, self.inpaint_radius, cv2.INPAINT_TELEA)
        out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
        keep = m == 0
        out[keep] = image[keep]  # pixels outside the dilated mask stay exactly as they were
        return out
