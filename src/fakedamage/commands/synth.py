"""``fakedamage synth``: real photos -> generators -> content-aligned dataset + manifest.

    fakedamage synth                                   # offline photos, 3 autoencoders + classical
    fakedamage synth generator=[ae_nearest,classical] data.root=data/mine
    fakedamage synth generator=[diffusers] generators.diffusers.model=<hub id or folder>
    fakedamage synth shard=0/4                         # this process takes every 4th photo
    fakedamage synth preview=true                      # also write a contact sheet
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..data.generators import create_generator
from ..data.generators.autoencoder import AutoencoderConfig, save_autoencoder, train_autoencoder
from ..data.generators.base import Generator
from ..data.ingest import import_fakes
from ..data.manifest import read_manifest
from ..data.photos import PhotoSource, dedupe_photos, find_offline_photos, load_rgb, photos_from_dirs, write_sources_csv
from ..data.preview import write_preview
from ..data.synth import SynthConfig, rebuild_manifest, split_sources, synthesize
from ..errors import UsageError
from ..utils.io import atomic_write_json

__all__ = ["synth_config", "select_photos", "build_generators", "parse_shard", "run_synth"]


def synth_config(data: Mapping[str, Any], seed: int) -> SynthConfig:
    return SynthConfig(
        crop_size=int(data["crop_size"]), crops_per_photo=int(data["crops_per_photo"]),
        variants=tuple(data["variants"]), damage=tuple(data["damage"]), encoding=str(data["encoding"]),
        quality=tuple(data["quality"]), feather=float(data["feather"]), val_fraction=float(data["val_fraction"]),
        test_fraction=float(data["test_fraction"]), holdout_generators=tuple(data["holdout_generators"]),
        seed=int(seed), whole_photos=int(data.get("whole_photos") or 0),
        whole_quality=int(data.get("whole_quality") or 92))


def select_photos(photos_cfg: Mapping[str, Any]) -> tuple[list[PhotoSource], list[str]]:
    """Offline and user photos, deduplicated; returns the photos and notes on what was dropped."""
    notes: list[str] = []
    photos = find_offline_photos(min_side=int(photos_cfg["min_side"]), include=list(photos_cfg["sources"]))
    if photos_cfg.get("dirs"):
        extra, skipped = photos_from_dirs(photos_cfg["dirs"], min_side=int(photos_cfg["min_side"]))
        photos += extra
        notes += skipped
    photos, dropped = dedupe_photos(photos, max_distance=int(photos_cfg["dedupe_distance"]))
    notes += [f"near-duplicate skipped: {d}" for d in dropped]
    if photos_cfg.get("max_photos"):
        photos = photos[: int(photos_cfg["max_photos"])]
    if len(photos) < 3:
        raise UsageError(f"only {len(photos)} photos found (sources {list(photos_cfg['sources'])}, "
                         f"dirs {list(photos_cfg.get('dirs') or [])}); install Debian's opencv-doc / "
                         "mate-backgrounds (scripts/install_offline_photos.sh) or add data.photos.dirs")
    return photos, notes


def _autoencoder(spec: Mapping[str, Any], train_photos: Sequence[PhotoSource], seed: int, progress: bool) -> Generator:
    weights = Path(spec["weights"])
    if not weights.is_file():
        images = [load_rgb(p.path) for p in train_photos]
        arch = AutoencoderConfig(decoder=spec["decoder"], channels=int(spec["channels"]), levels=int(spec["levels"]),
                                 latent_channels=int(spec["latent_channels"]))
        model, stats = train_autoencoder(images, arch, steps=int(spec["steps"]), batch_size=int(spec["batch_size"]),
                                         crop=int(spec["crop"]), lr=float(spec["lr"]), seed=seed,
                                         max_seconds=spec.get("max_seconds"), progress=progress)
        save_autoencoder(model, weights, {**stats, "train_photos": [p.name for p in train_photos]})
        print(f"generator ae-{arch.decoder}: trained {stats['steps']} steps in {stats['seconds']} s, "
              f"reconstruction PSNR {stats['psnr_db']} dB -> {weights}", file=sys.stderr)
    return create_generator("autoencoder", weights=weights)


def build_generators(specs: Mapping[str, Mapping[str, Any]], train_photos: Sequence[PhotoSource], seed: int,
                     progress: bool = True) -> list[Generator]:
    """Instantiate the configured generators (training autoencoders whose weights are missing).

    Nodes without ``kind`` are per-generator settings of an experiment for a
    generator that is not selected; they are ignored.
    """
    out: list[Generator] = []
    for key in sorted(specs):
        spec = dict(specs[key])
        if "kind" not in spec:
            continue
        kind = spec.pop("kind")
        if kind == "import":
            continue  # ingested after synthesis, see run_synth
        if kind == "autoencoder":
            out.append(_autoencoder(spec, train_photos, seed, progress))
        else:
            out.append(create_generator(kind, **spec))
    names = [g.name for g in out]
    if len(set(names)) != len(names):
        raise UsageError(f"two generators share a name ({names}); give each a distinct name")
    return out


def parse_shard(value: str | None) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)``; ``None`` -> ``(0, 1)``."""
    if value in (None, "", "0/1"):
        return 0, 1
    try:
        i, n = (int(v) for v in str(value).split("/"))
    except ValueError:
        raise UsageError(f"shard={value!r}: use shard=i/n, e.g. shard=0/4") from None
    if not 0 <= i < n:
        raise UsageError(f"shard={value!r}: need 0 <= i < n")
    return i, n


