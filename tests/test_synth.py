"""Data engine: content alignment, encoding policy, splits, generators, manifest schema, resume, shards."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import skimage.data
from PIL import Image

from conftest import REPO, run_cli
from fakedamage.data.damage import DAMAGE_TYPES, make_damage_mask, paint_damage
from fakedamage.data.generators import DECODERS, ClassicalGenerator, ConvAutoencoder, create_generator
from fakedamage.data.generators.autoencoder import AutoencoderConfig, load_autoencoder, save_autoencoder
from fakedamage.data.manifest import SCHEMA, VARIANT_LABELS, read_manifest, write_manifest
from fakedamage.data.photos import PhotoSource, dedupe_photos, photos_from_dirs
from fakedamage.data.synth import (
    SynthConfig,
    content_aligned_pair,
    paste_back,
    simulate_capture,
    split_sources,
    synthesize,
)


def crop_of_coffee(size=128):
    return np.ascontiguousarray(skimage.data.coffee()[100 : 100 + size, 200 : 200 + size])


@pytest.fixture(scope="module")
def ae(tmp_path_factory):
    path = tmp_path_factory.mktemp("ae") / "ae.safetensors"
    save_autoencoder(ConvAutoencoder(AutoencoderConfig(decoder="nearest", channels=8)), path)
    return create_generator("autoencoder", weights=path)


@pytest.fixture(scope="module")
def taef2():
    return create_generator("taef2")


# ---------------------------------------------------------------- variants, pixel by pixel


@pytest.mark.parametrize("kind", DAMAGE_TYPES)
def test_pasted_identical_outside_dilated_mask_and_different_inside(ae, kind):
    real = crop_of_coffee()
    rng = np.random.default_rng(1)
    mask = make_damage_mask(kind, 128, 128, rng, image=real)
    regenerated = ae.regenerate(paint_damage(real, mask, kind, rng), mask)
    pasted = paste_back(real, regenerated, mask, feather=2.0)
    dilated = cv2.dilate((mask > 0.05).astype(np.uint8), np.ones((3, 3), np.uint8), iterations=8) > 0
    assert np.array_equal(pasted[~dilated], real[~dilated])
    inside = mask > 0.5
    assert np.abs(pasted[inside].astype(int) - real[inside].astype(int)).mean() > 2


def test_full_and_reconstruction_differ_everywhere(ae):
    real = crop_of_coffee()
    recon = ae.regenerate(real, np.zeros((128, 128), np.float32))
    diff = np.abs(recon.astype(int) - real.astype(int)).max(axis=2)
    blocks = diff.reshape(8, 16, 8, 16).max(axis=(1, 3))
    assert (blocks > 0).all(), "some 16x16 block passed the generator unchanged"


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_real_damage_and_pasted_fake_differ_only_by_generator_traces(taef2, seed):
    """The two content-aligned variants share the damage: outside the feathered mask both are the
    real crop byte for byte; inside, their difference is exactly the generator's change."""
    real = crop_of_coffee()
    rng = np.random.default_rng(seed)
    mask = make_damage_mask("stain", 128, 128, rng, image=real)
    damaged = simulate_capture(paint_damage(real, mask, "stain", rng), mask, rng)
    regenerated = taef2.regenerate(damaged, mask)
    real_damage, pasted = content_aligned_pair(real, damaged, regenerated, mask, feather=2.0)
    outside = cv2.dilate((mask > 0.05).astype(np.uint8), np.ones((3, 3), np.uint8), iterations=8) == 0
    assert np.array_equal(real_damage[outside], real[outside]) and np.array_equal(pasted[outside], real[outside])
    assert not np.array_equal(real_damage, real), "the damage is missing from real_damage"
    # with the generator replaced by the identity, the fake *is* the real_damage image
    assert np.array_equal(content_aligned_pair(real, damaged, damaged, mask, feather=2.0)[1], real_damage)
    inside = ~outside
    assert np.abs(pasted.astype(int) - real_damage.astype(int))[inside].max() > 0, "the generator left no trace"


def test_simulate_capture_softens_only_inside_the_mask_and_not_always():
    real = crop_of_coffee()
    styles = set()
    for seed in range(12):
        rng = np.random.default_rng(seed)
        mask = make_damage_mask("crack", 128, 128, rng, image=real)
        painted = paint_damage(real, mask, "crack", rng)
        out = simulate_capture(painted, mask, rng)
        assert np.array_equal(out[mask == 0], painted[mask == 0])
        styles.add(bool(np.array_equal(out, painted)))
    assert styles == {True, False}, "capture must sometimes leave the damage crisp and sometimes soften it"


