#!/usr/bin/env python
"""Throughput of an exported model: torch-free ONNX Detector vs the PyTorch checkpoint, side by side.

    python scripts/benchmark_onnx.py --model runs/demo/model.onnx [--weights runs/demo/weights/best.safetensors]
        [--images DIR] [--n 32] [--threads 2]

Images default to the photos that scikit-image ships (native resolution, tiled).
Prints images/s and tiles/s for each engine and their ratio in one run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _images(folder: str | None, n: int) -> list[np.ndarray]:
    from fakedamage.runtime.image_io import load_image

    if folder:
        paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})
    else:
        from fakedamage.data.photos import find_offline_photos

        paths = [p.path for p in find_offline_photos(include=["scikit-image", "scikit-learn"])]
    imgs = [load_image(p) for p in paths]
    return (imgs * (n // max(1, len(imgs)) + 1))[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="exported .onnx")
    ap.add_argument("--weights", default=None, help="checkpoint .safetensors to compare against (default: none)")
    ap.add_argument("--images", default=None, help="folder of images")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    from fakedamage.export import benchmark_onnx

    imgs = _images(args.images, args.n)
    px = np.mean([i.shape[0] * i.shape[1] for i in imgs]) / 1e6
    rows = [("onnxruntime", benchmark_onnx(args.model, imgs, threads=args.threads))]
    if args.weights:
        import torch

        from fakedamage.evaluate import TorchScorer
        from fakedamage.models import load_checkpoint

        if args.threads:
            torch.set_num_threads(args.threads)
        model, meta = load_checkpoint(args.weights)
        scorer = TorchScorer(model, meta)
        scorer(imgs[0])
        t0 = time.perf_counter()
        for im in imgs:
            scorer(im)
        dt = time.perf_counter() - t0
        rows.append(("torch eager", {"images": len(imgs), "seconds": round(dt, 3),
                                     "images_per_s": round(len(imgs) / dt, 2), "tiles_per_s": float("nan")}))
    print(f"{len(imgs)} images, mean {px:.2f} MP, native resolution (tiled)")
    base = rows[0][1]["images_per_s"]
    for name, r in rows:
        print(f"  {name:<12} {r['images_per_s']:8.2f} img/s  {r['tiles_per_s']:9.1f} tiles/s  "
              f"ratio vs onnxruntime {r['images_per_s'] / base:.2f}x")


if __name__ == "__main__":
    main()
