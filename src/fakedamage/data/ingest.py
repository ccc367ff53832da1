"""Ingest fakes made by any outside tool (the ``import`` generator).

A CSV names each fake and the real photo it was made from; paths are relative to
the CSV's folder::

    path,source,generator,mask,variant,damage_type,prompt
    fakes/cup1_crack.png,reals/cup1.jpg,photoshop-gen-fill,masks/cup1.png,inpaint_pasted,crack,"a crack"

``mask``, ``variant`` (default ``inpaint_pasted`` with a mask, else ``inpaint_full``),
``damage_type`` and ``prompt`` are optional. When the fake and its source have the
same size, the same native-resolution crop windows are cut from both (content
aligned: the real crop is written as ``pristine``); otherwise both are kept whole.
Everything goes through the dataset's one encoding policy, and rows are split by
source photo like the rest. A bad row is reported and skipped.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UsageError
from ..utils.io import atomic_path
from .manifest import VARIANT_LABELS, Sample, write_manifest
from .photos import load_rgb
from .synth import SynthConfig, crop_origins, encode_image, encoding_label, slugify, split_sources, stable_seed

__all__ = ["import_fakes", "IMPORT_COLUMNS"]

IMPORT_COLUMNS = ("path", "source", "generator")


def _write(out_dir: Path, rel_stem: str, pixels: np.ndarray, cfg: SynthConfig, rng: np.random.Generator) -> tuple[str, str]:
    q = int(rng.integers(cfg.quality[0], cfg.quality[1] + 1))
    data, ext = encode_image(pixels, cfg.encoding, q)
    rel = rel_stem + ext
    with atomic_path(out_dir / rel) as tmp:
        tmp.write_bytes(data)
    return rel, encoding_label(cfg.encoding, q)


def import_fakes(csv_path: str | Path, out_dir: str | Path, cfg: SynthConfig = SynthConfig(),
                 name: str = "import") -> tuple[Path | None, list[str]]:
    """Write the CSV's fakes and their real sources into the dataset; returns its shard and failures.

    The shard (``shards/import_<name>.parquet``) is picked up by
    :func:`fakedamage.data.synth.rebuild_manifest`.
    """
    csv_path, out_dir = Path(csv_path), Path(out_dir)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: import CSV not found; fix generators.<name>.csv")
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in IMPORT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UsageError(f"{csv_path}: missing columns {missing}; need at least {', '.join(IMPORT_COLUMNS)}")
        entries = list(reader)
    base = csv_path.parent
    splits = split_sources([e["source"] for e in entries], cfg.val_fraction, cfg.test_fraction, cfg.seed)
    rows: list[Sample] = []
    failures: list[str] = []
    done_sources: set[tuple[str, int, int]] = set()
    for line, e in enumerate(entries, start=2):
        try:
            fake = load_rgb(base / e["path"])
            real = load_rgb(base / e["source"])
            mask = None
            if e.get("mask"):
                with Image.open(base / e["mask"]) as m:
                    mask = (np.asarray(m.convert("L")) > 127).astype(np.uint8) * 255
            variant = e.get("variant") or ("inpaint_pasted" if mask is not None else "inpaint_full")
            if VARIANT_LABELS.get(variant) != 1:
                raise UsageError(f"variant {variant!r} is not a fake variant")
        except (OSError, ValueError) as err:
            failures.append(f"{csv_path}:{line}: {err}")
            continue
        source_id = f"import/{slugify(e['source'])}"
        item_seed = stable_seed(cfg.seed, name, e["path"])
        rng = np.random.default_rng(item_seed)
        aligned = fake.shape == real.shape and min(fake.shape[:2]) >= cfg.crop_size
        windows = (crop_origins(*fake.shape[:2], cfg.crop_size, cfg.crops_per_photo, rng) if aligned
                   else [(0, 0)])
        size = cfg.crop_size if aligned else None
        stem = slugify(Path(e["path"]).stem) + "_" + hashlib.sha1(e["path"].encode()).hexdigest()[:6]
        for i, (y, x) in enumerate(windows):
            window = (slice(y, y + size), slice(x, x + size)) if size else (slice(None), slice(None))
            f_px, r_px = np.ascontiguousarray(fake[window]), np.ascontiguousarray(real[window])
            mask_rel = ""
            if mask is not None and mask.shape == fake.shape[:2]:
                mask_rel = f"masks/import/{stem}_{i:03d}.png"
                with atomic_path(out_dir / mask_rel) as tmp:
                    Image.fromarray(np.ascontiguousarray(mask[window])).save(tmp, format="PNG")
            common = dict(generator="", damage_type="", source_id=source_id, mask_path="", prompt="", seed=item_seed,
                          width=f_px.shape[1], height=f_px.shape[0], split=splits[e["source"]],
                          licence="unknown (imported)", source=f"import:{csv_path.name}")
            key = (e["source"], y, x)
            if key not in done_sources:  # one pristine per source window, however many fakes share it
                done_sources.add(key)
                rel, enc = _write(out_dir, f"images/import/{slugify(e['source'])}_{y}_{x}_pristine", r_px, cfg, rng)
                rows.append(Sample(id=f"import/{slugify(e['source'])}/{y}_{x}/pristine", path=rel, label=0,
                                   variant="pristine", encoding=enc, **common))
            rel, enc = _write(out_dir, f"images/import/{stem}_{i:03d}_{variant}", f_px, cfg, rng)
            rows.append(Sample(**{**common, "generator": e["generator"], "damage_type": e.get("damage_type") or "",
                                  "mask_path": mask_rel, "prompt": e.get("prompt") or ""},
                               id=f"import/{stem}/{i:03d}/{variant}", path=rel, label=1, variant=variant, encoding=enc))
    if not rows:
        return None, failures
    shard = write_manifest(rows, out_dir / "shards" / f"import_{slugify(name)}.parquet")
    return shard, failures
