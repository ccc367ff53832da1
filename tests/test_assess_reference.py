"""Consistency with the merchant's photos, on claims built with the data engine: a listing photo gets
damage from a data-engine generator, then is cropped, scaled, rotated, colour-shifted and JPEG
re-encoded (the builders of scripts/eval_assess.py). The claim must be matched to its reference
with the changed region on the true damage (IoU >= 0.5); other photos must be "independent"."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import claim_builders
from fakedamage.assess import AssessConfig, Assessor
from fakedamage.assess.reference import ReferenceImage, ReferenceMatcher, load_references, sample_video_frames
from fakedamage.runtime import load_image

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")


@pytest.fixture(scope="module")
def build():
    return claim_builders()


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    import skimage.data

    return {"coffee": skimage.data.coffee(), "chelsea": skimage.data.chelsea(), "astronaut": skimage.data.astronaut()}


@pytest.fixture(scope="module")
def assessor() -> Assessor:
    return Assessor(None, AssessConfig())


def _iou(assessment, true: np.ndarray) -> float:
    ev = next(e for e in assessment.evidence if e.kind == "reference_match")
    H, W = assessment.image_size
    changed = cv2.resize(ev.mask.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST) > 0
    return float((changed & true).sum() / max(1, (changed | true).sum()))


def _save(path: Path, image: np.ndarray) -> Path:
    Image.fromarray(image).save(path, quality=92)
    return path


@pytest.mark.parametrize("name,kind,seed", [("coffee", "chip", 1), ("chelsea", "stain", 2), ("astronaut", "tear", 3)])
def test_derived_claim_is_matched_and_changed_region_hits_the_damage(build, photos, assessor, tmp_path, name, kind,
                                                                     seed):
    from fakedamage.data.generators import ClassicalGenerator

    listing = build.make_listing(photos[name])
    rng = np.random.default_rng(seed)
    claim = build.make_derived_claim("c", listing, ClassicalGenerator(), kind, rng, "listing", [])
    p = claim.info
    assert 0.6 <= p["scale"] <= 1.15 and abs(p["angle"]) <= 5 and p["jpeg_quality"] <= 92  # really transformed
    (tmp_path / "claim.jpg").write_bytes(claim.data)
    refs = [_save(tmp_path / "listing.jpg", listing),
            _save(tmp_path / "other.jpg", build.make_listing(photos["astronaut" if name != "astronaut" else "coffee"]))]
    a = assessor.assess(tmp_path / "claim.jpg", references=refs)
    ev = {e.kind: e for e in a.evidence}["reference_match"]
    m = ev.details["match"]
    assert m["reference"] == "listing.jpg" and m["n_inliers"] >= 15 and m["inlier_ratio"] >= 0.5
    assert abs(m["scale"] - p["scale"]) < 0.05 and abs(abs(m["rotation_deg"]) - abs(p["angle"])) < 1.0
    assert "listing.jpg" in ev.explanation and "changed" in ev.explanation
    assert _iou(a, claim.mask) >= 0.5
    assert a.verdict == "likely_ai_edited" and a.evidence[a.decided_by[0]].kind == "reference_match"
    assert ev.map is not None and ev.images["aligned_reference"].shape[:2] == ev.map.shape
    d = a.to_dict(include_maps=True)
    assert d["evidence"][-1]["map"]["png_base64"] and d["evidence"][-1]["mask"]["png_base64"]
    json.dumps(d)


def test_unrelated_photo_of_a_similar_object_is_independent(build, assessor, tmp_path):
    if not (OPENCV_DATA / "aloeL.jpg").is_file():
        pytest.skip("opencv-doc examples not installed")
    listing = _save(tmp_path / "aloeL.jpg", build.make_listing(load_image(OPENCV_DATA / "aloeL.jpg")))
    # the other camera of the stereo pair: the same plant, a different photo
    data, _, _ = build.transform_claim(build.make_listing(load_image(OPENCV_DATA / "aloeR.jpg")), None,
                                       np.random.default_rng(0))
    (tmp_path / "claim.jpg").write_bytes(data)
    a = assessor.assess(tmp_path / "claim.jpg", references=[listing])
    ev = a.evidence[-1]
    assert ev.kind == "independent_photo" and ev.strength == 0.0
    assert "independent photo" in ev.explanation
    assert a.verdict == "needs_review"  # independence is not evidence of authenticity


def test_unrelated_photo_is_independent(build, photos, assessor, tmp_path):
    ref = _save(tmp_path / "coffee.jpg", build.make_listing(photos["coffee"]))
    data, _, _ = build.transform_claim(build.make_listing(photos["chelsea"]), None, np.random.default_rng(1))
    a = assessor.assess(data, references=[ref])
    assert a.evidence[-1].kind == "independent_photo"
    assert "not derived from the reference image" in a.evidence[-1].explanation


def test_unchanged_copy_of_a_listing_photo_needs_review(build, photos, assessor, tmp_path):
    listing = build.make_listing(photos["coffee"])
    data, _, _ = build.transform_claim(listing, None, np.random.default_rng(5))
    a = assessor.assess(data, references=[_save(tmp_path / "listing.jpg", listing)])
    ev = a.evidence[-1]
    assert ev.kind == "reference_copy" and "no visible change" in ev.explanation
    assert a.verdict == "needs_review"


def test_packing_video_frames_as_references(build, photos, assessor, tmp_path):
    from fakedamage.data.generators import ClassicalGenerator

    listing = build.make_listing(photos["chelsea"], 480)
    h, w = listing.shape[:2]
    video = tmp_path / "packing.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    assert writer.isOpened()
    other = cv2.resize(photos["astronaut"], (w, h))
    for i in range(30):  # 1 s of another scene, then 2 s of the item
        frame = other if i < 10 else listing
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    frames = sample_video_frames(video, fps=2.0)
    assert [round(t, 1) for t, _ in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    claim = build.make_derived_claim("c", listing, ClassicalGenerator(), "chip", np.random.default_rng(4), "v", [])
    a = assessor.assess(claim.data, reference_videos=[video])
    ev = a.evidence[-1]
    assert ev.kind == "reference_match" and ev.details["match"]["reference"].startswith("packing.avi@")
    assert ev.details["n_references"] == 2  # near-identical consecutive frames are kept once
    assert _iou(a, claim.mask) >= 0.5


def test_bad_references_are_evidence_not_crashes(photos, assessor, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00" * 1000)
    good = _save(tmp_path / "good.jpg", photos["coffee"])
    a = assessor.assess(good, references=[bad, tmp_path / "missing.jpg", good], reference_videos=[video])
    errors = [e for e in a.evidence if e.kind == "reference_error"]
    assert len(errors) == 3 and all(e.strength == 0 for e in errors)
    assert a.evidence[-1].kind == "reference_copy"  # the good reference is still used
    refs, errs = load_references([bad], [], AssessConfig())
    assert refs == [] and "broken.jpg" in errs[0].explanation
    # uploads (bytes) work as references too, as a service receives them
    a = assessor.assess(good, references=[b"garbage", good.read_bytes()])
    assert [e.kind for e in a.evidence if e.source == "reference"] == ["reference_error", "reference_copy"]
    assert a.evidence[-1].details["match"]["reference"] == "reference #2"


def test_matcher_reports_inliers_and_caches_reference_features(build, photos):
    matcher = ReferenceMatcher(AssessConfig())
    listing = build.make_listing(photos["coffee"])
    ref = ReferenceImage("listing", listing, key="listing-key")
    claim = load_image(build.transform_claim(listing, None, np.random.default_rng(7))[0])
    first = matcher.match(claim, [ref])
    assert first.copy is not None and first.candidates[0]["n_inliers"] == first.copy.n_inliers
    assert "listing-key" in matcher._cache  # noqa: SLF001 - the cache is what makes batches fast
    second = matcher.match(claim, [ref])
    assert second.copy.n_inliers == first.copy.n_inliers


def test_in_memory_references_beyond_the_limit_are_reported():
    import io

    import skimage.data

    def jpeg(a):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=90)
        return buf.getvalue()

    refs = [jpeg(skimage.data.chelsea()), jpeg(skimage.data.rocket()), jpeg(skimage.data.astronaut())]
    a = Assessor(None, AssessConfig(max_references=2)).assess(jpeg(skimage.data.coffee()), references=refs)
    notes = [e for e in a.evidence if e.kind == "reference_error"]
    assert len(notes) == 1 and "only the first 2 are used" in notes[0].explanation