def run_synth(cfg: Mapping[str, Any]) -> Path:
    """Build the dataset described by ``cfg['data']`` with ``cfg['generators']``; returns the manifest path."""
    data, seed = cfg["data"], int(cfg.get("seed", 0))
    progress = bool(cfg.get("progress", True))
    root = Path(data["root"])
    photos, notes = select_photos(data["photos"])
    write_sources_csv(photos, root / "sources.csv")
    sc = synth_config(data, seed)
    splits = split_sources([p.name for p in photos], sc.val_fraction, sc.test_fraction, sc.seed)
    # Generators learn from training photos only: held-out photos stay unseen by every stage.
    generators = build_generators(cfg.get("generators") or {}, [p for p in photos if splits[p.name] == "train"],
                                  seed, progress)
    state = {"synth": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(sc).items()},
             "generators": sorted(g.name for g in generators), "photos": [p.name for p in photos]}
    state_path = root / "synth.json"
    if state_path.is_file() and json.loads(state_path.read_text()) != state:
        raise UsageError(f"{root}: holds a dataset made with other settings ({state_path}); "
                         "choose another data.root or delete the folder")
    atomic_write_json(state_path, state)
    report = synthesize(photos, generators, root, sc, shard=parse_shard(cfg.get("shard")), progress=progress)
    imports = {k: v for k, v in (cfg.get("generators") or {}).items() if v.get("kind") == "import"}
    for key, spec in sorted(imports.items()):
        shard, failures = import_fakes(spec["csv"], root, sc, name=spec.get("name") or key)
        report.failures += failures
        print(f"imported {spec['csv']} -> {shard}", file=sys.stderr)
    if imports:
        report.manifest, report.photos_in_manifest = rebuild_manifest(root, [p.name for p in photos])
    rows = read_manifest(report.manifest)
    n_real = sum(1 for r in rows if r.label == 0)
    print(f"dataset: {len(rows)} images ({n_real} real, {len(rows) - n_real} fake) from "
          f"{report.photos_in_manifest}/{report.photos_total} photos, generators {', '.join(g.name for g in generators)}"
          f" -> {report.manifest}", file=sys.stderr)
    if report.items_written:
        print(f"wrote {report.items_written} images from {report.photos_done} photos in {report.seconds:.1f} s "
              f"({report.items_per_s:.1f} items/s); {report.photos_skipped_existing} photos already done",
              file=sys.stderr)
    if report.photos_in_manifest < report.photos_total:
        print(f"note: {report.photos_total - report.photos_in_manifest} photos not done yet "
              "(other shards, or failures below); rerun to complete the manifest", file=sys.stderr)
    for line in notes + report.failures:
        print(f"skipped: {line}", file=sys.stderr)
    if cfg.get("preview"):
        sheet = write_preview(rows, root, root / "preview.png")
        print(f"preview: {sheet}", file=sys.stderr)
    return report.manifest
