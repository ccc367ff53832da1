"""Consistency with the merchant's photos: is the claim a transformed copy of a reference?

Fraudsters take the merchant's listing photo (or a frame of the packing video), paint
damage into it and crop / scale / rotate / re-encode / colour-shift it. Given references,
:class:`ReferenceMatcher` finds such a copy and the regions that were changed:

1. **Shortlist** by 64-bit perceptual hash (DCT pHash) distance: the ``shortlist``
   nearest references go on (all of them when there are few).
2. **Local features**: SIFT keypoints on both images at the working resolution (longer
   side ``match_max_side``; grey levels equalised with CLAHE, so that low-contrast photos and
   colour-shifted copies still yield keypoints), nearest-neighbour matches with Lowe's ratio test, and a
   homography by RANSAC (OpenCV's MAGSAC++); a similarity transform (RANSAC) replaces it when it
   explains at least 80 % as many matches (stabler for small crops). Inlier count and ratio are reported.
3. **Alignment**: the reference is warped into the claim's frame (pre-shrunk with area
   averaging when the claim is smaller, to avoid aliasing), both are blurred a little
   (``diff_blur_sigma``) and a **photometric** fit maps reference colours to claim colours:
   one monotone curve per channel from the medians of claim values binned by reference
   value, which absorbs gain, offset, gamma, white balance and clipping and ignores the
   changed minority of pixels.
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

Only numpy, OpenCV and Pillow are imported.
"""

from __future__ import annotations

import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from .evidence import Evidence
from .fusion import AssessConfig

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


@dataclass(frozen=True, eq=False)
class ReferenceImage:
    """A merchant photo or a video frame.

    Attributes:
        name: What the reviewer sees: the file name, or ``"video.mp4@12.5s"`` for a frame.
        image: ``(H, W, 3)`` uint8 RGB.
        key: Cache key for its features (path, size and mtime), or ``None`` to not cache.
    """

    name: str
    image: np.ndarray
    key: str | None = None


@dataclass(frozen=True)
class Region:
    """A changed region, in claim pixel coordinates (full resolution).

    Attributes:
        box: ``(x0, y0, x1, y1)``, exclusive ends.
        area_fraction: Its changed pixels as a fraction of the claim's overlap with the reference.
        mean_change: Mean colour change inside it, on a ``0..1`` scale.
    """

    box: tuple[int, int, int, int]
    area_fraction: float
    mean_change: float

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "area_fraction": round(self.area_fraction, 5),
                "mean_change": round(self.mean_change, 4)}


@dataclass(eq=False)
class Match:
    """A reference aligned onto the claim.

    Attributes:
        reference: Name of the reference.
        homography: ``(3, 3)`` float64 mapping reference pixels to claim pixels (full resolution).
        n_matches: Ratio-test matches.
        n_inliers: Homography inliers.
        inlier_ratio: ``n_inliers / n_matches``.
        reprojection_px: Median distance (working-resolution pixels) between inlier keypoints
            and their reprojection: small for a copy of the same pixels.
        distortion: Largest deviation of the homography from a similarity transform over the
            matched area, as a fraction of the claim diagonal (another viewpoint: large).
        overlap: Fraction of the claim covered by the aligned reference.
        scale: Linear scale reference -> claim.
        rotation_deg: Rotation reference -> claim in degrees (counter-clockwise positive).
        reference_visible: Fraction of the reference's area that appears in the claim.
        unchanged_fraction: Fraction of the overlap whose colour did not change.
        detail_correlation: Correlation of fine detail (band-pass of the grey image) between the
            claim and the aligned reference over the unchanged overlap: near 1 for a copy of the
            same pixels, lower for another photo of the same (flat) scene.
        changed_fraction: Fraction of the overlap inside changed regions.
        regions: The changed regions, largest first.
        diff_map: ``(h, w)`` float32 in ``[0, 1]`` over the whole claim at working resolution
            (0.5 = the change threshold; 0 outside the overlap).
        changed_mask: ``(h, w)`` bool, the changed regions at working resolution.
        aligned_reference: ``(h, w, 3)`` uint8 RGB, the reference warped onto the claim after
            photometric alignment (black outside the overlap).
        is_copy: Whether it passed the derived-copy test.
        reason: Why it was or was not accepted.
    """

    reference: str
    homography: np.ndarray
    n_matches: int
    n_inliers: int
    inlier_ratio: float
    reprojection_px: float = float("nan")
    distortion: float = float("nan")
    overlap: float = 0.0
    scale: float = 1.0
    rotation_deg: float = 0.0
    reference_visible: float = 1.0
    unchanged_fraction: float = 0.0
    changed_fraction: float = 0.0
    detail_correlation: float = 0.0
    regions: list[Region] = field(default_factory=list)
    diff_map: np.ndarray | None = None
    changed_mask: np.ndarray | None = None
    aligned_reference: np.ndarray | None = None
    is_copy: bool = False
    reason: str = ""

    def summary(self) -> dict[str, Any]:
        """JSON-safe facts (no arrays)."""
        return {
            "reference": self.reference, "n_matches": self.n_matches, "n_inliers": self.n_inliers,
            "inlier_ratio": round(self.inlier_ratio, 4),
            "reprojection_px": round(self.reprojection_px, 3) if math.isfinite(self.reprojection_px) else None,
            "distortion": round(self.distortion, 4) if math.isfinite(self.distortion) else None,
            "overlap": round(self.overlap, 4),
            "scale": round(self.scale, 4), "rotation_deg": round(self.rotation_deg, 2),
            "reference_visible": round(self.reference_visible, 4),
            "unchanged_fraction": round(self.unchanged_fraction, 4), "changed_fraction": round(self.changed_fraction, 5),
            "detail_correlation": round(self.detail_correlation, 4),
            "regions": [r.to_dict() for r in self.regions], "is_copy": self.is_copy, "reason": self.reason,
            "homography": [[round(float(v), 6) for v in row] for row in self.homography],
        }


