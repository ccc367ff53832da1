"""Fuse evidence into a verdict with one transparent rule; all numbers live in
:class:`~fakedamage.assess.settings.AssessConfig`.

Every :class:`~fakedamage.assess.evidence.Evidence` item carries a signed strength in
``[-1, 1]``: ``> 0`` supports "AI-edited", ``< 0`` supports "authentic", ``0`` informs only.
Let ``P`` be the largest positive strength (0 if none) and ``N`` the largest negative
strength's magnitude among items of **positive provenance** (kinds in
:data:`AUTHENTICITY_KINDS`; 0 if none). The verdict is the first rule that holds:

1. ``P >= ai_threshold``         -> ``likely_ai_edited``, decided by every item with strength ``>= ai_threshold``;
2. ``P >= review_threshold``     -> ``needs_review``, decided by every item with strength ``>= review_threshold``;
3. ``N >= authentic_threshold`` and ``N > 0`` -> ``likely_authentic``, decided by every positive-provenance
   item with strength ``<= -authentic_threshold``;
4. otherwise                     -> ``needs_review``, decided by nothing ("no evidence strong enough either way").

No single weak signal can declare a claim authentic. The detector's negative strength (a low
score, down to ``-detector_max_authentic``) is shown to the reviewer but never counts towards
rule 3, whatever its size: the detector has not seen every generator, so a low score is not
proof. ``likely_authentic`` needs positive provenance, and today the only such evidence is a
valid C2PA content credential, signed by a trusted signer, that declares an unedited camera
capture (``c2pa_manifest`` with strength ``-c2pa_trusted_capture_strength``). An unchanged copy
of a merchant reference (``reference_copy``) is not: the claim then shows the merchant's own
photo, not the customer's item, so it supports review (``+reference_copy_strength``).

The score is ``P``: the strength of the strongest single item supporting AI editing, so
``score >= ai_threshold`` exactly when the verdict is ``likely_ai_edited``. Evidence is not
accumulated: a verdict always rests on named items a reviewer can check one by one, and
evidence for AI editing outranks evidence for authenticity (a fraud signal needs a person
to clear it). Absent labels and "independent photo" have strength 0: they never make a
photo look authentic, and neither does a low detector score on its own.

Strengths given to each kind of finding (see ``configs/assess.yaml``):

============================================  ==========================================
finding                                       strength
============================================  ==========================================
GB 45438 label ``Label=1``, C2PA/IPTC AI      ``label_strength`` (0.95)
source type, IPTC ``AISystemUsed``
visible AI label read exactly by OCR, OCR     ``explicit_label_strength`` (0.95): as strong
confidence >= explicit_label_min_confidence   as an implicit label
visible AI label, near match or low OCR       ``explicit_label_weak_strength`` (0.6)
confidence
GB 45438 ``Label=2/3`` (possibly/suspected)   ``possible_label_strength`` (0.75)
claim = transformed reference + changed area  ``reference_match_strength`` (0.95)
SD/SDXL invisible watermark                   ``watermark_strength`` (0.9)
AI tool generation parameters                 ``generation_parameters_strength`` (0.9)
Software/CreatorTool names an AI generator    ``ai_software_strength`` (0.85)
pixel detector, score ``s``, threshold ``t``  ``s >= t``: linear from
                                              ``detector_strength_at_threshold`` (0.35) at
                                              ``t`` to ``detector_max_strength`` (0.85) at 1;
                                              ``s < t``: linear from 0 at ``t`` to
                                              ``-detector_max_authentic`` (-0.5) at 0
                                              (shown only: never counts for rule 3)
C2PA manifest that fails validation           ``c2pa_invalid_strength`` (0.5)
claim = unchanged copy of a reference         ``reference_copy_strength`` (0.5)
malformed / hostile metadata                  ``metadata_error_strength`` (0.4)
Software names a photo editor                 ``editing_software_strength`` (0.35)
valid, trusted C2PA camera capture            ``-c2pa_trusted_capture_strength`` (-0.4);
                                              positive provenance (counts for rule 3)
no label, independent photo, other software   0
============================================  ==========================================

The settings themselves (:class:`~fakedamage.assess.settings.AssessConfig`, :func:`load_config`)
live in :mod:`fakedamage.assess.settings`; they are re-exported here for older callers.

Only the standard library is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .evidence import Evidence
from .settings import AssessConfig, default_config_path, load_config

__all__ = [
    "AUTHENTICITY_KINDS",
    "AssessConfig",
    "Decision",
    "VERDICTS",
    "fuse",
    "detector_strength",
    "default_config_path",
    "load_config",
]


#: The three verdicts, from most to least suspicious.
VERDICTS: tuple[str, ...] = ("likely_ai_edited", "needs_review", "likely_authentic")

#: Positive provenance: the only evidence kinds whose negative strength counts for rule 3
#: (``likely_authentic``). ``c2pa_manifest`` is negative only for a valid, trusted C2PA
#: credential declaring an unedited camera capture. The detector, "no label", "independent
#: photo" and ``reference_copy`` (the merchant's own photo, +0.5) are deliberately absent.
AUTHENTICITY_KINDS: frozenset[str] = frozenset({"c2pa_manifest"})


def detector_strength(score: float, threshold: float, cfg: AssessConfig) -> float:
    """Map a detector probability to a signed evidence strength (see the module docstring).

    Args:
        score: Detector probability in ``[0, 1]``.
        threshold: The detector's calibrated decision threshold in ``(0, 1)``.
        cfg: Strength settings.

    Returns:
        Strength in ``[-detector_max_authentic, detector_max_strength]``.
    """
    s = min(max(float(score), 0.0), 1.0)
    t = min(max(float(threshold), 1e-6), 1.0 - 1e-6)
    if s >= t:
        lo, hi = cfg.detector_strength_at_threshold, cfg.detector_max_strength
        return lo + (hi - lo) * (s - t) / (1.0 - t)
    return -cfg.detector_max_authentic * (t - s) / t


@dataclass(frozen=True)
class Decision:
    """Outcome of :func:`fuse`.

    Attributes:
        verdict: One of :data:`VERDICTS`.
        score: ``P``, the strongest support for AI editing, in ``[0, 1]``.
        decided_by: Indices (into the evidence list) of the items that decided the verdict.
        rule: Which rule of the module docstring fired (1-4).
        reason: One sentence naming the deciding evidence.
    """

    verdict: str
    score: float
    decided_by: tuple[int, ...]
    rule: int
    reason: str


_VERDICT_WORDS = {
    "likely_ai_edited": "Likely AI-edited",
    "needs_review": "Needs review",
    "likely_authentic": "Likely authentic",
}


def _because(verdict: str, items: Sequence[Evidence]) -> str:
    names = ", ".join(f"{e.kind} ({e.strength:+.2f})" for e in items)
    return f"{_VERDICT_WORDS[verdict]} because of {names}."


def fuse(evidence: Sequence[Evidence], cfg: AssessConfig | None = None) -> Decision:
    """Apply the rule of the module docstring.

    Args:
        evidence: The items (order is kept in ``decided_by``).
        cfg: Thresholds; default :class:`AssessConfig`.

    Returns:
        The :class:`Decision`.
    """
    cfg = cfg or AssessConfig()
    pos = max((e.strength for e in evidence if e.strength > 0), default=0.0)
    neg = max((-e.strength for e in evidence if e.strength < 0 and e.kind in AUTHENTICITY_KINDS), default=0.0)
    if pos >= cfg.ai_threshold:
        idx = tuple(i for i, e in enumerate(evidence) if e.strength >= cfg.ai_threshold)
        verdict, rule = "likely_ai_edited", 1
    elif pos >= cfg.review_threshold:
        idx = tuple(i for i, e in enumerate(evidence) if e.strength >= cfg.review_threshold)
        verdict, rule = "needs_review", 2
    elif neg > 0 and neg >= cfg.authentic_threshold:  # at least one item of positive provenance
        idx = tuple(i for i, e in enumerate(evidence)
                    if e.kind in AUTHENTICITY_KINDS and -e.strength >= cfg.authentic_threshold)
        verdict, rule = "likely_authentic", 3
    else:
        leaning = [e for e in evidence if e.strength < 0 and e.kind not in AUTHENTICITY_KINDS
                   and -e.strength >= cfg.authentic_threshold]
        if leaning:
            names = ", ".join(f"{e.kind} ({e.strength:+.2f})" for e in leaning)
            return Decision("needs_review", float(pos), (), 4,
                            f"Needs review: {names} leans authentic, but only positive provenance (such as a "
                            f"trusted C2PA camera capture) can make a claim likely authentic.")
        return Decision("needs_review", float(pos), (), 4,
                        "Needs review: no evidence is strong enough either way.")
    idx = tuple(sorted(idx, key=lambda i: -abs(evidence[i].strength)))
    return Decision(verdict, float(pos), idx, rule, _because(verdict, [evidence[i] for i in idx]))
