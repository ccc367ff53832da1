"""What reference matching consumes and produces: references, aligned matches, changed regions, reports.

:class:`ReferenceImage` is a merchant photo or video frame (from :mod:`.loading` or the
caller); :class:`Match` is one reference aligned onto the claim with its difference map and
changed :class:`Region` s (filled by :mod:`.geometry` and :mod:`.alignment`);
:class:`MatchReport` is the outcome for one claim (:mod:`.matcher`), turned into evidence by
:mod:`.verdict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ReferenceImage", "Region", "Match", "MatchReport"]


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
        """JSON-safe form: box as a list, fractions rounded."""
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
