"""The reference matcher: runs the steps for one claim and keeps prepared references between claims.

For each claim: shortlist references by perceptual hash (:mod:`.hashing`), match local
features and fit a transform (:mod:`.geometry`), reject weak or perspective matches, then
align, difference and test the strongest (at most three) candidates in turn
(:mod:`.alignment`) until one is a derived copy. Returns a
:class:`~.records.MatchReport`; :mod:`.verdict` words it as evidence.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any, Sequence

import cv2
import numpy as np

from ..settings import AssessConfig
from .alignment import analyse
from .geometry import Prepared, detect_features, estimate_homography, resize_max
from .hashing import hamming, phash
from .records import Match, MatchReport, ReferenceImage

__all__ = ["ReferenceMatcher"]


class ReferenceMatcher:
    """Match claims against references; reference features are cached between claims.

    Args:
        cfg: Settings.
        cache_size: How many prepared references (keyed by :attr:`ReferenceImage.key`) to keep.

    Thread safety: one matcher per thread (OpenCV feature objects are not shared safely).
    """

    def __init__(self, cfg: AssessConfig | None = None, cache_size: int = 64) -> None:
        self.cfg = cfg or AssessConfig()
        self._cache: OrderedDict[str, Prepared] = OrderedDict()
        self._cache_size = int(cache_size)
        self._sift = cv2.SIFT_create(nfeatures=self.cfg.max_features,
                                     contrastThreshold=self.cfg.sift_contrast_threshold)
        self._clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

    # ----------------------------------------------------------------- preparation
    def _prepare(self, image: np.ndarray, key: str | None = None) -> Prepared:
        """The working-resolution copy of ``image``, from the cache when ``key`` was seen."""
        if key is not None and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        work, s = resize_max(np.ascontiguousarray(image), self.cfg.match_max_side)
        prep = Prepared(work=work, scale=s, hash=phash(work))
        if key is not None:
            self._cache[key] = prep
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return prep

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
        order = sorted(range(len(refs)), key=lambda i: hamming(cp.hash, refs[i].hash))[: cfg.shortlist]
        detect_features(cp, self._sift, self._clahe)
        for i in order:
            detect_features(refs[i], self._sift, self._clahe)
        t1 = time.perf_counter()
        found: list[tuple[Match, np.ndarray, int]] = []
        candidates: list[dict[str, Any]] = []
        for i in order:
            geo = estimate_homography(cp, refs[i], cfg)
            ratio = geo.n_inliers / geo.n_matches if geo.n_matches else 0.0
            entry = {"reference": references[i].name, "phash_distance": hamming(cp.hash, refs[i].hash),
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
            analyse(cp, claim.shape[:2], refs[i], H, m, cfg)
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
