"""Build content-aligned fake-damage datasets from real photos.

For every native-resolution crop of a real photo, one generator (rotated over the
configured ones) and one damage kind, the builder writes from the *same pixels*:

=================  =====  ==========================================================
variant            label  what it is
=================  =====  ==========================================================
``pristine``       0      the real crop
``real_damage``    0      damage painted (and, at random, softened like a photographed
                          defect), pasted back: a *simulated* hard negative that no
                          generator touched
``inpaint_pasted`` 1      damage painted, the image passed through the generator,
                          only the (feathered) damage region pasted back
``inpaint_full``   1      the generator's whole output (every pixel decoded)
``reconstruction`` 1      the real crop through the generator with no edit
=================  =====  ==========================================================

``real_damage`` and ``inpaint_pasted`` carry the same painted damage: the *same* damaged
pixels are pasted back directly (``real_damage``) or after a pass through the generator
(``inpaint_pasted``), with the same feathered mask. Outside the mask both are the real
crop, byte for byte; inside, they differ by the generator's traces alone, so damage is no
cue (:func:`content_aligned_pair`). Every image, real or
fake, is then encoded by one policy (JPEG or WEBP at a quality drawn from the same
range; every variant of one crop gets the same quality), so file history cannot separate
them either. Generators that do not decode
the whole image (``classical``) make only ``inpaint_pasted``.

Photos are split into train/val/test *by source photo*; ``holdout_generators`` are
used on test photos only (unseen generator on unseen photos). Work is saved per
photo (``shards/<photo>.parquet``, written atomically after all of the photo's
files); a killed run resumes, skipping finished photos, and the manifest is rebuilt
from the shards that exist. ``shard=(i, n)`` processes every n-th photo so several
processes or machines can share the work. Output is deterministic for a seed.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..errors import UsageError
from ..utils.io import atomic_path
from .compose import content_aligned_pair, paste_back, simulate_capture
from .damage import DAMAGE_TYPES, make_damage_mask, mask_to_uint8, paint_damage
from .generators.base import Generator
from .manifest import VARIANT_LABELS, VARIANTS, Sample, read_manifest, write_manifest
from .photos import PhotoSource, load_rgb
from .prompts import make_prompt

__all__ = ["SynthConfig", "SynthReport", "split_sources", "synthesize", "paste_back", "simulate_capture",
           "encode_image", "encoding_label", "content_aligned_pair", "rebuild_manifest", "crop_origins", "stable_seed", "slugify"]

log = logging.getLogger(__name__)
ENCODINGS = ("jpeg", "webp", "png")


@dataclass(frozen=True)
class SynthConfig:
    """How to cut, damage and encode.

    Attributes:
        crop_size: Side of each dataset image, cut from the photo at native resolution.
        crops_per_photo: Crops per photo (fewer if the photo is small).
        variants: Variants to write (see the module docstring).
        damage: Damage kinds, drawn per crop.
        encoding: ``jpeg``, ``webp`` or ``png`` (lossless; ``quality`` unused): the one final
            encoding of every image.
        quality: Inclusive quality range of that encoding, same for all labels.
        feather: Gaussian sigma (px) of the paste-back edge.
        val_fraction: Share of source photos held out for validation.
        test_fraction: Share of source photos held out for test.
        holdout_generators: Generator names used on test photos only.
        seed: Seed of every random choice.
        whole_photos: Whole-photo claims per val / test photo (0: none): the photo at its native
            size, genuine and with damage pasted into a ``crop_size`` window directly and through a
            generator, JPEG ``whole_quality`` (phone photos are JPEGs), in splits ``val_whole`` /
            ``test_whole`` (:mod:`fakedamage.data.whole`).
        whole_quality: JPEG quality of the whole-photo claims.
    """

    crop_size: int = 256
    crops_per_photo: int = 6
    variants: tuple[str, ...] = VARIANTS
    damage: tuple[str, ...] = DAMAGE_TYPES
    encoding: str = "jpeg"
    quality: tuple[int, int] = (70, 95)
    feather: float = 2.0
    val_fraction: float = 0.15
    test_fraction: float = 0.25
    holdout_generators: tuple[str, ...] = ()
    seed: int = 0
    whole_photos: int = 0
    whole_quality: int = 92

    def __post_init__(self) -> None:
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad:
            raise UsageError(f"unknown variants {bad}; valid: {VARIANTS}")
        if self.encoding not in ENCODINGS:
            raise UsageError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")


@dataclass
class SynthReport:
    """What a run did: counts, failures and throughput."""

    manifest: Path
    photos_done: int = 0
    photos_skipped_existing: int = 0
    photos_in_manifest: int = 0
    photos_total: int = 0
    items_written: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def items_per_s(self) -> float:
        return self.items_written / self.seconds if self.seconds else 0.0


def split_sources(names: Sequence[str], val_fraction: float, test_fraction: float, seed: int = 0) -> dict[str, str]:
    """Assign each source photo to ``train``/``val``/``test`` (at least one each when possible).

    Stratified by collection (the part of the name before ``/``, e.g. ``mate`` in ``mate/Dune``):
    each collection's photos are spread evenly over the split order, so the validation split,
    on which the threshold is calibrated, sees every kind of photo the test split sees. A
    threshold calibrated on one collection alone does not hold on another.
    """
    names = sorted(set(names))
    rng = np.random.default_rng(seed)
    strata: dict[str, list[str]] = {}
    for name in names:
        strata.setdefault(name.split("/", 1)[0] if "/" in name else "", []).append(name)
    keyed = []
    for stratum in sorted(strata):
        members = [strata[stratum][i] for i in rng.permutation(len(strata[stratum]))]
        offset = rng.random()
        keyed += [((i + offset) / len(members), rng.random(), name) for i, name in enumerate(members)]
    order = [name for _, _, name in sorted(keyed)]
    n = len(order)
    n_test = max(1, round(n * test_fraction)) if n >= 3 else 0
    n_val = max(1, round(n * val_fraction)) if n >= 3 else 0
    return {name: "test" if i < n_test else "val" if i < n_test + n_val else "train" for i, name in enumerate(order)}


def encode_image(image: np.ndarray, encoding: str, quality: int) -> tuple[bytes, str]:
    """Encode ``(H, W, 3)`` uint8 RGB; returns the bytes and the file extension (``png`` ignores quality)."""
    buf = io.BytesIO()
    if encoding == "png":
        Image.fromarray(image).save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), ".png"
    if encoding == "jpeg":
        Image.fromarray(image).save(buf, format="JPEG", quality=int(quality), subsampling=2)
        return buf.getvalue(), ".jpg"
    Image.fromarray(image).save(buf, format="WEBP", quality=int(quality), method=4)
    return buf.getvalue(), ".webp"


def encoding_label(encoding: str, quality: int) -> str:
    """Manifest ``encoding`` field: ``jpeg:q87``, ``webp:q80`` or ``png``."""
    return "png" if encoding == "png" else f"{encoding}:q{quality}"


def slugify(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def stable_seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little") >> 1


def crop_origins(h: int, w: int, size: int, n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Up to ``n`` crop origins, spread out (no two crops share more than half their area)."""
    out: list[tuple[int, int]] = []
    for _ in range(n * 20):
        if len(out) == n:
            break
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        if all(abs(y - oy) >= size // 2 or abs(x - ox) >= size // 2 for oy, ox in out):
            out.append((y, x))
    return out


def _eligible(generators: Sequence[Generator], split: str, holdout: Sequence[str]) -> list[Generator]:
    if split == "test" or not holdout:
        return list(generators)
    seen = [g for g in generators if g.name not in holdout]
    return seen or list(generators)


def _synth_photo(photo: PhotoSource, split: str, generators: Sequence[Generator], cfg: SynthConfig,
                 out_dir: Path) -> list[Sample]:
    image = load_rgb(photo.path)
    h, w = image.shape[:2]
    size = cfg.crop_size
    if min(h, w) < size:
        raise UsageError(f"{photo.path}: {w}x{h} is smaller than crop_size={size}; lower data.crop_size or drop it")
    slug = slugify(photo.name)
    (out_dir / "images" / slug).mkdir(parents=True, exist_ok=True)
    (out_dir / "masks" / slug).mkdir(parents=True, exist_ok=True)
    gens = _eligible(generators, split, cfg.holdout_generators)
    offset = stable_seed(cfg.seed, photo.name, "gen") % max(1, len(gens))
    origins = crop_origins(h, w, size, cfg.crops_per_photo, np.random.default_rng(stable_seed(cfg.seed, photo.name)))
    rows: list[Sample] = []
    for i, (y, x) in enumerate(origins):
        item_seed = stable_seed(cfg.seed, photo.name, i)
        rng = np.random.default_rng(item_seed)
        crop = np.ascontiguousarray(image[y : y + size, x : x + size])
        gen = gens[(i + offset) % len(gens)] if gens else None
        kind = cfg.damage[int(rng.integers(len(cfg.damage)))]
        prompt = make_prompt(kind, rng) if gen is not None and gen.uses_prompt else ""
        if gen is None:  # no generator (e.g. only imported fakes): the real variants only
            wanted = [v for v in cfg.variants if VARIANT_LABELS[v] == 0]
        else:
            wanted = [v for v in cfg.variants if gen.decodes_whole_image or v not in ("inpaint_full", "reconstruction")]
        made: dict[str, tuple[np.ndarray, str, str]] = {}  # variant -> (pixels, generator, damage)
        mask_rel = ""
        if {"real_damage", "inpaint_pasted", "inpaint_full"} & set(wanted):
            mask = make_damage_mask(kind, size, size, rng, image=crop)
            damaged = simulate_capture(paint_damage(crop, mask, kind, rng), mask, rng)
            mask_rel = f"masks/{slug}/{i:03d}_{kind}.png"
            with atomic_path(out_dir / mask_rel) as tmp:
                Image.fromarray(mask_to_uint8(mask)).save(tmp, format="PNG")
            regenerated = damaged
            if {"inpaint_pasted", "inpaint_full"} & set(wanted):
                regenerated = gen.regenerate(damaged, mask, prompt=prompt, seed=item_seed % 2**31)
            real_damage, pasted = content_aligned_pair(crop, damaged, regenerated, mask, cfg.feather)
            if "real_damage" in wanted:
                made["real_damage"] = (real_damage, "", kind)
            if "inpaint_pasted" in wanted:
                made["inpaint_pasted"] = (pasted, gen.name, kind)
            if "inpaint_full" in wanted:
                made["inpaint_full"] = (regenerated, gen.name, kind)
        if "reconstruction" in wanted:
            empty = np.zeros((size, size), np.float32)
            made["reconstruction"] = (gen.regenerate(crop, empty, prompt="", seed=item_seed % 2**31), gen.name, "")
        if "pristine" in wanted:
            made["pristine"] = (crop, "", "")
        lo, hi = cfg.quality
        q = int(rng.integers(lo, hi + 1))  # one quality per crop: its variants share their file history exactly
        for variant in [v for v in VARIANTS if v in made]:
            pixels, gen_name, dmg = made[variant]
            data, ext = encode_image(pixels, cfg.encoding, q)
            rel = f"images/{slug}/{i:03d}_{variant}{ext}"
            with atomic_path(out_dir / rel) as tmp:
                tmp.write_bytes(data)
            edited = variant in ("real_damage", "inpaint_pasted", "inpaint_full")
            rows.append(Sample(
                id=f"{slug}/{i:03d}/{variant}", path=rel, label=int(variant in ("inpaint_pasted", "inpaint_full",
                                                                                 "reconstruction")),
                variant=variant, generator=gen_name, damage_type=dmg, source_id=photo.name,
                mask_path=mask_rel if edited else "", prompt=prompt if gen_name and edited else "",
                seed=item_seed, encoding=encoding_label(cfg.encoding, q), width=size, height=size, split=split,
                licence=photo.licence, source=photo.source,
            ))
    if split in ("val", "test") and cfg.whole_photos > 0 and gens:
        rows += _whole_claims(image, photo, split, gens, offset, cfg, out_dir, slug)
    return rows


def _whole_claims(image: np.ndarray, photo: PhotoSource, split: str, gens: Sequence[Generator], offset: int,
                  cfg: SynthConfig, out_dir: Path, slug: str) -> list[Sample]:
    """``cfg.whole_photos`` whole-photo claims of one val / test photo (split ``<split>_whole``)."""
    from .whole import claim_pixels, jpeg_bytes

    h, w = image.shape[:2]
    rows: list[Sample] = []
    for k in range(cfg.whole_photos):
        gen = gens[(k + offset + 1) % len(gens)]
        seed = stable_seed(cfg.seed, photo.name, "whole", k)
        for variant, pixels, kind, mask, (y, x) in claim_pixels(image, gen, seed, cfg.crop_size, cfg.feather):
            if variant == "pristine" and k > 0:
                continue  # one genuine whole photo per photo
            mask_rel = ""
            if mask is not None:
                mask_rel = f"masks/{slug}/whole{k}_{kind}.png"
                if not (out_dir / mask_rel).exists():
                    full = np.zeros((h, w), np.uint8)
                    full[y : y + mask.shape[0], x : x + mask.shape[1]] = mask_to_uint8(mask)
                    with atomic_path(out_dir / mask_rel) as tmp:
                        Image.fromarray(full).save(tmp, format="PNG")
                    del full
            rel = f"images/{slug}/whole{k}_{variant}.jpg"
            with atomic_path(out_dir / rel) as tmp:
                tmp.write_bytes(jpeg_bytes(pixels, cfg.whole_quality))
            del pixels
            gen_name = gen.name if variant == "inpaint_pasted" else ""
            rows.append(Sample(
                id=f"{slug}/whole{k}/{variant}", path=rel, label=VARIANT_LABELS[variant], variant=variant,
                generator=gen_name, damage_type=kind, source_id=photo.name, mask_path=mask_rel, prompt="",
                seed=seed, encoding=encoding_label("jpeg", cfg.whole_quality), width=w, height=h,
                split=f"{split}_whole", licence=photo.licence, source=photo.source,
            ))
    return rows


def rebuild_manifest(out_dir: str | Path, photo_names: Sequence[str] | None = None) -> tuple[Path, int]:
    """Concatenate the per-photo shards into ``manifest.parquet`` (atomic).

    Args:
        out_dir: Dataset folder.
        photo_names: Keep only shards of these photos (default: every shard).

    Returns:
        The manifest path and the number of photos in it.
    """
    out_dir = Path(out_dir)
    wanted = None if photo_names is None else {slugify(n) for n in photo_names}
    shards = [s for s in sorted((out_dir / "shards").glob("*.parquet"))
              if wanted is None or s.stem in wanted or s.stem.startswith("import_")]
    rows = [r for s in shards for r in read_manifest(s)]
    return write_manifest(rows, out_dir / "manifest.parquet"), len(shards)


def synthesize(
    photos: Sequence[PhotoSource],
    generators: Sequence[Generator],
    out_dir: str | Path,
    cfg: SynthConfig = SynthConfig(),
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
) -> SynthReport:
    """Write images, masks, per-photo shards and ``manifest.parquet`` under ``out_dir``.

    Args:
        photos: Real photos (see :func:`fakedamage.data.photos.find_offline_photos`).
        generators: Fake generators (see :mod:`fakedamage.data.generators`), rotated per crop.
        out_dir: Dataset folder.
        cfg: Cutting, damage and encoding settings.
        shard: ``(i, n)``: process photos ``i, i + n, i + 2n, ...`` of the sorted list.
        progress: Show a progress bar with items/s.

    Returns:
        A :class:`SynthReport`; a photo that fails is reported there and skipped.
    """
    from tqdm.auto import tqdm

    index, count = shard
    if not 0 <= index < count:
        raise UsageError(f"shard {index}/{count} is out of range; use shard=i/n with 0 <= i < n")
    out_dir = Path(out_dir)
    (out_dir / "shards").mkdir(parents=True, exist_ok=True)
    photos = sorted(photos, key=lambda p: p.name)
    splits = split_sources([p.name for p in photos], cfg.val_fraction, cfg.test_fraction, cfg.seed)
    report = SynthReport(manifest=out_dir / "manifest.parquet", photos_total=len(photos))
    mine = photos[index::count]
    t0 = time.perf_counter()
    bar = tqdm(mine, desc=f"synth {index}/{count}" if count > 1 else "synth", unit="photo",
               disable=None if progress else True)
    for photo in bar:
        shard_file = out_dir / "shards" / f"{slugify(photo.name)}.parquet"
        if shard_file.exists():
            report.photos_skipped_existing += 1
            continue
        try:
            rows = _synth_photo(photo, splits[photo.name], generators, cfg, out_dir)
        except (OSError, ValueError) as e:
            report.failures.append(f"{photo.path}: {e}")
            log.warning("skipping %s: %s", photo.path, e)
            continue
        write_manifest(rows, shard_file)
        report.photos_done += 1
        report.items_written += len(rows)
        bar.set_postfix(items_s=f"{report.items_written / (time.perf_counter() - t0):.1f}")
    report.seconds = time.perf_counter() - t0
    report.manifest, report.photos_in_manifest = rebuild_manifest(out_dir, [p.name for p in photos])
    return report
