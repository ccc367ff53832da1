"""Step 4: one evidence item from a match report: copy with changes, unchanged copy, or independent photo."""

from __future__ import annotations

from typing import Any

from ..evidence import Evidence
from ..settings import AssessConfig
from .records import Match, MatchReport

__all__ = ["reference_evidence"]


def _transform_words(m: Match) -> str:
    """How the copy was transformed, in words: ``"cropped, scaled x0.80, rotated +3.0 deg"``."""
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
