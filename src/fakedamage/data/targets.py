"""Localisation targets: which pixels of a manifest image were produced by a generator.

The rule, applied the same way in training (mask loss) and evaluation (pixel F1/IoU):

* real images (``pristine``, ``real_damage``): no generated pixel, an all-zero map;
* ``inpaint_full`` and ``reconstruction``: every pixel passed through the generator's
  decoder, an all-one map;
* other fakes (``inpaint_pasted``, imported edits): the manifest's mask (> 127);
* a fake with no usable mask: unknown (``None``), the mask loss skips it.

Only fakes with a partial map (pasted edits) enter the pixel metrics, where locating
the edit is the question; whole-image maps would make F1 trivial.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .manifest import Sample

__all__ = ["WHOLE_IMAGE_VARIANTS", "region_target", "has_partial_region"]

#: Fake variants whose every pixel went through a generator.
WHOLE_IMAGE_VARIANTS = ("inpaint_full", "reconstruction")


def has_partial_region(sample: Sample) -> bool:
    """True for fakes whose generated region is a mask (the pixel-metric population)."""
    return sample.label == 1 and sample.variant not in WHOLE_IMAGE_VARIANTS and bool(sample.mask_path)


def region_target(sample: Sample, root: str | Path, shape: tuple[int, int]) -> np.ndarray | None:
    """Generated-pixel map of a manifest image.

    Args:
        sample: Manifest row.
        root: Folder the manifest's relative paths start from.
        shape: ``(H, W)`` of the decoded image.

    Returns:
        ``(H, W)`` bool array, or ``None`` when unknown (fake without a mask of this shape).
    """
    if sample.label == 0:
        return np.zeros(shape, bool)
    if sample.variant in WHOLE_IMAGE_VARIANTS:
        return np.ones(shape, bool)
    if not sample.mask_path:
        return None
    try:
        with Image.open(Path(root) / sample.mask_path) as m:
            mask = np.asarray(m.convert("L")) > 127
    except OSError:
        return None
    return mask if mask.shape == tuple(shape) else None