def test_classical_changes_nothing_outside_the_mask():
    real = crop_of_coffee()
    rng = np.random.default_rng(0)
    mask = make_damage_mask("crack", 128, 128, rng, image=real)
    painted = paint_damage(real, mask, "crack", rng)
    out = ClassicalGenerator().regenerate(painted, mask)
    dilated = cv2.dilate((mask > 0.05).astype(np.uint8) * 255, np.ones((3, 3), np.uint8), iterations=2) > 0
    assert np.array_equal(out[~dilated], painted[~dilated])
    untouched = ~dilated & (mask == 0)  # painting leaves these pixels as they were, so must the blend
    assert np.array_equal(out[untouched], real[untouched])
    assert ClassicalGenerator.decodes_whole_image is False


@pytest.mark.parametrize("kind,max_parts", [("crack", 3), ("stain", 6), ("scratch", 4), ("tear", 3), ("chip", 2), ("scuff", 2)])
def test_masks_non_empty_and_connected_as_intended(kind, max_parts):
    for seed in range(5):
        m = make_damage_mask(kind, 256, 256, np.random.default_rng(seed), image=crop_of_coffee(256))
        binary = (m > 0.5).astype(np.uint8)
        assert binary.sum() > 0
        n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        big = [a for a in stats[1:, cv2.CC_STAT_AREA] if a >= 20]  # ignore specks from anti-aliasing
        assert 1 <= len(big) <= max_parts, (kind, seed, len(big))


# ---------------------------------------------------------------- generators


@pytest.mark.parametrize("decoder", DECODERS)
def test_autoencoder_families_roundtrip(tmp_path, decoder):
    model = ConvAutoencoder(AutoencoderConfig(decoder=decoder, channels=8))
    path = save_autoencoder(model, tmp_path / "ae.safetensors")
    gen = create_generator("autoencoder", weights=path)
    img = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)  # not a multiple of 4
    out = gen.regenerate(img, np.zeros((70, 90), np.float32))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert gen.name == f"ae-{decoder}" and load_autoencoder(path).cfg.decoder == decoder


def test_unknown_generator_suggests():
    with pytest.raises(ValueError, match="did you mean 'autoencoder'"):
        create_generator("autoencodr")


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    from fakedamage.data.generators.diffusers import build_tiny_inpaint_pipeline

    return build_tiny_inpaint_pipeline(tmp_path_factory.mktemp("tinysd") / "pipe")


def test_tiny_diffusers_pipeline_through_the_real_pipeline_class(tiny_pipeline):
    from diffusers import StableDiffusionInpaintPipeline

    gen = create_generator("diffusers", model=str(tiny_pipeline), steps=2, name="tiny-sd", local_files_only=True)
    assert isinstance(gen.pipe, StableDiffusionInpaintPipeline)
    real = crop_of_coffee(64)[:60]  # 60 rows: padded to 64 for the pipeline, cropped back
    mask = np.zeros((60, 64), np.float32)
    mask[10:30, 10:30] = 1
    out = gen.regenerate(real, mask, prompt="a crack", seed=5)
    assert out.shape == real.shape and out.dtype == np.uint8
    assert np.array_equal(out, gen.regenerate(real, mask, prompt="a crack", seed=5))  # seeded
    assert not np.array_equal(out, real)


def test_missing_diffusers_model_is_one_clear_line(tmp_path):
    with pytest.raises(ValueError, match="cannot load the diffusers pipeline"):
        create_generator("diffusers", model=str(tmp_path / "nope"), local_files_only=True)


# ---------------------------------------------------------------- the synth engine, in process


def _photos(tmp_path, n=4):
    """Real photos from scikit-image written as files, plus their PhotoSource records."""
    out = []
    for name in ["coffee", "chelsea", "astronaut", "rocket", "camera"][:n]:
        img = getattr(skimage.data, name)()
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        p = tmp_path / f"{name}.png"
        Image.fromarray(img).save(p)
        out.append(PhotoSource(path=p, source="scikit-image", name=f"skimage/{name}", licence="CC0", credit="test"))
    return out


