"""The model file as a contract: the structured scoring spec and its JSON Schema, the decode rules it
states (edge padding, 16-bit high byte, EXIF-only orientation), conformance vectors and
``fakedamage verify-client`` against real clients."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image, ImageOps

from fakedamage.conformance import conformance_images, load_conformance, verify_client, write_conformance
from fakedamage.errors import UsageError
from fakedamage.meta import FORMAT_VERSION, ModelMeta
from fakedamage.runtime.image_io import load_image
from fakedamage.runtime.tiling import extract_tiles, pad_to_tile
from fakedamage.scoring_spec import SCORING_SPEC, metadata_schema, validate_metadata

REPO = Path(__file__).resolve().parents[1]
PHOTO = Path(__import__("skimage").data_dir) / "astronaut.png"


def test_metadata_follows_the_published_schema():
    meta = ModelMeta(backbone="tracenet").to_dict()
    assert meta["format_version"] == FORMAT_VERSION == 3
    assert meta["scoring"]["spec_version"] == 3 and meta["normalization_in_graph"] is True
    validate_metadata(meta)
    # every parameter the rules name is a metadata field
    assert set(SCORING_SPEC["parameters"]) <= set(meta)
    bad = dict(meta, aggregation="median")
    with pytest.raises(UsageError, match="aggregation"):
        validate_metadata(bad)
    broken = json.loads(json.dumps(meta))
    del broken["scoring"]["pad"]
    with pytest.raises(UsageError, match="scoring.*pad"):
        validate_metadata(broken)
    assert metadata_schema()["properties"]["scoring"]["properties"]["spec_version"] == {"const": 3}


def test_exported_model_carries_the_spec_and_a_conformance_digest(pipeline):
    proto = onnx.load(str(pipeline["onnx"]), load_external_data=False)
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["fakedamage"])
    validate_metadata(meta)
    assert meta["scoring"] == json.loads(json.dumps(SCORING_SPEC))
    conf = pipeline["onnx"].with_name("model.conformance.json")
    assert meta["conformance_sha256"] == hashlib.sha256(conf.read_bytes()).hexdigest()
    doc = load_conformance(conf)
    assert len(doc["vectors"]) >= 12
    kinds = " ".join(v["kind"] for v in doc["vectors"])
    for needed in ("odd size", "smaller than a tile", "very wide", "16-bit colour", "16-bit grey", "alpha",
                   "palette", "orientation 6", "eXIf", "progressive JPEG", "grey JPEG"):
        assert needed in kinds, needed


def test_padding_is_edge_on_the_bottom_and_right():
    img = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    padded = pad_to_tile(img, 8)
    assert padded.shape == (8, 8, 3)
    assert np.array_equal(padded[:5, :7], img)
    assert np.array_equal(padded[7, :7], img[4]) and np.array_equal(padded[:5, 7], img[:, 6])
    tiles, origins = extract_tiles(img, 8, 8)
    assert origins == [(0, 0)] and tiles.shape == (1, 3, 8, 8)


def _png16(arr: np.ndarray) -> bytes:
    """A 16-bit grey ``(H, W)`` or colour ``(H, W, 3)`` PNG (Pillow cannot write 16-bit colour)."""
    from fakedamage.conformance import _png

    colour_type = 2 if arr.ndim == 3 else 0
    return _png(arr.shape[1], arr.shape[0], colour_type, 16, [r.astype(">u2").tobytes() for r in arr])


def test_sixteen_bit_samples_keep_the_high_byte_grey_and_colour_alike():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 65536, (9, 11), dtype=np.uint16)
    colour = rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    got_grey = load_image(_png16(grey))
    assert np.array_equal(got_grey, np.repeat((grey >> 8).astype(np.uint8)[..., None], 3, axis=2))
    got_colour = load_image(_png16(colour))
    assert np.array_equal(got_colour, (colour >> 8).astype(np.uint8))


def test_orientation_comes_from_exif_only():
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))[:96, :160]
    ex = Image.Exif()
    ex[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "PNG", exif=ex.tobytes())
    assert load_image(buf.getvalue()).shape == (160, 96, 3)  # PNG eXIf honoured
    xmp = next(im for im in conformance_images(64) if im.name == "xmp_orientation_ignored.png")
    decoded = load_image(xmp.data)
    pillow = ImageOps.exif_transpose(Image.open(io.BytesIO(xmp.data))).convert("RGB")
    assert decoded.shape[:2] == (67, 94)  # stored upright: the XMP orientation is ignored
    assert pillow.size == (67, 94)  # (width, height): Pillow alone would rotate it on the XMP


def test_python_client_passes_its_own_vectors_and_a_wrong_client_fails(pipeline, tmp_path):
    conf = pipeline["onnx"].with_name("model.conformance.json")
    proc = subprocess.run([sys.executable, "-m", "fakedamage", "verify-client", str(conf), "--",
                           sys.executable, "-m", "fakedamage", "predict", "--model", str(pipeline["onnx"]),
                           "--format", "csv"], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout and "FAIL" not in proc.stdout.replace("PASS", "")
    # a client that skips the orientation rule: every rotated vector must fail, nothing else
    wrong = tmp_path / "no_orientation.py"
    wrong.write_text(
        "import sys\nfrom fakedamage import Detector\nfrom PIL import Image\nimport numpy as np\n"
        "d = Detector(sys.argv[1])\nprint('path,score,is_fake')\n"
        "for p in sys.argv[2:]:\n"
        "    r = d.predict(np.asarray(Image.open(p).convert('RGB')))\n"
        "    print(f'{p},{r.score!r},{str(r.is_fake).lower()}')\n")
    report = verify_client(conf, [sys.executable, str(wrong), str(pipeline["onnx"])])
    failed = {r["name"] for r in report.rows if not r["ok"]}
    assert not report.passed
    assert {"exif_rot6.jpg", "exif_rot8.png"} <= failed or {"rgb16.png", "grey16.png"} & failed
    assert "FAIL" in report.table()


def test_verify_client_reports_a_missing_conformance_file_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fakedamage", "verify-client", str(tmp_path / "nope.onnx"), "--",
                           "true"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "nope.conformance.json" in proc.stderr and "fakedamage export" in proc.stderr


def test_conformance_vectors_are_deterministic_and_decode_to_their_checksums(tmp_path, pipeline):
    a = [im.data for im in conformance_images(64)]
    b = [im.data for im in conformance_images(64)]
    assert a == b
    doc = load_conformance(pipeline["onnx"].with_name("model.conformance.json"))
    for v in doc["vectors"]:
        rgb = load_image(base64.b64decode(v["file_base64"]))
        assert hashlib.sha256(rgb.tobytes()).hexdigest() == v["decoded"]["rgb_sha256"], v["name"]
        assert rgb.shape[:2] == (v["decoded"]["height"], v["decoded"]["width"])
    path, digest = write_conformance(pipeline["onnx"], tmp_path / "again.json")
    assert json.loads(path.read_text())["vectors"] == doc["vectors"]


NODE_CLIENT = REPO / "clients" / "js" / "score.js"
needs_node = pytest.mark.skipif(shutil.which("node") is None or not (REPO / "clients" / "js" / "node_modules").is_dir(),
                                reason="node or the JS client's packages are missing (make js-client installs them)")


@pytest.mark.slow
@needs_node
def test_node_client_passes_the_conformance_vectors_bit_for_bit(pipeline):
    conf = pipeline["onnx"].with_name("model.conformance.json")
    report = verify_client(conf, ["node", str(NODE_CLIENT), str(pipeline["onnx"])])
    assert report.passed, report.table()
    # it decodes JPEG as libjpeg-turbo does, so JPEG vectors agree as closely as PNG ones
    assert max(r["diff"] for r in report.rows) <= 1e-6, report.table()


@pytest.mark.slow
@needs_node
def test_node_client_agrees_with_python_on_real_photos(pipeline):
    from fakedamage.runtime.detector import Detector

    data = Path(__import__("skimage").data_dir)
    photos = [data / n for n in ("astronaut.png", "coffee.png", "rocket.jpg", "retina.jpg", "hubble_deep_field.jpg")]
    proc = subprocess.run(["node", str(NODE_CLIENT), str(pipeline["onnx"]), *map(str, photos)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.strip().splitlines()
    assert rows[0] == "path,score,is_fake" and len(rows) == len(photos) + 1
    det = Detector(pipeline["onnx"])
    for line, photo in zip(rows[1:], photos):
        path, score, is_fake = line.rsplit(",", 2)
        ref = det.predict(photo)
        assert path == str(photo)
        assert abs(float(score) - ref.score) <= 1e-6, (photo.name, score, ref.score)
        assert (is_fake == "true") == ref.is_fake


@needs_node
def test_node_client_errors_are_one_line_and_the_run_goes_on(pipeline, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    good = Path(__import__("skimage").data_dir) / "coffee.png"
    proc = subprocess.run(["node", str(NODE_CLIENT), str(pipeline["onnx"]), str(bad), str(good)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0] == "path,score,is_fake" and str(good) in proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line]
    assert len(errors) == 1 and "broken.jpg" in errors[0] and "at " not in errors[0]
    newer = tmp_path / "future.onnx"
    newer.write_bytes(pipeline["onnx"].read_bytes())
    import onnx as _onnx

    proto = _onnx.load(str(newer))
    meta = {p.key: p for p in proto.metadata_props}["fakedamage"]
    meta.value = json.dumps(dict(json.loads(meta.value), format_version=99))
    _onnx.save(proto, str(newer))
    proc = subprocess.run(["node", str(NODE_CLIENT), str(newer), str(good)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "format 99 is newer" in proc.stderr


def test_rewriting_the_metadata_rescores_the_conformance_vectors(pipeline, tmp_path):
    """calibrate-photos and the demo change the threshold and size slope after export: the vectors
    beside the model are scored again and their digest follows."""
    from fakedamage.conformance import rewrite_model_metadata
    from fakedamage.runtime.detector import Detector

    for name in ("model.onnx", "model.json", "model.conformance.json"):
        shutil.copy(pipeline["onnx"].with_name(name), tmp_path / name)
    model = tmp_path / "model.onnx"
    before = load_conformance(tmp_path / "model.conformance.json")
    meta = Detector(model).meta
    written = rewrite_model_metadata(model, meta.replace(size_slope=0.5, threshold=0.25))
    after = load_conformance(tmp_path / "model.conformance.json")
    assert written.conformance_sha256 == hashlib.sha256((tmp_path / "model.conformance.json").read_bytes()).hexdigest()
    assert Detector(model).meta.conformance_sha256 == written.conformance_sha256
    assert json.loads((tmp_path / "model.json").read_text())["size_slope"] == 0.5
    moved = [a["score"] != b["score"] for a, b in zip(after["vectors"], before["vectors"])]
    assert any(moved)  # the size correction moves every multi-tile vector
    report = verify_client(tmp_path / "model.conformance.json",
                           [sys.executable, "-m", "fakedamage", "predict", "--model", str(model), "--format", "csv"])
    assert report.passed, report.table()


def test_unknown_metadata_keys_are_ignored_and_a_newer_format_refused():
    from fakedamage.meta import ModelMeta

    d = ModelMeta(backbone="tracenet").to_dict()
    meta = ModelMeta.from_dict({**d, "added_by_a_later_exporter": {"x": 1}})
    assert meta == ModelMeta.from_dict(d)
    with pytest.raises(UsageError, match="newer than this fakedamage understands"):
        ModelMeta.from_dict({**d, "format_version": 4})


@needs_node
def test_node_client_unit_tests_pass():
    proc = subprocess.run(["node", "--test", "test/"], cwd=REPO / "clients" / "js", capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout
