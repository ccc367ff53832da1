"""Fine-tune a timm backbone to tell real product photos from AI-damaged ones.

Library use (plain dataclasses, no Hydra)::

    from fakedamage.train import DataConfig, ModelConfig, TrainerConfig, fit
    result = fit(DataConfig(manifest="data/manifest.parquet"), ModelConfig(), TrainerConfig(epochs=3), "runs/x")

Command line (Hydra ``key=value`` overrides)::

    fakedamage train data.manifest=data/manifest.parquet trainer.epochs=3
    python -m fakedamage.train model.backbone=resnet18
"""

from __future__ import annotations

import csv
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .data.dataset import CropDataset
from .data.manifest import read_manifest
from .data.transforms import AugmentConfig, build_train_transform
from .evaluate import TorchScorer, evaluate_samples, finite
from .meta import ModelMeta
from .metrics import binary_metrics
from .models import build_meta, create_detector, save_checkpoint
from .models.pretrained import resolve_pretrained_file
from .utils.io import atomic_path, atomic_write_json

__all__ = ["DataConfig", "ModelConfig", "TrainerConfig", "TrainResult", "fit", "resolve_device", "main"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataConfig:
    """What the trainer reads: a manifest and the augmentation of training crops."""

    manifest: str
    batch_size: int = 32
    num_workers: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class ModelConfig:
    """Backbone and input policy (native-resolution tiles, never a resize)."""

    backbone: str = "tf_efficientnet_lite0"
    pretrained: bool = False
    pretrained_file: str | None = None
    drop_rate: float = 0.1
    tile_size: int = 128
    tile_stride: int = 64
    aggregation: str = "max"
    topk: int = 2


@dataclass(frozen=True)
class TrainerConfig:
    """Optimisation schedule and model selection."""

    epochs: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_epochs: int = 1
    min_lr: float = 1e-5
    grad_clip: float | None = 1.0
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    select_metric: str = "tpr_at_1fpr"
    ema_decay: float | None = 0.99
    max_steps_per_epoch: int | None = None
    progress: bool = True


@dataclass
class TrainResult:
    run_dir: Path
    best: Path
    last: Path
    meta: ModelMeta
    best_metrics: dict
    history: list[dict]


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA if available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _selection_key(m: Mapping[str, float], metric: str) -> tuple[float, float]:
    def val(k: str) -> float:
        v = m.get(k, float("nan"))
        return -math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    return val(metric), val("auc")


def fit(data: DataConfig, model_cfg: ModelConfig, trainer: TrainerConfig, run_dir: str | Path,
        config: Mapping[str, Any] | None = None) -> TrainResult:
    """Train a detector and write ``run_dir``: weights/{last,best}.safetensors (+ .json),
    ``metrics.csv`` (one row per epoch) and ``train_metrics.json``.

    Args:
        data: Manifest and augmentation.
        model_cfg: Backbone and tiling policy.
        trainer: Schedule and selection metric.
        run_dir: Output folder (created).
        config: The resolved config to store in checkpoint sidecars.

    Returns:
        Paths of the best and last checkpoints, their metadata and the per-epoch history.
    """
    import timm.optim
    import timm.scheduler
    import timm.utils
    from tqdm.auto import tqdm

    run_dir = Path(run_dir)
    (run_dir / "weights").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(trainer.seed)
    np.random.seed(trainer.seed)
    if trainer.threads:
        torch.set_num_threads(int(trainer.threads))
    device = resolve_device(trainer.device)
    manifest = Path(data.manifest)
    samples = read_manifest(manifest)
    train_s = [s for s in samples if s.split == "train"]
    val_s = [s for s in samples if s.split == "val"]
    if not train_s or not val_s:
        raise ValueError(f"{manifest}: needs train and val rows (has {len(train_s)} train, {len(val_s)} val); "
                         "add photos or lower data.val_fraction")

    model = create_detector(model_cfg.backbone, pretrained=model_cfg.pretrained,
                            pretrained_file=resolve_pretrained_file(model_cfg.pretrained_file),
                            drop_rate=model_cfg.drop_rate).to(device)
    summary = {
        "manifest": str(manifest),
        "generators": sorted({s.generator for s in samples if s.generator}),
        "counts": {split: {"real": sum(1 for s in samples if s.split == split and s.label == 0),
                           "fake": sum(1 for s in samples if s.split == split and s.label == 1)}
                   for split in ("train", "val", "test")},
    }
    meta = build_meta(model, model_cfg.backbone, model_cfg.tile_size, model_cfg.tile_stride,
                      model_cfg.aggregation, model_cfg.topk, training=summary)

    ds = CropDataset(train_s, manifest.parent, model_cfg.tile_size, build_train_transform(data.augment),
                     seed=trainer.seed)
    loader = DataLoader(ds, batch_size=data.batch_size, shuffle=True, num_workers=data.num_workers,
                        drop_last=len(ds) > data.batch_size, generator=torch.Generator().manual_seed(trainer.seed),
                        persistent_workers=data.num_workers > 0)
    steps_per_epoch = len(loader) if not trainer.max_steps_per_epoch else min(len(loader), trainer.max_steps_per_epoch)
    optimizer = timm.optim.create_optimizer_v2(model, opt="adamw", lr=trainer.lr, weight_decay=trainer.weight_decay)
    scheduler, _ = timm.scheduler.create_scheduler_v2(
        optimizer, sched="cosine", num_epochs=trainer.epochs, warmup_epochs=trainer.warmup_epochs,
        warmup_lr=trainer.lr * 0.1, min_lr=trainer.min_lr, step_on_epochs=False, updates_per_epoch=steps_per_epoch)
    n_fake = sum(s.label for s in train_s)
    pos_weight = torch.tensor([(len(train_s) - n_fake) / max(1, n_fake)], device=device)
    criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    # Validation, checkpoints and export use the EMA weights when enabled (timm's ModelEmaV3).
    ema = timm.utils.ModelEmaV3(model, decay=trainer.ema_decay, use_warmup=True) if trainer.ema_decay else None
    eval_model = lambda: ema.module if ema is not None else model  # noqa: E731

    history: list[dict] = []
    best_key: tuple[float, float] | None = None
    best_metrics: dict = {}
    last_path, best_path = run_dir / "weights" / "last.safetensors", run_dir / "weights" / "best.safetensors"
    csv_path = run_dir / "metrics.csv"
    config = dict(config or {"data": asdict(data), "model": asdict(model_cfg), "trainer": asdict(trainer)})
    step = 0
    for epoch in range(trainer.epochs):
        model.train()
        ds.set_epoch(epoch)
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        bar = tqdm(loader, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{trainer.epochs}",
                   disable=None if trainer.progress else True, leave=False)
        for i, (x, y) in enumerate(bar):
            if i >= steps_per_epoch:
                break
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = criterion(model(x).squeeze(1), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if trainer.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), trainer.grad_clip)
            optimizer.step()
            if ema is not None:
                ema.update(model, step=step)
            step += 1
            scheduler.step_update(step)
            seen += len(x)
            loss_sum += float(loss.detach()) * len(x)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", img_s=f"{seen / (time.perf_counter() - t0):.1f}")
        scheduler.step(epoch + 1)
        train_time = time.perf_counter() - t0
        preds = evaluate_samples(TorchScorer(eval_model(), meta, device), val_s, manifest.parent)
        val = binary_metrics([p["label"] for p in preds], [p["score"] for p in preds], meta.threshold)
        row = {"epoch": epoch + 1, "step": step, "lr": optimizer.param_groups[0]["lr"],
               "train_loss": loss_sum / max(1, seen), "train_img_s": seen / train_time,
               **{f"val_{k}": v for k, v in val.items() if k not in ("n", "n_fake", "n_real", "threshold")}}
        history.append(row)
        with atomic_path(csv_path) as tmp:
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(row))
                w.writeheader()
                w.writerows(history)
        key = _selection_key(val, trainer.select_metric)
        save_checkpoint(eval_model(), meta, last_path, finite(val), config, {"epoch": epoch + 1, "step": step})
        improved = best_key is None or key > best_key
        if improved:
            best_key, best_metrics = key, {"epoch": epoch + 1, **val}
            save_checkpoint(eval_model(), meta, best_path, finite(val), config, {"epoch": epoch + 1, "step": step})
        log.info("epoch %d/%d loss %.4f val auc %.4f tpr@1%%fpr %.3f%s", epoch + 1, trainer.epochs,
                 row["train_loss"], val["auc"], val["tpr_at_1fpr"], "  (best)" if improved else "")
        if trainer.progress:
            print(f"epoch {epoch + 1}/{trainer.epochs}  loss {row['train_loss']:.4f}  {row['train_img_s']:.1f} img/s  "
                  f"val AUC {val['auc']:.4f}  TPR@1%FPR {val['tpr_at_1fpr']:.3f}" + ("  *best" if improved else ""),
                  file=sys.stderr)
    atomic_write_json(run_dir / "train_metrics.json", finite({"best": best_metrics, "history": history}))
    return TrainResult(run_dir, best_path, last_path, meta, best_metrics, history)