def test_synthesize_with_tiny_diffusers_and_classical(tmp_path, tiny_pipeline):
    photos = _photos(tmp_path, 3)
    gens = [create_generator("diffusers", model=str(tiny_pipeline), steps=2, name="tiny-sd", local_files_only=True),
            ClassicalGenerator()]
    cfg = SynthConfig(crop_size=64, crops_per_photo=2, seed=0)
    report = synthesize(photos, gens, tmp_path / "ds", cfg, progress=False)
    rows = read_manifest(report.manifest)
    assert report.photos_in_manifest == 3 and not report.failures
    by_gen = {r.generator for r in rows if r.label == 1}
    assert by_gen == {"tiny-sd", "classical"}
    assert all(r.prompt for r in rows if r.generator == "tiny-sd" and r.variant != "reconstruction")
    assert not any(r.variant in ("inpaint_full", "reconstruction") for r in rows if r.generator == "classical")
    assert {r.variant for r in rows} == set(VARIANT_LABELS)


def test_manifest_schema_and_validation(tmp_path, ae):
    report = synthesize(_photos(tmp_path, 3), [ae], tmp_path / "ds", SynthConfig(crop_size=64, crops_per_photo=2),
                        progress=False)
    table = pq.read_table(report.manifest)
    assert table.schema.equals(SCHEMA, check_metadata=False)
    rows = read_manifest(report.manifest)
    for r in rows:
        assert (report.manifest.parent / r.path).is_file()
        assert r.encoding.startswith("jpeg:q") and 70 <= int(r.encoding.split("q")[1]) <= 95
        assert r.licence == "CC0" and r.source == "scikit-image"
        if r.mask_path:
            assert (report.manifest.parent / r.mask_path).is_file()
    bad = tmp_path / "bad.parquet"
    pq.write_table(table.drop_columns(["split"]), bad)
    with pytest.raises(ValueError, match="missing columns \\['split'\\]"):
        read_manifest(bad)
    from dataclasses import replace

    with pytest.raises(ValueError, match="needs label 1"):
        write_manifest([replace(rows[0], variant="inpaint_full", label=0)], tmp_path / "x.parquet")


def test_corrupt_photo_is_reported_and_skipped(tmp_path, ae):
    photos = _photos(tmp_path, 3)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(Path(photos[0].path).read_bytes()[:200])
    photos.append(PhotoSource(path=broken, source="test", name="user/broken", licence="x", credit="x"))
    report = synthesize(photos, [ae], tmp_path / "ds", SynthConfig(crop_size=64, crops_per_photo=1), progress=False)
    assert len(report.failures) == 1 and "broken.jpg" in report.failures[0]
    assert report.photos_in_manifest == 3


def test_holdout_generator_only_on_test_photos(tmp_path, ae):
    photos = _photos(tmp_path, 5)
    gens = [ae, ClassicalGenerator()]
    cfg = SynthConfig(crop_size=64, crops_per_photo=3, holdout_generators=("classical",), test_fraction=0.4)
    rows = read_manifest(synthesize(photos, gens, tmp_path / "ds", cfg, progress=False).manifest)
    assert {r.split for r in rows if r.generator == "classical"} == {"test"}
    assert any(r.generator == ae.name for r in rows if r.split == "train")


def test_shards_then_rebuild_equal_a_single_run(tmp_path, ae):
    photos = _photos(tmp_path, 4)
    cfg = SynthConfig(crop_size=64, crops_per_photo=2)
    single = read_manifest(synthesize(photos, [ae], tmp_path / "one", cfg, progress=False).manifest)
    r0 = synthesize(photos, [ae], tmp_path / "two", cfg, shard=(0, 2), progress=False)
    assert r0.photos_in_manifest == 2
    r1 = synthesize(photos, [ae], tmp_path / "two", cfg, shard=(1, 2), progress=False)
    assert r1.photos_in_manifest == 4 and read_manifest(r1.manifest) == single
    with pytest.raises(ValueError, match="shard"):
        synthesize(photos, [ae], tmp_path / "three", cfg, shard=(2, 2))


def test_crop_of_a_pasted_fake_shows_the_edit():
    from fakedamage.data.dataset import random_crop_origin

    mask = np.zeros((256, 256), bool)
    mask[200:204, 10:14] = True
    for seed in range(20):
        y, x = random_crop_origin(256, 256, 128, np.random.default_rng(seed), mask)
        assert 0 <= y <= 128 and 0 <= x <= 128
        assert mask[y : y + 128, x : x + 128].any()


def test_split_sources_deterministic_and_complete():
    names = [f"p{i}" for i in range(20)]
    a = split_sources(names, 0.15, 0.25, seed=1)
    assert a == split_sources(list(reversed(names)), 0.15, 0.25, seed=1)
    assert list(a.values()).count("test") == 5 and list(a.values()).count("val") == 3


