"""Whole photos (issue 14): the size-slope fit, size bands, whole-photo claims, and ``calibrate-photos``."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from fakedamage.calibration import fit_size_slope, window_maxima
from fakedamage.whole_photos import SIZE_BANDS, jpeg_roundtrip, resample, size_band, whole_photo_claim


def test_size_slope_recovers_the_gumbel_scale_of_iid_tile_logits():
    rng = np.random.default_rng(0)
    beta = 0.5
    pairs = [window_maxima(rng.gumbel(-2.0 + rng.normal(), beta, size=(32, 48)), 128) for _ in range(40)]
    assert fit_size_slope(pairs) == pytest.approx(beta, rel=0.15)  # max of n Gumbel draws moves by beta ln n
    flat = [window_maxima(np.full((8, 8), 1.0), 128) for _ in range(3)]
    assert fit_size_slope(flat) == 0.0


def test_size_bands_cover_1_to_50_megapixels():
    assert [b[0] for b in SIZE_BANDS] == ["<=2MP", "2-8MP", "8-20MP", ">20MP"]
    assert [size_band(p) for p in (1, 2_000_000, 2_000_001, 12_000_000, 48_000_000)] == [
        "<=2MP", "<=2MP", "2-8MP", "8-20MP", ">20MP"]


def test_whole_photo_claim_is_content_aligned_at_native_size():
    from skimage import data

    from fakedamage.data.generators import create_generator

    photo = resample(data.astronaut(), 1.5)  # 768 x 768, resampled genuine
    assert photo.shape == (768, 768, 3)
    gen = create_generator("taef2", name="taef2")
    out = dict(whole_photo_claim(photo, gen, seed=3))
    assert list(out) == ["pristine", "real_damage", "inpaint_pasted"]
    assert all(v.shape == photo.shape for v in out.values())
    np.testing.assert_array_equal(out["pristine"], jpeg_roundtrip(photo))
    diff = np.abs(out["real_damage"].astype(int) - out["inpaint_pasted"].astype(int)).max(axis=2) > 8
    ys, xs = np.nonzero(diff)
    assert ys.size > 0 and np.ptp(ys) < 256 and np.ptp(xs) < 256  # the twins differ only inside one window


def test_calibrate_photos_writes_the_size_correction_into_the_model(pipeline, tmp_path):
    from skimage import data

    from fakedamage.runtime import Detector

    model = tmp_path / "model.onnx"
    shutil.copy(pipeline["onnx"], model)
    before = Detector(model).meta
    photos = tmp_path / "genuine"
    photos.mkdir()
    for name in ("coffee", "chelsea", "astronaut", "rocket"):
        Image.fromarray(getattr(data, name)()).save(photos / f"{name}.jpg", quality=92)
    out = run_cli("calibrate-photos", f"model={model}", f"photos={photos}", "factors=[0.5,1.0,2.0]",
                  f"out={tmp_path / 'report'}")
    assert "size_slope" in out.stdout and "next: fakedamage predict" in out.stderr
    report = json.loads((tmp_path / "report" / "whole_photos.json").read_text())
    meta = Detector(model).meta
    assert meta.size_slope == pytest.approx(report["size_slope"]) and meta.size_slope >= 0
    assert meta.threshold == pytest.approx(report["threshold"]) and meta.threshold >= before.threshold
    assert report["calibration"]["photos"] == 4 and report["calibration"]["images"] == 12
    assert report["calibration"]["fpr"] <= 0.01 + 1e-9
    assert json.loads(model.with_suffix(".json").read_text())["size_slope"] == meta.size_slope
    assert meta.export_checks["whole_photos"]["factors"] == [0.5, 1.0, 2.0]
    # a scored photo is corrected by exactly the recorded slope
    img = np.asarray(Image.open(photos / "coffee.jpg").convert("RGB"))
    res = Detector(model).scan(img)
    assert res.pooled - res.adjusted == pytest.approx(
        meta.size_slope * math.log(img.shape[0] * img.shape[1] / meta.size_reference_pixels), abs=1e-9)
    bad = run_cli("calibrate-photos", f"model={model}", f"photos={tmp_path / 'none'}", check=False)
    assert bad.returncode == 1 and "no images found" in bad.stderr and "Traceback" not in bad.stderr
