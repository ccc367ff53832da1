"""Fine-tune a timm backbone to tell real product photos from AI-damaged ones, and map the edit.

Library use (plain dataclasses, no Hydra)::

    from fakedamage.train import DataConfig, ModelConfig, TrainerConfig, fit
    result = fit(DataConfig(manifest="data/manifest.parquet"), ModelConfig(), TrainerConfig(epochs=3), "runs/x")

Command line (Hydra ``key=value`` overrides)::

    fakedamage train data.manifest=data/manifest.parquet trainer.epochs=3
    fakedamage train name=x resume=true                    # continue a killed run
    python -m fakedamage train model.backbone=resnet18
    torchrun --nproc_per_node 2 -m fakedamage train ...    # DDP (gloo on CPU, NCCL on GPU)
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
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from .calibration import calibrate_checkpoint
from .data.dataset import CropDataset, GroupBatchSampler, collate_skip_bad
from .data.manifest import read_manifest
from .data.transforms import AugmentConfig, build_train_transform
from .distributed import (
    DistInfo,
    all_gather_objects,
    all_reduce_sum,
    barrier,
    cleanup,
    init_distributed,
    resolve_device,
)
from .errors import UsageError
from .evaluate import evaluate_samples, finite, trace_metrics
from .meta import ModelMeta
from .metrics import binary_metrics, pixel_summary
from .models import build_meta, create_detector, save_checkpoint
from .models.checkpoint import load_train_state, save_train_state, train_state_path
from .models.pretrained import resolve_pretrained_file
from .scorers import ResizeScorer, TorchScorer
from .utils.io import atomic_path, atomic_write_json, file_sha256

__all__ = ["DataConfig", "ModelConfig", "TrainerConfig", "TrainResult", "DetectorLoss", "fit", "train_one_epoch",
           "build_train_loader", "resolve_device", "resolve_resume", "configs_from_dict", "run_train"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")

#: ``on_epoch_end(epoch, row)``: 1-based epoch and its ``metrics.csv`` row, after its checkpoints are written.
EpochCallback = Callable[[int, dict], None]


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
            raise UsageError(f"trainer.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.accumulate < 1:
            raise UsageError(f"trainer.accumulate must be >= 1, got {self.accumulate}")
        if self.epochs < 1:
            raise UsageError(f"trainer.epochs must be >= 1, got {self.epochs}")


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
        rows: Sequence[Any] | None = None, on_epoch_end: EpochCallback | None = None) -> TrainResult:
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
        on_epoch_end: Called on every rank as ``on_epoch_end(epoch, row)`` (1-based epoch, its
            ``metrics.csv`` row) after the epoch's checkpoints are written; e.g. a progress hook.

    Returns:
        Paths of the best and last checkpoints, their metadata and the per-epoch history.
    """
    info = init_distributed(trainer.device)
    try:
        return _fit(data, model_cfg, trainer, Path(run_dir), config, resume, info, rows, on_epoch_end)
    finally:
        cleanup(info)


@dataclass
class _Progress:
    """Where training stands; saved with every epoch's training state and restored by ``resume``."""

    epoch: int = 0
    step: int = 0
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)
    best_key: tuple[float, float] | None = None
    best_metrics: dict = field(default_factory=dict)

    def record(self, epoch: int, row: dict, val: dict, metric: str) -> bool:
        """Append an epoch's row; return whether ``val`` is the best so far by ``metric``."""
        self.epoch = epoch
        self.history.append(row)
        key = _selection_key(val, metric)
        improved = self.best_key is None or key > self.best_key
        if improved:
            self.best_key, self.best_metrics, self.bad_epochs = key, {"epoch": epoch, **val}, 0
        else:
            self.bad_epochs += 1
        return improved


def _check_device(trainer: TrainerConfig, info: DistInfo) -> None:
    """Refuse what cannot run here, set threads and determinism, seed."""
    if trainer.precision == "fp16" and info.device.type != "cuda":
        raise UsageError("trainer.precision=fp16 needs a CUDA GPU (it uses a gradient scaler); use bf16 on CPU")
    if trainer.threads:
        torch.set_num_threads(int(trainer.threads))
    _set_determinism(trainer.deterministic, info.device)
    _seed_epoch(trainer.seed, info.rank, -1)


def _split_rows(manifest: Path, rows: Sequence[Any] | None) -> tuple[list, list, list]:
    """``(all, train, val)`` manifest rows; refuses a manifest without both splits."""
    samples = list(rows) if rows is not None else read_manifest(manifest)
    train_s = [s for s in samples if s.split == "train"]
    val_s = [s for s in samples if s.split == "val"]
    if not train_s or not val_s:
        raise UsageError(f"{manifest}: needs train and val rows (has {len(train_s)} train, {len(val_s)} val); "
                         "add photos or lower data.val_fraction")
    return samples, train_s, val_s


