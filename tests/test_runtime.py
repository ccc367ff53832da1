"""Tests of the torch-free runtime: image decoding, Detector, and the predict CLI.

A real tiny ONNX model is exported from a torch module once per session (fixture
``tiny_onnx``); every score is checked against that torch module on the same tiles.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakedamage.meta import META_KEY, ModelMeta
from fakedamage.runtime import Detector, ImageDecodeError, Prediction, PredictionError, load_image
from fakedamage.runtime.detector import ModelLoadError
from fakedamage.runtime.predict import expand_inputs, run_predict
from fakedamage.runtime.tiling import extract_tiles, pool_logits, sigmoid

SRC = Path(__file__).resolve().parents[1] / "src"
TILE = 64


@dataclass(frozen=True)
class TinyModel:
    path: Path  # ONNX with fakedamage metadata
    bare_path: Path  # same graph, no metadata
    module: object  # the torch module it was exported from
    meta: ModelMeta


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """Export a tiny conv net (input (N, 3, 64, 64) in [0, 1]) with fakedamage metadata."""
    torch = pytest.importorskip("torch")
    onnx = pytest.importorskip("onnx")
    nn = torch.nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=2)
            self.fc = nn.Linear(4, 1)

        def forward(self, x):
            x = (x - 0.5) / 0.5
            x = torch.relu(self.conv(x)).mean(dim=(2, 3))
            logit = self.fc(x) * 4.0  # spread scores away from 0.5
            return logit, torch.sigmoid(logit)

    torch.manual_seed(0)
    module = Tiny().eval()
    out = tmp_path_factory.mktemp("model")
    bare = out / "bare.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but asked for
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (torch.rand(2, 3, TILE, TILE),),
            str(bare),
            dynamo=False,
            opset_version=17,
            input_names=["image"],
            output_names=["logit", "prob"],
            dynamic_axes={"image": {0: "batch"}, "logit": {0: "batch"}, "prob": {0: "batch"}},
        )
    meta = ModelMeta(backbone="tiny", tile_size=TILE, tile_stride=TILE)
    proto = onnx.load(str(bare))
    onnx.helper.set_model_props(proto, {META_KEY: meta.to_json()})
    path = out / "tiny.onnx"
    onnx.save(proto, str(path))
    return TinyModel(path=path, bare_path=bare, module=module, meta=meta)


@pytest.fixture(scope="session")
def detector(tiny_onnx: TinyModel) -> Detector:
    return Detector(tiny_onnx.path, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="session")
def coffee_jpg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = pytest.importorskip("skimage.data")
    path = tmp_path_factory.mktemp("img") / "coffee.jpg"
    Image.fromarray(data.coffee()).save(path, quality=92)
    return path


def torch_score(model: TinyModel, image: np.ndarray) -> float:
    """Reference: the torch module on the same tiles, pooled the same way."""
    import torch

    tiles, _ = extract_tiles(image, model.meta.tile_size, model.meta.tile_stride)
    with torch.no_grad():
        logits = model.module(torch.from_numpy(tiles))[0].numpy().reshape(-1)
    pooled = pool_logits(logits, model.meta.aggregation, model.meta.topk)
    return float(sigmoid(pooled / model.meta.temperature))


def save_png_with_header_size(path: Path, width: int, height: int) -> Path:
    """A tiny valid PNG whose IHDR claims ``width x height`` (a decompression-bomb header)."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then chunk length + type
    data[ihdr : ihdr + 8] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = crc.to_bytes(4, "big")
    path.write_bytes(bytes(data))
    return path


# --------------------------------------------------------------------------- Detector


