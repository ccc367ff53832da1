"""ONNX export: parity with PyTorch on real photos, metadata, atomic refusal."""

import json

import numpy as np
import onnx
import pytest
import skimage.data
import torch

from fakedamage import Detector, ModelMeta
from fakedamage.evaluate import TorchScorer
from fakedamage.export import ParityError, export_onnx
from fakedamage.models import build_meta, create_detector, load_checkpoint


def real_photos():
    return [skimage.data.coffee(), skimage.data.chelsea(), skimage.data.astronaut(), skimage.data.rocket()]


@pytest.fixture(scope="module")
def lite0():
    torch.manual_seed(0)
    model = create_detector("tf_efficientnet_lite0").eval()
    return model


def test_parity_on_real_photos_and_metadata(tmp_path, lite0):
    meta = build_meta(lite0, "tf_efficientnet_lite0", tile_size=128, tile_stride=96, aggregation="topk", topk=3)
    path = tmp_path / "m.onnx"
    report = export_onnx(lite0, meta, path, real_photos())
    assert report.ok and report.n_images == 4 and report.max_abs_dprob <= 1e-4
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    written = ModelMeta.from_json(props["fakedamage"])
    assert written.export_checks["parity"]["ok"] and written.created and written.precision == "fp32"
    assert written.replace(created="", export_checks={}, git_commit=meta.git_commit, conformance_sha256="") == meta
    conformance = (tmp_path / "m.conformance.json").read_bytes()
    assert written.conformance_sha256 == __import__("hashlib").sha256(conformance).hexdigest()
    assert json.loads((tmp_path / "m.json").read_text())["tile_stride"] == 96
    # the graph carries normalisation: raw [0,1] tiles in, same logits as PyTorch out
    det = Detector(path)
    scorer = TorchScorer(lite0, meta)
    for img in real_photos():
        assert abs(det.predict(img).score - scorer(img)) <= 1e-4
    # dynamic batch
    x = np.random.default_rng(0).random((5, 3, 128, 128), dtype=np.float32)
    assert det.score_tiles(x).shape == (5,)


def test_parity_failure_writes_nothing(tmp_path, lite0):
    meta = build_meta(lite0, "tf_efficientnet_lite0", tile_size=128)
    with pytest.raises(ParityError, match="not written"):
        export_onnx(lite0, meta, tmp_path / "m.onnx", real_photos()[:2], tolerance=-1.0)
    assert not (tmp_path / "m.onnx").exists()
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_roundtrip_parity(pipeline):
    model, meta = load_checkpoint(pipeline["best"])
    det = Detector(pipeline["onnx"])
    assert det.meta.replace(created=meta.created, export_checks=meta.export_checks, git_commit=meta.git_commit,
                            conformance_sha256="") == meta
    scorer = TorchScorer(model, meta)
    for img in real_photos():
        assert abs(det.predict(img).score - scorer(img)) <= 1e-4
