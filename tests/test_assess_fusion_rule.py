"""Issue 17: no single weak signal can declare a claim authentic.

The detector's score alone, at any strength, never gives ``likely_authentic``; that verdict needs
positive provenance (``fusion.AUTHENTICITY_KINDS``: a valid, trusted C2PA camera capture). Checked
on the rule itself and through the :class:`Assessor` with a stand-in detector on a real photo
(a trusted C2PA capture signed here, and an unchanged copy of a merchant photo).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from fakedamage.assess import AssessConfig, Assessor, fuse
from fakedamage.assess.evidence import Evidence
from fakedamage.assess.fusion import AUTHENTICITY_KINDS, detector_strength
from test_assess_provenance import c2pa_sign, c2pa_signer  # noqa: F401 - fixture


def _ev(kind: str, strength: float) -> Evidence:
    source = "detector" if kind == "detector" else "reference" if kind.startswith(("reference", "independent")) \
        else "provenance"
    return Evidence(kind, strength, "x.", source)


@pytest.mark.parametrize("score", [0.0, 1e-6, 0.01, 0.1, 0.2, 0.3, 0.49])
def test_detector_alone_never_authentic_at_any_strength(score):
    cfg = AssessConfig()
    s = detector_strength(score, 0.5, cfg)
    assert s <= 0
    for items in ([_ev("detector", s)], [_ev("no_provenance_label", 0.0), _ev("detector", s)],
                  [_ev("no_provenance_label", 0.0), _ev("detector", s), _ev("independent_photo", 0.0)]):
        d = fuse(items, cfg)
        assert d.verdict == "needs_review" and d.rule == 4 and d.decided_by == (), (score, d)


def test_detector_alone_never_authentic_even_at_full_strength_and_loose_config():
    # the largest negative strength an item may have, and an authentic threshold as low as it goes
    for cfg in (AssessConfig(), AssessConfig(detector_max_authentic=1.0, authentic_threshold=0.0)):
        d = fuse([_ev("detector", -1.0)], cfg)
        assert d.verdict == "needs_review" and d.rule == 4
        assert "detector" in d.reason and "positive provenance" in d.reason  # the reviewer sees why


def test_trusted_capture_is_positive_provenance():
    assert AUTHENTICITY_KINDS == frozenset({"c2pa_manifest"})
    cfg = AssessConfig()
    items = [_ev("c2pa_manifest", -cfg.c2pa_trusted_capture_strength), _ev("detector", -0.2)]
    d = fuse(items, cfg)
    assert (d.verdict, d.rule, [items[i].kind for i in d.decided_by]) == ("likely_authentic", 3, ["c2pa_manifest"])
    # the detector is not a deciding item even when it leans authentic strongly
    items = [_ev("detector", -0.5), _ev("c2pa_manifest", -0.4)]
    d = fuse(items, cfg)
    assert d.verdict == "likely_authentic" and [items[i].kind for i in d.decided_by] == ["c2pa_manifest"]


@pytest.mark.parametrize("items", [
    # a weak provenance signal (below the authentic threshold) plus the detector at its strongest
    [_ev("c2pa_manifest", -0.2), _ev("detector", -0.5)],
    # informative-only items plus the detector
    [_ev("c2pa_manifest", 0.0), _ev("iptc_digital_source_type", 0.0), _ev("detector", -0.5)],
    [_ev("no_provenance_label", 0.0), _ev("independent_photo", 0.0), _ev("detector", -0.5)],
])
def test_weak_signal_plus_detector_is_not_authentic(items):
    d = fuse(items, AssessConfig())
    assert d.verdict == "needs_review" and d.rule == 4


def test_ai_evidence_still_outranks_and_thresholds_unchanged():
    cfg = AssessConfig()
    items = [_ev("c2pa_manifest", -0.4), _ev("detector", 0.8)]
    assert fuse(items, cfg).verdict == "likely_ai_edited"
    items = [_ev("c2pa_manifest", -0.4), _ev("metadata_error", 0.4)]
    assert (fuse(items, cfg).verdict, fuse(items, cfg).rule) == ("needs_review", 2)
    items = [_ev("reference_copy", cfg.reference_copy_strength), _ev("detector", -0.5)]
    assert (fuse(items, cfg).verdict, fuse(items, cfg).rule) == ("needs_review", 2)
    assert fuse([_ev("detector", 0.75)], cfg).verdict == "likely_ai_edited"
    assert fuse([_ev("detector", 0.74)], cfg).rule == 2


# --------------------------------------------------------------------------- through the Assessor


@dataclass
class _Pred:
    score: float
    threshold: float = 0.5
    heatmap: None = None


class _LowDetector:
    """Stands in for the ONNX detector: always scores the photo ``score`` (0 = "surely real")."""

    has_heatmap = False

    def __init__(self, score: float = 0.0) -> None:
        self.score = score

    def predict(self, x, heatmap: bool = False) -> _Pred:
        return _Pred(self.score)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.coffee()[50:350, 100:500])


def _jpeg(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def test_assessor_detector_alone_is_needs_review(photo):
    a = Assessor(_LowDetector(0.0), AssessConfig()).assess(_jpeg(photo))
    det = next(e for e in a.evidence if e.kind == "detector")
    assert det.strength == pytest.approx(-0.5)
    assert a.verdict == "needs_review" and a.rule == 4 and "positive provenance" in a.reason


def test_assessor_unchanged_reference_copy_is_not_authentic(photo):
    listing = _jpeg(photo)
    a = Assessor(_LowDetector(0.0), AssessConfig()).assess(_jpeg(photo), references=[listing])
    assert a.evidence[-1].kind == "reference_copy"
    assert a.verdict == "needs_review"  # the merchant's own photo is not the customer's item


def test_assessor_trusted_capture_gives_authentic(photo, c2pa_signer):  # noqa: F811
    signed = c2pa_sign(_jpeg(photo), "image/jpeg", c2pa_signer, "digitalCapture")
    cfg = AssessConfig(c2pa_trust_anchors=str(c2pa_signer["anchors"]))
    a = Assessor(_LowDetector(0.2), cfg).assess(signed)
    assert a.verdict == "likely_authentic" and a.rule == 3
    assert [a.evidence[i].kind for i in a.decided_by] == ["c2pa_manifest"]
    # the same file without a trust list: the credential is neutral, and the detector alone cannot decide
    a = Assessor(_LowDetector(0.0), AssessConfig()).assess(signed)
    assert a.verdict == "needs_review"
