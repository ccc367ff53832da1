"""Data engine: content alignment, encoding policy, split by source, resume."""

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakedamage.data.generators import DECODERS, AutoencoderGenerator, ConvAutoencoder, create_generator
from fakedamage.data.generators.autoencoder import AutoencoderConfig, load_autoencoder, save_autoencoder
from fakedamage.data.manifest import VARIANT_LABELS, read_manifest
from fakedamage.data.synth import paste_back, split_sources


def test_split_by_source(pipeline):
    rows = read_manifest(pipeline["manifest"])
    by_source = {}
    for r in rows:
        by_source.setdefault(r.source, set()).add(r.split)
    assert all(len(s) == 1 for s in by_source.values()), "a source photo appears in two splits"
    assert {"train", "val", "test"} <= {r.split for r in rows}


def test_every_image_has_the_same_file_history(pipeline):
    root = pipeline["manifest"].parent
    rows = read_manifest(pipeline["manifest"])
    qualities = {0: [], 1: []}
    for r in rows:
        with Image.open(root / r.path) as im:
            assert im.format == "JPEG" and im.size == (r.width, r.height)
        qualities[r.label].append(r.jpeg_quality)
    assert min(qualities[0]) >= 70 and max(qualities[1]) <= 95 and qualities[0] and qualities[1]


def test_content_aligned_variants(pipeline):
    root = pipeline["manifest"].parent
    rows = read_manifest(pipeline["manifest"])
    groups = {}
    for r in rows:
        groups.setdefault(r.id.rsplit("/", 1)[0], {})[r.variant] = r
    g = next(v for v in groups.values() if {"pristine", "inpaint_pasted", "inpaint_full"} <= set(v))
    load = lambda r: np.asarray(Image.open(root / r.path), dtype=np.float32)  # noqa: E731
    real, pasted, full = load(g["pristine"]), load(g["inpaint_pasted"]), load(g["inpaint_full"])
    mask = np.asarray(Image.open(root / g["inpaint_pasted"].mask)) > 127
    far = ~np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(mask.shape[::-1])).astype(bool)
    # pasted differs from the real mostly inside the mask; the full re-decode differs everywhere
    d_pasted, d_full = np.abs(pasted - real).mean(-1), np.abs(full - real).mean(-1)
    assert d_pasted[mask].mean() > 2 * d_pasted[far].mean()
    assert d_full[far].mean() > d_pasted[far].mean()
    assert all(VARIANT_LABELS[v] == r.label for v, r in g.items())


def test_paste_back_keeps_unmasked_pixels_exactly():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    gen = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.float32)
    mask[20:30, 20:30] = 1
    out = paste_back(real, gen, mask, feather=2.0)
    assert np.array_equal(out[:10], real[:10]) and not np.array_equal(out[24, 24], real[24, 24])


def test_split_sources_deterministic_and_complete():
    names = [f"p{i}" for i in range(20)]
    a = split_sources(names, 0.15, 0.25, seed=1)
    assert a == split_sources(list(reversed(names)), 0.15, 0.25, seed=1)
    assert sorted(a.values()).count("test") == 5 and sorted(a.values()).count("val") == 3


def test_synth_resumes_without_redoing_photos(pipeline):
    from conftest import run_cli

    run = pipeline["run"]
    manifest = pipeline["manifest"]
    before = manifest.read_text()
    shards = sorted((run / "data" / "shards").glob("*.csv"))
    stamp = {s: s.stat().st_mtime_ns for s in shards}
    run_cli("synth", "experiment=smoke", f"run_dir={run}")
    assert manifest.read_text() == before
    assert {s: s.stat().st_mtime_ns for s in shards} == stamp


@pytest.mark.parametrize("decoder", DECODERS)
def test_autoencoder_families_roundtrip(tmp_path, decoder):
    model = ConvAutoencoder(AutoencoderConfig(decoder=decoder, channels=8))
    path = save_autoencoder(model, tmp_path / "ae.safetensors")
    gen = create_generator("autoencoder", weights=path)
    img = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)  # not a multiple of 4
    out = gen.regenerate(img, np.zeros((70, 90), np.float32))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert gen.name == f"ae-{decoder}"
    assert load_autoencoder(path).cfg.decoder == decoder


def test_unknown_generator_suggests():
    with pytest.raises(ValueError, match="did you mean 'autoencoder'"):
        create_generator("autoencodr")


def test_crop_of_a_pasted_fake_shows_the_edit():
    from fakedamage.data.dataset import random_crop_origin

    mask = np.zeros((256, 256), bool)
    mask[200:204, 10:14] = True
    for seed in range(20):
        y, x = random_crop_origin(256, 256, 128, np.random.default_rng(seed), mask)
        assert 0 <= y <= 128 and 0 <= x <= 128
        assert mask[y : y + 128, x : x + 128].any()
