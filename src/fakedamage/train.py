"""Fine-tune a timm backbone to tell real product photos from AI-damaged ones, and map the edit.

Library use (plain dataclasses, no Hydra)::

    from fakedamage.train import DataConfig, ModelConfig, TrainerConfig, fit
    result = fit(DataConfig(manifest="data/manifest.parquet"), ModelConfig(), TrainerConfig(epochs=3), "runs/x")

Command line (Hydra ``key=value`` overrides)::

    fakedamage train data.manifest=data/manifest.parquet trainer.epochs=3
    fakedamage train name=x resume=true                    # continue a killed run
    python -m fakedamage.train model.backbone=resnet18
    torchrun --nproc_per_node 2 -m fakedamage.train ...    # DDP (gloo on CPU, NCCL on GPU)
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from .data.dataset import CropDataset, GroupBatchSampler, collate_skip_bad
from .data.manifest import read_manifest
from .data.transforms import AugmentConfig, build_train_transform
from .distributed import (DistInfo, all_gather_objects, all_reduce_sum, barrier, cleanup, init_distributed,
                          resolve_device)
from .evaluate import TorchScorer, evaluate_samples, finite, trace_metrics
from .meta import ModelMeta
from .metrics import binary_metrics, pixel_summary
from .models import build_meta, create_detector, save_checkpoint
from .models.checkpoint import load_train_state, save_train_state, train_state_path
from .models.pretrained import resolve_pretrained_file
from .utils.io import atomic_path, atomic_write_json, file_sha256

__all__ = ["DataConfig", "ModelConfig", "TrainerConfig", "TrainResult", "DetectorLoss", "fit", "train_one_epoch",
           "build_train_loader", "calibrate_checkpoint", "resolve_device", "resolve_resume", "configs_from_dict", "run_train", "main"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class DataConfig:
    """What the trainer reads: a manifest and the augmentation of training crops."""

    manifest: str
    batch_size: int = 32
    num_workers: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    group_batches: bool = True  # every variant of a source crop in the same batch (GroupBatchSampler)
    resize_to: int | None = None  # baseline only: resize whole images to this side instead of cropping


@dataclass(frozen=True)
class ModelConfig:
    """Backbone, heads and input policy (native-resolution tiles, never a resize)."""

    backbone: str = "tf_efficientnet_lite0"
    pretrained: bool = False
    pretrained_file: str | None = None
    drop_rate: float = 0.1
    feature_levels: int = 4
    decoder_channels: int = 32
    input_transform: str = "none"
    image_pool: str = "gap"
    map_topk: float = 0.02
    stem_stride: int | None = None
    trace: Mapping[str, Any] | None = None  # TraceConfig fields when backbone == "tracenet"
    tile_size: int = 128
    tile_stride: int = 64
    aggregation: str = "max"
    topk: int = 2
    scan: str = "dense"
    refine_top: int = 8


@dataclass(frozen=True)
class TrainerConfig:
    """Optimisation, precision, selection and bookkeeping."""

    epochs: int = 8
    optimizer: str = "adamw"
    scheduler: str = "cosine"
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_epochs: int = 1
    min_lr: float = 1e-5
    accumulate: int = 1
    grad_clip: float | None = 1.0
    mask_weight: float = 1.0
    mask_dice: bool = False
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    deterministic: bool = False
    select_metric: str = "trace_auc"
    patience: int | None = None
    ema_decay: float | None = 0.99
    calibrate: bool = True
    target_fpr: float = 0.01
    max_steps_per_epoch: int | None = None
    progress: bool = True
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"trainer.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.accumulate < 1:
            raise ValueError(f"trainer.accumulate must be >= 1, got {self.accumulate}")
        if self.epochs < 1:
            raise ValueError(f"trainer.epochs must be >= 1, got {self.epochs}")


@dataclass
class TrainResult:
    run_dir: Path
    best: Path
    last: Path
    meta: ModelMeta
    best_metrics: dict
    history: list[dict]


def resolve_resume(resume: Any, run_dir: str | Path) -> Path | None:
    """``resume`` config value -> training-state file.

    ``null``/``false`` -> ``None``; ``true`` -> ``<run_dir>/weights/last.state.pt``; a run
    folder, a ``.safetensors`` checkpoint or a ``.state.pt`` file -> its state file.
    """
    if resume in (None, False, "", "false", "False"):
        return None
    if resume in (True, "true", "True"):
        return train_state_path(Path(run_dir) / "weights" / "last.safetensors")
    p = Path(str(resume))
    if p.is_dir():
        return train_state_path(p / "weights" / "last.safetensors")
    return p if p.name.endswith(".state.pt") else train_state_path(p)


class DetectorLoss(nn.Module):
    """Image BCE (positives re-weighted) plus ``mask_weight`` x a pixel loss where the map is known.

    The pixel loss is BCE, plus (``mask_dice``) a soft Dice term over the images that have
    generated pixels: a pasted edit often covers a few percent of a tile, and plain BCE is
    then satisfied by an empty map.

    Args:
        pos_weight: Weight of the fake class in the image loss (``n_real / n_fake``).
        mask_weight: Weight of the localisation loss.
        mask_dice: Add the soft Dice term.
    """

    def __init__(self, pos_weight: float = 1.0, mask_weight: float = 1.0, mask_dice: bool = False) -> None:
        super().__init__()
        self.register_buffer("pos_weight", torch.tensor([float(pos_weight)]))
        self.mask_weight = float(mask_weight)
        self.mask_dice = bool(mask_dice)

    def forward(self, logit: torch.Tensor, mask_logit: torch.Tensor, label: torch.Tensor, mask: torch.Tensor,
                mask_valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Shapes: logit ``(N, 1)``, mask_logit and mask ``(N, 1, H, W)``, label and mask_valid ``(N,)``.

        Returns:
            ``(total, image_loss, mask_loss)``.
        """
        image = F.binary_cross_entropy_with_logits(logit.float().squeeze(1), label, pos_weight=self.pos_weight)
        if self.mask_weight and bool(mask_valid.any()):
            per_pixel = F.binary_cross_entropy_with_logits(mask_logit.float(), mask, reduction="none")
            per_image = per_pixel.mean(dim=(1, 2, 3))
            pixel = (per_image * mask_valid).sum() / mask_valid.sum()
            has = mask_valid * (mask.flatten(1).amax(dim=1) > 0).float()
            if self.mask_dice and bool(has.any()):
                prob = torch.sigmoid(mask_logit.float())
                inter = (prob * mask).sum(dim=(1, 2, 3))
                dice = 1 - (2 * inter + 1) / (prob.sum(dim=(1, 2, 3)) + mask.sum(dim=(1, 2, 3)) + 1)
                pixel = pixel + (dice * has).sum() / has.sum()
        else:
            pixel = mask_logit.float().sum() * 0.0  # keeps every parameter in the graph (DDP)
        return image + self.mask_weight * pixel, image.detach(), pixel.detach()


