"""Operating point and calibration: a threshold for a target false-positive rate, and temperature scaling.

Platforms pay for false positives with angry honest customers, so the threshold is set
on *real* photos of a calibration split (the validation split by default) to keep their
false-positive rate at or below a target (1 % by default). Temperature scaling (Guo et
al., 2017) divides the pooled image logit by one scalar fitted to minimise the negative
log-likelihood on the same split; it changes calibration (ECE, NLL) but not ranking
(AUC). Both go into :class:`~fakedamage.meta.ModelMeta`, so export and the predictor
carry them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import UsageError
from .runtime.tiling import sigmoid

__all__ = ["fit_temperature", "threshold_at_fpr", "fpr_upper_bound", "min_reals_for", "Calibration", "calibrate",
           "window_maxima", "fit_size_slope", "calibrate_checkpoint"]


def fit_temperature(logits: Sequence[float], labels: Sequence[int], bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """Temperature ``T`` minimising the NLL of ``sigmoid(logit / T)``.

    Args:
        logits: ``(N,)`` pooled image logits (before any temperature).
        labels: ``(N,)`` 0/1.
        bounds: Search range of ``T``.

    Returns:
        ``T`` (1.0 when both classes are not present).
    """
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if not 0 < y.sum() < y.size:
        return 1.0

    def nll(log_t: float) -> float:
        p = np.clip(sigmoid(z / math.exp(log_t)), 1e-12, 1 - 1e-12)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    res = minimize_scalar(nll, bounds=(math.log(bounds[0]), math.log(bounds[1])), method="bounded")
    return float(math.exp(res.x))


def threshold_at_fpr(real_scores: Sequence[float], target_fpr: float = 0.01,
                     all_scores: Sequence[float] | None = None) -> float:
    """A threshold whose false-positive rate on these real images is at most ``target_fpr``.

    The verdict is ``score >= threshold``. With ``k = floor(target_fpr * n)`` false positives
    allowed, the threshold sits above the ``(k + 1)``-th highest real score ``s``, so tied
    scores never push the rate over the target. Without ``all_scores`` it is the next float
    above ``s``; with them (every score of the split), it is midway between ``s`` and the
    next higher score, which gives the same rates on the split but leaves a margin, so that
    an exported copy whose scores differ by 1e-6 does not flip the verdict of the image
    that set the threshold.

    Args:
        real_scores: ``(N,)`` probabilities of real (label 0) images.
        target_fpr: Allowed false-positive rate in ``[0, 1)``.
        all_scores: ``(M,)`` probabilities of all images of the split (optional).
    """
    s = np.sort(np.asarray(real_scores, dtype=np.float64))[::-1]
    if s.size == 0:
        raise UsageError("threshold_at_fpr needs real images")
    if not 0 <= target_fpr < 1:
        raise UsageError(f"target_fpr must be in [0, 1), got {target_fpr}")
    k = int(math.floor(target_fpr * s.size + 1e-9))
    above = np.asarray(all_scores if all_scores is not None else [], dtype=np.float64)
    above = above[above > s[k]]
    if above.size:
        return float((s[k] + above.min()) / 2)
    return float(min(1.0, np.nextafter(s[k], np.inf)))


def fpr_upper_bound(n_real: int, n_false_positive: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on the true FPR after ``n_false_positive`` of ``n_real``.

    With 38 reals and none above the threshold the bound is 7.6 %: the split cannot show
    that a 1 % target is met.
    """
    from scipy.stats import beta

    if n_real <= 0:
        return 1.0
    if n_false_positive >= n_real:
        return 1.0
    return float(beta.ppf(confidence, n_false_positive + 1, n_real - n_false_positive))


