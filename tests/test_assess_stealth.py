"""A1111 stealth PNG info (issue 17): generation parameters hidden in the least significant bits of
the alpha (or RGB) channels of a PNG, read back as ``generation_parameters`` through the normal
assessment path; hostile headers and payloads give a clear finding, bounded memory and no exception;
untouched photos give nothing."""

from __future__ import annotations

import gzip
import io
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from fakedamage.assess import AssessConfig, Assessor
from fakedamage.assess.evidence import Evidence
from fakedamage.assess.provenance import read_provenance
from fakedamage.assess.provenance.stealth import embed_stealth, extract_stealth, stealth_bits

A1111 = ("a cracked ceramic mug on a wooden table, product photo, sharp focus\n"
         "Negative prompt: blurry, lowres, watermark\n"
         "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 3141592653, Size: 512x512, "
         "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Denoising strength: 0.45, "
         "Lora hashes: \"crack: 1a2b3c4d5e6f, dust: 0f9e8d7c\", Version: v1.10.1")
VARIANTS = [("alpha", False, "stealth_pnginfo"), ("alpha", True, "stealth_pngcomp"),
            ("rgb", False, "stealth_rgbinfo"), ("rgb", True, "stealth_rgbcomp")]


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut())  # 512x512 RGB


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.coffee())  # 400x600 RGB


def png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels[:, :, :3]).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def kinds(items) -> dict[str, Evidence]:
    return {e.kind: e for e in items}


def assert_nothing(items) -> None:
    k = kinds(items)
    assert "generation_parameters" not in k and "metadata_error" not in k, [(e.kind, e.explanation) for e in items]
    assert all(e.strength == 0 for e in items)


def naive_embed(pixels: np.ndarray, bits: np.ndarray, mode: str) -> np.ndarray:
    """The extension's own loop (``for x: for y:``, alpha LSB or R, G, B LSBs), pixel by pixel."""
    out = pixels.copy()
    if mode == "alpha" and out.shape[2] == 3:
        out = np.dstack([out, np.full(out.shape[:2], 255, np.uint8)])
    h, w = out.shape[:2]
    i = 0
    for x in range(w):
        for y in range(h):
            if i >= len(bits):
                return out
            for c in ([3] if mode == "alpha" else [0, 1, 2]):
                if i < len(bits):
                    out[y, x, c] = (out[y, x, c] & 0xFE) | bits[i]
                    i += 1
    return out


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("mode,compressed,signature", VARIANTS)
def test_stealth_parameters_read_back_through_the_assessor(astronaut, mode, compressed, signature, tmp_path):
    marked = embed_stealth(astronaut, A1111, mode, compressed)
    assert marked.shape[2] == (4 if mode == "alpha" else 3)
    assert np.abs(marked[:, :, :3].astype(int) - astronaut).max() <= (0 if mode == "alpha" else 1)  # invisible
    path = tmp_path / "claim.png"
    path.write_bytes(png(marked))
    a = Assessor(None, AssessConfig()).assess(str(path))
    ev = kinds(a.evidence)["generation_parameters"]
    assert ev.strength == pytest.approx(0.9) and ev.source == "provenance"
    assert "AUTOMATIC1111" in ev.explanation and signature in ev.explanation
    assert ev.details["signature"] == signature and ev.details["channel"] == mode
    assert ev.details["compressed"] is compressed
    p = ev.details["parameters"]
    assert p["prompt"] == "a cracked ceramic mug on a wooden table, product photo, sharp focus"
    assert p["negative_prompt"] == "blurry, lowres, watermark"
    assert (p["steps"], p["sampler"], p["seed"], p["model"], p["cfg_scale"]) == (
        28, "DPM++ 2M Karras", 3141592653, "sd_xl_base_1.0", "6.5")
    assert a.verdict == "likely_ai_edited" and [a.evidence[i].kind for i in a.decided_by] == ["generation_parameters"]
    a.to_dict()  # JSON-safe


@pytest.mark.parametrize("mode,compressed,signature", VARIANTS)
def test_same_bits_as_the_extensions_own_loop(coffee, mode, compressed, signature):
    text = "a dented tin can\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 600x400"
    raw = text.encode()
    bits = stealth_bits(gzip.compress(raw) if compressed else raw, signature)
    crop = coffee[:64, :80]  # small: the naive loop is slow
    ours, theirs = embed_stealth(crop, text, mode, compressed), naive_embed(crop, bits, mode)
    if not compressed:  # gzip output carries a timestamp; compare the uncompressed streams bit for bit
        assert np.array_equal(ours, theirs)
    found = extract_stealth(Image.fromarray(theirs), 100_000)
    assert found is not None and found["text"] == text and found["signature"] == signature