def _selection_key(m: Mapping[str, float], metric: str) -> tuple[float, float]:
    def val(k: str) -> float:
        v = m.get(k, float("nan"))
        return -math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    return val(metric), val("auc")


def _seed_epoch(seed: int, rank: int, epoch: int) -> None:
    """Each (seed, rank, epoch) gets its own RNG streams, so a resumed run replays the same epochs."""
    s = (seed * 1_000_003 + rank * 10_007 + epoch) % 2**31
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def _set_determinism(deterministic: bool, device: torch.device) -> None:
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def build_train_loader(dataset: CropDataset, batch_size: int, num_workers: int, info: DistInfo,
                       seed: int, group_batches: bool = False) -> tuple[DataLoader, Any]:
    """Shuffled loader over this rank's share of ``dataset``; the order depends only on ``(seed, epoch)``.

    With ``group_batches`` a :class:`~fakedamage.data.dataset.GroupBatchSampler` keeps every
    variant of a source crop in one batch; otherwise a ``DistributedSampler`` (even in one
    process) shuffles images. The second value has ``set_epoch``.
    """
    if group_batches:
        batches = GroupBatchSampler(dataset.samples, batch_size, info.world_size, info.rank, seed)
        loader = DataLoader(dataset, batch_sampler=batches, num_workers=num_workers, collate_fn=collate_skip_bad,
                            pin_memory=info.device.type == "cuda", persistent_workers=num_workers > 0)
        return loader, batches
    sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed)
    per_rank = math.ceil(len(dataset) / info.world_size)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                        collate_fn=collate_skip_bad, drop_last=per_rank > batch_size,
                        pin_memory=info.device.type == "cuda", persistent_workers=num_workers > 0)
    return loader, sampler