def min_reals_for(target_fpr: float, confidence: float = 0.95) -> int:
    """Fewest reals with no false positive whose :func:`fpr_upper_bound` is at most ``target_fpr``
    (about ``3 / target_fpr``: 299 for 1 %). A zero target can never be certified: no count suffices."""
    if target_fpr <= 0:
        return math.inf  # type: ignore[return-value]
    return int(math.ceil(math.log(1 - confidence) / math.log(1 - target_fpr)))


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate` on a calibration split."""

    temperature: float
    threshold: float
    target_fpr: float
    fpr: float
    tpr: float
    n_real: int
    n_fake: int
    n_sources: int = 0
    fpr_upper_95: float = 1.0
    warning: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def calibrate(logits: Sequence[float], labels: Sequence[int], target_fpr: float = 0.01,
              temperature: bool = True, groups: Sequence[str] | None = None, min_sources: int = 10) -> Calibration:
    """Fit the temperature, then the threshold on the calibrated real scores.

    The threshold always meets ``target_fpr`` on the split itself. Whether it holds on new
    photos depends on how many reals, and how many different source photos, the split has:
    real scores cluster by photo, so a split with few photos under-estimates the FPR on
    others. ``warning`` says so when there are fewer reals than :func:`min_reals_for` or fewer
    than ``min_sources`` source photos.

    Args:
        logits: ``(N,)`` pooled image logits of the calibration split (before temperature).
        labels: ``(N,)`` 0/1.
        target_fpr: False-positive rate the threshold must meet on the split's reals.
        temperature: Fit a temperature (else keep 1.0).
        groups: ``(N,)`` source-photo ids (for the count of real source photos).
        min_sources: Fewest real source photos that do not trigger a warning.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=int)
    t = fit_temperature(z, y) if temperature else 1.0
    p = sigmoid(z / t)
    thr = threshold_at_fpr(p[y == 0], target_fpr, all_scores=p)
    fpr = float((p[y == 0] >= thr).mean())
    tpr = float((p[y == 1] >= thr).mean()) if (y == 1).any() else float("nan")
    n_real = int((y == 0).sum())
    n_src = len({g for g, lab in zip(groups, y) if lab == 0}) if groups is not None else 0
    upper = fpr_upper_bound(n_real, int(round(fpr * n_real)))
    problems = []
    if n_real < min_reals_for(target_fpr):
        problems.append(f"{n_real} reals cannot show FPR <= {target_fpr:g} (95% upper bound {upper:.3f}; "
                        f"{min_reals_for(target_fpr)} needed)")
    if groups is not None and n_src < min_sources:
        problems.append(f"the reals come from {n_src} source photos (< {min_sources}); real scores cluster by photo")
    warning = ("; ".join(problems) + ". Recalibrate on more genuine photos: fakedamage calibrate weights=... "
               "data.manifest=...") if problems else None
    return Calibration(t, thr, float(target_fpr), fpr, tpr, n_real, int((y == 1).sum()), n_src, upper, warning)


def window_maxima(grid: np.ndarray, tile_size: int) -> list[tuple[float, float]]:
    """``(ln area, mean over windows of the max logit)`` for square windows of 1, 2, 4, ... tiles a side.

    Args:
        grid: ``(rows, cols)`` logits of the non-overlapping tiles of one genuine photo.
        tile_size: Tile side (px), for the window area.

    Windows are the non-overlapping ``k x k`` blocks of the grid (remainder dropped); the last
    pair is the whole grid. These pairs show how the maximum grows with the area scored within
    one photo, independent of how that photo scores overall.
    """
    grid = np.asarray(grid, np.float64)
    rows, cols = grid.shape
    out = []
    k = 1
    while k <= min(rows, cols):
        r, c = rows // k, cols // k
        blocks = grid[: r * k, : c * k].reshape(r, k, c, k).max(axis=(1, 3))
        out.append((math.log(k * k * tile_size**2), float(blocks.mean())))
        k *= 2
    if (rows, cols) != (k // 2, k // 2):
        out.append((math.log(rows * cols * tile_size**2), float(grid.max())))
    return out


def fit_size_slope(pairs_by_photo: Sequence[Sequence[tuple[float, float]]]) -> float:
    """Within-photo least-squares slope of the max logit on ln(area), clipped at 0.

    Args:
        pairs_by_photo: For each genuine photo, its :func:`window_maxima` pairs.

    Returns:
        The slope ``beta`` (logits per natural-log unit of area): each photo's pairs are centred on
        their own means (a fixed effect per photo), then one slope is fitted to all of them.
    """
    xs, ys = [], []
    for pairs in pairs_by_photo:
        if len(pairs) < 2:
            continue
        a = np.asarray(pairs, np.float64)
        xs.append(a[:, 0] - a[:, 0].mean())
        ys.append(a[:, 1] - a[:, 1].mean())
    if not xs:
        raise UsageError("fit_size_slope needs photos of at least 2x2 tiles")
    x, y = np.concatenate(xs), np.concatenate(ys)
    den = float((x * x).sum())
    return max(0.0, float((x * y).sum()) / den) if den > 0 else 0.0


def calibrate_checkpoint(path: str | Path, samples: Sequence[Any], root: str | Path, target_fpr: float = 0.01,
                         device: Any = "cpu") -> Calibration:
    """Fit temperature and a threshold for ``target_fpr`` on ``samples`` (manifest rows of a
    calibration split, images under ``root``) with the checkpoint at ``path``, and write them into its
    metadata (sidecar rewritten atomically, weights unchanged). Needs the training extra (torch).

    Returns:
        The :class:`Calibration`.
    """
    from .evaluate import evaluate_samples
    from .models import load_checkpoint
    from .models.checkpoint import update_sidecar_meta
    from .scorers import TorchScorer

    path = Path(path)
    model, meta = load_checkpoint(path, device)
    rows = evaluate_samples(TorchScorer(model, meta.replace(temperature=1.0), device), samples, root)
    cal = calibrate([r["logit"] for r in rows], [r["label"] for r in rows], target_fpr,
                    groups=[r["source_id"] for r in rows])
    update_sidecar_meta(path, meta.replace(temperature=cal.temperature, threshold=cal.threshold),
                        calibration=cal.to_dict())
    return cal