def test_model_is_optional_and_other_tools_are_named(coffee):
    items = read_provenance(png(embed_stealth(coffee, "a mug\nSteps: 9, Sampler: Euler, Seed: 7", "alpha", True)))
    ev = kinds(items)["generation_parameters"]
    assert "model" not in ev.details["parameters"] and ev.details["parameters"]["steps"] == 9
    novelai = '{"Description": "a mug", "Software": "NovelAI", "Comment": "{\\"steps\\": 28}"}'
    ev = kinds(read_provenance(png(embed_stealth(coffee, novelai, "alpha", True))))["generation_parameters"]
    assert "NovelAI" in ev.explanation and "parameters" not in ev.details


# --------------------------------------------------------------------------- photos without stealth info


def test_untouched_photos_give_no_stealth_evidence(astronaut, coffee):
    for img in (astronaut, coffee):
        rgba = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
        half = rgba.copy()
        half[:, :, 3] = 128  # alpha LSBs all 0
        for data in (png(img), png(rgba), png(half), jpeg(img)):
            assert_nothing(read_provenance(data))
    # stealth pixels saved as JPEG (not PNG; the lossy codec destroys the bits) give nothing either
    assert_nothing(read_provenance(jpeg(embed_stealth(coffee, A1111, "rgb", False))))
    items = read_provenance(png(coffee))
    assert "stealth PNG info" in kinds(items)["no_provenance_label"].details["checked"]


def test_reading_a_large_photo_without_stealth_info_is_cheap(astronaut):
    big = Image.fromarray(np.tile(np.dstack([astronaut, np.full((512, 512), 255, np.uint8)]), (6, 8, 1)))  # 12.6 MP
    extract_stealth(big, 2_000_000)
    t = time.perf_counter()
    for _ in range(5):
        assert extract_stealth(big, 2_000_000) is None
    assert (time.perf_counter() - t) / 5 < 0.05  # a column or two, not 12 MP (about 0.1 ms here)


# --------------------------------------------------------------------------- hostile input


def _read_bounded(data: bytes) -> tuple[list[Evidence], float, int]:
    tracemalloc.start()
    t = time.perf_counter()
    try:
        items = read_provenance(data, None)
        return items, time.perf_counter() - t, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _error(items) -> Evidence:
    k = kinds(items)
    assert "generation_parameters" not in k
    err = k["metadata_error"]
    assert err.strength == pytest.approx(0.4) and "stealth" in err.explanation
    return err


def test_huge_declared_length_is_refused_before_reading(astronaut):
    for declared in (0xFFFFFFF8, 8 * 2_000_001):
        bits = stealth_bits(b"Steps: 1", "stealth_pnginfo", declared_bits=declared)
        items, secs, peak = _read_bounded(png(embed_stealth(astronaut, bits=bits, mode="alpha")))
        err = _error(items)
        assert "over the 2.0 MB limit" in err.explanation and secs < 5 and peak < 50e6


def test_declared_length_beyond_the_image_is_truncated(coffee):
    small = coffee[:40, :50]  # 2,000 pixels: 2,000 alpha bits
    bits = stealth_bits(A1111.encode(), "stealth_pnginfo")  # ~2,200 bits: does not fit
    with pytest.raises(ValueError):
        embed_stealth(small, bits=bits, mode="alpha")
    items = read_provenance(png(embed_stealth(small, bits=bits[:2000], mode="alpha")))
    assert "truncated" in _error(items).explanation
    for bad_len in (0, 13):  # empty, not whole bytes
        b = stealth_bits(b"", "stealth_rgbinfo", declared_bits=bad_len)
        assert "not a whole number of bytes" in _error(read_provenance(png(embed_stealth(small, bits=b,
                                                                                             mode="rgb")))).explanation


def test_truncated_and_malformed_gzip(coffee):
    packed = gzip.compress(A1111.encode())
    cut = stealth_bits(packed[: len(packed) // 2], "stealth_pngcomp")
    assert "truncated" in _error(read_provenance(png(embed_stealth(coffee, bits=cut, mode="alpha")))).explanation
    junk = stealth_bits(b"this is not gzip at all", "stealth_rgbcomp")
    assert "malformed" in _error(read_provenance(png(embed_stealth(coffee, bits=junk, mode="rgb")))).explanation


def test_gzip_bomb_stops_at_the_limit(astronaut):
    bomb = gzip.compress(bytes(100_000_000), 9)  # 100 MB of zeros, ~100 kB compressed
    big = np.asarray(Image.fromarray(astronaut).resize((1024, 1024), Image.Resampling.LANCZOS))  # room for it
    data = png(embed_stealth(big, bits=stealth_bits(bomb, "stealth_pngcomp"), mode="alpha"))
    items, secs, peak = _read_bounded(data)
    err = _error(items)
    assert "decompression bomb" in err.explanation and "2.0 MB" in err.explanation
    assert peak < 50e6 and secs < 10, (peak, secs)  # never inflates the 100 MB


def test_a_lower_limit_is_honoured(coffee):
    marked = png(embed_stealth(coffee, A1111, "alpha", False))
    items = read_provenance(marked, None, AssessConfig(max_metadata_bytes=100))
    assert "over the 0.1 kB limit" in _error(items).explanation
