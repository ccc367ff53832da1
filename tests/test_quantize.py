"""Reduced-precision copies: recalibrated on the validation split and gated on the operating point.

The model is a real small detector exported the way ``fakedamage export`` does it:
``tf_efficientnet_lite0`` with its ImageNet weights (converted offline from the pip package), whose
image head is a logistic regression fitted on pooled features of training tiles. The task: real
photo crops against the same crops 3x down- and upsampled (the smoothing a decoder's upsampling
leaves). Its fp32 threshold and temperature are calibrated on the validation split as training
does it; the int8 copy is then made with the defaults and checked at the documented tolerances.
"""

from __future__ import annotations

import inspect
import json
import re
import shutil

import cv2
import numpy as np
import onnx
import pytest
import skimage.data
import torch

from fakedamage import Detector
from fakedamage.calibration import calibrate, fit_temperature, threshold_at_fpr
from fakedamage.export import (
    ACTIVATION_RANGE_METHODS,
    DEFAULT_ACTIVATION_RANGE_METHOD,
    DEFAULT_AUC_TOLERANCE,
    DEFAULT_FPR_TOLERANCE,
    DEFAULT_MIN_VERDICT_AGREEMENT,
    ExportConfig,
    GateError,
    GateReport,
    export_onnx,
    quantize_int8,
    write_reduced_precision,
)
from fakedamage.runtime.tiling import sigmoid

TILE = 128


def _photos():
    out = []
    for name in ("coffee", "chelsea", "astronaut", "rocket", "camera"):
        im = getattr(skimage.data, name)()
        out.append(np.stack([im] * 3, -1) if im.ndim == 2 else im)
    return out


