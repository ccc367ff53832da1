"""Assessments running at the same time in several threads give exactly the sequential results.

The assess package keeps no process-wide state while it works (no ``warnings.catch_warnings``,
no lock): corrupt EXIF is found by checking the EXIF structure, so it is still reported when
other claims are assessed concurrently, and only for the claims that have it. The claims are
real files written here: a camera-like JPEG with an editor's Software tag, two JPEGs with
corrupt EXIF (a cut-short IFD0, and an Exif IFD pointing past the block), a PNG carrying
AUTOMATIC1111 generation parameters, an unchanged copy of a listing photo and a copy with
painted damage (both cropped, scaled, rotated, colour-shifted and re-encoded by the builders of
``scripts/eval_assess.py``), the last two with the listing photo as reference.
"""

from __future__ import annotations

import io
import json
import random
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from conftest import claim_builders
from fakedamage.assess import AssessConfig, Assessor

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow's own words on the corrupt EXIF

CORRUPT_EXIF = {"corrupt_exif.jpg", "corrupt_exif_ifd.jpg"}


def _jpeg(image: np.ndarray, **kw: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=92, **kw)
    return buf.getvalue()


def _exif_ifd_past_the_end() -> bytes:
    """Big-endian EXIF: IFD0 holds Software and an Exif IFD pointer to offset 9000 of a 44-byte block."""
    entries = [(0x0131, 2, 4, b"GIM\x00"), (0x8769, 4, 1, struct.pack(">L", 9000))]
    ifd0 = struct.pack(">H", len(entries)) + b"".join(struct.pack(">HHL", t, ty, n) + v for t, ty, n, v in entries)
    return b"Exif\x00\x00MM\x00*" + struct.pack(">L", 8) + ifd0 + struct.pack(">L", 0)


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> list[tuple[str, Path, list[Path]]]:
    """``(name, claim path, reference paths)`` of every claim."""
    import skimage.data

    build = claim_builders()
    d = tmp_path_factory.mktemp("claims")
    photo = np.ascontiguousarray(skimage.data.coffee()[50:350, 100:500])
    exif = Image.Exif()
    exif[0x0131] = "Adobe Photoshop 25.0 (Windows)"
    files = {
        "edited.jpg": _jpeg(photo, exif=exif.tobytes()),
        "corrupt_exif.jpg": _jpeg(photo, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x00" * 20),
        "corrupt_exif_ifd.jpg": _jpeg(photo, exif=_exif_ifd_past_the_end()),
    }
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cracked mug\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 400x300")
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="PNG", pnginfo=info)
    files["a1111.png"] = buf.getvalue()
    listing = build.make_listing(skimage.data.chelsea())
    files["listing.jpg"] = _jpeg(listing)
    files["copy.jpg"] = build.transform_claim(listing, None, np.random.default_rng(3))[0]
    damaged = listing.copy()
    damaged[120:190, 200:300] = (150, 40, 30)  # a painted "stain" on the cat
    files["damaged_copy.jpg"] = build.transform_claim(damaged, None, np.random.default_rng(4))[0]
    for name, data in files.items():
        (d / name).write_bytes(data)
    refs = [d / "listing.jpg"]
    return [("edited.jpg", d / "edited.jpg", []), ("corrupt_exif.jpg", d / "corrupt_exif.jpg", []),
            ("corrupt_exif_ifd.jpg", d / "corrupt_exif_ifd.jpg", refs), ("a1111.png", d / "a1111.png", []),
            ("copy.jpg", d / "copy.jpg", refs), ("damaged_copy.jpg", d / "damaged_copy.jpg", refs)]


def _result(assessor: Assessor, claim: Path, refs: list[Path]) -> dict[str, Any]:
    """The full assessment (maps embedded), without its timings."""
    d = assessor.assess(claim, references=refs).to_dict(include_maps=True)
    d.pop("timings_ms")
    for e in d["evidence"]:
        e["details"].pop("timings_ms", None)
    return d


def test_concurrent_assessments_equal_sequential_ones(cases):
    sequential = {name: _result(Assessor(None, AssessConfig()), claim, refs) for name, claim, refs in cases}
    kinds = {name: [e["kind"] for e in r["evidence"]] for name, r in sequential.items()}
    assert "editing_software" in kinds["edited.jpg"] and "generation_parameters" in kinds["a1111.png"]
    assert kinds["copy.jpg"][-1] == "reference_copy" and kinds["damaged_copy.jpg"][-1] == "reference_match"
    for name in CORRUPT_EXIF:
        assert "metadata_error" in kinds[name]
    assert all("metadata_error" not in k for name, k in kinds.items() if name not in CORRUPT_EXIF)

    local = threading.local()

    def job(case: tuple[str, Path, list[Path]]) -> tuple[str, dict[str, Any]]:
        name, claim, refs = case
        assessor = getattr(local, "assessor", None)
        if assessor is None:  # one Assessor per thread, as documented
            assessor = local.assessor = Assessor(None, AssessConfig())
        return name, _result(assessor, claim, refs)

    jobs = cases * 3
    random.Random(0).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(job, jobs))
    assert len(concurrent) == len(jobs)
    for name, result in concurrent:
        assert result == sequential[name], f"{name}: a concurrent assessment differs from the sequential one"
        errors = [e for e in result["evidence"] if e["kind"] == "metadata_error"]
        if name in CORRUPT_EXIF:  # still reported, in its own words, and decides the verdict
            assert len(errors) == 1 and "EXIF metadata is corrupt" in errors[0]["explanation"], errors
            assert result["verdict"] == "needs_review" and "metadata_error" in result["reason"]
        else:
            assert errors == []
    json.dumps(concurrent)
