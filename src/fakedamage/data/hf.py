"""The manifest as a Hugging Face ``datasets.Dataset`` (with ``Image`` features).

    ds = load_manifest_dataset("data/offline/manifest.parquet")      # datasets.load_dataset("parquet", ...)
    ds[0]["image"]                                                    # PIL image, decoded on access
    save_dataset(ds, "data/offline/hf"); ds = load_saved_dataset("data/offline/hf")

Image and mask paths in the manifest are relative to its folder; they are made
absolute and cast to ``datasets.Image()`` so the dataset is usable anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

__all__ = ["load_manifest_dataset", "save_dataset", "load_saved_dataset"]


def load_manifest_dataset(manifest: str | os.PathLike, splits: Sequence[str] | None = None,
                          cache_dir: str | os.PathLike | None = None):
    """Load a manifest with ``datasets.load_dataset("parquet")`` and attach images and masks.

    Args:
        manifest: ``manifest.parquet``.
        splits: Keep only these splits.
        cache_dir: ``datasets`` cache folder (default: a folder beside the manifest).

    Returns:
        A ``datasets.Dataset`` with every manifest column plus ``image`` (``Image()``)
        and ``mask`` (``Image()``, ``None`` where the row has no mask).
    """
    import datasets

    from .manifest import read_manifest

    manifest = Path(manifest).resolve()
    read_manifest(manifest)  # validates the schema with a clear error before datasets sees it
    root = manifest.parent
    ds = datasets.load_dataset("parquet", data_files=str(manifest), split="train",
                               cache_dir=str(cache_dir or root / ".hf_cache"))
    if splits is not None:
        keep = set(splits)
        ds = ds.filter(lambda s: s in keep, input_columns="split")
    ds = ds.map(lambda r: {"image": str(root / r["path"]), "mask": str(root / r["mask_path"]) if r["mask_path"] else None})
    return ds.cast_column("image", datasets.Image()).cast_column("mask", datasets.Image())


def save_dataset(ds, path: str | os.PathLike) -> Path:
    """``save_to_disk`` (image bytes are embedded, so the folder is self-contained)."""
    ds = ds.map(lambda r: r, features=ds.features)  # materialise lazily decoded columns
    ds.save_to_disk(str(path))
    return Path(path)


def load_saved_dataset(path: str | os.PathLike):
    """``datasets.load_from_disk`` with a clear error for a missing folder."""
    import datasets

    if not Path(path, "dataset_info.json").is_file():
        raise FileNotFoundError(f"{path}: no saved dataset here; write one with fakedamage.data.hf.save_dataset")
    return datasets.load_from_disk(str(path))
