"""``fakedamage eval``: score a checkpoint or an ONNX file on a manifest split and write a report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..data.manifest import read_manifest
from ..errors import UsageError
from ..evaluate import (
    TorchScorer,
    evaluate_samples,
    finite,
    group_metrics,
    robustness_sweep,
    save_predictions,
    unreadable_summary,
)
from ..report import plot_roc
from ..utils.io import atomic_write_json

__all__ = ["load_scorer", "evaluate_model", "run_eval"]


def load_scorer(model_path: str | Path, device: str = "cpu"):
    """``(scorer, meta)`` for a ``.safetensors`` checkpoint (PyTorch) or an ``.onnx`` file (onnxruntime)."""
    model_path = Path(model_path)
    if model_path.suffix == ".onnx":
        from ..evaluate import OnnxScorer

        scorer = OnnxScorer(model_path)
        return scorer, scorer.meta
    if model_path.suffix == ".safetensors":
        from ..models import load_checkpoint

        model, meta = load_checkpoint(model_path, device)
        return TorchScorer(model, meta, device), meta
    raise UsageError(f"{model_path}: model must be a .safetensors checkpoint or an .onnx file")


def _calibration_of(model_path: Path) -> dict | None:
    side = model_path.with_suffix(".json")
    if model_path.suffix == ".safetensors" and side.is_file():
        return json.loads(side.read_text(encoding="utf-8")).get("calibration")
    return None


def _heatmap_items(scorer, preds: Sequence[dict], root: Path, n: int = 8) -> list:
    """The highest-scoring pasted fakes and the highest-scoring reals, with their region maps."""
    from ..runtime.image_io import load_image

    fakes = sorted((p for p in preds if p["label"] == 1 and p["variant"] == "inpaint_pasted"), key=lambda p: -p["score"])
    reals = sorted((p for p in preds if p["label"] == 0), key=lambda p: -p["score"])
    items = []
    for kind, group in (("fake", fakes[: n // 2]), ("real", reals[: n // 2])):
        for p in group:
            img = load_image(root / p["path"])
            _, heat = scorer.run(img, with_map=True)
            items.append((f"{kind} {p['score']:.3f} {Path(p['path']).parent.name[:18]}", img, heat))
    return items


def evaluate_model(model_path: str | Path, manifest: str | Path, split: str, out_dir: str | Path,
                   threshold: float | None = None, progress: bool = True,
                   robustness: Sequence[str] = (), bootstrap: int = 500, whole_model: str | Path | None = None) -> dict:
    """Evaluate and write the run folder: ``metrics.json``, ``predictions.csv``, plots, ``report.md``,
    ``report.html``; return the metrics dict. Whole-photo claims of the split (``<split>_whole``) are
    scored too, with ``whole_model`` when given (an ``.onnx`` of the same model: faster on whole photos)."""
    from ..metrics import best_threshold_pixel_f1, bootstrap_ci
    from ..report import plot_heatmap_grid, plot_histograms, plot_pr, plot_reliability, plot_robustness, write_report

    model_path = Path(model_path)
    scorer, meta = load_scorer(model_path)
    samples = read_manifest(manifest, splits=[split])
    if not samples:
        raise UsageError(f"{manifest}: no rows in split {split!r}")
    root = Path(manifest).parent
    unreadable: list[dict] = []
    preds = evaluate_samples(scorer, samples, root, progress=progress, pixel=True, unreadable=unreadable)
    if not preds:
        raise UsageError(f"{manifest}: none of the {len(samples)} images of split {split!r} could be read "
                         f"(e.g. {unreadable[0]['error']}); check the dataset folder")
    thr = meta.threshold if threshold is None else float(threshold)
    groups = group_metrics(preds, thr)
    groups["overall"]["n_unreadable"] = len(unreadable)
    labels, scores = [p["label"] for p in preds], [p["score"] for p in preds]
    report: dict[str, Any] = {"model": str(model_path), "manifest": str(manifest), "split": split, "threshold": thr,
                              "temperature": meta.temperature, "calibration": _calibration_of(model_path),
                              "metrics": groups, "unreadable": unreadable_summary(unreadable, len(samples))}
    if bootstrap:
        report["ci"] = bootstrap_ci(labels, scores, thr, groups=[p["source_id"] for p in preds], n_boot=bootstrap)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {"ROC (log FPR)": plot_roc(preds, out_dir / "roc.png", title=f"{model_path.name} on {split}").name,
             "precision-recall": plot_pr(preds, out_dir / "pr.png").name,
             "reliability": plot_reliability(preds, out_dir / "reliability.png").name,
             "score histograms": plot_histograms(preds, out_dir / "histograms.png", thr).name}
    if isinstance(scorer, TorchScorer):
        from ..data.targets import has_partial_region, region_target
        from ..runtime.image_io import load_image

        scored = {p["id"] for p in preds}
        pasted = [s for s in samples if s.id in scored and has_partial_region(s)]
        maps, targets = [], []
        for s in pasted:
            img = load_image(root / s.path)
            maps.append(scorer.run(img, with_map=True)[1])
            targets.append(region_target(s, root, img.shape[:2]))
        report["pixel"] = {**{k: groups["overall"].get(k) for k in ("pixel_f1", "pixel_iou", "pixel_n")},
                           **best_threshold_pixel_f1(maps, targets)}
        items = _heatmap_items(scorer, preds, root)
        if items:
            plots["region maps: top-scoring fakes and reals"] = plot_heatmap_grid(items, out_dir / "heatmaps.png").name
    if robustness:
        rob, rob_rows = robustness_sweep(scorer, samples, root, robustness, thr, progress=progress)
        report["robustness"] = rob
        save_predictions(rob_rows, out_dir / "robustness_predictions.csv", extra=["condition"])
        plots["robustness"] = plot_robustness(rob, out_dir / "robustness.png").name
    whole = read_manifest(manifest, splits=[f"{split}_whole"]) if not split.endswith("_whole") else []
    if whole:  # whole-photo claims of the same photos, beside the crops
        from ..whole_photos import evaluate_whole_rows

        wscorer, wmeta = load_scorer(whole_model) if whole_model is not None else (scorer, meta)
        report["whole_photos"] = evaluate_whole_rows(wscorer.scan, whole, root, wmeta.tile_size, wmeta.size_slope,
                                                     wmeta.size_reference_pixels, wmeta.temperature, thr, progress)
    save_predictions(preds, out_dir / "predictions.csv")
    atomic_write_json(out_dir / "metrics.json", finite(report))
    write_report(out_dir, finite(report), plots)
    return report


def run_eval(cfg: Mapping[str, Any]) -> dict:
    model = Path(cfg["weights"])
    out = Path(cfg["out_dir"]) if cfg.get("out_dir") else model.parent / f"eval-{cfg['split']}"
    rob = list(cfg.get("robustness") or [])
    m = evaluate_model(model, cfg["data"]["manifest"], cfg["split"], out, cfg.get("threshold"), cfg.get("progress", True),
                       robustness=rob, bootstrap=int(cfg.get("bootstrap", 500)))
    o = m["metrics"]["overall"]
    u = m["unreadable"]
    if u["n"]:
        print(f"warning: {u['n']} of {o['n'] + u['n']} images could not be read and are not in the metrics "
              f"({u['n_real']} real, {u['n_fake']} fake), e.g. {u['files'][0]['error']}", file=sys.stderr)
    print(f"{cfg['split']}: {o['n']} images  AUC {o['auc']:.4f}  AP {o['ap']:.4f}  TPR@1%FPR {o['tpr_at_1fpr']:.3f}  "
          f"TPR@5%FPR {o['tpr_at_5fpr']:.3f}  EER {o['eer']:.3f}  bAcc {o['balanced_accuracy']:.3f}"
          + (f"  pixel F1@0.5 {o['pixel_f1']:.3f} (n={o['pixel_n']})" if o.get("pixel_n") else ""))
    print(f"threshold {m['threshold']:.4f}: FPR {o['fpr']:.3f}, TPR {o['tpr']:.3f} on this split")
    if m.get("robustness"):
        print("robustness: " + "  ".join(f"{k} {v['auc']:.3f}" for k, v in m["robustness"].items()) + "  (AUC)")
    print(f"wrote {out}/metrics.json, predictions.csv, report.md, report.html and plots")
    return m
