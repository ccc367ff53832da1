"""The decoder zoo: small, CPU-trained stand-ins for real AI editors, with packaged weights.

Members (:data:`MEMBERS`):

* ``ldm-c4-nearest``: LDM-style KL-VAE, 8x, 4 latent channels, nearest+conv upsampling
  (as SD 1/2, SDXL);
* ``ldm-c16-nearest``: 16 latent channels, nearest+conv (as SD3, FLUX.1);
* ``ldm-c16-transposed``: 16 latent channels, transposed-convolution upsampling;
* ``ldm-c16-pixelshuffle``: 16 latent channels, sub-pixel convolution upsampling;
* ``inpainter``: LaMa-like Fast-Fourier-Convolution inpainter (AI erasers), modes
  ``guided`` / ``erase`` / ``mixed``.

Each member is trained by ``scripts/train_zoo.py`` (see :mod:`..zoo_train`) with
L1 + perceptual + patch-GAN losses on the TRAIN split of the offline photos, and
stored here as ``<name>.safetensors`` (weights; metadata: kind, architecture,
training record and quality gates measured on held-out photos) plus a readable
``<name>.json``. ``README.md`` lists the members, their gates and the commands.

Example:
    >>> from fakedamage.data.generators.zoo import list_zoo, load_zoo_member
    >>> [m["name"] for m in list_zoo() if m["available"]]
    >>> gen = load_zoo_member("ldm-c16-nearest")          # an LDMGenerator
    >>> fake = gen.regenerate(painted, mask, seed=0)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ....errors import UsageError
from .weights import FORMAT, ZOO_DIR, member_path, model_or_weights, read_zoo_metadata, resolve_zoo_weights

__all__ = ["ZOO_DIR", "MEMBERS", "ZooMember", "list_zoo", "load_zoo_member", "load_zoo_model", "model_or_weights", "member_path",
           "save_zoo_weights", "read_zoo_metadata", "resolve_zoo_weights", "build_model", "FORMAT"]



@dataclass(frozen=True)
class ZooMember:
    """One zoo member: what it is and how ``scripts/train_zoo.py`` trains it by default.

    Attributes:
        name: File stem and manifest name.
        kind: ``ldm`` or ``inpainter`` (the registered generator kind).
        config: Architecture (``LDMConfig`` / ``InpainterConfig`` fields).
        train: Default training hyper-parameters (``steps``, ``batch``, ``crop``, ``lr``,
            ``disc_start``); the command line overrides them.
        description: One line for the README.
    """

    name: str
    kind: str
    config: dict[str, Any]
    train: dict[str, Any] = field(default_factory=dict)
    description: str = ""


_LDM_TRAIN = {"steps": 6000, "batch": 8, "crop": 64, "lr": 1e-3, "disc_start": 3000}
_LDM_WIDTHS = (16, 32, 64, 128)

def _ldm(name: str, latent_channels: int, upsampler: str, description: str) -> ZooMember:
    """An LDM KL-VAE member: 8x down, the zoo's widths, its training defaults."""
    return ZooMember(name, "ldm", {"latent_channels": latent_channels, "upsampler": upsampler,
                                   "channels": _LDM_WIDTHS, "groups": 4}, dict(_LDM_TRAIN), description)


MEMBERS: dict[str, ZooMember] = {
    m.name: m
    for m in (
        _ldm("ldm-c4-nearest", 4, "nearest", "KL-VAE 8x, 4 latent channels, nearest+conv (SD 1/2, SDXL style)"),
        _ldm("ldm-c16-nearest", 16, "nearest", "KL-VAE 8x, 16 latent channels, nearest+conv (SD3, FLUX.1 style)"),
        _ldm("ldm-c16-transposed", 16, "transposed", "KL-VAE 8x, 16 latent channels, transposed-convolution upsampling"),
        _ldm("ldm-c16-pixelshuffle", 16, "pixelshuffle", "KL-VAE 8x, 16 latent channels, sub-pixel convolution upsampling"),
        ZooMember("inpainter", "inpainter", {"channels": 24, "blocks": 4, "ratio": 0.75},
                  {"steps": 6000, "batch": 8, "crop": 64, "lr": 1e-3, "disc_start": 3000},
                  "LaMa-like FFC inpainter (AI eraser); modes guided / erase / mixed"),
    )
}


def build_model(kind: str, config: dict[str, Any]) -> torch.nn.Module:
    """Instantiate an untrained model of ``kind`` from its config dict."""
    if kind == "ldm":
        from ..ldm import LDMAutoencoder, LDMConfig

        return LDMAutoencoder(LDMConfig(**config))
    if kind == "inpainter":
        from ..inpainter import InpainterConfig, LaMaInpainter

        return LaMaInpainter(InpainterConfig(**config))
    raise UsageError(f"unknown zoo model kind {kind!r}")


def save_zoo_weights(model: torch.nn.Module, path: str | os.PathLike, kind: str, name: str,
                     record: dict[str, Any]) -> Path:
    """Write weights (safetensors, atomic) with kind/name/config/record metadata, and ``<stem>.json`` beside."""
    from safetensors.torch import save_file

    from fakedamage.utils.io import atomic_path, atomic_write_json

    path = Path(path)
    config = model.cfg.to_dict()
    meta = {"format": FORMAT, "kind": kind, "name": name, "config": json.dumps(config),
            "record": json.dumps(record, default=str)}
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    atomic_write_json(path.with_suffix(".json"), {"name": name, "kind": kind, "config": config,
                                                  "weights": path.name, **record})
    return path


def load_zoo_model(weights: str | os.PathLike, expect: str | None = None) -> tuple[torch.nn.Module, str]:
    """Load a zoo model (eval mode) from a member name or a file; returns ``(model, name)``."""
    path = resolve_zoo_weights(weights)
    kind = read_zoo_metadata(path)["kind"]
    return model_or_weights(path, None, expect or kind, torch.nn.Module, lambda config: build_model(kind, config))


def load_zoo_member(name: str, **kwargs: Any):
    """A ready generator for a zoo member (``LDMGenerator`` or ``InpainterGenerator``); kwargs pass through."""
    path = resolve_zoo_weights(name)
    kind = read_zoo_metadata(path)["kind"]
    if kind == "ldm":
        from ..ldm import LDMGenerator

        return LDMGenerator(weights=path, **kwargs)
    from ..inpainter import InpainterGenerator

    return InpainterGenerator(weights=path, **kwargs)


def list_zoo(folder: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Every member: ``name``, ``kind``, ``description``, ``path``, ``available`` and, when trained,
    ``gates_passed`` (all gates) and ``gates`` (the stored measurements)."""
    out = []
    for m in MEMBERS.values():
        path = member_path(m.name, folder)
        row: dict[str, Any] = {"name": m.name, "kind": m.kind, "description": m.description, "path": str(path),
                               "available": path.is_file()}
        if row["available"]:
            rec = read_zoo_metadata(path)["record"]
            row["gates"] = rec.get("gates", {})
            row["gates_passed"] = bool(rec.get("gates", {}).get("passed", False))
        out.append(row)
    return out
