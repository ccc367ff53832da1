"""Step 3: align a reference onto the claim, map what changed, and test for a derived copy.

The reference is warped into the claim's frame (pre-shrunk with area averaging when the
claim is smaller, to avoid aliasing), both are blurred a little (``diff_blur_sigma``) and a
**photometric** fit maps reference colours to claim colours (:func:`photometric_fit`). The
**difference map** (:func:`change_score`) is thresholded with hysteresis; **changed regions**
are the components left after dropping specks and a morphological closing, each boxed in
claim pixels. The match is a derived copy when enough of the overlap is unchanged and the
unchanged part repeats the reference's fine detail (:func:`detail_correlation`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..settings import AssessConfig
from .geometry import Prepared
from .records import Match, Region

__all__ = ["photometric_fit", "change_score", "detail_correlation", "analyse"]


def photometric_fit(ref: np.ndarray, claim: np.ndarray, valid: np.ndarray, bins: int = 64) -> np.ndarray:
    """Map reference colours to claim colours with one monotone curve per channel.

    For each channel the claim values of the overlap are binned by reference value and
    the bin medians form a look-up curve (linearly interpolated, then made monotone);
    medians ignore the changed minority of pixels, and curves absorb gain, offset, gamma,
    white balance and clipping.

    Args:
        ref: ``(h, w, 3)`` float32 aligned reference in ``[0, 1]``.
        claim: ``(h, w, 3)`` float32 claim in ``[0, 1]``.
        valid: ``(h, w)`` bool overlap.
        bins: Curve resolution.

    Returns:
        ``(h, w, 3)`` float32 reference in the claim's colours.
    """
    if int(valid.sum()) < 50:
        return ref
    out = np.empty_like(ref)
    centers = (np.arange(bins) + 0.5) / bins
    for ch in range(3):
        r = ref[..., ch][valid]
        c = claim[..., ch][valid]
        idx = np.minimum((r * bins).astype(np.int64), bins - 1)
        order = np.argsort(idx, kind="stable")
        idx_s, c_s = idx[order], c[order]
        starts = np.searchsorted(idx_s, np.arange(bins))
        ends = np.searchsorted(idx_s, np.arange(bins), side="right")
        xs, ys = [], []
        for k in range(bins):
            if ends[k] - starts[k] >= 20:
                xs.append(centers[k])
                ys.append(float(np.median(c_s[starts[k] : ends[k]])))
        if len(xs) < 2:
            out[..., ch] = ref[..., ch] + float(np.median(c - r))
            continue
        curve = np.maximum.accumulate(np.asarray(ys))
        out[..., ch] = np.interp(ref[..., ch], np.asarray(xs), curve)
    return np.clip(out, 0.0, 1.0)


def detail_correlation(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """Correlation of band-pass grey detail (difference of Gaussians, sigma 1 and 3) over ``where``.

    Args:
        a: ``(h, w, 3)`` float32 claim in ``[0, 1]``.
        b: ``(h, w, 3)`` float32 aligned reference in ``[0, 1]``.
        where: ``(h, w)`` bool pixels to compare.

    Returns:
        Correlation in ``[-1, 1]`` (0 when there is nothing to compare).
    """
    if int(where.sum()) < 100:
        return 0.0
    out = []
    for img in (a, b):
        g = img.mean(axis=2)
        out.append((cv2.GaussianBlur(g, (0, 0), 1.0) - cv2.GaussianBlur(g, (0, 0), 3.0))[where])
    x, y = out
    x, y = x - x.mean(), y - y.mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else 0.0


def change_score(a: np.ndarray, b: np.ndarray, valid: np.ndarray, cfg: AssessConfig) -> np.ndarray:
    """Per-pixel change in units of the detection threshold (``> 1``: changed).

    The change is the largest channel difference beyond the 3x3 neighbourhood range of the
    aligned reference (which forgives residual sub-pixel misalignment at edges); the
    threshold is ``max(diff_min_level, diff_noise_k * robust sigma)``.

    Args:
        a: ``(h, w, 3)`` float32 claim in ``[0, 1]``.
        b: ``(h, w, 3)`` float32 aligned, photometrically fitted reference in ``[0, 1]``.
        valid: ``(h, w)`` bool overlap.
        cfg: Thresholds.

    Returns:
        ``(h, w)`` float32 score, 0 outside ``valid``.
    """
    kernel = np.ones((3, 3), np.uint8)
    hi, lo = cv2.dilate(b, kernel), cv2.erode(b, kernel)
    d = np.maximum(np.maximum(a - hi, lo - a), 0.0).max(axis=2)
    thr = max(cfg.diff_min_level, cfg.diff_noise_k * 1.4826 * float(np.median(d[valid])))
    z = d / thr
    z[~valid] = 0.0
    return z.astype(np.float32)


def analyse(claim: Prepared, claim_shape: tuple[int, int], ref: Prepared, H: np.ndarray, match: Match,
            cfg: AssessConfig) -> None:
    """Align ``ref`` onto ``claim`` with ``H``, difference them, extract changed regions; fills ``match`` in place.

    Args:
        claim: The claim at working resolution.
        claim_shape: ``(H, W)`` of the full-resolution claim (region boxes are in its pixels).
        ref: The reference at working resolution.
        H: ``(3, 3)`` reference -> claim homography in working pixels.
        match: Filled: overlap, unchanged / changed fractions, detail correlation, regions,
            maps, ``is_copy`` and ``reason``.
        cfg: Thresholds.
    """
    ch, cw = claim.work.shape[:2]
    # anti-aliasing: shrink the reference first when the claim is smaller
    sc = math.sqrt(abs(float(np.linalg.det(H[:2, :2]))))
    src, Hs = ref.work, H
    if sc < 0.8:
        rh, rw = ref.work.shape[:2]
        src = cv2.resize(ref.work, (max(1, round(rw * sc)), max(1, round(rh * sc))), interpolation=cv2.INTER_AREA)
        Hs = H @ np.diag([rw / src.shape[1], rh / src.shape[0], 1.0])
    warped = cv2.warpPerspective(src, Hs, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    ones = np.full(src.shape[:2], 255, np.uint8)
    valid = cv2.warpPerspective(ones, Hs, (cw, ch), flags=cv2.INTER_NEAREST) > 0
    margin = 2 + int(math.ceil(2 * cfg.diff_blur_sigma))
    valid = cv2.erode(valid.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0
    n_valid = int(valid.sum())
    match.overlap = n_valid / float(ch * cw)
    ref_area = ref.work.shape[0] * ref.work.shape[1] * sc * sc
    match.reference_visible = min(1.0, n_valid / max(ref_area, 1.0))
    if n_valid < 100 or match.overlap < cfg.min_overlap:
        match.reason = f"the aligned reference covers only {match.overlap:.0%} of the claim"
        return
    a = claim.work.astype(np.float32) / 255.0
    b = warped.astype(np.float32) / 255.0
    if cfg.diff_blur_sigma > 0:
        a = cv2.GaussianBlur(a, (0, 0), cfg.diff_blur_sigma)
        b = cv2.GaussianBlur(b, (0, 0), cfg.diff_blur_sigma)
    b = photometric_fit(b, a, valid)
    z = change_score(a, b, valid, cfg)
    strong = z > 1.0
    weak = (z > cfg.diff_low_fraction).astype(np.uint8)
    match.unchanged_fraction = 1.0 - float(weak[valid].mean())
    match.detail_correlation = detail_correlation(a, b, valid & (weak == 0))
    # hysteresis: weak components that contain a strong pixel
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    changed = keep[labels]
    # drop specks, close gaps, label regions
    min_px = max(6, int(cfg.region_min_area_fraction * n_valid))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(changed.astype(np.uint8), connectivity=8)
    big = np.zeros(n, bool)
    big[1:] = stats[1:, cv2.CC_STAT_AREA] >= max(3, min_px // 4)
    changed = big[labels]
    k = max(3, int(round(0.006 * max(ch, cw))) | 1)
    closed = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    closed &= valid
    n, labels, stats, _ = cv2.connectedComponentsWithStats(closed.astype(np.uint8), connectivity=8)
    inv = 1.0 / claim.scale
    regions, final = [], np.zeros_like(closed)
    for i in range(1, n):
        area = int(stats[i, cv2.CC_STAT_AREA])
        if area < min_px:
            continue
        x, y, w, h = (int(v) for v in stats[i, :4])
        comp = labels == i
        final |= comp
        box = (int(x * inv), int(y * inv), min(claim_shape[1], int(math.ceil((x + w) * inv))),
               min(claim_shape[0], int(math.ceil((y + h) * inv))))
        regions.append(Region(box, area / n_valid, float(np.abs(a - b)[comp].max(axis=1).mean())))
    regions.sort(key=lambda r: -r.area_fraction)
    match.regions = regions
    match.changed_mask = final
    match.changed_fraction = float(final.sum()) / n_valid
    match.diff_map = np.clip(0.5 * z, 0.0, 1.0).astype(np.float32)
    aligned = np.clip(b * 255.0 + 0.5, 0, 255).astype(np.uint8)
    aligned[~valid] = 0
    match.aligned_reference = aligned
    if match.unchanged_fraction < cfg.min_unchanged_fraction:
        match.reason = (f"only {match.unchanged_fraction:.0%} of the overlap is unchanged: a similar view, "
                        f"not a copy")
        return
    if match.detail_correlation < cfg.min_detail_correlation:
        match.reason = (f"its fine detail does not match the reference (correlation "
                        f"{match.detail_correlation:.2f}): another photo of the same scene")
        return
    match.is_copy = True
    match.reason = "derived copy"
