"""Consistency with the merchant's photos: is the claim a transformed copy of a reference?

Fraudsters take the merchant's listing photo (or a frame of the packing video), paint
damage into it and crop / scale / rotate / re-encode / colour-shift it. Given references
(decoded by :mod:`.loading`), :class:`ReferenceMatcher` (:mod:`.matcher`) finds such a copy
and the regions that were changed, one module per step:

1. **Shortlist** (:mod:`.hashing`) by 64-bit perceptual hash (DCT pHash) distance: the
   ``shortlist`` nearest references go on (all of them when there are few).
2. **Local features** (:mod:`.geometry`): SIFT keypoints on both images at the working
   resolution (longer side ``match_max_side``; grey levels equalised with CLAHE, so that
   low-contrast photos and colour-shifted copies still yield keypoints), nearest-neighbour
   matches with Lowe's ratio test, and a homography by RANSAC (OpenCV's MAGSAC++); a
   similarity transform (RANSAC) replaces it when it explains at least 80 % as many matches
   (stabler for small crops). Inlier count and ratio are reported.
3. **Alignment** (:mod:`.alignment`, as are steps 4 and 5): the reference is warped into the
   claim's frame (pre-shrunk with area averaging when the claim is smaller, to avoid
   aliasing), both are blurred a little (``diff_blur_sigma``) and a **photometric** fit maps
   reference colours to claim colours: one monotone curve per channel from the medians of
   claim values binned by reference value, which absorbs gain, offset, gamma, white balance
   and clipping and ignores the changed minority of pixels.
4. **Difference map**: per pixel the largest colour change beyond the 3x3 neighbourhood
   range of the aligned reference (which forgives residual sub-pixel misalignment at edges),
   thresholded at ``max(diff_min_level, diff_noise_k * robust sigma)`` with hysteresis at
   half the threshold.
5. **Changed regions**: components too small to matter dropped, a morphological closing,
   connected components again; each region gets a box in claim pixels.

A match is a **derived copy** when the homography has ``>= min_inliers`` inliers and an
inlier ratio ``>= min_inlier_ratio``, is close to a similarity transform (crop / scale /
rotation: deviation ``<= max_distortion`` of the claim diagonal), the aligned reference covers
``>= min_overlap`` of the claim, ``>= min_unchanged_fraction`` of that overlap is unchanged and
the unchanged part repeats the reference's fine detail (band-pass correlation
``>= min_detail_correlation``). A homography that fits only part of the picture, a flat
object seen from another viewpoint, or another photo of the same scene (parallax, its own
blur and noise) fails one of these and the claim counts as an **independent photo**.

:func:`reference_evidence` (:mod:`.verdict`) turns the outcome into one evidence item; the
data types are in :mod:`.records`.

Only numpy, OpenCV and Pillow are imported.
"""

from __future__ import annotations

from .hashing import phash
from .loading import load_references, sample_video_frames
from .matcher import ReferenceMatcher
from .records import Match, MatchReport, ReferenceImage, Region
from .verdict import reference_evidence

__all__ = [
    "ReferenceImage",
    "Region",
    "Match",
    "MatchReport",
    "ReferenceMatcher",
    "load_references",
    "sample_video_frames",
    "phash",
    "reference_evidence",
]
