"""Evaluate a detector on a manifest split: per-image scores, metrics, ROC plot.

The PyTorch scorer cuts images into tiles with the same numpy code the torch-free
runtime uses (:mod:`fakedamage.runtime.tiling`), so a checkpoint and its ONNX
export are scored identically.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from .metrics import binary_metrics, pixel_scores, pixel_summary
from .report import plot_roc  # noqa: F401  (re-exported: older imports)
from .runtime.image_io import load_image
from .scorers import OnnxScorer, TorchScorer  # noqa: F401  (re-exported: older imports)
from .utils.io import atomic_path

__all__ = ["TorchScorer", "OnnxScorer", "evaluate_samples", "robustness_sweep", "trace_metrics", "group_metrics",
           "save_predictions", "plot_roc", "unreadable_summary", "TRACE_REAL", "TRACE_FAKE"]

log = logging.getLogger(__name__)


def evaluate_samples(score_fn: Callable[[np.ndarray], float], samples: Sequence, root: str | Path,
                     progress: bool = False, pixel: bool = False, unreadable: list[dict] | None = None) -> list[dict]:
    """Score manifest rows; one dict per readable image.

    Rows have ``id, path, label, variant, generator, damage_type, source_id, score``; with
    ``pixel=True`` (and a :class:`TorchScorer`), partially edited fakes also get
    ``pixel_f1``/``pixel_iou`` at the fixed pixel threshold 0.5.

    An image that cannot be read cannot be scored: it is logged and, when ``unreadable`` is a
    list, appended to it as ``{id, path, label, variant, error}`` so the caller reports it
    (:func:`unreadable_summary`) instead of letting it vanish from the metrics.
    """
    from tqdm.auto import tqdm

    from .data.targets import has_partial_region, region_target

    root = Path(root)
    rows, skipped = [], []
    for s in tqdm(samples, desc="eval", disable=None if progress else True, leave=False):
        try:
            image = load_image(root / s.path)
        except (ValueError, OSError) as e:
            error = str(e).splitlines()[0] if str(e) else f"{s.path}: {type(e).__name__}"
            skipped.append(error)
            if unreadable is not None:
                unreadable.append({"id": s.id, "path": s.path, "label": s.label, "variant": s.variant, "error": error})
            continue
        row = {"id": s.id, "path": s.path, "label": s.label, "variant": s.variant, "generator": s.generator,
               "damage_type": s.damage_type, "source_id": s.source_id}
        target = region_target(s, root, image.shape[:2]) if pixel and has_partial_region(s) else None
        if target is not None and isinstance(score_fn, TorchScorer):
            res, heat = score_fn.run(image, with_map=True)
            row["score"], row["logit"] = score_fn.score(res), res.adjusted
            px = pixel_scores(heat, target, 0.5)
            row["pixel_f1"], row["pixel_iou"] = px["f1"], px["iou"]
        elif hasattr(score_fn, "score_and_logit"):
            row["score"], row["logit"] = score_fn.score_and_logit(image)
        else:
            row["score"] = float(score_fn(image))
        rows.append(row)
    if skipped:
        log.warning("skipped %d unreadable image(s), e.g. %s", len(skipped), skipped[0])
    return rows


def unreadable_summary(unreadable: Sequence[Mapping], n_total: int, listed: int = 20) -> dict:
    """``{n, n_real, n_fake, share, files}`` of the images :func:`evaluate_samples` could not read
    (``files``: the first ``listed`` as ``{path, error}``); ``n_total`` counts every row asked for."""
    return {"n": len(unreadable), "n_real": sum(1 for u in unreadable if u["label"] == 0),
            "n_fake": sum(1 for u in unreadable if u["label"] == 1),
            "share": len(unreadable) / n_total if n_total else 0.0,
            "files": [{"path": u["path"], "error": u["error"]} for u in list(unreadable)[:listed]]}


#: The trace comparison: genuine (painted, generator-free) damage against the same damage passed
#: through a generator and pasted back. Only generator traces separate the two.
TRACE_REAL, TRACE_FAKE = "real_damage", "inpaint_pasted"


def _pair_key(p: Mapping) -> str:
    """Id of the crop a row was made from (``<photo>/<crop>``, the variant stripped)."""
    return str(p["id"]).rsplit("/", 1)[0]


def trace_metrics(preds: Sequence[dict], threshold: float) -> dict:
    """The headline of a fake-damage detector: ``real_damage`` vs ``inpaint_pasted``.

    Keys: ``trace`` (all generators), ``trace generator=<g>`` (every ``real_damage`` against
    ``g``'s pasted fakes) and ``trace damage_type=<d>`` (both sides restricted to damage ``d``).
    Each is :func:`~fakedamage.metrics.binary_metrics` plus ``pair_win``: over crops that have
    both variants, the share where the pasted fake scores above its own genuine-damage twin
    (ties count half); 0.5 is chance. Empty when either side is missing.
    """
    reals = [p for p in preds if p["variant"] == TRACE_REAL]
    fakes = [p for p in preds if p["variant"] == TRACE_FAKE]
    twin = {_pair_key(p): p["score"] for p in reals}

    def one(rs: Sequence[dict], fs: Sequence[dict]) -> dict | None:
        if not rs or not fs:
            return None
        m = binary_metrics([0] * len(rs) + [1] * len(fs), [p["score"] for p in rs] + [p["score"] for p in fs],
                           threshold)
        pairs = [(p["score"], twin[_pair_key(p)]) for p in fs if _pair_key(p) in twin]
        m["pair_win"] = (float(np.mean([1.0 if f > r else 0.5 if f == r else 0.0 for f, r in pairs]))
                         if pairs else float("nan"))
        m["pairs"] = len(pairs)
        return m

    out = {"trace": one(reals, fakes)}
    for g in sorted({p["generator"] for p in fakes if p["generator"]}):
        out[f"trace generator={g}"] = one(reals, [p for p in fakes if p["generator"] == g])
    for d in sorted({p["damage_type"] for p in fakes if p["damage_type"]}):
        out[f"trace damage_type={d}"] = one([p for p in reals if p["damage_type"] == d],
                                            [p for p in fakes if p["damage_type"] == d])
    return {k: v for k, v in out.items() if v is not None}


def group_metrics(preds: Sequence[dict], threshold: float) -> dict:
    """The trace groups first (:func:`trace_metrics`), then overall metrics; for each fake variant,
    generator and damage type, that group's fakes vs all reals; for each real variant (pristine,
    real_damage), those reals vs all fakes."""
    labels = np.array([p["label"] for p in preds])
    scores = np.array([p["score"] for p in preds])
    out = {**trace_metrics(preds, threshold),
           "overall": {**binary_metrics(labels, scores, threshold), **pixel_summary(preds)}}
    reals = labels == 0
    for key in ("variant", "generator", "damage_type"):
        groups = sorted({p[key] for p in preds if p["label"] == 1 and p[key]})
        for g in groups:
            sel = reals | np.array([p["label"] == 1 and p[key] == g for p in preds])
            px = pixel_summary([p for p in preds if p["label"] == 1 and p[key] == g])
            out[f"{key}={g}"] = {**binary_metrics(labels[sel], scores[sel], threshold), **px}
    fakes = labels == 1
    for v in sorted({p["variant"] for p in preds if p["label"] == 0}):
        # a real variant (pristine, real_damage) against all fakes: is it a source of false positives?
        sel = fakes | np.array([p["label"] == 0 and p["variant"] == v for p in preds])
        out[f"variant={v}"] = binary_metrics(labels[sel], scores[sel], threshold)
    return out


def save_predictions(preds: Sequence[dict], path: str | Path, extra: Sequence[str] = ()) -> Path:
    """Write per-image predictions as CSV (atomic)."""
    cols = [*extra, "id", "path", "label", "variant", "generator", "damage_type", "source_id", "score", "logit", "pixel_f1",
            "pixel_iou"]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(preds)
    return Path(path)


def finite(d: dict) -> dict:
    """Replace NaN/inf by None so the dict is valid JSON."""
    return {k: (finite(v) if isinstance(v, dict) else (None if isinstance(v, float) and not math.isfinite(v) else v))
            for k, v in d.items()}


def robustness_sweep(scorer: Callable[[np.ndarray], float], samples: Sequence, root: str | Path,
                     conditions: Sequence[str], threshold: float, pixel: bool = True,
                     progress: bool = False) -> tuple[dict, list[dict]]:
    """Score every image under every laundering condition (:mod:`fakedamage.robustness`).

    Each image is decoded once; a condition that changes geometry transforms the region
    mask too. A partially edited fake whose edit a crop removes entirely is dropped from
    that condition (it is no longer fake) and counted in ``dropped``.

    Returns:
        ``({condition: metrics}, rows)``; metrics as :func:`binary_metrics` plus pixel
        F1/IoU at 0.5 and ``dropped``; rows carry ``condition`` besides the usual keys.
    """
    from tqdm.auto import tqdm

    from .data.targets import has_partial_region, region_target
    from .robustness import get_condition

    conds = [get_condition(c) for c in conditions]
    root = Path(root)
    rows: list[dict] = []
    dropped = {c.name: 0 for c in conds}
    for s in tqdm(samples, desc="robustness", disable=None if progress else True, leave=False):
        try:
            image = load_image(root / s.path)
        except (ValueError, OSError):
            continue
        target = region_target(s, root, image.shape[:2]) if pixel and has_partial_region(s) else None
        for c in conds:
            img, tgt = c.apply(image, target)
            if tgt is not None and not tgt.any():
                dropped[c.name] += 1
                continue
            row = {"condition": c.name, "id": s.id, "label": s.label, "variant": s.variant, "generator": s.generator,
                   "damage_type": s.damage_type, "source_id": s.source_id}
            if tgt is not None and isinstance(scorer, TorchScorer):
                res, heat = scorer.run(img, with_map=True)
                row["score"] = scorer.score(res)
                px = pixel_scores(heat, tgt, 0.5)
                row["pixel_f1"], row["pixel_iou"] = px["f1"], px["iou"]
            else:
                row["score"] = float(scorer(img))
            rows.append(row)
    out = {}
    for c in conds:
        sel = [r for r in rows if r["condition"] == c.name]
        if not sel:
            continue
        m = binary_metrics([r["label"] for r in sel], [r["score"] for r in sel], threshold)
        tr = trace_metrics(sel, threshold).get("trace", {})
        out[c.name] = {"family": c.family, "level": c.level,
                       **{f"trace_{k}": tr.get(k, float("nan")) for k in ("auc", "tpr_at_1fpr", "pair_win")},
                       **m, **pixel_summary(sel), "dropped": dropped[c.name]}
    return out, rows
