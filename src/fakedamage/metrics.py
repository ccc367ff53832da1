"""Image-level detection metrics, as researchers report them (scikit-learn based).

``scores`` are probabilities that an image carries AI-made damage; ``labels`` are
1 for fake, 0 for real.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from .errors import UsageError

__all__ = ["tpr_at_fpr", "equal_error_rate", "expected_calibration_error", "binary_metrics", "pixel_scores",
           "pixel_summary", "bootstrap_ci", "best_threshold_pixel_f1", "CI_METRICS"]


def tpr_at_fpr(labels: Sequence[int], scores: Sequence[float], target_fpr: float) -> float:
    """Highest true-positive rate reachable with false-positive rate <= ``target_fpr``.

    Tied scores move together (a threshold cannot split them), which is what the
    ROC curve's vertices encode.
    """
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    ok = fpr <= target_fpr + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def equal_error_rate(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Error rate where the false-positive and false-negative rates are equal (interpolated)."""
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    if i + 1 < len(fpr):
        # linear interpolation between the two ROC vertices that bracket the crossing
        d0, d1 = fnr[i] - fpr[i], fnr[i + 1] - fpr[i + 1]
        if d0 != d1 and np.sign(d0) != np.sign(d1):
            t = d0 / (d0 - d1)
            return float(fpr[i] + t * (fpr[i + 1] - fpr[i]))
    return float((fpr[i] + fnr[i]) / 2)


def expected_calibration_error(labels: Sequence[int], scores: Sequence[float], n_bins: int = 15) -> float:
    """ECE of the fake-class probability: sum over equal-width bins of
    ``|mean(score) - mean(label)|`` weighted by the bin's share of images."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(scores, dtype=np.float64)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.mean() * abs(p[sel].mean() - y[sel].mean())
    return float(ece)


def binary_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float = 0.5) -> dict[str, float]:
    """AUC, AP, accuracy, balanced accuracy, TPR at 1% and 5% FPR, EER, ECE, NLL, Brier.

    Args:
        labels: ``(N,)`` 0/1 ground truth.
        scores: ``(N,)`` probabilities of label 1.
        threshold: Decision threshold for accuracy figures.
    """
    y = np.asarray(labels, dtype=int)
    p = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    if y.size == 0:
        raise UsageError("no images to evaluate")
    pred = p >= threshold
    out: dict[str, float] = {"n": int(y.size), "n_fake": int(y.sum()), "n_real": int((1 - y).sum()),
                             "threshold": float(threshold)}
    out["accuracy"] = float((pred == y.astype(bool)).mean())
    tpr = float(pred[y == 1].mean()) if (y == 1).any() else float("nan")
    tnr = float((~pred[y == 0]).mean()) if (y == 0).any() else float("nan")
    out["tpr"], out["fpr"] = tpr, 1 - tnr
    out["balanced_accuracy"] = float(np.nanmean([tpr, tnr]))
    eps = 1e-7
    out["nll"] = float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
    out["brier"] = float(np.mean((p - y) ** 2))
    out["ece"] = expected_calibration_error(y, p)
    if 0 < y.sum() < y.size:
        out["auc"] = float(roc_auc_score(y, p))
        out["ap"] = float(average_precision_score(y, p))
        out["tpr_at_1fpr"] = tpr_at_fpr(y, p, 0.01)
        out["tpr_at_5fpr"] = tpr_at_fpr(y, p, 0.05)
        out["eer"] = equal_error_rate(y, p)
    else:
        for k in ("auc", "ap", "tpr_at_1fpr", "tpr_at_5fpr", "eer"):
            out[k] = float("nan")
    return out


def pixel_scores(prob_map: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """F1 and IoU of one predicted region map at a fixed threshold.

    No best-threshold search and no inverted map: the numbers are what a user sees
    at ``threshold``. An empty prediction on an empty target scores 1.

    Args:
        prob_map: ``(H, W)`` per-pixel probabilities.
        target: ``(H, W)`` bool generated-region map.
        threshold: Pixel decision threshold.
    """
    pred = np.asarray(prob_map) >= threshold
    target = np.asarray(target, bool)
    tp = float(np.logical_and(pred, target).sum())
    fp = float(np.logical_and(pred, ~target).sum())
    fn = float(np.logical_and(~pred, target).sum())
    if tp + fp + fn == 0:
        return {"f1": 1.0, "iou": 1.0}
    return {"f1": 2 * tp / (2 * tp + fp + fn), "iou": tp / (tp + fp + fn)}


def pixel_summary(rows: Sequence[dict]) -> dict[str, float]:
    """Mean per-image ``pixel_f1``/``pixel_iou`` over rows that have them (NaN when none)."""
    f1 = [r["pixel_f1"] for r in rows if r.get("pixel_f1") is not None]
    iou = [r["pixel_iou"] for r in rows if r.get("pixel_iou") is not None]
    return {"pixel_f1": float(np.mean(f1)) if f1 else float("nan"),
            "pixel_iou": float(np.mean(iou)) if iou else float("nan"), "pixel_n": len(f1)}


#: Metrics that get bootstrap intervals.
CI_METRICS = ("auc", "ap", "tpr_at_1fpr", "tpr_at_5fpr", "eer", "balanced_accuracy", "ece")


def bootstrap_ci(labels: Sequence[int], scores: Sequence[float], threshold: float = 0.5,
                 groups: Sequence[str] | None = None, n_boot: int = 500, alpha: float = 0.05,
                 seed: int = 0, metrics: Sequence[str] = CI_METRICS) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of :func:`binary_metrics` figures.

    Images from one source photo are correlated, so with ``groups`` (e.g. ``source_id``)
    whole groups are resampled (a cluster bootstrap); otherwise images are.

    Returns:
        ``{metric: (low, high)}`` at level ``1 - alpha``; NaN where a resample had one class only.
    """
    y = np.asarray(labels, dtype=int)
    p = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    if groups is not None:
        keys, inv = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
        members = [np.flatnonzero(inv == g) for g in range(len(keys))]
    else:
        members = [np.array([i]) for i in range(y.size)]
    draws: dict[str, list[float]] = {m: [] for m in metrics}
    for _ in range(n_boot):
        pick = rng.integers(0, len(members), len(members))
        idx = np.concatenate([members[g] for g in pick])
        if not 0 < y[idx].sum() < idx.size:
            continue
        m = binary_metrics(y[idx], p[idx], threshold)
        for k in metrics:
            draws[k].append(m[k])
    out = {}
    for k, v in draws.items():
        v = np.asarray(v, dtype=np.float64)
        v = v[np.isfinite(v)]
        out[k] = (float(np.quantile(v, alpha / 2)), float(np.quantile(v, 1 - alpha / 2))) if v.size else (float("nan"),) * 2
    return out


def best_threshold_pixel_f1(prob_maps: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                            thresholds: Sequence[float] = tuple(np.linspace(0.05, 0.95, 19))) -> dict[str, float]:
    """Oracle pixel F1: the one threshold (shared by all images) that maximises mean per-image F1.

    Reported separately from the fixed-threshold F1 and named so: it uses the test labels to pick
    the threshold, which no deployed system can do.
    """
    best = (-1.0, float("nan"))
    for t in thresholds:
        f1 = float(np.mean([pixel_scores(m, g, t)["f1"] for m, g in zip(prob_maps, targets)])) if targets else float("nan")
        if f1 > best[0]:
            best = (f1, float(t))
    return {"pixel_f1_best_threshold": best[0], "pixel_best_threshold": best[1]}