def _data_summary(manifest: Path, samples: Sequence[Any]) -> dict:
    """What the model was trained on, for its metadata: manifest hash, generators, counts per split."""
    return {
        "manifest": str(manifest),
        "manifest_sha256": file_sha256(manifest),
        "generators": sorted({s.generator for s in samples if s.generator}),
        "counts": {split: {"real": sum(1 for s in samples if s.split == split and s.label == 0),
                           "fake": sum(1 for s in samples if s.split == split and s.label == 1)}
                   for split in ("train", "val", "test")},
    }


def _build_model(model_cfg: ModelConfig, trainer: TrainerConfig, device: torch.device, summary: dict
                 ) -> tuple[nn.Module, ModelMeta]:
    """The detector (on ``device``) and its metadata."""
    model = create_detector(model_cfg.backbone, pretrained=model_cfg.pretrained,
                            pretrained_file=resolve_pretrained_file(model_cfg.pretrained_file),
                            drop_rate=model_cfg.drop_rate, feature_levels=model_cfg.feature_levels,
                            decoder_channels=model_cfg.decoder_channels,
                            input_transform=model_cfg.input_transform, image_pool=model_cfg.image_pool,
                            map_topk=model_cfg.map_topk, stem_stride=model_cfg.stem_stride,
                            trace=model_cfg.trace).to(device)
    if trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    meta = build_meta(model, model_cfg.backbone, model_cfg.tile_size, model_cfg.tile_stride,
                      model_cfg.aggregation, model_cfg.topk, training=summary, scan=model_cfg.scan,
                      refine_top=model_cfg.refine_top)
    return model, meta


def _build_stepper(model: nn.Module, trainer: TrainerConfig, train_s: Sequence[Any], updates_per_epoch: int,
                   info: DistInfo) -> _Stepper:
    """Optimiser, schedule, loss, EMA and the (compiled / DDP) forward model, from timm's factories."""
    import timm.optim
    import timm.scheduler
    import timm.utils

    optimizer = timm.optim.create_optimizer_v2(model, opt=trainer.optimizer, lr=trainer.lr,
                                               weight_decay=trainer.weight_decay)
    scheduler, _ = timm.scheduler.create_scheduler_v2(
        optimizer, sched=trainer.scheduler, num_epochs=trainer.epochs, warmup_epochs=trainer.warmup_epochs,
        warmup_lr=trainer.lr * 0.1, min_lr=trainer.min_lr, step_on_epochs=False, updates_per_epoch=updates_per_epoch)
    n_fake = sum(s.label for s in train_s)
    loss_fn = DetectorLoss((len(train_s) - n_fake) / max(1, n_fake), trainer.mask_weight,
                           trainer.mask_dice).to(info.device)
    # Validation, checkpoints and export use the EMA weights when enabled (timm's ModelEmaV3).
    ema = timm.utils.ModelEmaV3(model, decay=trainer.ema_decay, use_warmup=True) if trainer.ema_decay else None
    scaler = torch.amp.GradScaler("cuda") if trainer.precision == "fp16" else None
    train_model: nn.Module = torch.compile(model) if trainer.compile else model
    if info.distributed:
        train_model = nn.parallel.DistributedDataParallel(
            train_model, device_ids=[info.device.index] if info.device.type == "cuda" else None)
    return _Stepper(model, train_model, optimizer, scheduler, loss_fn, info.device, trainer.precision,
                    trainer.accumulate, trainer.grad_clip, trainer.channels_last, ema, scaler)


def _restore(resume: str | Path, st: _Stepper, backbone: str) -> _Progress:
    """Load a training state into the stepper (weights, optimiser, schedule, EMA, scaler, RNG)."""
    saved = load_train_state(resume)
    if saved.get("backbone") != backbone:
        raise UsageError(f"{resume}: was trained with backbone {saved.get('backbone')!r}, config says "
                         f"{backbone!r}; resume with the same model config")
    st.model.load_state_dict(saved["model"])
    st.optimizer.load_state_dict(saved["optimizer"])
    st.scheduler.load_state_dict(saved["scheduler"])
    if st.ema is not None and saved.get("ema") is not None:
        st.ema.load_state_dict(saved["ema"])
    if st.scaler is not None and saved.get("scaler"):
        st.scaler.load_state_dict(saved["scaler"])
    _set_rng_state(saved["rng"])
    return _Progress(int(saved["epoch"]), int(saved["step"]), int(saved.get("bad_epochs", 0)),
                     list(saved.get("history", [])),
                     tuple(saved["best_key"]) if saved.get("best_key") is not None else None,
                     dict(saved.get("best_metrics") or {}))