def test_predict_matches_torch_on_real_photo(detector: Detector, tiny_onnx: TinyModel, coffee_jpg: Path) -> None:
    pred = detector.predict(coffee_jpg)
    assert isinstance(pred, Prediction)
    assert 0.0 <= pred.score <= 1.0
    image = load_image(coffee_jpg)
    assert pred.score == pytest.approx(torch_score(tiny_onnx, image), rel=1e-5)
    assert pred.image_size == (400, 600)
    assert pred.tile_scores.shape == (len(pred.tile_origins),) == (70,)
    assert pred.score == pytest.approx(pred.tile_scores.max(), rel=1e-9)  # max aggregation
    assert pred.score == pytest.approx(float(sigmoid(pred.logit)), rel=1e-12)
    assert pred.is_fake == (pred.score >= detector.threshold)
    assert set(pred.timings) == {"decode", "infer", "total"}
    assert pred.path == str(coffee_jpg)
    d = pred.to_dict()
    assert d["n_tiles"] == 70 and len(d["tile_scores"]) == 70 and isinstance(d["is_fake"], bool)


def test_predict_same_for_all_input_kinds_and_batch_sizes(tiny_onnx: TinyModel, detector: Detector, coffee_jpg: Path) -> None:
    ref = detector.predict(coffee_jpg).score
    assert detector.predict(coffee_jpg.read_bytes()).score == pytest.approx(ref, rel=1e-6)
    assert detector.predict(str(coffee_jpg)).score == pytest.approx(ref, rel=1e-6)
    assert detector.predict(load_image(coffee_jpg)).score == pytest.approx(ref, rel=1e-6)
    with Image.open(coffee_jpg) as im:
        assert detector.predict(im).score == pytest.approx(ref, rel=1e-6)
    small_batches = Detector(tiny_onnx.path, providers=["CPUExecutionProvider"], batch_size=7)
    assert small_batches.predict(coffee_jpg).score == pytest.approx(ref, rel=1e-5)


