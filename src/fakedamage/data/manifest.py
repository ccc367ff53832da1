"""The manifest: one Parquet row per image, real or fake, with everything a trainer needs.

Schema (:data:`SCHEMA`):
    id: unique, stable item id.
    path: image file, relative to the manifest's folder.
    label: 0 real, 1 fake (edited damage).
    variant: ``pristine`` | ``real_damage`` (label 0; simulated hard negative) |
        ``inpaint_pasted`` | ``inpaint_full`` | ``reconstruction`` (label 1).
    generator: generator name (empty for reals).
    damage_type: ``crack`` | ``stain`` | ``scratch`` | ``tear`` | ``chip`` (empty for pristine/reconstruction).
    source_id: the real photo the image derives from; train / val / test never share one (a photo's
        whole-photo claims are in ``<its split>_whole``).
    mask_path: edited-region mask PNG relative to the manifest folder (empty if none).
    prompt: text prompt of text-guided generators (empty otherwise).
    seed: per-item seed.
    encoding: final file encoding, e.g. ``jpeg:q87`` (one policy for both labels).
    width, height: image size in pixels.
    split: ``train`` | ``val`` | ``test`` | ``val_whole`` | ``test_whole`` (whole photos of the val / test photos).
    licence: licence of the source photo.
    source: where the source photo came from (package or folder).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import UsageError
from ..utils.io import atomic_path

__all__ = ["Sample", "SCHEMA", "VARIANT_LABELS", "VARIANTS", "SPLITS", "MANIFEST_COLUMNS", "read_manifest",
           "write_manifest", "validate_rows"]

VARIANT_LABELS = {"pristine": 0, "real_damage": 0, "inpaint_pasted": 1, "inpaint_full": 1, "reconstruction": 1}
VARIANTS = tuple(VARIANT_LABELS)
#: ``val_whole`` / ``test_whole``: whole-photo claims at native size from the val / test photos
#: (:mod:`fakedamage.data.whole`), scored and reported apart from the crops.
SPLITS = ("train", "val", "test", "val_whole", "test_whole")


@dataclass(frozen=True)
class Sample:
    """One manifest row (paths relative to the manifest folder)."""

    id: str
    path: str
    label: int
    variant: str
    generator: str
    damage_type: str
    source_id: str
    mask_path: str
    prompt: str
    seed: int
    encoding: str
    width: int
    height: int
    split: str
    licence: str
    source: str


_TYPES = {"label": pa.int8(), "seed": pa.int64(), "width": pa.int32(), "height": pa.int32()}
SCHEMA = pa.schema([pa.field(f.name, _TYPES.get(f.name, pa.string()), nullable=False) for f in fields(Sample)])
MANIFEST_COLUMNS = [f.name for f in fields(Sample)]


def validate_rows(rows: Sequence[Sample], where: str = "manifest") -> None:
    """Check labels, variants, splits and ids; raise ``ValueError`` naming the first bad row."""
    seen: set[str] = set()
    for i, s in enumerate(rows):
        if s.variant not in VARIANT_LABELS:
            raise UsageError(f"{where}: row {i} ({s.id}): unknown variant {s.variant!r}; valid: {VARIANTS}")
        if VARIANT_LABELS[s.variant] != s.label:
            raise UsageError(f"{where}: row {i} ({s.id}): variant {s.variant!r} needs label {VARIANT_LABELS[s.variant]}")
        if s.split not in SPLITS:
            raise UsageError(f"{where}: row {i} ({s.id}): split {s.split!r} is not one of {SPLITS}")
        if s.id in seen:
            raise UsageError(f"{where}: duplicate id {s.id!r}")
        seen.add(s.id)


def write_manifest(rows: Iterable[Sample], path: str | os.PathLike) -> Path:
    """Validate and write rows as Parquet atomically (temporary file, then rename)."""
    rows = list(rows)
    validate_rows(rows, str(path))
    table = pa.Table.from_pylist([asdict(r) for r in rows], schema=SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_manifest(path: str | os.PathLike, splits: Sequence[str] | None = None) -> list[Sample]:
    """Read and validate a manifest.

    Args:
        path: The manifest ``.parquet`` file.
        splits: Keep only these splits (default: all).

    Raises:
        FileNotFoundError: the manifest does not exist (the message says how to make one).
        ValueError: not a fakedamage manifest (missing columns, bad values), file named.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found; build one with `fakedamage synth` or pass data.manifest=PATH")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise UsageError(f"{path}: not a Parquet manifest ({str(e).splitlines()[0]})") from None
    missing = [c for c in MANIFEST_COLUMNS if c not in table.column_names]
    if missing:
        raise UsageError(f"{path}: not a fakedamage manifest, missing columns {missing}")
    try:
        table = table.select(MANIFEST_COLUMNS).cast(SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise UsageError(f"{path}: column types do not match the manifest schema ({e})") from None
    rows = [Sample(**r) for r in table.to_pylist()]
    validate_rows(rows, str(path))
    return [r for r in rows if splits is None or r.split in splits]