@dataclass(eq=False)
class MatchReport:
    """Outcome of matching one claim against its references.

    Attributes:
        n_references: References given.
        copy: The accepted derived copy, or ``None`` (independent photo).
        best: The strongest candidate examined (equal to ``copy`` when there is one).
        candidates: Per examined reference: name, pHash distance, matches, inliers, verdict.
        timings: Milliseconds: ``features``, ``matching``, ``alignment``, ``total``.
    """

    n_references: int
    copy: Match | None
    best: Match | None
    candidates: list[dict[str, Any]]
    timings: dict[str, float]


# --------------------------------------------------------------------------- loading


def _file_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def sample_video_frames(path: str | os.PathLike, fps: float = 2.0, max_frames: int = 120) -> list[tuple[float, np.ndarray]]:
    """Decode frames of a video at about ``fps`` frames per second.

    Args:
        path: Any video OpenCV's FFmpeg backend reads.
        fps: Frames kept per second of video (``0``: every frame).
        max_frames: Most frames returned.

    Returns:
        ``[(time_s, (H, W, 3) uint8 RGB), ...]`` in time order.

    Raises:
        ValueError: The file cannot be opened or holds no frame.
    """
    cap = cv2.VideoCapture(os.fspath(path))
    if not cap.isOpened():
        raise ValueError(f"{path}: not a readable video")
    try:
        src_fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        if not math.isfinite(src_fps) or src_fps <= 0:
            src_fps = 25.0
        step = 1 if fps <= 0 else max(1, round(src_fps / fps))
        frames: list[tuple[float, np.ndarray]] = []
        index = 0
        while len(frames) < max_frames:
            if index % step == 0:
                ok, bgr = cap.read()
                if not ok:
                    break
                frames.append((index / src_fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
            elif not cap.grab():
                break
            index += 1
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"{path}: no frame could be decoded")
    return frames


def load_references(paths: Sequence[str | os.PathLike] = (), videos: Sequence[str | os.PathLike] = (),
                    cfg: AssessConfig | None = None) -> tuple[list[ReferenceImage], list[Evidence]]:
    """Decode reference photos and sample reference videos; failures become ``reference_error`` items.

    Near-identical consecutive video frames (pHash distance <= 4) are kept once.

    Args:
        paths: Image files (any format :func:`fakedamage.runtime.load_image` reads).
        videos: Video files; frames sampled at ``cfg.video_fps``, at most ``cfg.video_max_frames`` each.
        cfg: Settings.

    Returns:
        ``(references, errors)``; at most ``cfg.max_references`` references.
    """
    from ..runtime.image_io import ImageDecodeError, load_image

    cfg = cfg or AssessConfig()
    refs: list[ReferenceImage] = []
    errors: list[Evidence] = []

    def fail(name: str, why: str) -> None:
        errors.append(Evidence("reference_error", 0.0, f"The reference {name} could not be used ({why}).",
                               "reference", {"reference": name, "error": why}))

    for p in paths:
        path = Path(p)
        try:
            refs.append(ReferenceImage(path.name, load_image(path), _file_key(path)))
        except (ImageDecodeError, OSError) as e:
            fail(path.name, " ".join(str(e).split())[:200])
    for v in videos:
        path = Path(v)
        try:
            frames = sample_video_frames(path, cfg.video_fps, cfg.video_max_frames)
        except (ValueError, OSError, cv2.error) as e:
            fail(path.name, " ".join(str(e).split())[:200])
            continue
        last: int | None = None
        base = _file_key(path) if path.exists() else None
        for t, frame in frames:
            h = phash(frame)
            if last is not None and _hamming(h, last) <= 4:
                continue
            last = h
            refs.append(ReferenceImage(f"{path.name}@{t:.1f}s", frame, f"{base}@{t:.3f}" if base else None))
    if len(refs) > cfg.max_references:
        fail(f"set ({len(refs)} images)", f"only the first {cfg.max_references} are used")
        refs = refs[: cfg.max_references]
    return refs, errors


# --------------------------------------------------------------------------- features


def _resize_max(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s >= 1.0:
        return image, 1.0
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), s


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def phash(image: np.ndarray) -> int:
    """64-bit DCT perceptual hash.

    Args:
        image: ``(H, W, 3)`` uint8 RGB or ``(H, W)`` grey.

    Returns:
        The hash as an int (bit ``i`` set when DCT coefficient ``i`` of the 8x8 low band exceeds the median).
    """
    g = image if image.ndim == 2 else _gray(image)
    small = cv2.resize(g, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].reshape(-1)
    bits = low > np.median(low[1:])
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def _hamming(a: int, b: int) -> int:
    return int(bin(a ^ b).count("1"))


@dataclass(eq=False)
class _Prepared:
    work: np.ndarray  # (h, w, 3) uint8 at working resolution
    scale: float  # work / original
    hash: int
    points: np.ndarray | None = None  # (n, 2) float32
    descriptors: np.ndarray | None = None  # (n, 128) float32


@dataclass(frozen=True)
class _Geometry:
    H: np.ndarray | None  # (3, 3) reference -> claim, working pixels
    n_matches: int
    n_inliers: int
    reprojection_px: float = float("nan")
    distortion: float = float("nan")


def _distortion(src: np.ndarray, proj: np.ndarray, diag: float) -> float:
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


class ReferenceMatcher:
    """Match claims against references; reference features are cached between claims.

    Args:
        cfg: Settings.
        cache_size: How many prepared references (keyed by :attr:`ReferenceImage.key`) to keep.

    Thread safety: one matcher per thread (OpenCV feature objects are not shared safely).
    """

    def __init__(self, cfg: AssessConfig | None = None, cache_size: int = 64) -> None:
        self.cfg = cfg or AssessConfig()
        self._cache: OrderedDict[str, _Prepared] = OrderedDict()
        self._cache_size = int(cache_size)
        self._sift = cv2.SIFT_create(nfeatures=self.cfg.max_features,
                                     contrastThreshold=self.cfg.sift_contrast_threshold)
        self._clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

    # ----------------------------------------------------------------- preparation
    def _prepare(self, image: np.ndarray, key: str | None = None) -> _Prepared:
        if key is not None and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        work, s = _resize_max(np.ascontiguousarray(image), self.cfg.match_max_side)
        prep = _Prepared(work=work, scale=s, hash=phash(work))
        if key is not None:
            self._cache[key] = prep
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return prep

    def _features(self, prep: _Prepared) -> None:
        if prep.descriptors is not None:
            return
        kps, des = self._sift.detectAndCompute(self._clahe.apply(_gray(prep.work)), None)
        prep.points = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
        prep.descriptors = des if des is not None else np.zeros((0, 128), np.float32)

    # ----------------------------------------------------------------- geometry
    def _homography(self, claim: _Prepared, ref: _Prepared) -> _Geometry:
        """Ratio-test matches and a MAGSAC++ homography from reference to claim (working pixels)."""
        cfg = self.cfg
        if len(claim.descriptors) < 2 or len(ref.descriptors) < 2:
            return _Geometry(None, 0, 0)
        knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(ref.descriptors, claim.descriptors, k=2)
        good = [p[0] for p in knn if len(p) == 2 and p[0].distance < cfg.ratio_test * p[1].distance]
        if len(good) < max(4, cfg.min_inliers):
            return _Geometry(None, len(good), 0)
        src = ref.points[[m.queryIdx for m in good]]
        dst = claim.points[[m.trainIdx for m in good]]
        H, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, cfg.ransac_reproj_px, maxIters=5000, confidence=0.999)
        if H is None or mask is None or not np.all(np.isfinite(H)):
            return _Geometry(None, len(good), 0)
        det = float(np.linalg.det(H[:2, :2]))
        inl = mask.reshape(-1).astype(bool)
        if det <= 0 or not 1e-3 < abs(det) < 1e3 or inl.sum() < 4:
            return _Geometry(None, len(good), 0)
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
        return _Geometry(H, len(good), int(inl.sum()), err, _distortion(src[inl].astype(np.float64), proj, diag))

    # ----------------------------------------------------------------- photometric + difference
    @staticmethod
    def _photometric_fit(ref: np.ndarray, claim: np.ndarray, valid: np.ndarray, bins: int = 64) -> np.ndarray:
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

    def _analyse(self, claim: _Prepared, claim_shape: tuple[int, int], ref: _Prepared, H: np.ndarray,
                 match: Match) -> None:
        """Align, difference, extract regions; fills ``match`` in place."""
        cfg = self.cfg
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
        b = self._photometric_fit(b, a, valid)
        z = _change_score(a, b, valid, cfg)
        strong = z > 1.0
        weak = (z > cfg.diff_low_fraction).astype(np.uint8)
        match.unchanged_fraction = 1.0 - float(weak[valid].mean())
        match.detail_correlation = _detail_correlation(a, b, valid & (weak == 0))
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

    # ----------------------------------------------------------------- entry point
    def match(self, claim: np.ndarray, references: Sequence[ReferenceImage]) -> MatchReport:
        """Match one claim against references.

        Args:
            claim: ``(H, W, 3)`` uint8 RGB claim image.
            references: The merchant's photos / video frames.

        Returns:
            The :class:`MatchReport`; ``copy`` is the derived copy found, if any.
        """
        cfg = self.cfg
        t0 = time.perf_counter()
        cp = self._prepare(claim)
        refs = [self._prepare(r.image, r.key) for r in references]
        order = sorted(range(len(refs)), key=lambda i: _hamming(cp.hash, refs[i].hash))[: cfg.shortlist]
        self._features(cp)
        for i in order:
            self._features(refs[i])
        t1 = time.perf_counter()
        found: list[tuple[Match, np.ndarray, int]] = []
        candidates: list[dict[str, Any]] = []
        for i in order:
            geo = self._homography(cp, refs[i])
            ratio = geo.n_inliers / geo.n_matches if geo.n_matches else 0.0
            entry = {"reference": references[i].name, "phash_distance": _hamming(cp.hash, refs[i].hash),
                     "n_matches": geo.n_matches, "n_inliers": geo.n_inliers, "inlier_ratio": round(ratio, 4)}
            candidates.append(entry)
            if geo.H is None:
                entry["verdict"] = "no homography"
                continue
            H = geo.H
            Hfull = np.diag([1 / cp.scale, 1 / cp.scale, 1.0]) @ H @ np.diag([refs[i].scale, refs[i].scale, 1.0])
            Hfull = Hfull / Hfull[2, 2]
            A = Hfull[:2, :2]
            m = Match(reference=references[i].name, homography=Hfull, n_matches=geo.n_matches,
                      n_inliers=geo.n_inliers, inlier_ratio=ratio, reprojection_px=geo.reprojection_px,
                      distortion=geo.distortion, scale=math.sqrt(abs(float(np.linalg.det(A)))),
                      rotation_deg=-math.degrees(math.atan2(float(A[1, 0]), float(A[0, 0]))))
            entry["reprojection_px"] = round(geo.reprojection_px, 3)
            entry["distortion"] = round(geo.distortion, 4)
            if geo.n_inliers < cfg.min_inliers or ratio < cfg.min_inlier_ratio:
                m.reason = entry["verdict"] = f"weak ({geo.n_inliers} inliers, ratio {ratio:.2f})"
            elif geo.distortion > cfg.max_distortion:
                m.reason = entry["verdict"] = (f"seen from another viewpoint (perspective distortion "
                                               f"{geo.distortion:.1%} of the diagonal)")
            else:
                entry["verdict"] = "candidate"
            found.append((m, H, i))
        t2 = time.perf_counter()
        found.sort(key=lambda f: -f[0].n_inliers)
        copy, best = None, (found[0][0] if found else None)
        for m, H, i in [f for f in found if f[0].reason == ""][:3]:
            self._analyse(cp, claim.shape[:2], refs[i], H, m)
            for c in candidates:
                if c["reference"] == m.reference:
                    c["verdict"] = m.reason
                    c["unchanged_fraction"] = round(m.unchanged_fraction, 4)
            if m.is_copy:
                copy = best = m
                break
        t3 = time.perf_counter()
        timings = {"features": (t1 - t0) * 1e3, "matching": (t2 - t1) * 1e3, "alignment": (t3 - t2) * 1e3,
                   "total": (t3 - t0) * 1e3}
        return MatchReport(len(references), copy, best, candidates, timings)