def test_image_smaller_than_tile_is_padded(tiny_onnx: TinyModel, detector: Detector, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "small.png"
    Image.fromarray(rng.integers(0, 256, (20, 50, 3), dtype=np.uint8)).save(path)
    pred = detector.predict(path)
    assert pred.image_size == (20, 50) and pred.tile_scores.shape == (1,)
    assert pred.score == pytest.approx(torch_score(tiny_onnx, load_image(path)), rel=1e-5)


def test_threshold_override_and_read_only(tiny_onnx: TinyModel, coffee_jpg: Path) -> None:
    det = Detector(tiny_onnx.path, providers=["CPUExecutionProvider"], threshold=0.0)
    assert det.threshold == 0.0 and det.meta == tiny_onnx.meta
    pred = det.predict(coffee_jpg)
    assert pred.is_fake and pred.threshold == 0.0
    with pytest.raises(AttributeError):
        det.threshold = 0.5  # type: ignore[misc]
    assert "tiny" in repr(det) and "CPUExecutionProvider" in repr(det)


def test_unavailable_provider_falls_back_with_warning(tiny_onnx: TinyModel, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="fakedamage.runtime.detector"):
        det = Detector(tiny_onnx.path, providers=["NoSuchExecutionProvider", "CPUExecutionProvider"])
    assert det.providers[0] == "CPUExecutionProvider"
    assert "CPUExecutionProvider" in caplog.text


def test_score_tiles_chunks(detector: Detector, tiny_onnx: TinyModel) -> None:
    import torch

    tiles = np.random.default_rng(1).random((37, 3, TILE, TILE), dtype=np.float32)
    logits = detector.score_tiles(tiles)
    assert logits.shape == (37,) and logits.dtype == np.float32
    with torch.no_grad():
        ref = tiny_onnx.module(torch.from_numpy(tiles))[0].numpy().reshape(-1)
    np.testing.assert_allclose(logits, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        detector.score_tiles(np.zeros((1, 3, 32, 32), np.float32))


def test_predict_batch_reports_bad_item(detector: Detector, coffee_jpg: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    results = detector.predict_batch([coffee_jpg, bad, coffee_jpg.read_bytes()])
    assert [type(r) for r in results] == [Prediction, PredictionError, Prediction]
    assert results[1].path == str(bad) and "broken.jpg" in results[1].error
    assert results[0].score == pytest.approx(results[2].score, rel=1e-6)


def test_threads_share_one_detector(detector: Detector, coffee_jpg: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    paths = [coffee_jpg]
    for i in range(3):
        p = tmp_path / f"r{i}.png"
        Image.fromarray(rng.integers(0, 256, (90 + 17 * i, 130, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    expected = [detector.predict(p).score for p in paths]
    jobs = [paths[i % len(paths)] for i in range(32)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda p: detector.predict(p).score, jobs))
    assert got == [expected[i % len(paths)] for i in range(32)]


def test_model_without_metadata_is_rejected(tiny_onnx: TinyModel, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="is not a fakedamage model.*fakedamage export"):
        Detector(tiny_onnx.bare_path)
    with pytest.raises(ModelLoadError, match="not found"):
        Detector(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_text("hello")
    with pytest.raises(ModelLoadError, match="junk.onnx"):
        Detector(junk)


# --------------------------------------------------------------------------- image decoding


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "F", "1"])
def test_modes_decode_to_rgb(mode: str, tmp_path: Path) -> None:
    h, w = 24, 40
    base = Image.fromarray(np.random.default_rng(3).integers(0, 256, (h, w, 3), dtype=np.uint8))
    if mode == "I;16":
        img = Image.fromarray((np.arange(h * w, dtype=np.uint16).reshape(h, w) * 60).astype(np.uint16))
    elif mode == "F":
        img = Image.fromarray(np.linspace(0, 1, h * w, dtype=np.float32).reshape(h, w))
    else:
        img = base.convert(mode)
    assert img.mode == mode
    ext = {"CMYK": "jpg", "F": "tif"}.get(mode, "png")
    path = tmp_path / f"img.{ext}"
    img.save(path)
    out = load_image(path)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8 and out.flags.c_contiguous


def test_16bit_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    Image.fromarray(np.array([[0, 128 * 257, 65535]], dtype=np.uint16)).save(path)
    assert load_image(path)[0, :, 0].tolist() == [0, 128, 255]


def test_alpha_is_dropped_not_composited(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert load_image(path)[0, 0].tolist() == [10, 20, 30]
    assert load_image(rgba)[0, 0].tolist() == [10, 20, 30]


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 6), c) for c in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    out = load_image(path)
    assert out.shape == (6, 8, 3) and out[0, 0].tolist() == [255, 0, 0]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (80, 40), (200, 100, 50))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif.tobytes())
    assert load_image(path).shape == (80, 40, 3)


def test_numpy_inputs(tmp_path: Path) -> None:
    gray = np.full((5, 7), 9, np.uint8)
    assert load_image(gray).shape == (5, 7, 3)
    with pytest.raises(ImageDecodeError, match="uint8"):
        load_image(np.zeros((5, 7, 3), np.float32))
    with pytest.raises(ImageDecodeError, match="shape"):
        load_image(np.zeros((5, 7, 2), np.uint8))


def test_bad_files_raise_clear_errors(tmp_path: Path, coffee_jpg: Path) -> None:
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(coffee_jpg.read_bytes()[: coffee_jpg.stat().st_size // 2])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("this is a text file\n")
    cases = {
        truncated: "truncated",
        empty: "empty",
        text: "not a recognised image",
        tmp_path / "missing.jpg": "not found",
        tmp_path: "directory",
    }
    for path, what in cases.items():
        with pytest.raises(ImageDecodeError) as info:
            load_image(path)
        msg = str(info.value)
        assert path.name in msg and what in msg and "\n" not in msg, msg
    with pytest.raises(ImageDecodeError, match="empty"):
        load_image(b"")


def test_too_many_pixels_is_rejected(tmp_path: Path, coffee_jpg: Path) -> None:
    with pytest.raises(ImageDecodeError, match="over the limit"):
        load_image(coffee_jpg, max_pixels=1000)
    # Header claims 10k x 10k (100 MP): rejected from the header, before decoding.
    with pytest.warns(Image.DecompressionBombWarning):
        with pytest.raises(ImageDecodeError, match="over the limit"):
            load_image(save_png_with_header_size(tmp_path / "big.png", 10_000, 10_000))
    # Header claims 100k x 100k: Pillow's DecompressionBombError, turned into ours.
    with pytest.raises(ImageDecodeError, match="bomb.png"):
        load_image(save_png_with_header_size(tmp_path / "bomb.png", 100_000, 100_000))


def test_expand_inputs(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ["a/x.jpg", "a/b/y.PNG", "a/notes.txt", "a/.hidden.jpg", "z.webp"]:
        (tmp_path / name).write_bytes(b"x")
    files, unmatched = expand_inputs(
        [str(tmp_path / "a"), str(tmp_path / "**" / "*.webp"), str(tmp_path / "a" / "x.jpg"), str(tmp_path / "nope*")]
    )
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a/b/y.PNG", "a/x.jpg", "z.webp"]
    assert unmatched == [str(tmp_path / "nope*")]


# --------------------------------------------------------------------------- CLI (real subprocesses)


def run_cli(*args: str | os.PathLike) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "fakedamage.runtime.predict", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=60,
    )


@pytest.fixture()
def photo_dir(tmp_path: Path, coffee_jpg: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "good1.jpg").write_bytes(coffee_jpg.read_bytes())
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(folder / "good2.png")
    (folder / "corrupt.jpg").write_bytes(coffee_jpg.read_bytes()[:3000])
    return folder


def test_cli_folder_with_corrupt_file(tiny_onnx: TinyModel, photo_dir: Path, tmp_path: Path) -> None:
    res = run_cli(photo_dir, "--model", tiny_onnx.path)
    assert res.returncode == 1, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2 and all("score=" in ln and ln.split()[-1] in ("FAKE", "REAL") for ln in lines)
    assert "corrupt.jpg" in res.stderr and "Traceback" not in res.stderr

    out = tmp_path / "preds.csv"
    res = run_cli(photo_dir, "--model", tiny_onnx.path, "--output", out)
    assert res.returncode == 1 and res.stdout == ""
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"path", "score", "is_fake"} <= set(rows[0])
    assert len(rows) == 3
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["corrupt.jpg"]["error"] and by_name["corrupt.jpg"]["score"] == ""
    assert 0.0 <= float(by_name["good1.jpg"]["score"]) <= 1.0


def test_run_predict_jsonl_in_process(tiny_onnx: TinyModel, photo_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "sub" / "preds.jsonl"
    assert run_predict([str(photo_dir)], tiny_onnx.path, output=out, threshold=0.0, quiet=True) == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["corrupt.jpg", "good1.jpg", "good2.png"]
    assert rows[0]["error"] and rows[1]["is_fake"] is True and rows[1]["threshold"] == 0.0
    assert capsys.readouterr().err.count("error:") == 1
    assert not [p for p in out.parent.iterdir() if p.name != "preds.jsonl"]  # no temp file left


def test_cli_single_corrupt_file(tiny_onnx: TinyModel, photo_dir: Path) -> None:
    res = run_cli(photo_dir / "corrupt.jpg", "--model", tiny_onnx.path)
    assert res.returncode != 0 and res.stdout == ""
    assert "Traceback" not in res.stderr
    errors = res.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and "corrupt.jpg" in errors[0]


def test_cli_usage_errors(tiny_onnx: TinyModel, photo_dir: Path, tmp_path: Path) -> None:
    res = run_cli(photo_dir, "--model", tiny_onnx.path, "--output", tmp_path / "preds.txt")
    assert res.returncode == 2 and "Traceback" not in res.stderr and ".csv" in res.stderr
    res = run_cli(photo_dir, "--model", tiny_onnx.bare_path)
    assert res.returncode == 2 and "not a fakedamage model" in res.stderr and "Traceback" not in res.stderr
    res = run_cli(photo_dir, "--model", tmp_path / "missing.onnx")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


def test_runtime_never_imports_torch(tiny_onnx: TinyModel, coffee_jpg: Path) -> None:
    code = (
        "import sys, fakedamage.runtime\n"
        "from fakedamage.runtime import Detector\n"
        f"p = Detector({str(tiny_onnx.path)!r}).predict({str(coffee_jpg)!r})\n"
        "assert 0 <= p.score <= 1\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


# --------------------------------------------------------------------------- bounded-memory scan (issue 14)


def _mean_scorer(calls: list[int] | None = None):
    """A real deterministic tile scorer: logit = mean of the tile minus 0.5 (x 8), map = its grey level."""

    def score(tiles: np.ndarray, with_map: bool):
        if calls is not None:
            calls.append(len(tiles))
        logits = (tiles.mean(axis=(1, 2, 3)) - 0.5) * 8.0
        return logits, (tiles.mean(axis=1) if with_map else None)

    return score


def _hann_stitch_float64(maps: np.ndarray, origins, height: int, width: int) -> np.ndarray:
    """Independent float64 reference of the stitching spec (the formula of ``blend_window``'s docstring):
    per pixel sum_k W_k map_k / sum_k W_k, W = outer(w, w), w(i) = 0.5 - 0.5 cos(2 pi (i + 0.5) / T)."""
    maps = np.asarray(maps, np.float64)
    t = maps.shape[-1]
    w1 = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(t) + 0.5) / t)
    win = np.outer(w1, w1)
    ph, pw = max(height, max(y for y, _ in origins) + t), max(width, max(x for _, x in origins) + t)
    num, den = np.zeros((ph, pw)), np.zeros((ph, pw))
    for m, (y, x) in zip(maps.reshape(len(origins), t, t), origins):
        num[y : y + t, x : x + t] += win * m
        den[y : y + t, x : x + t] += win
    return (num / den)[:height, :width]


@pytest.mark.parametrize("batch", [1, 7, 16, 1000])
def test_batched_scan_equals_all_at_once_tiling(coffee_jpg: Path, batch: int) -> None:
    from fakedamage.runtime.tiling import scan_image, stitch_tiles

    image = load_image(coffee_jpg)
    tiles, origins = extract_tiles(image, 128, 64)  # the old path: every tile at once
    ref_logits, ref_maps = _mean_scorer()(tiles, True)
    ref_heat = stitch_tiles(ref_maps, origins, *image.shape[:2])
    np.testing.assert_allclose(ref_heat, _hann_stitch_float64(ref_maps, origins, *image.shape[:2]), rtol=0, atol=2e-6)
    calls: list[int] = []
    res = scan_image(image, _mean_scorer(calls), tile_size=128, tile_stride=64, batch_size=batch, with_map=True)
    assert res.origins == origins
    np.testing.assert_array_equal(res.logits, ref_logits.astype(np.float64))
    np.testing.assert_allclose(res.heatmap, ref_heat, rtol=0, atol=1e-6)
    assert res.pooled == pool_logits(ref_logits, "max") and res.adjusted == res.pooled
    assert max(calls) <= batch and sum(calls) == len(origins)


def test_blend_window_is_the_documented_hann_window() -> None:
    from fakedamage.runtime.tiling import blend_window

    for t in (1, 2, 7, 64, 128):
        w = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(t) + 0.5) / t)
        win = blend_window(t)
        assert win.dtype == np.float32 and win.shape == (t, t)
        np.testing.assert_array_equal(win, np.outer(w, w).astype(np.float32))
        assert win.min() > 0  # never zero: a border pixel covered by one tile keeps that tile's value
    w = blend_window(64).astype(np.float64)  # at stride T/2 the four overlapping windows sum to 1: a pure cross-fade
    np.testing.assert_allclose(w[:32, :32] + w[32:, :32] + w[:32, 32:] + w[32:, 32:], 1.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("stride", [16, 32, 48, 64])
def test_constant_tile_maps_stitch_to_a_constant_heatmap(stride: int) -> None:
    from fakedamage.runtime.tiling import stitch_tiles, tile_origins

    h, w, t = 150, 221, 64  # irregular: the last tile of each axis is aligned to the far edge
    origins = tile_origins(h, w, t, stride)
    for c in (0.0, 0.37, 1.0):
        heat = stitch_tiles(np.full((len(origins), 1, t, t), c, np.float32), origins, h, w)
        assert heat.shape == (h, w) and heat.dtype == np.float32
        np.testing.assert_allclose(heat, c, rtol=0, atol=1e-6)  # no seams, no border roll-off


@pytest.mark.parametrize("offset", [32, 20, 48])
def test_two_overlapping_tiles_cross_fade_smoothly(offset: int) -> None:
    from fakedamage.runtime.tiling import stitch_tiles

    t, lo, hi = 64, 0.2, 0.9
    maps = np.stack([np.full((t, t), lo), np.full((t, t), hi)]).astype(np.float32)
    heat = stitch_tiles(maps, [(0, 0), (0, offset)], t, t + offset)
    np.testing.assert_allclose(heat, np.broadcast_to(heat[:1], heat.shape), rtol=0, atol=1e-6)  # every row the same (the y weights cancel)
    row = heat[0].astype(np.float64)
    np.testing.assert_allclose(row[:offset], lo, rtol=0, atol=1e-6)  # covered by the first tile only
    np.testing.assert_allclose(row[t:], hi, rtol=0, atol=1e-6)  # covered by the second tile only
    steps = np.diff(row)
    assert steps.min() >= -1e-6  # monotone from lo to hi
    overlap = t - offset
    # a gradual fade: at most a few times the slope of a straight ramp over the overlap (pi/2 times at T/2)
    assert steps.max() <= 2.5 * (hi - lo) / overlap, (steps.max(), (hi - lo) / overlap)
    assert steps[offset - 1] < 0.01 * (hi - lo) and steps[t - 1] < 0.01 * (hi - lo)  # the tile edges themselves
    # the old plain average jumped by half the difference at both edges
    assert (hi - lo) / 2 > 10 * max(steps[offset - 1], steps[t - 1])


def test_scan_heatmap_has_no_tile_seams_with_a_real_conv_net(coffee_jpg: Path) -> None:
    """A small zero-padded conv net (its output drifts near tile borders, as real ones do) on a real
    photo: with plain averaging the heatmap jumps at tile edges; blended, edges look like any column."""
    torch = pytest.importorskip("torch")
    from fakedamage.runtime.tiling import scan_image

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, padding=2), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 1, 5, padding=2)).eval()

    def score(tiles: np.ndarray, with_map: bool):
        with torch.no_grad():
            m = torch.sigmoid(net(torch.from_numpy(tiles)))[:, 0].numpy()
        return m.mean(axis=(1, 2)), (m if with_map else None)

    image = load_image(coffee_jpg)  # 400 x 600
    t, stride = 64, 32
    res = scan_image(image, score, tile_size=t, tile_stride=stride, batch_size=16, with_map=True)
    ph, pw = image.shape[:2]
    total, count = np.zeros((ph, pw)), np.zeros((ph, pw))  # the old stitching, for contrast
    _, maps = score(extract_tiles(image, t, stride)[0], True)
    for m, (y, x) in zip(maps, res.origins):
        total[y : y + t, x : x + t] += m
        count[y : y + t, x : x + t] += 1
    averaged = total / count

    def seam_ratio(heat: np.ndarray) -> float:
        dx = np.abs(np.diff(heat.astype(np.float64), axis=1)).mean(axis=0)  # mean jump between columns x, x+1
        edges = sorted({x - 1 for _, x in res.origins if x > 0} | {x + t - 1 for _, x in res.origins if x + t < pw})
        inner = np.setdiff1d(np.arange(dx.size), edges)
        return float(dx[edges].mean() / dx[inner].mean())

    assert seam_ratio(averaged) > 2.0  # the artefact this guards against is real for this net
    assert seam_ratio(res.heatmap) < 1.15, seam_ratio(res.heatmap)


