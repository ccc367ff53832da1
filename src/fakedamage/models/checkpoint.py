"""Checkpoints: weights as safetensors (never pickle) plus a JSON sidecar.

``<name>.safetensors`` holds the detector's state dict; ``<name>.json`` holds the
:class:`~fakedamage.meta.ModelMeta`, the metrics at save time and the resolved
config. Both are written atomically, the sidecar last, so a kill at any moment
leaves the previous checkpoint loadable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from ..meta import ModelMeta
from ..utils.io import atomic_path, atomic_write_json
from .detector import DamageDetector
from .factory import create_detector

__all__ = ["save_checkpoint", "load_checkpoint", "sidecar_path"]


def sidecar_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def save_checkpoint(model: DamageDetector, meta: ModelMeta, path: str | Path,
                    metrics: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None,
                    extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``path`` (safetensors) and its JSON sidecar."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "fakedamage-detector", "backbone": meta.backbone})
    atomic_write_json(sidecar_path(path), {"meta": meta.to_dict(), "metrics": dict(metrics or {}),
                                           "config": dict(config or {}), **dict(extra or {})})
    return path


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[DamageDetector, ModelMeta]:
    """Load a detector saved by :func:`save_checkpoint` (no network, no pickle)."""
    from safetensors.torch import load_file

    path = Path(path)
    side = sidecar_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found; train one with `fakedamage train`")
    if not side.is_file():
        raise FileNotFoundError(f"{side}: sidecar missing; a checkpoint needs both {path.name} and {side.name}")
    try:
        info = json.loads(side.read_text(encoding="utf-8"))
        meta = ModelMeta.from_dict(info["meta"])
    except (ValueError, KeyError) as e:
        raise ValueError(f"{side}: unreadable checkpoint sidecar ({e})") from None
    model = create_detector(meta.backbone, pretrained=False)
    model.load_state_dict(load_file(str(path), device="cpu"))
    return model.to(device).eval(), meta
