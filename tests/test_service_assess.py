"""Tests of ``POST /v1/assess``: the real server on loopback, real photos, no mocks.

Claims are built as in ``tests/test_assess_reference.py`` (the builders of
``scripts/eval_assess.py``): a skimage photo becomes a listing photo, a data-engine
generator paints damage into it, and it is cropped, scaled, rotated, colour-shifted and
JPEG re-encoded. The server runs with the small limits of ``tests/test_service.py``
(1 MiB per file, 4 MP, at most 3 references, 2 workers).

Error model checked here: a corrupt claim is 422 (and the server keeps answering), a
corrupt reference is a ``reference_error`` evidence item, a reference whose type is not
an image (or a video in ``reference_videos``) is refused with 415, more than
``max_batch`` reference files is 413.
"""

from __future__ import annotations

import base64
import io
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import claim_builders
from test_service import LIMIT_ARGS, Server, _png, assert_error, serve


def _jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture(scope="module")
def claims() -> dict[str, Any]:
    """A listing photo, a claim derived from it with painted damage, an unrelated claim, another listing."""
    import skimage.data

    from fakedamage.data.generators import ClassicalGenerator

    build = claim_builders()
    listing = build.make_listing(skimage.data.coffee())
    derived = build.make_derived_claim("c", listing, ClassicalGenerator(), "chip", np.random.default_rng(1), "listing", [])
    unrelated, _, _ = build.transform_claim(build.make_listing(skimage.data.chelsea()), None, np.random.default_rng(1))
    return {"listing_array": listing, "listing": _jpeg(listing), "derived": derived.data, "derived_mask": derived.mask,
            "unrelated": unrelated, "other": _jpeg(build.make_listing(skimage.data.astronaut()))}


@pytest.fixture(scope="module")
def server(pipeline, tmp_path_factory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("assess") / "server.log"
    with serve(pipeline["onnx"], log, *LIMIT_ARGS) as s:
        yield s
    assert s.proc.returncode == 0, f"server did not shut down cleanly on SIGTERM:\n{log.read_text()[-3000:]}"


def assess(server: Server, claim: bytes, refs: list[tuple[str, bytes]] = (), videos: list[tuple[str, bytes]] = (),
           query: str = "", claim_name: str = "claim.jpg", claim_type: str = "image/jpeg", ref_type: str = "image/jpeg",
           headers: dict[str, str] | None = None) -> Any:
    files = [("claim", claim_name, claim_type, claim)]
    files += [("references", name, ref_type, data) for name, data in refs]
    files += [("reference_videos", name, "video/x-msvideo", data) for name, data in videos]
    return server.upload("/v1/assess" + query, files, headers=headers)


def _png_size(b64: str) -> tuple[int, int]:
    data = base64.b64decode(b64)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data)).size