@dataclass
class _Stepper:
    """What one optimisation step touches."""

    model: nn.Module  # the raw module (checkpoints, EMA)
    train_model: nn.Module  # DDP / compiled wrapper used for forward
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loss_fn: DetectorLoss
    device: torch.device
    precision: str = "fp32"
    accumulate: int = 1
    grad_clip: float | None = None
    channels_last: bool = False
    ema: Any = None
    scaler: Any = None


def train_one_epoch(st: _Stepper, loader: Iterable, step: int, max_steps: int, *, desc: str = "",
                    progress: bool = False, info: DistInfo = DistInfo(), on_step=None) -> tuple[int, dict]:
    """Run one epoch (at most ``max_steps`` batches); returns the new update count and epoch stats.

    Stats: ``loss``, ``image_loss``, ``mask_loss`` (means over images), ``images``, ``seconds``,
    ``img_s``, ``data_wait`` (share of wall time spent waiting for the loader), ``skipped``
    (unreadable images dropped) and ``skipped_examples``.
    """
    from tqdm.auto import tqdm

    st.train_model.train()
    amp = st.precision != "fp32"
    amp_dtype = torch.bfloat16 if st.precision == "bf16" else torch.float16
    t0 = time.perf_counter()
    wait = 0.0
    seen, sums, skipped, examples = 0, [0.0, 0.0, 0.0], 0, []
    bar = tqdm(total=max_steps, desc=desc, disable=None if (progress and info.is_main) else True, leave=False,
               unit="batch")
    it = iter(loader)
    st.optimizer.zero_grad(set_to_none=True)
    for i in range(max_steps):
        tw = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            break
        wait += time.perf_counter() - tw
        if batch["errors"]:
            skipped += len(batch["errors"])
            examples.extend(batch["errors"][: max(0, 3 - len(examples))])
        if "image" not in batch:
            if info.distributed:
                raise RuntimeError(f"a whole batch was unreadable ({batch['errors'][0]}); fix the dataset")
            continue
        x = batch["image"].to(st.device, non_blocking=True)
        if st.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = batch["label"].to(st.device, non_blocking=True)
        m = batch["mask"].to(st.device, non_blocking=True)
        mv = batch["mask_valid"].to(st.device, non_blocking=True)
        update = (i + 1) % st.accumulate == 0 or i + 1 == max_steps
        sync = contextlib.nullcontext() if update or not info.distributed else st.train_model.no_sync()
        with sync:
            with torch.autocast(st.device.type, dtype=amp_dtype, enabled=amp):
                logit, mask_logit = st.train_model(x)
            loss, l_img, l_mask = st.loss_fn(logit, mask_logit, y, m, mv)
            scaled = loss / st.accumulate
            (st.scaler.scale(scaled) if st.scaler is not None else scaled).backward()
        if update:
            if st.scaler is not None:
                st.scaler.unscale_(st.optimizer)
            if st.grad_clip:
                nn.utils.clip_grad_norm_(st.model.parameters(), st.grad_clip)
            if st.scaler is not None:
                st.scaler.step(st.optimizer)
                st.scaler.update()
            else:
                st.optimizer.step()
            st.optimizer.zero_grad(set_to_none=True)
            step += 1
            if st.ema is not None:
                st.ema.update(st.model, step=step)
            st.scheduler.step_update(step)
        n = len(x)
        seen += n
        for k, v in enumerate((loss, l_img, l_mask)):
            sums[k] += float(v.detach()) * n
        if on_step is not None:
            on_step(step, float(loss.detach()), st.optimizer.param_groups[0]["lr"])
        bar.update(1)
        bar.set_postfix(loss=f"{sums[0] / seen:.4f}", img_s=f"{seen * info.world_size / (time.perf_counter() - t0):.1f}")
    bar.close()
    seconds = time.perf_counter() - t0
    tot = all_reduce_sum([seen, *sums, skipped, wait, seconds], info)
    n_all = max(1.0, tot[0])
    return step, {"loss": tot[1] / n_all, "image_loss": tot[2] / n_all, "mask_loss": tot[3] / n_all,
                  "images": int(tot[0]), "seconds": seconds, "img_s": tot[0] / max(seconds, 1e-9),
                  "data_wait": tot[5] / max(tot[6], 1e-9), "skipped": int(tot[4]), "skipped_examples": examples}


