"""The manifest: one CSV row per image, real or fake, with everything a trainer needs.

Columns:
    id: unique, stable item id.
    path: image file, relative to the manifest's folder.
    label: 0 real, 1 AI-made damage.
    variant: ``pristine`` | ``real_damage`` (label 0) | ``inpaint_pasted`` |
        ``inpaint_full`` | ``reconstruction`` (label 1).
    generator: generator name (empty for reals).
    damage: damage kind (empty for pristine).
    source: id of the real photo the image was cut from; splits never share a source.
    split: ``train`` | ``val`` | ``test``.
    mask: edited-region mask PNG relative to the manifest folder (empty if none).
    jpeg_quality: quality of the final JPEG encoding (same distribution for both labels).
    height, width: image size in pixels.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

from ..utils.io import atomic_path

__all__ = ["Sample", "VARIANT_LABELS", "MANIFEST_COLUMNS", "read_manifest", "write_manifest", "write_rows"]

VARIANT_LABELS = {"pristine": 0, "real_damage": 0, "inpaint_pasted": 1, "inpaint_full": 1, "reconstruction": 1}
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Sample:
    """One manifest row (paths as written: relative to the manifest folder)."""

    id: str
    path: str
    label: int
    variant: str
    generator: str
    damage: str
    source: str
    split: str
    mask: str
    jpeg_quality: int
    height: int
    width: int


MANIFEST_COLUMNS = [f.name for f in fields(Sample)]


def write_rows(rows: Iterable[Sample], path: str | os.PathLike) -> Path:
    """Write rows as CSV atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
            w.writeheader()
            for r in rows:
                w.writerow(asdict(r))
    return Path(path)


write_manifest = write_rows


def read_manifest(path: str | os.PathLike, splits: Sequence[str] | None = None) -> list[Sample]:
    """Read and validate a manifest.

    Args:
        path: The manifest CSV.
        splits: Keep only these splits (default: all).

    Raises:
        FileNotFoundError: the manifest does not exist (the message says how to make one).
        ValueError: a column is missing or a value is invalid (file and line named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found; build one with `fakedamage synth` or pass data.manifest=PATH")
    out: list[Sample] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not a fakedamage manifest, missing columns {missing}")
        for line, row in enumerate(reader, start=2):
            try:
                s = Sample(
                    id=row["id"], path=row["path"], label=int(row["label"]), variant=row["variant"],
                    generator=row["generator"], damage=row["damage"], source=row["source"], split=row["split"],
                    mask=row["mask"], jpeg_quality=int(row["jpeg_quality"] or 0),
                    height=int(row["height"]), width=int(row["width"]),
                )
            except (TypeError, ValueError) as e:
                raise ValueError(f"{path}:{line}: bad value ({e}); fix or regenerate the manifest") from None
            if s.variant not in VARIANT_LABELS or VARIANT_LABELS[s.variant] != s.label:
                raise ValueError(f"{path}:{line}: variant {s.variant!r} does not fit label {s.label}")
            if s.split not in SPLITS:
                raise ValueError(f"{path}:{line}: split {s.split!r} is not one of {SPLITS}")
            if splits is None or s.split in splits:
                out.append(s)
    return out