def _detail_correlation(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
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


def _change_score(a: np.ndarray, b: np.ndarray, valid: np.ndarray, cfg: AssessConfig) -> np.ndarray:
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


# --------------------------------------------------------------------------- evidence


def _transform_words(m: Match) -> str:
    parts = []
    if m.reference_visible < 0.95:
        parts.append("cropped")
    if abs(m.scale - 1.0) > 0.03:
        parts.append(f"scaled x{m.scale:.2f}")
    if abs(m.rotation_deg) > 0.5:
        parts.append(f"rotated {m.rotation_deg:+.1f} deg")
    return ", ".join(parts) if parts else "same framing"


def reference_evidence(report: MatchReport, cfg: AssessConfig | None = None) -> Evidence:
    """One evidence item from a :class:`MatchReport`.

    Args:
        report: What :meth:`ReferenceMatcher.match` returned.
        cfg: Strength settings.

    Returns:
        ``reference_match`` (a copy with changed regions), ``reference_copy`` (an unchanged
        copy) or ``independent_photo`` (strength 0).
    """
    cfg = cfg or AssessConfig()
    details: dict[str, Any] = {"n_references": report.n_references, "candidates": report.candidates,
                               "timings_ms": {k: round(v, 1) for k, v in report.timings.items()}}
    m = report.copy
    if m is not None:
        details["match"] = m.summary()
        how = f"{_transform_words(m)}; {m.n_inliers} matching points"
        images = {"aligned_reference": m.aligned_reference} if m.aligned_reference is not None else {}
        if m.changed_fraction >= cfg.changed_min_fraction and m.regions:
            n = len(m.regions)
            return Evidence(
                "reference_match", cfg.reference_match_strength,
                f"The claim photo is a copy of the reference {m.reference!r} ({how}) in which {n} "
                f"region{'s' if n > 1 else ''} covering {m.changed_fraction:.1%} of the picture were changed: "
                f"the damage was added to the merchant's own photo.",
                "reference", details, m.diff_map, "difference against the matched reference", images,
                m.changed_mask)
        return Evidence(
            "reference_copy", cfg.reference_copy_strength,
            f"The claim photo is a copy of the reference {m.reference!r} ({how}) with no visible change: it shows "
            f"the merchant's photo, not the customer's own item.",
            "reference", details, m.diff_map, "difference against the matched reference", images)
    n = report.n_references
    b = report.best
    among = "the reference image" if n == 1 else f"any of the {n} reference images"
    if b is not None and b.n_inliers >= cfg.min_inliers and b.inlier_ratio >= cfg.min_inlier_ratio:
        details["best"] = b.summary()
        text = (f"The claim photo shows the same scene as the reference {b.reference!r} ({b.n_inliers} matching "
                f"points) but is not a copy of it ({b.reason}), so it is an independent photo.")
    else:
        best = f"; best: {b.n_inliers} matching points with {b.reference!r}" if b is not None else ""
        text = f"The claim photo is not derived from {among}{best}, so it is an independent photo."
    return Evidence("independent_photo", 0.0, text, "reference", details)