def _regenerated(crop: np.ndarray, factor: int = 3) -> np.ndarray:
    h, w = crop.shape[:2]
    small = cv2.resize(crop, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _split(photos, per_photo: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Real crops and their regenerated twins, alternating (labels 0, 1, 0, 1, ...)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for im in photos:
        h, w = im.shape[:2]
        for _ in range(per_photo):
            y, x = int(rng.integers(0, h - TILE)), int(rng.integers(0, w - TILE))
            crop = np.ascontiguousarray(im[y:y + TILE, x:x + TILE])
            images += [crop, _regenerated(crop)]
            labels += [0, 1]
    return images, np.asarray(labels)


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """The exported, calibrated fp32 detector and its train / validation images."""
    from sklearn.linear_model import LogisticRegression

    from fakedamage.models import build_meta, convert_efficientnet_lite0, create_detector

    tmp = tmp_path_factory.mktemp("probe")
    torch.manual_seed(0)
    model = create_detector("tf_efficientnet_lite0",
                            pretrained_file=convert_efficientnet_lite0(tmp / "lite0.safetensors")).eval()
    photos = _photos()
    train, y_train = _split(photos, 8, seed=0)
    val, y_val = _split(photos, 10, seed=1)

    def batch(images):
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255

    with torch.no_grad():
        feats = model.encoder(model._prepare(batch(train)))[-1].mean(dim=(2, 3)).numpy()
        head = LogisticRegression(C=0.01, max_iter=5000).fit(feats, y_train)
        model.head.fc.weight.copy_(torch.from_numpy(head.coef_).float())
        model.head.fc.bias.copy_(torch.from_numpy(head.intercept_).float())
        logits = model.classify(batch(val)).numpy().ravel()
    cal = calibrate(logits, y_val, target_fpr=0.01)  # what training does on its validation split
    meta = build_meta(model, "tf_efficientnet_lite0", tile_size=TILE).replace(
        threshold=cal.threshold, temperature=cal.temperature)
    path = tmp / "model.onnx"
    export_onnx(model, meta, path, val[:8])
    return {"onnx": path, "train": train, "val": val, "labels": y_val}


@pytest.mark.slow
def test_int8_copy_is_recalibrated_and_passes_the_documented_gate(probe, tmp_path):
    fp32 = tmp_path / "model.onnx"
    shutil.copy(probe["onnx"], fp32)
    val, y = probe["val"], probe["labels"]
    out, gate = write_reduced_precision(fp32, "int8", val, y, probe["train"])  # every default
    # the documented tolerances, not permissive ones
    assert (gate.tolerance, gate.fpr_tolerance, gate.min_verdict_agreement) == (0.01, 0.01, 0.98)
    assert (DEFAULT_AUC_TOLERANCE, DEFAULT_FPR_TOLERANCE, DEFAULT_MIN_VERDICT_AGREEMENT) == (0.01, 0.01, 0.98)
    assert gate.ok and gate.n_images == 100 and gate.n_real == 50
    assert gate.auc_fp32 > 0.99  # a real detector of this task
    assert abs(gate.auc - gate.auc_fp32) <= 0.01
    assert gate.fpr - gate.fpr_fp32 <= 0.01
    assert gate.verdict_agreement >= 0.98

    ref, det = Detector(fp32), Detector(out)
    # the copy carries its own operating point, recalibrated on the validation split ...
    assert det.meta.precision == "int8"
    assert (det.meta.threshold, det.meta.temperature) == (gate.threshold, gate.temperature)
    assert (gate.threshold_fp32, gate.temperature_fp32) == (ref.meta.threshold, ref.meta.temperature)
    assert det.meta.threshold != ref.meta.threshold and det.meta.temperature != ref.meta.temperature
    # ... with the project's calibration functions, at fp32's false-positive rate on these reals
    z = np.array([det.scan(im).adjusted for im in val])
    assert det.meta.temperature == pytest.approx(fit_temperature(z, y), rel=1e-9)
    p = sigmoid(z / det.meta.temperature)
    assert gate.target_fpr == gate.fpr_fp32
    assert det.meta.threshold == threshold_at_fpr(p[y == 0], gate.target_fpr, all_scores=p)
    # the gate's figures are what the runtime does with each file
    v_ref = np.array([ref.predict(im).is_fake for im in val])
    v_det = np.array([det.predict(im).is_fake for im in val])
    assert int((v_ref == v_det).sum()) == gate.verdicts_agree
    assert v_det[y == 0].mean() == gate.fpr and v_ref[y == 0].mean() == gate.fpr_fp32
    checks = det.meta.export_checks["int8_gate"]
    assert checks["ok"] and checks["verdict_agreement"] == gate.verdict_agreement
    assert checks["activation_range_method"] == DEFAULT_ACTIVATION_RANGE_METHOD
    assert json.loads(out.with_suffix(".json").read_text()) == det.meta.to_dict()

    proto = onnx.load(str(out))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in proto.graph.node}  # static QDQ
    # the TF-"same" padding arithmetic of lite0 stays float: every Pad gets exact pad sizes
    producers = {o: n.op_type for n in proto.graph.node for o in n.output}
    pads = [n for n in proto.graph.node if n.op_type == "Pad"]
    assert pads and all(producers.get(n.input[1]) != "DequantizeLinear" for n in pads)


@pytest.mark.slow
def test_a_copy_moved_off_the_operating_point_is_rejected(probe, tmp_path):
    """Recalibrated for 20 % FPR instead of fp32's rate, the copy fails the FPR and verdict checks
    at the documented tolerances, and nothing is written."""
    fp32 = tmp_path / "model.onnx"
    shutil.copy(probe["onnx"], fp32)
    with pytest.raises(GateError) as e:
        write_reduced_precision(fp32, "int8", probe["val"], probe["labels"], probe["train"], target_fpr=0.2)
    msg = str(e.value)
    assert "\n" not in msg and msg.endswith("not written")
    assert "int8 copy fails its gate on 100 validation images" in msg
    assert "FPR on 50 validation reals 0.2000" in msg and "allowed +0.01" in msg
    agree = re.search(r"verdicts agree with fp32 on (\d+)/100 images \(\d+\.\d\d%, at least 98\.00% required\)", msg)
    assert agree and int(agree.group(1)) <= 90  # the 10 reals now flagged, at least
    assert "validation AUC" not in msg  # the ranking did not change: AUC alone would have let it through
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_gate_report_names_each_failing_check():
    ok = GateReport("int8", 200, 0.95, 0.946, 0.01, 0.3, n_real=100, fpr_fp32=0.01, fpr=0.02, verdicts_agree=196)
    assert ok.ok and ok.failures() == []
    bad = GateReport("int8", 200, 0.95, 0.93, 0.01, 0.93, n_real=100, fpr_fp32=0.01, fpr=0.03, verdicts_agree=195,
                     threshold=0.8)
    fails = bad.failures()
    assert not bad.ok and len(fails) == 3
    assert fails[0] == "validation AUC 0.9300 vs fp32 0.9500 (change -0.0200, allowed ±0.01)"
    assert fails[1] == ("FPR on 100 validation reals 0.0300 at its threshold 0.8000 vs fp32 0.0100 "
                        "(increase +0.0200, allowed +0.01)")
    assert fails[2] == "verdicts agree with fp32 on 195/200 images (97.50%, at least 98.00% required)"
    assert bad.to_dict()["ok"] is False and bad.to_dict()["fpr_increase"] == pytest.approx(0.02)


def test_activation_range_method_default_agrees_everywhere():
    """The int8 activation-range method ("calibration" in onnxruntime's words) has one default:
    the constant, both functions, ExportConfig and configs/export/default.yaml (key int8_method)."""
    from fakedamage.config import compose_config

    assert DEFAULT_ACTIVATION_RANGE_METHOD == "percentile" and DEFAULT_ACTIVATION_RANGE_METHOD in ACTIVATION_RANGE_METHODS
    for fn in (quantize_int8, write_reduced_precision):
        assert inspect.signature(fn).parameters["activation_range_method"].default == DEFAULT_ACTIVATION_RANGE_METHOD
    assert "default ``percentile``" in quantize_int8.__doc__
    cfg = ExportConfig(**compose_config("export", ["weights=x.safetensors"])["export"])
    assert cfg.int8_method == cfg.activation_range_method == DEFAULT_ACTIVATION_RANGE_METHOD
    assert cfg.gate_kwargs() == {"auc_tolerance": 0.01, "fpr_tolerance": 0.01, "min_verdict_agreement": 0.98,
                                 "target_fpr": None, "per_channel": True, "activation_range_method": "percentile"}
    cfg = ExportConfig(**compose_config("export", ["weights=x.safetensors", "export.int8_method=minmax"])["export"])
    assert cfg.activation_range_method == "minmax"  # the config key still works


@pytest.mark.parametrize("field, value, match", [
    ("int8_method", "max", "export.int8_method .int8 activation ranges. must be one of"),
    ("min_verdict_agreement", 1.5, "min_verdict_agreement must be in"),
    ("fpr_tolerance", -0.01, "fpr_tolerance must be >= 0"),
    ("target_fpr", 1.0, "target_fpr must be null or in"),
])
def test_export_config_refuses_bad_gate_settings(field, value, match):
    with pytest.raises(ValueError, match=match):
        ExportConfig(**{field: value})
