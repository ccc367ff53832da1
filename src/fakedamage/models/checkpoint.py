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

import numpy as np
import torch

from ..errors import UsageError
from ..meta import ModelMeta
from ..utils.io import atomic_path, atomic_write_json
from .factory import create_detector
from .network import DetectorNet

__all__ = ["save_checkpoint", "load_checkpoint", "sidecar_path", "update_sidecar_meta", "architecture_of", "save_train_state",
           "load_train_state", "train_state_path", "TRAIN_STATE_FORMAT"]


def sidecar_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def update_sidecar_meta(weights: str | Path, meta: ModelMeta, **records: Any) -> None:
    """Rewrite the checkpoint's sidecar (atomically) with a new ``meta`` and extra top-level ``records``
    (e.g. ``calibration=...``); the weights file is unchanged."""
    import json

    side = json.loads(sidecar_path(weights).read_text(encoding="utf-8"))
    side["meta"] = meta.to_dict()
    side.update(records)
    atomic_write_json(sidecar_path(weights), side)


def architecture_of(model: DetectorNet) -> dict[str, Any]:
    """What :func:`create_detector` needs, besides the backbone name, to rebuild ``model``."""
    if hasattr(model, "architecture"):  # TraceNet
        return {"trace": model.architecture()}
    arch = {"feature_levels": len(model.decoder.lateral), "decoder_channels": model.decoder.out.in_channels}
    if model.input_transform != "none":
        arch["input_transform"] = model.input_transform
    if model.image_pool != "gap":
        arch["image_pool"], arch["map_topk"] = model.image_pool, model.map_topk
    if getattr(model, "stem_stride", None):
        arch["stem_stride"] = model.stem_stride
    return arch


def check_normalization(model: torch.nn.Module, meta: ModelMeta, where: str | Path = "model") -> None:
    """Refuse a model whose built-in ``mean``/``std`` differ from its metadata (the single source).

    Raises:
        UsageError: naming ``where``, both values and the fix.
    """
    got_mean = tuple(float(v) for v in model.mean.flatten().tolist())
    got_std = tuple(float(v) for v in model.std.flatten().tolist())
    if not (np.allclose(got_mean, meta.mean, rtol=0, atol=1e-6) and np.allclose(got_std, meta.std, rtol=0, atol=1e-6)):
        raise UsageError(f"{where}: the model normalises with mean={got_mean} std={got_std} but its metadata says "
                         f"mean={tuple(meta.mean)} std={tuple(meta.std)}; rebuild the metadata with build_meta(model, ...)")


def save_checkpoint(model: DetectorNet, meta: ModelMeta, path: str | Path,
                    metrics: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None,
                    extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``path`` (safetensors) and its JSON sidecar (metadata, architecture, metrics, config)."""
    from safetensors.torch import save_file

    path = Path(path)
    check_normalization(model, meta, path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "fakedamage-detector", "backbone": meta.backbone})
    atomic_write_json(sidecar_path(path), {"meta": meta.to_dict(), "architecture": architecture_of(model),
                                           "metrics": dict(metrics or {}),
                                           "config": dict(config or {}), **dict(extra or {})})
    return path


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[DetectorNet, ModelMeta]:
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
        arch = dict(info.get("architecture") or {})
    except (ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{side}: unreadable checkpoint sidecar ({e})") from None
    model = create_detector(meta.backbone, pretrained=False, mean=meta.mean, std=meta.std, **arch)
    try:
        model.load_state_dict(load_file(str(path), device="cpu"))
    except RuntimeError as e:
        raise UsageError(f"{path}: weights do not match the {meta.backbone} detector described by {side.name} "
                         f"({str(e).splitlines()[0]}); retrain or re-download the checkpoint") from None
    return model.to(device).eval(), meta


#: Marks a training-state file written by :func:`save_train_state`.
TRAIN_STATE_FORMAT = "fakedamage-train-state-1"


def train_state_path(weights: str | Path) -> Path:
    """``weights/last.safetensors`` -> ``weights/last.state.pt``."""
    p = Path(weights)
    return p.with_name(p.name.split(".")[0] + ".state.pt")


def save_train_state(state: Mapping[str, Any], path: str | Path) -> Path:
    """Write the resumable training state atomically.

    ``state`` holds only tensors, numbers, strings, lists, tuples and dicts (optimiser,
    scheduler, EMA and RNG states, counters, history), so :func:`load_train_state` can
    read it back with ``torch.load(weights_only=True)``: nothing is unpickled.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": TRAIN_STATE_FORMAT, **dict(state)}, tmp)
    return path


def load_train_state(path: str | Path) -> dict[str, Any]:
    """Read a file written by :func:`save_train_state` (``weights_only=True``).

    Raises:
        FileNotFoundError: no such file (the message says how to start fresh).
        ValueError: not a fakedamage training state.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training state to resume; drop resume=... to start a new run")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated or foreign file: one line, no traceback
        raise UsageError(f"{path}: unreadable training state ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                         "resume from another run or start fresh") from None
    if not isinstance(state, dict) or state.get("format") != TRAIN_STATE_FORMAT:
        raise UsageError(f"{path}: not a fakedamage training state (format {state.get('format') if isinstance(state, dict) else None!r})")
    return state
