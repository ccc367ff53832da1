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
from typing import Sequence

import numpy as np

__all__ = ["fit_temperature", "threshold_at_fpr", "Calibration", "calibrate"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


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
        p = np.clip(_sigmoid(z / math.exp(log_t)), 1e-12, 1 - 1e-12)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    res = minimize_scalar(nll, bounds=(math.log(bounds[0]), math.log(bounds[1])), method="bounded")
    return float(math.exp(res.x))


def threshold_at_fpr(real_scores: Sequence[float], target_fpr: float = 0.01) -> float:
    """Lowest threshold whose false-positive rate on these real images is at most ``target_fpr``.

    The verdict is ``score >= threshold``. With ``k = floor(target_fpr * n)`` false positives
    allowed, the threshold sits just above the ``(k + 1)``-th highest real score, so tied
    scores never push the rate over the target.

    Args:
        real_scores: ``(N,)`` probabilities of real (label 0) images.
        target_fpr: Allowed false-positive rate in ``[0, 1)``.
    """
    s = np.sort(np.asarray(real_scores, dtype=np.float64))[::-1]
    if s.size == 0:
        raise ValueError("threshold_at_fpr needs real images")
    if not 0 <= target_fpr < 1:
        raise ValueError(f"target_fpr must be in [0, 1), got {target_fpr}")
    k = int(math.floor(target_fpr * s.size + 1e-9))
    return float(min(1.0, np.nextafter(s[k], np.inf)))


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

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def calibrate(logits: Sequence[float], labels: Sequence[int], target_fpr: float = 0.01,
              temperature: bool = True) -> Calibration:
    """Fit the temperature, then the threshold on the calibrated real scores.

    Args:
        logits: ``(N,)`` pooled image logits of the calibration split (before temperature).
        labels: ``(N,)`` 0/1.
        target_fpr: False-positive rate the threshold must meet on the split's reals.
        temperature: Fit a temperature (else keep 1.0).
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=int)
    t = fit_temperature(z, y) if temperature else 1.0
    p = _sigmoid(z / t)
    thr = threshold_at_fpr(p[y == 0], target_fpr)
    fpr = float((p[y == 0] >= thr).mean())
    tpr = float((p[y == 1] >= thr).mean()) if (y == 1).any() else float("nan")
    return Calibration(t, thr, float(target_fpr), fpr, tpr, int((y == 0).sum()), int((y == 1).sum()))
