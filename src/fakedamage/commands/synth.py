"""``fakedamage synth``: offline photos -> generator -> content-aligned dataset + manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..data.generators import create_generator
from ..data.generators.autoencoder import AutoencoderConfig, save_autoencoder, train_autoencoder
from ..data.manifest import read_manifest
from ..data.photos import PhotoSource, find_offline_photos, load_rgb, write_sources_csv
from ..data.synth import SynthConfig, split_sources, synthesize
from ..utils.io import atomic_write_json

__all__ = ["synth_config", "select_photos", "build_generator", "run_synth"]


def synth_config(data: Mapping[str, Any], seed: int) -> SynthConfig:
    return SynthConfig(
        crop_size=int(data["crop_size"]), crops_per_photo=int(data["crops_per_photo"]),
        variants=tuple(data["variants"]), damage=tuple(data["damage"]), jpeg_quality=tuple(data["jpeg_quality"]),
        feather=float(data["feather"]), val_fraction=float(data["val_fraction"]),
        test_fraction=float(data["test_fraction"]), seed=int(seed))


def select_photos(photos_cfg: Mapping[str, Any]) -> list[PhotoSource]:
    photos = find_offline_photos(min_side=int(photos_cfg["min_side"]), include=list(photos_cfg["sources"]))
    if photos_cfg.get("max_photos"):
        photos = photos[: int(photos_cfg["max_photos"])]
    if len(photos) < 3:
        raise ValueError(f"only {len(photos)} offline photos found for sources {list(photos_cfg['sources'])}; "
                         "install Debian's opencv-doc / mate-backgrounds or add sources")
    return photos


def build_generator(gen_cfg: Mapping[str, Any], train_photos: Sequence[PhotoSource], seed: int, progress: bool = True):
    """Load the configured generator, training the autoencoder first if its weights are missing."""
    kind = gen_cfg["kind"]
    if kind != "autoencoder":
        return create_generator(kind, **{k: v for k, v in gen_cfg.items() if k != "kind"})
    weights = Path(gen_cfg["weights"])
    if not weights.is_file():
        images = [load_rgb(p.path) for p in train_photos]
        arch = AutoencoderConfig(decoder=gen_cfg["decoder"], channels=int(gen_cfg["channels"]),
                                 levels=int(gen_cfg["levels"]), latent_channels=int(gen_cfg["latent_channels"]))
        model, stats = train_autoencoder(images, arch, steps=int(gen_cfg["steps"]),
                                         batch_size=int(gen_cfg["batch_size"]), crop=int(gen_cfg["crop"]),
                                         lr=float(gen_cfg["lr"]), seed=seed, max_seconds=gen_cfg.get("max_seconds"),
                                         progress=progress)
        save_autoencoder(model, weights, {**stats, "train_photos": [p.name for p in train_photos]})
        print(f"generator ae-{arch.decoder}: trained {stats['steps']} steps in {stats['seconds']} s, "
              f"reconstruction PSNR {stats['psnr_db']} dB -> {weights}", file=sys.stderr)
    return create_generator("autoencoder", weights=weights)


def run_synth(cfg: Mapping[str, Any]) -> Path:
    """Build the dataset described by ``cfg['data']`` with ``cfg['generator']``; returns the manifest path."""
    data, seed = cfg["data"], int(cfg.get("seed", 0))
    progress = bool(cfg.get("progress", True))
    root = Path(data["root"])
    photos = select_photos(data["photos"])
    write_sources_csv(photos, root / "sources.csv")
    sc = synth_config(data, seed)
    splits = split_sources([p.name for p in photos], sc.val_fraction, sc.test_fraction, sc.seed)
    # The generator learns from training photos only: held-out photos stay unseen by every stage.
    generator = build_generator(cfg["generator"], [p for p in photos if splits[p.name] == "train"], seed, progress)
    state = {"synth": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(sc).items()},
             "generator": generator.name}
    state_path = root / "synth.json"
    if state_path.is_file() and json.loads(state_path.read_text()) != state:
        raise ValueError(f"{root}: holds a dataset made with other settings ({state_path}); "
                         "choose another data.root or delete the folder")
    atomic_write_json(state_path, state)
    manifest, failures = synthesize(photos, generator, root, sc, progress=progress)
    rows = read_manifest(manifest)
    n_real = sum(1 for r in rows if r.label == 0)
    print(f"dataset: {len(rows)} images ({n_real} real, {len(rows) - n_real} fake) from {len(photos)} photos "
          f"-> {manifest}", file=sys.stderr)
    for f in failures:
        print(f"failed: {f}", file=sys.stderr)
    return manifest