def _validate(model: nn.Module, meta: ModelMeta, samples: list, root: Path, info: DistInfo,
              resize_to: int | None = None) -> tuple[dict, list]:
    """Score this rank's share of the validation images, gather, and compute the metrics on every rank."""
    if resize_to:
        from .bench import ResizeScorer

        scorer = ResizeScorer(model, resize_to, info.device)
    else:
        scorer = TorchScorer(model, meta, info.device)
    mine = evaluate_samples(scorer, samples[info.rank :: info.world_size], root, pixel=True)
    preds = [p for part in all_gather_objects(mine, info) for p in part]
    preds.sort(key=lambda p: p["id"])
    val = binary_metrics([p["label"] for p in preds], [p["score"] for p in preds], meta.threshold)
    val.update(pixel_summary(preds))
    trace = trace_metrics(preds, meta.threshold).get("trace")
    if trace:
        val.update({f"trace_{k}": trace[k] for k in ("auc", "tpr_at_1fpr", "pair_win")})
    return val, preds


def _plain(obj: Any) -> Any:
    """JSON-safe copy (numpy scalars -> Python, NaN -> None): loadable with ``weights_only=True``."""
    import json

    return json.loads(json.dumps(finite(obj) if isinstance(obj, dict) else [finite(o) for o in obj], default=float))


def _write_csv(path: Path, rows: list[dict]) -> None:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)


