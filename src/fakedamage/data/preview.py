"""Contact sheet of (real, mask, fakes) rows, to look at what a dataset holds."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw

from ..utils.io import atomic_path
from .manifest import VARIANTS, Sample

__all__ = ["write_preview"]


def write_preview(rows: Sequence[Sample], root: str | Path, out: str | Path, n: int = 8, thumb: int = 160) -> Path:
    """One row per crop: every variant of it plus its mask, for up to ``n`` crops (one per generator first).

    Args:
        rows: Manifest rows.
        root: Folder the manifest's paths are relative to.
        out: PNG to write (atomic).
        n: Crops shown.
        thumb: Cell side in pixels (images are shown whole, scaled for display only).
    """
    root = Path(root)
    groups: dict[str, dict[str, Sample]] = {}
    for r in rows:
        groups.setdefault(r.id.rsplit("/", 1)[0], {})[r.variant] = r
    # one crop per generator first, then one per photo, each from a photo not shown yet
    ordered = [g for _, g in sorted(groups.items())]
    gen_of = lambda g: next((r.generator for r in g.values() if r.generator), "")  # noqa: E731
    src_of = lambda g: next(iter(g.values())).source_id  # noqa: E731
    chosen: list[dict[str, Sample]] = []
    for wanted in (lambda g: gen_of(g) not in {gen_of(c) for c in chosen}, lambda g: True):
        for g in ordered:
            if g not in chosen and wanted(g) and src_of(g) not in {src_of(c) for c in chosen}:
                chosen.append(g)
    chosen = chosen[:n]
    cols = ["mask", *VARIANTS]
    head = 18
    sheet = Image.new("RGB", (thumb * len(cols), head + (thumb + head) * len(chosen)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(cols):
        draw.text((c * thumb + 4, 3), name, fill="black")
    for i, g in enumerate(chosen):
        y = head + i * (thumb + head)
        any_row = next(iter(g.values()))
        gen = next((r.generator for r in g.values() if r.generator), "")
        dmg = next((r.damage_type for r in g.values() if r.damage_type), "")
        draw.text((4, y + 2), f"{any_row.source_id}  {gen}  {dmg}", fill="black")
        mask = next((r.mask_path for r in g.values() if r.mask_path), "")
        cells = {"mask": root / mask if mask else None, **{v: root / g[v].path for v in VARIANTS if v in g}}
        for c, name in enumerate(cols):
            if cells.get(name) is None:
                continue
            with Image.open(cells[name]) as im:
                tile = im.convert("RGB")
                tile.thumbnail((thumb - 4, thumb - 4))
                sheet.paste(tile, (c * thumb + 2, y + head))
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
    return Path(out)