def _epoch_row(epoch: int, step: int, lr: float, tr: dict, val: dict) -> dict:
    """One ``metrics.csv`` row: training figures and ``val_*`` metrics."""
    return {"epoch": epoch, "step": step, "lr": lr, "train_loss": tr["loss"],
            "train_image_loss": tr["image_loss"], "train_mask_loss": tr["mask_loss"], "train_img_s": tr["img_s"],
            "data_wait": tr["data_wait"], "skipped": tr["skipped"],
            **{f"val_{k}": v for k, v in val.items() if k not in ("n", "n_fake", "n_real", "threshold")}}


def _save_epoch(run_dir: Path, st: _Stepper, prog: _Progress, backbone: str, eval_model: nn.Module,
                meta: ModelMeta, val: dict, config: Mapping[str, Any], improved: bool, world_size: int) -> None:
    """Rank 0: ``metrics.csv``, the training state, ``last`` and (if improved) ``best`` checkpoints."""
    _write_csv(run_dir / "metrics.csv", prog.history)
    save_train_state({
        "backbone": backbone, "epoch": prog.epoch, "step": prog.step, "bad_epochs": prog.bad_epochs,
        "model": st.model.state_dict(), "optimizer": st.optimizer.state_dict(), "scheduler": st.scheduler.state_dict(),
        "ema": st.ema.state_dict() if st.ema is not None else None,
        "scaler": st.scaler.state_dict() if st.scaler is not None else None, "rng": _rng_state(),
        "history": _plain(prog.history), "best_key": list(prog.best_key) if prog.best_key else None,
        "best_metrics": _plain(prog.best_metrics), "world_size": world_size,
    }, train_state_path(run_dir / "weights" / "last.safetensors"))
    extra = {"epoch": prog.epoch, "step": prog.step}
    save_checkpoint(eval_model, meta, run_dir / "weights" / "last.safetensors", finite(val), config, extra)
    if improved:
        save_checkpoint(eval_model, meta, run_dir / "weights" / "best.safetensors", finite(val), config, extra)


def _report_epoch(tb: Any, row: dict, val: dict, improved: bool, trainer: TrainerConfig) -> None:
    """Rank 0: TensorBoard scalars, the log line and (with ``progress``) the epoch line on stderr."""
    epoch = row["epoch"]
    if tb is not None:
        for k, v in row.items():
            if isinstance(v, (int, float)) and k not in ("epoch", "step") and math.isfinite(v):
                tb.add_scalar(("val/" + k[4:]) if k.startswith("val_") else f"epoch/{k}", v, epoch)
        tb.flush()
    log.info("epoch %d/%d loss %.4f val auc %.4f tpr@1%%fpr %.3f%s", epoch, trainer.epochs,
             row["train_loss"], val["auc"], val["tpr_at_1fpr"], "  (best)" if improved else "")
    if trainer.progress:
        px = f"  pixel F1 {val['pixel_f1']:.3f}" if val.get("pixel_n") else ""
        tr_ = f"  trace AUC {val['trace_auc']:.4f}" if "trace_auc" in val else ""
        print(f"epoch {epoch}/{trainer.epochs}  loss {row['train_loss']:.4f}  {row['train_img_s']:.1f} img/s"
              f"  data wait {100 * row['data_wait']:.0f}%{tr_}  val AUC {val['auc']:.4f}  "
              f"TPR@1%FPR {val['tpr_at_1fpr']:.3f}{px}" + ("  *best" if improved else ""), file=sys.stderr)


def _warn_skipped(epoch: int, tr: dict) -> None:
    """Rank 0: say how many unreadable training images an epoch skipped."""
    example = tr["skipped_examples"][0] if tr["skipped_examples"] else "?"
    log.warning("epoch %d: skipped %d unreadable training image(s), e.g. %s", epoch, tr["skipped"], example)
    print(f"warning: skipped {tr['skipped']} unreadable training image(s), e.g. {example}", file=sys.stderr)


def _calibrate_best(best_path: Path, meta: ModelMeta, val_s: Sequence[Any], root: Path, trainer: TrainerConfig,
                    device: torch.device) -> tuple[Any, ModelMeta]:
    """Rank 0: temperature and threshold fitted on the validation reals, written into ``best``."""
    calibration = calibrate_checkpoint(best_path, val_s, root, trainer.target_fpr, device)
    meta = meta.replace(temperature=calibration.temperature, threshold=calibration.threshold)
    print(f"calibrated on {calibration.n_real} real + {calibration.n_fake} fake validation images: temperature "
          f"{calibration.temperature:.3f}, threshold {calibration.threshold:.4f} (FPR {calibration.fpr:.3f} <= "
          f"target {calibration.target_fpr}, TPR {calibration.tpr:.3f})", file=sys.stderr)
    if calibration.warning:
        print(f"warning: {calibration.warning}", file=sys.stderr)
    return calibration, meta