def test_coarse_to_fine_scores_the_dense_tiles_around_the_best_coarse_ones(coffee_jpg: Path) -> None:
    from fakedamage.runtime.tiling import scan_image, tile_origins

    image = load_image(coffee_jpg)  # 400 x 600
    dense = scan_image(image, _mean_scorer(), tile_size=128, tile_stride=64)
    fine = scan_image(image, _mean_scorer(), tile_size=128, tile_stride=64, scan="coarse_to_fine", refine_top=2)
    coarse = tile_origins(400, 600, 128, 128)
    assert fine.origins[: len(coarse)] == coarse
    assert set(fine.origins) <= set(dense.origins) and len(set(fine.origins)) == len(fine.origins)
    assert len(coarse) < len(fine.origins) < len(dense.origins)
    by_origin = dict(zip(dense.origins, dense.logits))
    np.testing.assert_array_equal(fine.logits, [by_origin[o] for o in fine.origins])  # same tiles, same logits
    assert fine.pooled <= dense.pooled
    everything = scan_image(image, _mean_scorer(), tile_size=128, tile_stride=64, scan="coarse_to_fine",
                            refine_top=len(coarse))
    assert sorted(everything.origins) == sorted(dense.origins) and everything.pooled == dense.pooled


def test_scan_cancelled_between_batches(coffee_jpg: Path) -> None:
    from fakedamage.runtime.tiling import ScanCancelled, scan_image

    calls: list[int] = []
    checks = iter([False, False, True])
    with pytest.raises(ScanCancelled):
        scan_image(load_image(coffee_jpg), _mean_scorer(calls), tile_size=64, tile_stride=64, batch_size=4,
                   cancelled=lambda: next(checks))
    assert calls == [4, 4]  # two batches ran, the third was never started


