"""``fakedamage export``: checkpoint -> parity-gated ONNX file with its metadata."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..data.manifest import read_manifest
from ..export import ExportConfig, GateError, ParityReport, export_onnx, write_reduced_precision
from ..runtime.image_io import load_image

__all__ = ["parity_images", "labelled_images", "run_export"]


def _mixed_rows(manifest: str | Path, split: str) -> list:
    rows = read_manifest(manifest, splits=[split])
    reals, fakes = [r for r in rows if r.label == 0], [r for r in rows if r.label == 1]
    return [r for pair in zip(reals, fakes) for r in pair] + reals[len(fakes):] + fakes[len(reals):]


def parity_images(manifest: str | Path, n: int, split: str = "val") -> list[np.ndarray]:
    """Up to ``n`` real dataset images of a split (both labels, alternating), decoded."""
    root = Path(manifest).parent
    return [load_image(root / r.path) for r in _mixed_rows(manifest, split)[:n]]


def labelled_images(manifest: str | Path, split: str, n: int | None = None) -> tuple[list[np.ndarray], list[int]]:
    """Decoded images of a split and their labels (both labels, alternating; all when ``n`` is None)."""
    root = Path(manifest).parent
    rows = _mixed_rows(manifest, split)[:n]
    return [load_image(root / r.path) for r in rows], [int(r.label) for r in rows]


def run_export(cfg: Mapping[str, Any]) -> tuple[Path, ParityReport]:
    from ..models import load_checkpoint

    weights = Path(cfg["weights"])
    out = Path(cfg["out"]) if cfg.get("out") else weights.parent.parent / "model.onnx"
    e = ExportConfig(**cfg["export"])
    manifest = cfg["data"]["manifest"]
    reduced = [p for p, on in (("int8", e.int8), ("fp16", e.fp16)) if on]
    model, meta = load_checkpoint(weights)
    # the parity images are the first of the validation images the AUC gates score: decode them once
    val_images, val_labels = labelled_images(manifest, "val", None if reduced else e.parity_images)
    report = export_onnx(model, meta, out, val_images[: e.parity_images], opset=e.opset, dynamo=e.dynamo,
                         tolerance=e.tolerance)
    print(f"exported {out} (+ {out.with_suffix('.json').name}, {out.stem}.conformance.json); parity on {report.n_images} real images: "
          f"max |Δprob| {report.max_abs_dprob:.2e}, {report.verdicts_agree}/{report.n_images} verdicts agree",
          file=sys.stderr)
    if reduced:
        calib = parity_images(manifest, e.calibration_images, split="train") if e.int8 else []
        for precision in reduced:
            try:
                path, gate = write_reduced_precision(out, precision, val_images, val_labels, calib,
                                                     **e.gate_kwargs())
            except GateError as err:
                raise GateError(f"{err} (the fp32 {out.name} passed parity and was written)") from None
            print(f"exported {path}: validation AUC {gate.auc:.4f} vs fp32 {gate.auc_fp32:.4f} (change "
                  f"{gate.delta:+.4f}, allowed ±{gate.tolerance}); FPR {gate.fpr:.3f} at its recalibrated threshold "
                  f"{gate.threshold:.4f} (allowed +{gate.fpr_tolerance}); {gate.verdicts_agree}/{gate.n_images} "
                  f"verdicts agree (at least {gate.min_verdict_agreement:.0%}); max |Δprob| {gate.max_abs_dprob:.3f}",
                  file=sys.stderr)
    print("next:")
    print(f"  fakedamage predict path/to/photos --model {out} --output preds.csv --save-heatmaps heatmaps/")
    print(f"  fakedamage benchmark model={out} weights={weights}")
    print(f"  fakedamage eval weights={out} data.manifest={manifest}")
    return out, report