def _fit(data: DataConfig, model_cfg: ModelConfig, trainer: TrainerConfig, run_dir: Path,
         config: Mapping[str, Any] | None, resume: str | Path | None, info: DistInfo,
         rows: Sequence[Any] | None, on_epoch_end: EpochCallback | None) -> TrainResult:
    """The training run, step by step: set up, (resume,) train and validate each epoch, calibrate."""
    device = info.device
    _check_device(trainer, info)
    if info.is_main:
        (run_dir / "weights").mkdir(parents=True, exist_ok=True)
    manifest = Path(data.manifest)
    samples, train_s, val_s = _split_rows(manifest, rows)
    model, meta = _build_model(model_cfg, trainer, device, _data_summary(manifest, samples))

    ds = CropDataset(train_s, manifest.parent, model_cfg.tile_size, build_train_transform(data.augment),
                     seed=trainer.seed, resize_to=data.resize_to)
    loader, sampler = build_train_loader(ds, data.batch_size, data.num_workers, info, trainer.seed, data.group_batches)
    steps_per_epoch = len(loader) if not trainer.max_steps_per_epoch else min(len(loader), trainer.max_steps_per_epoch)
    st = _build_stepper(model, trainer, train_s, math.ceil(steps_per_epoch / trainer.accumulate), info)
    prog = _Progress()
    if resume:
        prog = _restore(resume, st, model_cfg.backbone)
        if info.is_main:
            print(f"resuming {resume} at epoch {prog.epoch + 1}/{trainer.epochs}, step {prog.step}, "
                  f"lr {st.optimizer.param_groups[0]['lr']:.3g}", file=sys.stderr)

    config = dict(config or {"data": asdict(data), "model": asdict(model_cfg), "trainer": asdict(trainer)})
    best_path, last_path = run_dir / "weights" / "best.safetensors", run_dir / "weights" / "last.safetensors"
    eval_model = lambda: st.ema.module if st.ema is not None else model  # noqa: E731
    tb = _tensorboard(run_dir, trainer.tensorboard, info)
    on_step = None
    if tb is not None:
        def on_step(s: int, loss: float, lr: float) -> None:
            if s % 10 == 0:
                tb.add_scalar("train/loss", loss, s)
                tb.add_scalar("train/lr", lr, s)

    for epoch in range(prog.epoch, trainer.epochs):
        _seed_epoch(trainer.seed, info.rank, epoch)
        sampler.set_epoch(epoch)
        ds.set_epoch(epoch)
        prog.step, tr = train_one_epoch(st, loader, prog.step, steps_per_epoch, desc=f"epoch {epoch + 1}/{trainer.epochs}",
                                        progress=trainer.progress, info=info, on_step=on_step)
        st.scheduler.step(epoch + 1)
        if tr["skipped"] and info.is_main:
            _warn_skipped(epoch + 1, tr)
        val, _ = _validate(eval_model(), meta, val_s, manifest.parent, info, data.resize_to)
        row = _epoch_row(epoch + 1, prog.step, st.optimizer.param_groups[0]["lr"], tr, val)
        improved = prog.record(epoch + 1, row, val, trainer.select_metric)
        if info.is_main:
            _save_epoch(run_dir, st, prog, model_cfg.backbone, eval_model(), meta, val, config, improved,
                        info.world_size)
            _report_epoch(tb, row, val, improved, trainer)
        barrier(info)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, row)
        if trainer.patience and prog.bad_epochs >= int(trainer.patience):
            if info.is_main:
                print(f"early stop: no {trainer.select_metric} improvement for {prog.bad_epochs} epoch(s)",
                      file=sys.stderr)
            break
    if tb is not None:
        tb.close()
    calibration = None
    if info.is_main and trainer.calibrate and best_path.is_file() and any(s.label == 0 for s in val_s):
        calibration, meta = _calibrate_best(best_path, meta, val_s, manifest.parent, trainer, device)
    barrier(info)
    if info.is_main:
        atomic_write_json(run_dir / "train_metrics.json", finite({
            "calibration": calibration.to_dict() if calibration else None,
            "best": prog.best_metrics, "history": prog.history, "world_size": info.world_size, "device": str(device),
            "seed": trainer.seed, "deterministic": trainer.deterministic, "precision": trainer.precision,
            "torch": torch.__version__}))
    return TrainResult(run_dir, best_path, last_path, meta, prog.best_metrics, prog.history)


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