def test_split_sources_stratified_by_collection():
    # a collection with 8 photos among 40 must reach val and test, not land in train by chance
    names = [f"big/p{i}" for i in range(32)] + [f"mate/m{i}" for i in range(8)]
    for seed in range(10):
        a = split_sources(names, 0.25, 0.25, seed=seed)
        for split in ("val", "test"):
            got = [n for n, s in a.items() if s == split and n.startswith("mate/")]
            assert len(got) == 2, (seed, split, got)


def test_user_folder_ingestion_and_near_duplicates(tmp_path):
    d = tmp_path / "mine"
    (d / "sub").mkdir(parents=True)
    coffee = skimage.data.coffee()
    Image.fromarray(coffee).save(d / "cup.jpg", quality=95)
    Image.fromarray(coffee).save(d / "sub" / "cup_copy.jpg", quality=70)  # same photo, other encoding
    Image.fromarray(skimage.data.chelsea()).save(d / "cat.png")
    Image.fromarray(coffee[:100, :100]).save(d / "tiny.png")
    (d / "notes.jpg").write_text("not an image")
    (d / "LICENSE").write_text("CC0")
    photos, skipped = photos_from_dirs([d], min_side=256)
    assert sorted(p.name for p in photos) == ["user/mine/cat.png", "user/mine/cup.jpg", "user/mine/sub/cup_copy.jpg"]
    assert any("tiny.png" in s for s in skipped) and any("notes.jpg" in s for s in skipped)
    assert all(p.licence.startswith("see ") for p in photos)
    kept, dropped = dedupe_photos(photos)
    assert len(kept) == 2 and "cup_copy" in dropped[0]


def test_import_outside_fakes(tmp_path, ae):
    from fakedamage.data.ingest import import_fakes

    src = tmp_path / "reals"
    fk = tmp_path / "fakes"
    src.mkdir()
    fk.mkdir()
    real = skimage.data.coffee()
    Image.fromarray(real).save(src / "cup.png")
    fake = real.copy()
    fake[50:90, 60:140] = 30
    Image.fromarray(fake).save(fk / "cup_fake.png")
    mask = np.zeros(real.shape[:2], np.uint8)
    mask[50:90, 60:140] = 255
    Image.fromarray(mask).save(fk / "cup_mask.png")
    (tmp_path / "fakes.csv").write_text("path,source,generator,mask,damage_type\n"
                                        "fakes/cup_fake.png,reals/cup.png,other-tool,fakes/cup_mask.png,stain\n"
                                        "fakes/missing.png,reals/cup.png,other-tool,,\n")
    shard, failures = import_fakes(tmp_path / "fakes.csv", tmp_path / "ds", SynthConfig(crop_size=128, crops_per_photo=3))
    rows = read_manifest(shard)
    assert len(failures) == 1 and "missing.png" in failures[0]
    assert {r.variant for r in rows} == {"pristine", "inpaint_pasted"} and len(rows) == 6
    assert {r.generator for r in rows if r.label == 1} == {"other-tool"}
    assert len({r.source_id for r in rows}) == 1


def test_preview_sheet(tmp_path, ae):
    from fakedamage.data.preview import write_preview

    report = synthesize(_photos(tmp_path, 3), [ae, ClassicalGenerator()], tmp_path / "ds",
                        SynthConfig(crop_size=64, crops_per_photo=2), progress=False)
    out = write_preview(read_manifest(report.manifest), report.manifest.parent, tmp_path / "sheet.png")
    with Image.open(out) as im:
        assert im.width == 160 * 6 and im.height > 160


def test_hf_dataset_roundtrip(tmp_path, ae):
    from fakedamage.data.hf import load_manifest_dataset, load_saved_dataset, save_dataset

    report = synthesize(_photos(tmp_path, 3), [ae], tmp_path / "ds", SynthConfig(crop_size=64, crops_per_photo=1),
                        progress=False)
    ds = load_manifest_dataset(report.manifest)
    rows = read_manifest(report.manifest)
    assert len(ds) == len(rows) and ds.features["image"].__class__.__name__ == "Image"
    first = ds[0]
    assert first["image"].size == (64, 64) and first["id"] == rows[0].id
    assert (first["mask"] is None) == (rows[0].mask_path == "")
    saved = save_dataset(ds, tmp_path / "hf")
    shutil.rmtree(tmp_path / "ds")  # the saved dataset embeds the images
    again = load_saved_dataset(saved)
    assert len(again) == len(rows) and again[0]["image"].size == (64, 64)
    with pytest.raises(FileNotFoundError):
        load_saved_dataset(tmp_path / "nothing")