# ---------------------------------------------------------------------------------------------
# Entry point (Hydra config -> dataclasses). Hydra is only touched here and in fakedamage.cli.


def configs_from_dict(cfg: Mapping[str, Any]) -> tuple[DataConfig, ModelConfig, TrainerConfig]:
    """Build the library dataclasses from a resolved config dict (``data``, ``model``, ``trainer``)."""
    d = cfg["data"]
    aug = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d["augment"].items()})
    data = DataConfig(manifest=d["manifest"], batch_size=d["batch_size"], num_workers=d["num_workers"], augment=aug)
    model = ModelConfig(**cfg["model"])
    trainer = TrainerConfig(**cfg["trainer"])
    return data, model, trainer


def run_train(cfg: Mapping[str, Any]) -> TrainResult:
    """Train from a resolved config dict (the ``train`` verb)."""
    from .config import save_config

    run_dir = Path(cfg["run_dir"])
    save_config(cfg, run_dir / "config.yaml")
    data, model, trainer = configs_from_dict(cfg)
    result = fit(data, model, trainer, run_dir, config=cfg)
    print(f"best {result.best}  (epoch {result.best_metrics.get('epoch')}, val AUC {result.best_metrics.get('auc', float('nan')):.4f})")
    print("next:")
    print(f"  fakedamage eval weights={result.best} data.manifest={data.manifest}")
    print(f"  fakedamage export weights={result.best} data.manifest={data.manifest}")
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m fakedamage.train key=value ...``: same as ``fakedamage train``."""
    from .cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
