"""Evaluate a detector on a manifest split: per-image scores, metrics, ROC plot.

The PyTorch scorer cuts images into tiles with the same numpy code the torch-free
runtime uses (:mod:`fakedamage.runtime.tiling`), so a checkpoint and its ONNX
export are scored identically.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .meta import ModelMeta
from .metrics import binary_metrics
from .runtime.image_io import load_image
from .runtime.tiling import extract_tiles, pool_logits, sigmoid
from .utils.io import atomic_path

__all__ = ["TorchScorer", "evaluate_samples", "group_metrics", "save_predictions", "plot_roc"]


class TorchScorer:
    """Score whole images with a PyTorch detector, tile by tile.

    Args:
        model: :class:`~fakedamage.models.DamageDetector` (put in eval mode here).
        meta: Input policy (tile size, stride, aggregation, temperature).
        device: torch device.
        batch_size: Tiles per forward pass.
    """

    def __init__(self, model: torch.nn.Module, meta: ModelMeta, device: str | torch.device = "cpu",
                 batch_size: int = 32) -> None:
        self.model = model.eval()
        self.meta = meta
        self.device = torch.device(device)
        self.batch_size = batch_size

    @torch.no_grad()
    def tile_logits(self, image: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 image -> ``(n_tiles,)`` float64 logits."""
        tiles, _ = extract_tiles(image, self.meta.tile_size, self.meta.tile_stride)
        out = []
        for i in range(0, len(tiles), self.batch_size):
            x = torch.from_numpy(tiles[i : i + self.batch_size]).to(self.device)
            out.append(self.model(x).float().reshape(-1).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def __call__(self, image: np.ndarray) -> float:
        """Probability that the image carries AI-made damage."""
        m = self.meta
        return float(sigmoid(pool_logits(self.tile_logits(image), m.aggregation, m.topk) / m.temperature))


def evaluate_samples(score_fn: Callable[[np.ndarray], float], samples: Sequence, root: str | Path,
                     progress: bool = False) -> list[dict]:
    """Score manifest rows; returns one dict per image (``id, path, label, variant, generator, damage_type, score``)."""
    from tqdm.auto import tqdm

    root = Path(root)
    rows = []
    for s in tqdm(samples, desc="eval", disable=None if progress else True, leave=False):
        score = score_fn(load_image(root / s.path))
        rows.append({"id": s.id, "path": s.path, "label": s.label, "variant": s.variant,
                     "generator": s.generator, "damage_type": s.damage_type, "source_id": s.source_id,
                     "score": score})
    return rows


def group_metrics(preds: Sequence[dict], threshold: float) -> dict:
    """Overall metrics; for each fake variant, generator and damage type, that group's fakes vs all
    reals; for each real variant (pristine, real_damage), those reals vs all fakes."""
    labels = np.array([p["label"] for p in preds])
    scores = np.array([p["score"] for p in preds])
    out = {"overall": binary_metrics(labels, scores, threshold)}
    reals = labels == 0
    for key in ("variant", "generator", "damage_type"):
        groups = sorted({p[key] for p in preds if p["label"] == 1 and p[key]})
        for g in groups:
            sel = reals | np.array([p["label"] == 1 and p[key] == g for p in preds])
            out[f"{key}={g}"] = binary_metrics(labels[sel], scores[sel], threshold)
    fakes = labels == 1
    for v in sorted({p["variant"] for p in preds if p["label"] == 0}):
        # a real variant (pristine, real_damage) against all fakes: is it a source of false positives?
        sel = fakes | np.array([p["label"] == 0 and p["variant"] == v for p in preds])
        out[f"variant={v}"] = binary_metrics(labels[sel], scores[sel], threshold)
    return out


def save_predictions(preds: Sequence[dict], path: str | Path) -> Path:
    """Write per-image predictions as CSV (atomic)."""
    cols = ["id", "path", "label", "variant", "generator", "damage_type", "source_id", "score"]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(preds)
    return Path(path)


def plot_roc(preds: Sequence[dict], path: str | Path, title: str = "ROC") -> Path:
    """ROC curve (log-scale FPR, so the low-FPR region is readable) per fake variant and overall."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    labels = np.array([p["label"] for p in preds])
    scores = np.array([p["score"] for p in preds])
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    curves = [("all fakes", np.ones_like(labels, dtype=bool))]
    for v in sorted({p["variant"] for p in preds if p["label"] == 1}):
        curves.append((v, (labels == 0) | np.array([p["variant"] == v for p in preds])))
    for name, sel in curves:
        if 0 < labels[sel].sum() < sel.sum():
            fpr, tpr, _ = roc_curve(labels[sel], scores[sel])
            ax.plot(np.maximum(fpr, 1e-3), tpr, label=name)
    n_real = int((labels == 0).sum())
    ax.axvline(0.01, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel(f"false-positive rate (log; {n_real} real images)")
    ax.set_ylabel("true-positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def finite(d: dict) -> dict:
    """Replace NaN/inf by None so the dict is valid JSON."""
    return {k: (finite(v) if isinstance(v, dict) else (None if isinstance(v, float) and not math.isfinite(v) else v))
            for k, v in d.items()}
