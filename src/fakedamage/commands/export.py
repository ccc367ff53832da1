"""``fakedamage export``: checkpoint -> parity-gated ONNX file with its metadata."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..data.manifest import read_manifest
from ..export import ExportConfig, ParityReport, export_onnx
from ..runtime.image_io import load_image

__all__ = ["parity_images", "run_export"]


def parity_images(manifest: str | Path, n: int, split: str = "val") -> list[np.ndarray]:
    """Up to ``n`` real dataset images of a split (both labels, alternating), decoded."""
    rows = read_manifest(manifest, splits=[split])
    reals, fakes = [r for r in rows if r.label == 0], [r for r in rows if r.label == 1]
    mixed = [r for pair in zip(reals, fakes) for r in pair] + reals[len(fakes):] + fakes[len(reals):]
    root = Path(manifest).parent
    return [load_image(root / r.path) for r in mixed[:n]]


def run_export(cfg: Mapping[str, Any]) -> tuple[Path, ParityReport]:
    from ..models import load_checkpoint

    weights = Path(cfg["weights"])
    out = Path(cfg["out"]) if cfg.get("out") else weights.parent.parent / "model.onnx"
    e = ExportConfig(**cfg["export"])
    model, meta = load_checkpoint(weights)
    images = parity_images(cfg["data"]["manifest"], e.parity_images)
    report = export_onnx(model, meta, out, images, opset=e.opset, dynamo=e.dynamo, tolerance=e.tolerance)
    print(f"exported {out} (+ {out.with_suffix('.json').name}); parity on {report.n_images} real images: "
          f"max |Δprob| {report.max_abs_dprob:.2e}, {report.verdicts_agree}/{report.n_images} verdicts agree",
          file=sys.stderr)
    print("next:")
    print(f"  fakedamage predict path/to/photos --model {out} --output preds.csv")
    print(f"  python scripts/benchmark_onnx.py --model {out}")
    return out, report