def test_size_correction_is_carried_by_the_onnx_metadata_and_applied(tiny_onnx: TinyModel, coffee_jpg: Path,
                                                                      tmp_path: Path) -> None:
    import math

    import onnx

    meta = tiny_onnx.meta.replace(size_slope=0.4, size_reference_pixels=64 * 64, temperature=1.5, threshold=0.7)
    proto = onnx.load(str(tiny_onnx.path))
    onnx.helper.set_model_props(proto, {META_KEY: meta.to_json()})
    path = tmp_path / "sized.onnx"
    onnx.save(proto, str(path))
    det = Detector(path, providers=["CPUExecutionProvider"])
    assert det.meta.size_slope == 0.4 and det.threshold == 0.7
    plain = Detector(tiny_onnx.path, providers=["CPUExecutionProvider"]).predict(coffee_jpg)
    pred = det.predict(coffee_jpg)
    pooled = plain.logit * tiny_onnx.meta.temperature
    expected = (pooled - 0.4 * math.log(400 * 600 / (64 * 64))) / 1.5
    assert pred.logit == pytest.approx(expected, abs=1e-9)
    assert pred.score == pytest.approx(float(sigmoid(expected)), abs=1e-12)
    assert pred.is_fake == (pred.score >= 0.7)
    # a bigger photo of the same content is corrected more
    big = np.tile(load_image(coffee_jpg), (2, 2, 1))
    assert det.predict(big).logit < (det.scan(big).pooled / 1.5)