def _tensorboard(run_dir: Path, enabled: bool, info: DistInfo):
    if not (enabled and info.is_main):
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("tensorboard is not installed; logging to metrics.csv only (pip install tensorboard)")
        return None
    return SummaryWriter(str(run_dir / "tb"))


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    np_state = np.random.get_state()
    state["numpy"] = {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                      "has_gauss": int(np_state[3]), "gauss": float(np_state[4])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(tuple(state["python"][:1]) + (tuple(state["python"][1]),) + tuple(state["python"][2:]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def fit(data: DataConfig, model_cfg: ModelConfig, trainer: TrainerConfig, run_dir: str | Path,
        config: Mapping[str, Any] | None = None, resume: str | Path | None = None,
        rows: Sequence[Any] | None = None) -> TrainResult:
    """Train a detector and write ``run_dir``.

    Outputs: ``weights/{last,best}.safetensors`` (+ ``.json`` sidecars: metadata, metrics,
    config), ``weights/last.state.pt`` (optimiser, scheduler, EMA, RNG, counters; for
    ``resume``), ``metrics.csv`` (one row per epoch), ``train_metrics.json`` and ``tb/``
    (TensorBoard). Under ``torchrun`` every rank trains on its shard, validation is
    gathered across ranks, and only rank 0 writes.

    Args:
        data: Manifest, batch and augmentation.
        model_cfg: Backbone, heads and tiling policy.
        trainer: Schedule, precision, selection metric.
        run_dir: Output folder (created).
        config: The resolved config to store in checkpoint sidecars.
        resume: A training-state file to continue from (same step, same learning rate).
        rows: Manifest rows to use instead of all of ``data.manifest`` (e.g. leave-one-generator-out);
            paths stay relative to the manifest's folder.

    Returns:
        Paths of the best and last checkpoints, their metadata and the per-epoch history.
    """
    import timm.optim
    import timm.scheduler
    import timm.utils

    info = init_distributed(trainer.device)
    try:
        return _fit(data, model_cfg, trainer, Path(run_dir), config, resume, info, timm, rows)
    finally:
        cleanup(info)


def _fit(data, model_cfg, trainer, run_dir, config, resume, info: DistInfo, timm, rows=None) -> TrainResult:  # noqa: C901
    device = info.device
    if trainer.precision == "fp16" and device.type != "cuda":
        raise ValueError("trainer.precision=fp16 needs a CUDA GPU (it uses a gradient scaler); use bf16 on CPU")
    if info.is_main:
        (run_dir / "weights").mkdir(parents=True, exist_ok=True)
    if trainer.threads:
        torch.set_num_threads(int(trainer.threads))
    _set_determinism(trainer.deterministic, device)
    _seed_epoch(trainer.seed, info.rank, -1)
    manifest = Path(data.manifest)
    samples = list(rows) if rows is not None else read_manifest(manifest)
    train_s = [s for s in samples if s.split == "train"]
    val_s = [s for s in samples if s.split == "val"]
    if not train_s or not val_s:
        raise ValueError(f"{manifest}: needs train and val rows (has {len(train_s)} train, {len(val_s)} val); "
                         "add photos or lower data.val_fraction")

    model = create_detector(model_cfg.backbone, pretrained=model_cfg.pretrained,
                            pretrained_file=resolve_pretrained_file(model_cfg.pretrained_file),
                            drop_rate=model_cfg.drop_rate, feature_levels=model_cfg.feature_levels,
                            decoder_channels=model_cfg.decoder_channels,
                            input_transform=model_cfg.input_transform, image_pool=model_cfg.image_pool,
                            map_topk=model_cfg.map_topk, stem_stride=model_cfg.stem_stride,
                            trace=model_cfg.trace).to(device)
    if trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    summary = {
        "manifest": str(manifest),
        "manifest_sha256": file_sha256(manifest),
        "generators": sorted({s.generator for s in samples if s.generator}),
        "counts": {split: {"real": sum(1 for s in samples if s.split == split and s.label == 0),
                           "fake": sum(1 for s in samples if s.split == split and s.label == 1)}
                   for split in ("train", "val", "test")},
    }
    meta = build_meta(model, model_cfg.backbone, model_cfg.tile_size, model_cfg.tile_stride,
                      model_cfg.aggregation, model_cfg.topk, training=summary, scan=model_cfg.scan,
                      refine_top=model_cfg.refine_top)

    ds = CropDataset(train_s, manifest.parent, model_cfg.tile_size, build_train_transform(data.augment),
                     seed=trainer.seed, resize_to=data.resize_to)
    loader, sampler = build_train_loader(ds, data.batch_size, data.num_workers, info, trainer.seed, data.group_batches)
    steps_per_epoch = len(loader) if not trainer.max_steps_per_epoch else min(len(loader), trainer.max_steps_per_epoch)
    updates_per_epoch = math.ceil(steps_per_epoch / trainer.accumulate)
    optimizer = timm.optim.create_optimizer_v2(model, opt=trainer.optimizer, lr=trainer.lr,
                                               weight_decay=trainer.weight_decay)
    scheduler, _ = timm.scheduler.create_scheduler_v2(
        optimizer, sched=trainer.scheduler, num_epochs=trainer.epochs, warmup_epochs=trainer.warmup_epochs,
        warmup_lr=trainer.lr * 0.1, min_lr=trainer.min_lr, step_on_epochs=False, updates_per_epoch=updates_per_epoch)
    n_fake = sum(s.label for s in train_s)
    loss_fn = DetectorLoss((len(train_s) - n_fake) / max(1, n_fake), trainer.mask_weight, trainer.mask_dice).to(device)
    # Validation, checkpoints and export use the EMA weights when enabled (timm's ModelEmaV3).
    ema = timm.utils.ModelEmaV3(model, decay=trainer.ema_decay, use_warmup=True) if trainer.ema_decay else None
    scaler = torch.amp.GradScaler("cuda") if trainer.precision == "fp16" else None

    config = dict(config or {"data": asdict(data), "model": asdict(model_cfg), "trainer": asdict(trainer)})
    last_path, best_path = run_dir / "weights" / "last.safetensors", run_dir / "weights" / "best.safetensors"
    state_path = train_state_path(last_path)
    start_epoch, step, bad_epochs = 0, 0, 0
    history: list[dict] = []
    best_key: tuple[float, float] | None = None
    best_metrics: dict = {}
    if resume:
        st = load_train_state(resume)
        saved_backbone = st.get("backbone")
        if saved_backbone != model_cfg.backbone:
            raise ValueError(f"{resume}: was trained with backbone {saved_backbone!r}, config says "
                             f"{model_cfg.backbone!r}; resume with the same model config")
        model.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
        scheduler.load_state_dict(st["scheduler"])
        if ema is not None and st.get("ema") is not None:
            ema.load_state_dict(st["ema"])
        if scaler is not None and st.get("scaler"):
            scaler.load_state_dict(st["scaler"])
        _set_rng_state(st["rng"])
        start_epoch, step, bad_epochs = int(st["epoch"]), int(st["step"]), int(st.get("bad_epochs", 0))
        history = list(st.get("history", []))
        best_key = tuple(st["best_key"]) if st.get("best_key") is not None else None
        best_metrics = dict(st.get("best_metrics") or {})
        if info.is_main:
            print(f"resuming {resume} at epoch {start_epoch + 1}/{trainer.epochs}, step {step}, "
                  f"lr {optimizer.param_groups[0]['lr']:.3g}", file=sys.stderr)

    train_model: nn.Module = model
    if trainer.compile:
        train_model = torch.compile(train_model)
    if info.distributed:
        train_model = nn.parallel.DistributedDataParallel(
            train_model, device_ids=[device.index] if device.type == "cuda" else None)
    stepper = _Stepper(model, train_model, optimizer, scheduler, loss_fn, device, trainer.precision,
                       trainer.accumulate, trainer.grad_clip, trainer.channels_last, ema, scaler)
    eval_model = lambda: ema.module if ema is not None else model  # noqa: E731
    tb = _tensorboard(run_dir, trainer.tensorboard, info)
    on_step = None
    if tb is not None:
        def on_step(s: int, loss: float, lr: float) -> None:
            if s % 10 == 0:
                tb.add_scalar("train/loss", loss, s)
                tb.add_scalar("train/lr", lr, s)

    csv_path = run_dir / "metrics.csv"
    fault_epoch = os.environ.get("FAKEDAMAGE_FAULT_AFTER_EPOCH")  # tests: SIGKILL right after this epoch's checkpoint
    for epoch in range(start_epoch, trainer.epochs):
        _seed_epoch(trainer.seed, info.rank, epoch)
        sampler.set_epoch(epoch)
        ds.set_epoch(epoch)
        step, tr = train_one_epoch(stepper, loader, step, steps_per_epoch, desc=f"epoch {epoch + 1}/{trainer.epochs}",
                                   progress=trainer.progress, info=info, on_step=on_step)
        scheduler.step(epoch + 1)
        if tr["skipped"] and info.is_main:
            log.warning("epoch %d: skipped %d unreadable training image(s), e.g. %s", epoch + 1, tr["skipped"],
                        tr["skipped_examples"][0] if tr["skipped_examples"] else "?")
            print(f"warning: skipped {tr['skipped']} unreadable training image(s), e.g. "
                  f"{tr['skipped_examples'][0] if tr['skipped_examples'] else '?'}", file=sys.stderr)
        val, _ = _validate(eval_model(), meta, val_s, manifest.parent, info, data.resize_to)
        row = {"epoch": epoch + 1, "step": step, "lr": optimizer.param_groups[0]["lr"], "train_loss": tr["loss"],
               "train_image_loss": tr["image_loss"], "train_mask_loss": tr["mask_loss"], "train_img_s": tr["img_s"],
               "data_wait": tr["data_wait"], "skipped": tr["skipped"],
               **{f"val_{k}": v for k, v in val.items() if k not in ("n", "n_fake", "n_real", "threshold")}}
        history.append(row)
        key = _selection_key(val, trainer.select_metric)
        improved = best_key is None or key > best_key
        if improved:
            best_key, best_metrics, bad_epochs = key, {"epoch": epoch + 1, **val}, 0
        else:
            bad_epochs += 1
        stop = bool(trainer.patience) and bad_epochs >= int(trainer.patience)
        if info.is_main:
            _write_csv(csv_path, history)
            extra = {"epoch": epoch + 1, "step": step}
            save_train_state({
                "backbone": model_cfg.backbone, "epoch": epoch + 1, "step": step, "bad_epochs": bad_epochs,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "ema": ema.state_dict() if ema is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None, "rng": _rng_state(),
                "history": _plain(history), "best_key": list(best_key) if best_key else None,
                "best_metrics": _plain(best_metrics), "world_size": info.world_size,
            }, state_path)
            save_checkpoint(eval_model(), meta, last_path, finite(val), config, extra)
            if improved:
                save_checkpoint(eval_model(), meta, best_path, finite(val), config, extra)
            if tb is not None:
                for k, v in row.items():
                    if isinstance(v, (int, float)) and k not in ("epoch", "step") and math.isfinite(v):
                        tb.add_scalar(("val/" + k[4:]) if k.startswith("val_") else f"epoch/{k}", v, epoch + 1)
                tb.flush()
            log.info("epoch %d/%d loss %.4f val auc %.4f tpr@1%%fpr %.3f%s", epoch + 1, trainer.epochs,
                     row["train_loss"], val["auc"], val["tpr_at_1fpr"], "  (best)" if improved else "")
            if trainer.progress:
                px = f"  pixel F1 {val['pixel_f1']:.3f}" if val.get("pixel_n") else ""
                tr_ = f"  trace AUC {val['trace_auc']:.4f}" if "trace_auc" in val else ""
                print(f"epoch {epoch + 1}/{trainer.epochs}  loss {row['train_loss']:.4f}  {row['train_img_s']:.1f} img/s"
                      f"  data wait {100 * row['data_wait']:.0f}%{tr_}  val AUC {val['auc']:.4f}  "
                      f"TPR@1%FPR {val['tpr_at_1fpr']:.3f}{px}" + ("  *best" if improved else ""), file=sys.stderr)
        barrier(info)
        if fault_epoch and int(fault_epoch) == epoch + 1:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)
        if stop:
            if info.is_main:
                print(f"early stop: no {trainer.select_metric} improvement for {bad_epochs} epoch(s)", file=sys.stderr)
            break
    if tb is not None:
        tb.close()
    calibration = None
    if info.is_main and trainer.calibrate and best_path.is_file() and any(s.label == 0 for s in val_s):
        calibration = calibrate_checkpoint(best_path, val_s, manifest.parent, trainer.target_fpr, device)
        meta = meta.replace(temperature=calibration.temperature, threshold=calibration.threshold)
        print(f"calibrated on {calibration.n_real} real + {calibration.n_fake} fake validation images: temperature "
              f"{calibration.temperature:.3f}, threshold {calibration.threshold:.4f} (FPR {calibration.fpr:.3f} <= "
              f"target {calibration.target_fpr}, TPR {calibration.tpr:.3f})", file=sys.stderr)
        if calibration.warning:
            print(f"warning: {calibration.warning}", file=sys.stderr)
    barrier(info)
    if info.is_main:
        atomic_write_json(run_dir / "train_metrics.json", finite({
            "calibration": calibration.to_dict() if calibration else None,
            "best": best_metrics, "history": history, "world_size": info.world_size, "device": str(device),
            "seed": trainer.seed, "deterministic": trainer.deterministic, "precision": trainer.precision,
            "torch": torch.__version__}))
    return TrainResult(run_dir, best_path, last_path, meta, best_metrics, history)


def calibrate_checkpoint(path: str | Path, samples: list, root: str | Path, target_fpr: float = 0.01,
                         device: str | torch.device = "cpu"):
    """Fit temperature and a threshold for ``target_fpr`` on ``samples`` (a calibration split) and
    write them into the checkpoint's metadata (sidecar rewritten atomically, weights unchanged).

    Returns:
        The :class:`~fakedamage.calibration.Calibration`.
    """
    from .calibration import calibrate
    from .models import load_checkpoint
    from .models.checkpoint import update_sidecar_meta

    path = Path(path)
    model, meta = load_checkpoint(path, device)
    rows = evaluate_samples(TorchScorer(model, meta.replace(temperature=1.0), device), samples, root)
    cal = calibrate([r["logit"] for r in rows], [r["label"] for r in rows], target_fpr,
                    groups=[r["source_id"] for r in rows])
    update_sidecar_meta(path, meta.replace(temperature=cal.temperature, threshold=cal.threshold),
                        calibration=cal.to_dict())
    return cal


# ---------------------------------------------------------------------------------------------
# Entry point (Hydra config -> dataclasses). Hydra is only touched here and in fakedamage.cli.


def configs_from_dict(cfg: Mapping[str, Any]) -> tuple[DataConfig, ModelConfig, TrainerConfig]:
    """Build the library dataclasses from a resolved config dict (``data``, ``model``, ``trainer``)."""
    d = cfg["data"]
    aug = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d["augment"].items()})
    data = DataConfig(manifest=d["manifest"], batch_size=d["batch_size"], num_workers=d["num_workers"], augment=aug,
                      group_batches=bool(d.get("group_batches", True)))
    model = ModelConfig(**cfg["model"])
    trainer = TrainerConfig(**cfg["trainer"])
    return data, model, trainer


def run_train(cfg: Mapping[str, Any]) -> TrainResult:
    """Train from a resolved config dict (the ``train`` verb)."""
    from .config import save_config

    run_dir = Path(cfg["run_dir"])
    resume = resolve_resume(cfg.get("resume"), run_dir)
    if int(os.environ.get("RANK", "0")) == 0:
        save_config(cfg, run_dir / ("config.resume.yaml" if resume else "config.yaml"))
    data, model, trainer = configs_from_dict(cfg)
    result = fit(data, model, trainer, run_dir, config=cfg, resume=resume)
    if int(os.environ.get("RANK", "0")) == 0:
        b = result.best_metrics
        print(f"best {result.best}  (epoch {b.get('epoch')}, val AUC {b.get('auc', float('nan')):.4f}, "
              f"TPR@1%FPR {b.get('tpr_at_1fpr', float('nan')):.3f})")
        print("next:")
        print(f"  fakedamage eval weights={result.best} data.manifest={data.manifest}")
        print(f"  fakedamage export weights={result.best} data.manifest={data.manifest}")
        print(f"  tensorboard --logdir {run_dir / 'tb'}")
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m fakedamage.train key=value ...``: same as ``fakedamage train``."""
    from .cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
