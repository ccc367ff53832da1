"""``fakedamage calibrate``: refit a checkpoint's threshold and temperature on a manifest split.

Training calibrates on its own validation split. A platform should recalibrate on genuine
photos of its own traffic: real scores cluster by photo source, and a threshold set on a
few photos does not keep its false-positive rate on others.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping

from ..errors import UsageError

__all__ = ["run_calibrate"]


def run_calibrate(cfg: Mapping[str, Any]):
    """Calibrate ``cfg.weights`` on ``cfg.split`` of ``cfg.data.manifest`` and rewrite its sidecar."""
    from ..calibration import calibrate_checkpoint
    from ..data.manifest import read_manifest
    from ..models.checkpoint import sidecar_path

    weights, manifest = Path(cfg["weights"]), Path(cfg["data"]["manifest"])
    if weights.suffix != ".safetensors" or not weights.is_file():
        raise FileNotFoundError(f"{weights}: give a .safetensors checkpoint (runs/<name>/weights/best.safetensors)")
    samples = read_manifest(manifest, splits=None if cfg["split"] == "all" else [cfg["split"]])
    if not any(s.label == 0 for s in samples):
        raise UsageError(f"{manifest}: split {cfg['split']!r} has no real (label 0) images to set a threshold on")
    before = json.loads(sidecar_path(weights).read_text(encoding="utf-8"))["meta"]
    cal = calibrate_checkpoint(weights, samples, manifest.parent, float(cfg["target_fpr"]))
    print(f"calibrated {weights} on {cal.n_real} real ({cal.n_sources} source photos) + {cal.n_fake} fake images "
          f"of split {cfg['split']!r}")
    print(f"threshold {before['threshold']:.4f} -> {cal.threshold:.4f}, temperature {before['temperature']:.3f} -> "
          f"{cal.temperature:.3f}; FPR on this split {cal.fpr:.3f} (95% upper bound {cal.fpr_upper_95:.3f}), "
          f"TPR {cal.tpr:.3f}")
    if cal.warning:
        print(f"warning: {cal.warning}", file=sys.stderr)
    print(f"next: fakedamage export weights={weights} data.manifest={manifest}")
    return cal