# ---------------------------------------------------------------------------------------------
def test_derived_claim_is_matched_to_its_listing_photo(server, claims):
    resp = assess(server, claims["derived"], [("listing.jpg", claims["listing"]), ("other.jpg", claims["other"])],
                  query="?maps=true", headers={"X-Request-ID": "assess-1"})
    assert resp.status == 200, resp.body[:500]
    assert resp.headers["x-request-id"] == "assess-1"
    out = resp.json()
    assert out["request_id"] == "assess-1"
    model = server.get("/v1/model").json()
    assert {k: out["model"][k] for k in ("id", "version")} == {"id": model["id"], "version": model["version"]}
    assert set(out["timings_ms"]) >= {"queue", "references", "assess", "encode", "total"}
    a = out["assessment"]
    assert a["claim"] == "claim.jpg" and a["verdict"] == "likely_ai_edited" and a["score"] >= 0.75
    assert a["decided_by"][0]["kind"] == "reference_match" and "reference_match" in a["reason"]
    kinds = [e["kind"] for e in a["evidence"]]
    assert "detector" in kinds and kinds[-1] == "reference_match"
    ev = a["evidence"][-1]
    match = ev["details"]["match"]
    assert match["reference"] == "listing.jpg" and match["is_copy"] and match["regions"]
    assert "listing.jpg" in ev["explanation"] and "changed" in ev["explanation"]
    # maps as PNGs: the difference map, the changed regions and the aligned reference, on one grid
    assert ev["map"]["label"] == "difference against the matched reference"
    size = _png_size(ev["map"]["png_base64"])
    assert size == (ev["map"]["width"], ev["map"]["height"]) == _png_size(ev["mask"]["png_base64"])
    assert _png_size(ev["images"]["aligned_reference"]["png_base64"]) == size
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(ev["mask"]["png_base64"])))) > 127
    true = cv2.resize(claims["derived_mask"].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    assert (mask & true).sum() / max(1, (mask | true).sum()) >= 0.5  # the changed region is the painted damage
    det = a["evidence"][kinds.index("detector")]
    if model["has_heatmap"]:
        assert det["map"]["png_base64"]
    assert a["claim_thumbnail"] and _png_size(a["claim_thumbnail"])
    json.dumps(out)


def test_unrelated_reference_gives_independent_photo(server, claims):
    resp = assess(server, claims["unrelated"], [("listing.jpg", claims["listing"])])
    assert resp.status == 200, resp.body[:500]
    a = resp.json()["assessment"]
    ev = a["evidence"][-1]
    assert ev["kind"] == "independent_photo" and ev["strength"] == 0.0
    assert "not derived from the reference image" in ev["explanation"]
    assert all(d["kind"] != "independent_photo" for d in a["decided_by"])  # independence never decides
    # without ?maps=true the maps are described, not embedded
    assert a["claim_thumbnail"] is None
    assert all(e["map"] is None or "png_base64" not in e["map"] for e in a["evidence"])


def test_without_references_provenance_and_detector_only(server, claims):
    resp = assess(server, claims["derived"])
    assert resp.status == 200
    a = resp.json()["assessment"]
    assert {e["source"] for e in a["evidence"]} <= {"provenance", "detector"}
    assert a["verdict"] in ("likely_ai_edited", "needs_review", "likely_authentic")


def test_corrupt_claim_422_corrupt_reference_is_evidence(server, claims):
    err = assert_error(assess(server, claims["derived"][:600], claim_name="cut.jpg"), 422, "decode_error")
    assert err["message"].startswith("cut.jpg: ")
    assert_error(assess(server, b"", claim_name="empty.jpg"), 422, "decode_error")
    many = _png(np.full((2000, 2100), 128, dtype=np.uint8))  # 4.2 MP > 4 MP: refused from the header
    err = assert_error(assess(server, many, claim_name="huge.png", claim_type="image/png"), 422, "too_many_pixels")
    assert "huge.png: image is 2100x2000" in err["message"]
    # the server answers the next request; bad references are evidence items, the good one is still used
    listing = claims["listing"]
    resp = assess(server, claims["derived"], [("broken.jpg", listing[: len(listing) // 2]), ("huge.png", many),
                                              ("listing.jpg", listing)], ref_type="image/png")
    assert resp.status == 200, resp.body[:500]
    a = resp.json()["assessment"]
    errors = [e for e in a["evidence"] if e["kind"] == "reference_error"]
    assert [e["details"]["reference"] for e in errors] == ["broken.jpg", "huge.png"]
    assert "truncated" in errors[0]["explanation"] and "4,000,000" in errors[1]["explanation"]
    assert all(e["strength"] == 0.0 for e in errors)
    assert a["evidence"][-1]["kind"] == "reference_match" and a["verdict"] == "likely_ai_edited"
    assert a["evidence"][a["decided_by"][0]["index"]]["kind"] == "reference_match"  # indices follow the merged list
    resp = assess(server, claims["derived"], [("empty.jpg", b"")])
    assert resp.status == 200 and "empty file" in resp.json()["assessment"]["evidence"][-1]["explanation"]


def test_limits_413_415_and_request_errors(server, claims):
    refs = [(f"r{i}.jpg", claims["listing"]) for i in range(4)]
    err = assert_error(assess(server, claims["derived"], refs), 413, "batch_too_large")
    assert "at most 3 reference files" in err["message"]
    big = _png(np.random.default_rng(0).integers(0, 256, (720, 720, 3), dtype=np.uint8))  # ~1.5 MB > 1 MiB
    assert_error(assess(server, claims["derived"], [("big.png", big)], ref_type="image/png"), 413, "payload_too_large")
    assert_error(assess(server, big, claim_type="image/png"), 413, "payload_too_large")
    # A reference that is not an image is refused (415), like any /v1/predict upload; so is a non-video video.
    err = assert_error(assess(server, claims["derived"], [("notes.txt", b"not an image\n")], ref_type="text/plain"),
                       415, "unsupported_media_type")
    assert err["message"].startswith("notes.txt: ")
    assert_error(assess(server, b"hello", claim_name="c.txt", claim_type="text/plain"), 415, "unsupported_media_type")
    err = assert_error(assess(server, claims["derived"], videos=[("clip.avi", b"#EXTM3U\nhttp://example.invalid/x\n")]),
                       415, "unsupported_media_type")
    assert "clip.avi" in err["message"]
    err = assert_error(assess(server, claims["derived"], [("clip.mp4", b"\x00\x00\x00\x18ftypmp42")],
                              ref_type="video/mp4"), 415, "unsupported_media_type")
    assert "reference_videos" in err["message"]
    # request shape
    assert_error(server.upload("/v1/assess", [("references", "r.jpg", "image/jpeg", claims["listing"])]), 400,
                 "missing_file")
    assert "unknown field" in assert_error(server.upload("/v1/assess", [("file", "c.jpg", "image/jpeg", claims["derived"])]),
                                           400, "invalid_request")["message"]
    raw = server.request("POST", "/v1/assess", body=claims["derived"], headers={"Content-Type": "image/jpeg"})
    assert_error(raw, 415, "unsupported_media_type")
    assert_error(assess(server, claims["derived"], query="?maps=perhaps"), 400, "invalid_request")
    assert server.get("/healthz").status == 200


def test_packing_video_frames_as_references(server, claims, tmp_path):
    listing = claims["listing_array"]
    small = cv2.resize(listing, (listing.shape[1] * 2 // 3, listing.shape[0] * 2 // 3), interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    video = tmp_path / "packing.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 4, (w, h))
    assert writer.isOpened()
    other = cv2.resize(np.asarray(Image.open(io.BytesIO(claims["other"]))), (w, h))
    for i in range(8):  # 1 s of another scene, then 1 s of the item, at 4 fps
        writer.write(cv2.cvtColor(other if i < 4 else small, cv2.COLOR_RGB2BGR))
    writer.release()
    data = video.read_bytes()
    assert len(data) < 1 << 20
    tmp = Path(tempfile.gettempdir())
    before = set(tmp.glob("fakedamage-video-*"))
    resp = assess(server, claims["derived"], videos=[("packing.avi", data), ("broken.avi", data[:2000])])
    assert resp.status == 200, resp.body[:500]
    a = resp.json()["assessment"]
    ev = a["evidence"][-1]
    assert ev["kind"] == "reference_match" and re.fullmatch(r"packing\.avi@\d+\.\ds", ev["details"]["match"]["reference"])
    assert ev["details"]["n_references"] >= 2
    broken = [e for e in a["evidence"] if e["kind"] == "reference_error"]
    assert [e["details"]["reference"] for e in broken] == ["broken.avi"]
    assert "fakedamage-video-" not in broken[0]["explanation"]  # no server paths in answers
    time.sleep(0.2)
    assert set(tmp.glob("fakedamage-video-*")) <= before  # the private temporary directories are gone


def test_metrics_logs_and_model_info(server, claims):
    from prometheus_client.parser import text_string_to_metric_families

    info = server.get("/v1/model").json()["assess"]
    assert info["available"] and info["max_references"] == 3 and "video/mp4" in info["video_content_types"]
    marker = "CLAIM-SECRET-91c2"
    img = _png(np.asarray(Image.open(io.BytesIO(claims["listing"]))), Comment=marker)
    resp = assess(server, img, [(f"{marker}.jpg", claims["listing"])], claim_name=f"{marker}.png", claim_type="image/png",
                  headers={"X-Request-ID": "assess-log-1"})
    assert resp.status == 200 and resp.json()["assessment"]["evidence"][-1]["kind"] == "reference_copy"
    assess(server, claims["derived"][:600])
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(server.get("/metrics").body.decode()) for s in fam.samples}

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("fakedamage_http_requests_total", method="POST", route="/v1/assess", status="200") >= 1
    assert value("fakedamage_http_requests_total", method="POST", route="/v1/assess", status="422") >= 1
    assert value("fakedamage_errors_total", kind="decode_error") >= 1
    assert sum(value("fakedamage_assessments_total", verdict=v)
               for v in ("likely_ai_edited", "needs_review", "likely_authentic")) >= 1
    assert value("fakedamage_assess_seconds_count") >= 1
    time.sleep(0.2)
    log = server.log.read_text(errors="replace")
    assert any("POST /v1/assess 200" in ln for ln in log.splitlines() if "[assess-log-1]" in ln), log[-2000:]
    assert marker not in log and "IHDR" not in log and "JFIF" not in log


def test_api_key_and_timeout(pipeline, claims, tmp_path):
    env = {"FAKEDAMAGE_API_KEY": "s3cret-key", "FAKEDAMAGE_TIMEOUT": "0.001", "FAKEDAMAGE_WORKERS": "1"}
    with serve(pipeline["onnx"], tmp_path / "strict.log", env=env) as s:
        assert_error(assess(s, claims["derived"]), 401, "unauthorized")
        resp = assess(s, claims["derived"], [("listing.jpg", claims["listing"])], headers={"X-API-Key": "s3cret-key"})
        assert "0.001 s limit" in assert_error(resp, 504, "timeout")["message"]
        assert s.get("/healthz").status == 200
    assert s.proc.returncode == 0


@pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow's own words on the corrupt EXIF below
def test_worker_threads_assess_concurrently_with_sequential_results(pipeline, claims):
    """The service's worker threads assess claims at the same time (no lock around an assessment): a
    barrier inside every assessment only opens when all three are in flight at once; the results equal
    the sequential ones, and the claim with corrupt EXIF still has its ``metadata_error`` item."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from fakedamage.assess import load_config
    from fakedamage.runtime import Detector
    from fakedamage.service.claims import ClaimAssessor, ReferenceUpload
    from fakedamage.service.config import ServiceConfig
    from fakedamage.service.prometheus import ServiceMetrics

    corrupt = _jpeg(claims["listing_array"])
    buf = io.BytesIO()
    Image.open(io.BytesIO(corrupt)).save(buf, format="JPEG", quality=92,
                                         exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x00" * 20)
    listing = [ReferenceUpload("listing.jpg", claims["listing"])]
    jobs = {"derived": (claims["derived"], listing), "corrupt_exif": (buf.getvalue(), listing),
            "unrelated": (claims["unrelated"], listing)}
    detector = Detector(pipeline["onnx"], threads=1)  # one intra-op thread: bit-identical scores in any thread
    config = ServiceConfig(model=pipeline["onnx"], max_pixels=4_000_000, workers=len(jobs))

    def make(cls: type[ClaimAssessor]) -> ClaimAssessor:
        return cls(detector, config, load_config(), ServiceMetrics("test", "0", "test"))

    def result(assessor: ClaimAssessor, name: str) -> dict[str, Any]:
        claim, refs = jobs[name]
        out = assessor.assess(claim, f"{name}.jpg", refs, include_maps=True)["assessment"]
        out.pop("timings_ms")
        for e in out["evidence"]:
            e["details"].pop("timings_ms", None)
        return out

    sequential = {name: result(make(ClaimAssessor), name) for name in jobs}
    barrier = threading.Barrier(len(jobs))

    class Overlapping(ClaimAssessor):
        def _references(self, refs):  # noqa: ANN001, ANN202 - runs inside every assessment
            barrier.wait(timeout=120)  # BrokenBarrierError if assessments were serialised
            return super()._references(refs)

    overlapping = make(Overlapping)
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        concurrent = dict(zip(jobs, pool.map(lambda name: result(overlapping, name), jobs)))
    assert concurrent == sequential
    kinds = {name: [e["kind"] for e in a["evidence"]] for name, a in concurrent.items()}
    assert kinds["derived"][-1] == "reference_match" and kinds["unrelated"][-1] == "independent_photo"
    errors = [e for e in concurrent["corrupt_exif"]["evidence"] if e["kind"] == "metadata_error"]
    assert len(errors) == 1 and "EXIF metadata is corrupt" in errors[0]["explanation"]
    assert all("metadata_error" not in kinds[name] for name in ("derived", "unrelated"))


def test_visible_ai_label_is_evidence_with_its_box(server, claims):
    """A claim saved as plain pixels with a visible "Made with AI" label in a corner: the label decides, boxed."""
    from test_assess_explicit_label import overlap, render

    photo = np.asarray(Image.fromarray(claims["listing_array"]).resize((1200, 800), Image.Resampling.LANCZOS))
    img, box = render(photo, "Made with AI", "en", "bottom-right", 0.035)
    resp = assess(server, _jpeg(img), query="?maps=true")
    assert resp.status == 200
    a = resp.json()["assessment"]
    i = next(i for i, e in enumerate(a["evidence"]) if e["kind"] == "explicit_ai_label")
    ev = a["evidence"][i]
    assert a["verdict"] == "likely_ai_edited" and {"index": i, "kind": "explicit_ai_label"} in a["decided_by"]
    assert ev["details"]["text"].lower().replace("l", "i").endswith("ai") and ev["strength"] == 0.95
    assert overlap(tuple(ev["details"]["box"]), box) >= 0.7
    assert ev["mask"]["png_base64"] and _png_size(ev["mask"]["png_base64"]) == (ev["mask"]["width"], ev["mask"]["height"])
    assert "no_provenance_label" not in [e["kind"] for e in a["evidence"]]
