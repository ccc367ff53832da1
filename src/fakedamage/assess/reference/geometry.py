"""Step 2: local features and geometry, reference -> claim.

Both images are brought to the working resolution (longer side ``match_max_side``; a
:class:`Prepared` copy, cached per reference by :class:`~.matcher.ReferenceMatcher`); SIFT
keypoints are found on grey levels equalised with CLAHE (so low-contrast photos and
colour-shifted copies still yield keypoints); nearest-neighbour matches pass Lowe's ratio
test; a homography is fitted by RANSAC (OpenCV's MAGSAC++), and a similarity transform
(RANSAC) replaces it when it explains at least 80 % as many matches (stabler for small
crops). The result (:class:`Geometry`) carries the inlier count, the median reprojection
error and the homography's :func:`similarity_distortion` (its deviation from a similarity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..settings import AssessConfig
from .hashing import gray

__all__ = ["Prepared", "Geometry", "resize_max", "similarity_distortion", "detect_features", "estimate_homography"]


def resize_max(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """``(image shrunk so its longer side is at most max_side (area averaging), scale factor)``."""
    h, w = image.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s >= 1.0:
        return image, 1.0
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), s


@dataclass(eq=False)
class Prepared:
    """An image at the working resolution, with its hash and (once computed) its SIFT features."""

    work: np.ndarray  # (h, w, 3) uint8 at working resolution
    scale: float  # work / original
    hash: int
    points: np.ndarray | None = None  # (n, 2) float32
    descriptors: np.ndarray | None = None  # (n, 128) float32


@dataclass(frozen=True)
class Geometry:
    """A fitted transform reference -> claim (``H is None``: none found) and how well it fits."""

    H: np.ndarray | None  # (3, 3) reference -> claim, working pixels
    n_matches: int
    n_inliers: int
    reprojection_px: float = float("nan")
    distortion: float = float("nan")


def similarity_distortion(src: np.ndarray, proj: np.ndarray, diag: float) -> float:
    """How far a homography is from a similarity (crop / scale / rotation), over the matched area.

    Args:
        src: ``(n, 2)`` reference points.
        proj: ``(n, 2)`` the same points mapped by the homography.
        diag: Claim diagonal in the same pixels.

    Returns:
        Largest distance between the homography's and the best similarity's mapping, divided by
        ``diag``: about 0 for a cropped/scaled/rotated copy, large for another viewpoint.
    """
    n = len(src)
    A = np.zeros((2 * n, 4))
    A[0::2] = np.column_stack([src[:, 0], -src[:, 1], np.ones(n), np.zeros(n)])
    A[1::2] = np.column_stack([src[:, 1], src[:, 0], np.zeros(n), np.ones(n)])
    p, *_ = np.linalg.lstsq(A, proj.reshape(-1), rcond=None)
    fit = (A @ p).reshape(-1, 2)
    return float(np.linalg.norm(fit - proj, axis=1).max() / max(diag, 1.0))


def detect_features(prep: Prepared, sift: cv2.SIFT, clahe: cv2.CLAHE) -> None:
    """Fill ``prep.points`` and ``prep.descriptors`` (once) with SIFT on CLAHE-equalised grey levels."""
    if prep.descriptors is not None:
        return
    kps, des = sift.detectAndCompute(clahe.apply(gray(prep.work)), None)
    prep.points = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
    prep.descriptors = des if des is not None else np.zeros((0, 128), np.float32)


def estimate_homography(claim: Prepared, ref: Prepared, cfg: AssessConfig) -> Geometry:
    """Ratio-test matches and a MAGSAC++ homography from reference to claim (working pixels)."""
    if len(claim.descriptors) < 2 or len(ref.descriptors) < 2:
        return Geometry(None, 0, 0)
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(ref.descriptors, claim.descriptors, k=2)
    good = [p[0] for p in knn if len(p) == 2 and p[0].distance < cfg.ratio_test * p[1].distance]
    if len(good) < max(4, cfg.min_inliers):
        return Geometry(None, len(good), 0)
    src = ref.points[[m.queryIdx for m in good]]
    dst = claim.points[[m.trainIdx for m in good]]
    H, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, cfg.ransac_reproj_px, maxIters=5000, confidence=0.999)
    if H is None or mask is None or not np.all(np.isfinite(H)):
        return Geometry(None, len(good), 0)
    det = float(np.linalg.det(H[:2, :2]))
    inl = mask.reshape(-1).astype(bool)
    if det <= 0 or not 1e-3 < abs(det) < 1e3 or inl.sum() < 4:
        return Geometry(None, len(good), 0)
    # a crop/scale/rotation is a similarity: prefer that restricted model when it explains the
    # matches about as well (it is stable with few or clustered points)
    S, smask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                           ransacReprojThreshold=cfg.ransac_reproj_px, maxIters=5000,
                                           confidence=0.999)
    if S is not None and smask is not None and smask.sum() >= 0.8 * inl.sum():
        H, inl = np.vstack([S, [0.0, 0.0, 1.0]]), smask.reshape(-1).astype(bool)
    proj = cv2.perspectiveTransform(src[inl].reshape(-1, 1, 2).astype(np.float64), H).reshape(-1, 2)
    err = float(np.median(np.linalg.norm(proj - dst[inl], axis=1)))
    diag = math.hypot(*claim.work.shape[:2])
    return Geometry(H, len(good), int(inl.sum()), err, similarity_distortion(src[inl].astype(np.float64), proj, diag))
