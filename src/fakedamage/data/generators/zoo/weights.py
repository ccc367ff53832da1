"""The zoo's weights files: where they live, their metadata, and loading one into a model.

Kept apart from the member list (:mod:`fakedamage.data.generators.zoo`) so the generators
(:mod:`..ldm`, :mod:`..inpainter`) load their weights without importing the zoo, which builds them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

from ....errors import UsageError

__all__ = ["ZOO_DIR", "FORMAT", "member_path", "read_zoo_metadata", "resolve_zoo_weights", "model_or_weights"]

ZOO_DIR = Path(__file__).resolve().parent
FORMAT = "fakedamage-zoo/1"


def member_path(name: str, folder: str | os.PathLike | None = None) -> Path:
    """``<folder or ZOO_DIR>/<name>.safetensors``."""
    return Path(folder or ZOO_DIR) / f"{name}.safetensors"


def read_zoo_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a zoo weights file: ``format``, ``kind``, ``name``, ``config`` and ``record`` (parsed)."""
    from safetensors import safe_open

    with safe_open(os.fspath(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
    if meta.get("format") != FORMAT:
        raise UsageError(f"{path}: not a fakedamage zoo weights file (format {meta.get('format')!r})")
    meta["config"] = json.loads(meta["config"])
    meta["record"] = json.loads(meta.get("record") or "{}")
    return meta


def resolve_zoo_weights(weights: str | os.PathLike) -> Path:
    """The weights file of a member name, or ``weights`` itself when it is a file path."""
    value = os.fspath(weights)
    if not value.endswith(".safetensors") and os.sep not in value and "/" not in value:
        path = member_path(value)
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in ZOO_DIR.glob("*.safetensors"))) or "none trained"
            raise FileNotFoundError(f"zoo member {value!r} has no weights at {path}; train it with "
                                    f"`python scripts/train_zoo.py --model {value}` (trained members: {known})")
        return path
    path = Path(value)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: zoo weights not found")
    return path



def model_or_weights(weights: str | os.PathLike | None, model: torch.nn.Module | None, expect: str,
                     cls: type, build: Callable[[dict[str, Any]], torch.nn.Module]) -> tuple[torch.nn.Module, str | None]:
    """What a zoo generator's constructor was given: exactly one of a weights name/file or a built
    ``cls`` model. A weights file of kind ``expect`` is built with ``build(config)`` and loaded (eval
    mode). Returns ``(model, member name or None)``."""
    if (weights is None) == (model is None):
        raise UsageError("give exactly one of weights= or model=")
    member = None
    if model is None:
        from safetensors.torch import load_file

        path = resolve_zoo_weights(weights)
        meta = read_zoo_metadata(path)
        if meta["kind"] != expect:
            raise UsageError(f"{path}: a {meta['kind']!r} zoo model, expected {expect!r}")
        model = build(meta["config"])
        model.load_state_dict(load_file(str(path)))
        model, member = model.eval(), meta["name"]
    if not isinstance(model, cls):
        raise UsageError(f"{weights}: not a {cls.__name__}")
    return model, member
