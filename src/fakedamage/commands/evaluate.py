"""``fakedamage eval``: score a checkpoint or an ONNX file on a manifest split."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..data.manifest import read_manifest
from ..evaluate import TorchScorer, evaluate_samples, finite, group_metrics, plot_roc, save_predictions
from ..utils.io import atomic_write_json

__all__ = ["load_scorer", "evaluate_model", "run_eval"]


def load_scorer(model_path: str | Path, device: str = "cpu"):
    """``(score_fn, meta)`` for a ``.safetensors`` checkpoint (PyTorch) or an ``.onnx`` file (onnxruntime)."""
    model_path = Path(model_path)
    if model_path.suffix == ".onnx":
        from ..runtime.detector import Detector

        det = Detector(model_path)
        return (lambda img: det.predict(img).score), det.meta
    if model_path.suffix == ".safetensors":
        from ..models import load_checkpoint

        model, meta = load_checkpoint(model_path, device)
        return TorchScorer(model, meta, device), meta
    raise ValueError(f"{model_path}: model must be a .safetensors checkpoint or an .onnx file")


def evaluate_model(model_path: str | Path, manifest: str | Path, split: str, out_dir: str | Path,
                   threshold: float | None = None, progress: bool = True) -> dict:
    """Write ``metrics.json``, ``predictions.csv`` and ``roc.png`` to ``out_dir``; return the metrics."""
    score_fn, meta = load_scorer(model_path)
    samples = read_manifest(manifest, splits=[split])
    if not samples:
        raise ValueError(f"{manifest}: no rows in split {split!r}")
    preds = evaluate_samples(score_fn, samples, Path(manifest).parent, progress=progress, pixel=True)
    thr = meta.threshold if threshold is None else float(threshold)
    metrics = {"model": str(model_path), "manifest": str(manifest), "split": split,
               "metrics": group_metrics(preds, thr)}
    out_dir = Path(out_dir)
    save_predictions(preds, out_dir / "predictions.csv")
    plot_roc(preds, out_dir / "roc.png", title=f"{Path(model_path).name} on {split}")
    atomic_write_json(out_dir / "metrics.json", finite(metrics))
    return metrics


def run_eval(cfg: Mapping[str, Any]) -> dict:
    model = Path(cfg["weights"])
    out = Path(cfg["out_dir"]) if cfg.get("out_dir") else model.parent / f"eval-{cfg['split']}"
    m = evaluate_model(model, cfg["data"]["manifest"], cfg["split"], out, cfg.get("threshold"), cfg.get("progress", True))
    o = m["metrics"]["overall"]
    print(f"{cfg['split']}: {o['n']} images  AUC {o['auc']:.4f}  AP {o['ap']:.4f}  TPR@1%FPR {o['tpr_at_1fpr']:.3f}  "
          f"TPR@5%FPR {o['tpr_at_5fpr']:.3f}  EER {o['eer']:.3f}  bAcc {o['balanced_accuracy']:.3f}"
          + (f"  pixel F1@0.5 {o['pixel_f1']:.3f} (n={o['pixel_n']})" if o.get("pixel_n") else ""))
    print(f"wrote {out}/metrics.json, predictions.csv, roc.png")
    return m
