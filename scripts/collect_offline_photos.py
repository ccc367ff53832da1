#!/usr/bin/env python
"""Collect the real photos that ship offline into one folder, with their sources and licences.

    python scripts/collect_offline_photos.py --out data/photos [--min-side 256] [--sources scikit-image opencv-doc]

Copies each photo (bytes unchanged) to OUT/<source>/<name>, drops near-duplicates,
and writes OUT/sources.csv (name, source, licence, credit, path, width, height).
Run scripts/install_offline_photos.sh first for the Debian packages' photos. The
folder can then be used as `fakedamage synth data.photos.dirs=[OUT] data.photos.sources=[]`.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

from fakedamage.data.photos import SOURCES, dedupe_photos, find_offline_photos, write_sources_csv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--min-side", type=int, default=256)
    ap.add_argument("--sources", nargs="*", default=list(SOURCES), choices=list(SOURCES))
    args = ap.parse_args()
    photos, dropped = dedupe_photos(find_offline_photos(min_side=args.min_side, include=args.sources))
    copied = []
    for p in photos:
        dst = args.out / p.name.replace("/", "_")
        dst = dst.with_suffix(Path(p.path).suffix)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p.path, dst)
        copied.append(replace(p, path=dst.resolve()))
    write_sources_csv(copied, args.out / "sources.csv")
    per_source = {s: sum(1 for p in copied if p.source == s) for s in args.sources}
    print(f"{len(copied)} photos -> {args.out} ({', '.join(f'{k}: {v}' for k, v in per_source.items())}); "
          f"{len(dropped)} near-duplicates dropped; licences in {args.out / 'sources.csv'}")


if __name__ == "__main__":
    main()
