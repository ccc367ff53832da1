#!/usr/bin/env python
"""Items/s of each offline generator at 256 and 512 px, side by side, in one run.

    python scripts/benchmark_synth.py [--n 6] [--threads 2]

An item is one crop turned into all its variants (pristine, real_damage,
inpaint_pasted, inpaint_full, reconstruction where the generator decodes the whole
image), encoded and written, i.e. what `fakedamage synth` does per crop. The
autoencoders are untrained (same architecture and cost as trained ones); the
diffusers row uses the tiny random-weight pipeline at 2 steps (code path of real
pipelines; a real SD model costs orders of magnitude more and wants a GPU). The whole run takes
about 8 minutes on 2 cores, most of it the diffusers row at 512 px.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=6, help="crops per generator and size")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from fakedamage.data.generators import ClassicalGenerator, ConvAutoencoder, create_generator
    from fakedamage.data.generators.autoencoder import AutoencoderConfig, AutoencoderGenerator
    from fakedamage.data.generators.diffusers import build_tiny_inpaint_pipeline
    from fakedamage.data.photos import find_offline_photos
    from fakedamage.data.synth import SynthConfig, synthesize

    photos = [p for p in find_offline_photos(min_side=512) if p.source in ("scikit-image", "scikit-learn", "opencv-doc")]
    photos = photos[: args.n] or find_offline_photos(min_side=512)[: args.n]
    tmp = Path(tempfile.mkdtemp(prefix="fd-bench-"))
    gens = [AutoencoderGenerator(model=ConvAutoencoder(AutoencoderConfig(decoder=d))) for d in
            ("transposed", "nearest", "pixelshuffle")]
    gens.append(ClassicalGenerator())
    gens.append(create_generator("diffusers", model=str(build_tiny_inpaint_pipeline(tmp / "tiny")), steps=2,
                                 name="diffusers-tiny(2 steps)", local_files_only=True))
    print(f"{len(photos)} photos, 1 crop each; torch threads {torch.get_num_threads()}")
    print(f"{'generator':<26} {'256 px items/s':>15} {'512 px items/s':>15} {'ratio 256/512':>14}")
    for g in gens:
        rates = []
        for size in (256, 512):
            cfg = SynthConfig(crop_size=size, crops_per_photo=1, seed=0)
            t0 = time.perf_counter()
            report = synthesize(photos, [g], tmp / f"{g.name}-{size}".replace("/", "_"), cfg, progress=False)
            dt = time.perf_counter() - t0
            rates.append(report.photos_done / dt)
        print(f"{g.name:<26} {rates[0]:15.2f} {rates[1]:15.2f} {rates[0] / rates[1]:14.2f}")


if __name__ == "__main__":
    main()