# ---------------------------------------------------------------- through the CLI


def test_pipeline_split_by_source(pipeline):
    rows = read_manifest(pipeline["manifest"])
    by_source = {}
    for r in rows:
        by_source.setdefault(r.source_id, set()).add(r.split.removesuffix("_whole"))  # whole claims: same split
    assert all(len(s) == 1 for s in by_source.values()), "a source photo appears in two splits"
    assert {r.split for r in rows if r.split.endswith("_whole")} == {"val_whole", "test_whole"}
    assert {"train", "val", "test"} <= {r.split for r in rows}
    assert {r.generator for r in rows if r.label} == {"taef2", "ae-nearest"}  # configs/experiment/smoke.yaml


def test_pipeline_same_file_history(pipeline):
    root = pipeline["manifest"].parent
    for r in read_manifest(pipeline["manifest"]):
        with Image.open(root / r.path) as im:
            assert im.format == "JPEG" and im.size == (r.width, r.height)


def test_synth_resumes_without_redoing_photos(pipeline):
    run = pipeline["run"]
    manifest = pipeline["manifest"]
    before = read_manifest(manifest)
    shards = sorted((run / "data" / "shards").glob("*.parquet"))
    stamp = {s: s.stat().st_mtime_ns for s in shards}
    run_cli("synth", "experiment=smoke", f"run_dir={run}")
    assert read_manifest(manifest) == before
    assert {s: s.stat().st_mtime_ns for s in shards} == stamp


def _synth_cmd(run: Path) -> list[str]:
    return [sys.executable, "-m", "fakedamage", "synth", "experiment=smoke", f"run_dir={run}",
            "data.photos.max_photos=7", "data.crops_per_photo=3", "progress=false"]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_manifest(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(_synth_cmd(whole), check=True, capture_output=True, timeout=300, cwd=REPO)
    # the killed run uses the very same generator weights (no retraining noise)
    shutil.copytree(whole / "data" / "generators", killed / "data" / "generators")
    proc = subprocess.Popen(_synth_cmd(killed), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shard_dir = killed / "data" / "shards"
    deadline = time.time() + 120
    while time.time() < deadline and not (shard_dir.is_dir() and any(shard_dir.glob("*.parquet"))):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len(list(shard_dir.glob("*.parquet")))
    assert 0 < n_done < 7, f"kill landed at {n_done} of 7 photos"
    subprocess.run(_synth_cmd(killed), check=True, capture_output=True, timeout=300, cwd=REPO)
    a, b = read_manifest(whole / "data" / "manifest.parquet"), read_manifest(killed / "data" / "manifest.parquet")
    assert a == b
    for r in a:
        assert (whole / "data" / r.path).read_bytes() == (killed / "data" / r.path).read_bytes(), r.path


def test_whole_photo_claims_in_their_own_splits_at_native_size(tmp_path, taef2):
    from fakedamage.runtime import load_image

    photos = _photos(tmp_path, 4)
    cfg = SynthConfig(crop_size=64, crops_per_photo=1, val_fraction=0.25, test_fraction=0.25, whole_photos=1)
    report = synthesize(photos, [taef2], tmp_path / "ds", cfg, progress=False)
    rows = read_manifest(report.manifest)
    crops = {r.source_id: r.split for r in rows if not r.split.endswith("_whole")}
    whole = [r for r in rows if r.split.endswith("_whole")]
    assert {r.split for r in whole} == {"val_whole", "test_whole"}
    assert all(crops[r.source_id] == r.split.removesuffix("_whole") for r in whole)  # the same held-out photos
    assert not [r for r in rows if r.split == "train_whole"]
    by = {(r.source_id, r.variant): r for r in whole}
    for source in {r.source_id for r in whole}:
        genuine, rd, fake = (by[(source, v)] for v in ("pristine", "real_damage", "inpaint_pasted"))
        assert (genuine.label, rd.label, fake.label) == (0, 0, 1) and fake.generator == "taef2"
        assert genuine.encoding == rd.encoding == fake.encoding == "jpeg:q92"
        img = load_image(tmp_path / "ds" / genuine.path)
        assert img.shape[:2] == (genuine.height, genuine.width)  # native size, never a crop
        mask = np.asarray(Image.open(tmp_path / "ds" / fake.mask_path)) > 0
        assert mask.shape == img.shape[:2] and 0 < mask.sum() <= 64 * 64
        assert rd.mask_path == fake.mask_path
