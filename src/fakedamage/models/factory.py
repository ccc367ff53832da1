"""Layered factory for detectors, in timm's style: resolve, create, build."""

from __future__ import annotations

import difflib
import os
from typing import Any, Mapping, Sequence

import timm

from .. import __version__
from ..errors import FakedamageError, UsageError
from ..meta import ModelMeta
from ..utils.io import git_commit
from .network import DetectorNet, set_stem_stride
from .trace import TRACE_BACKBONE, TraceConfig, TraceNet

__all__ = ["create_detector", "resolve_backbone", "resolve_normalization", "build_meta", "PretrainedMismatchError",
           "PretrainedLoadError"]


class PretrainedMismatchError(UsageError):
    """A local pretrained file does not fit the backbone (missing or mis-shaped tensors)."""


class PretrainedLoadError(FakedamageError, RuntimeError):
    """timm's hub weights could not be fetched (offline machine, unknown tag)."""


def resolve_backbone(backbone: str) -> str:
    """Check that ``backbone`` names a timm model (pretrained tags such as ``.a1_in1k`` allowed) or
    ``tracenet`` (:class:`~fakedamage.models.trace.TraceNet`).

    Raises:
        ValueError: unknown name; the message suggests close timm names.
    """
    if backbone == TRACE_BACKBONE or timm.models.is_model(backbone):
        return backbone
    names = [TRACE_BACKBONE, *timm.list_models()]
    close = difflib.get_close_matches(backbone, names, n=3, cutoff=0.6)
    if not close:
        close = [n for n in names if backbone.split("_")[0] in n][:3]
    hint = f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models()"
    raise UsageError(f"unknown timm backbone {backbone!r}{hint}")


def resolve_normalization(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std (``[0, 1]`` scale) that a timm architecture was trained with."""
    if resolve_backbone(backbone) == TRACE_BACKBONE:
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # the residual stem needs no normalisation
    cfg = timm.models.get_pretrained_cfg(backbone)
    if cfg is None:
        return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    return tuple(cfg.mean), tuple(cfg.std)


def _file_shapes(path: str) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of a weights file, read without unpickling."""
    if path.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(path, "pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    return {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}


def _read_shapes(path: str) -> dict[str, tuple[int, ...]]:
    try:
        return _file_shapes(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise PretrainedMismatchError(f"{path}: unreadable weights file ({type(e).__name__}: {e}); "
                                      "convert or download it again") from None


def _check_pretrained(path: str, encoder: Any, backbone: str) -> None:
    """Every encoder tensor must be in the file with the same shape."""
    have = _read_shapes(path)
    want = {k: tuple(v.shape) for k, v in encoder.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = sorted(k for k in want if k not in have)
    wrong = sorted(f"{k} {have[k]} != {want[k]}" for k in want if k in have and have[k] != want[k])
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if wrong:
            parts.append(f"{len(wrong)} mis-shaped (e.g. {'; '.join(wrong[:2])})")
        raise PretrainedMismatchError(f"{path}: weights do not fit backbone {backbone!r}: {', '.join(parts)}; "
                                      "pass weights for this backbone or set model.pretrained_file=null")


def create_detector(
    backbone: str,
    pretrained: bool = False,
    pretrained_file: str | os.PathLike | None = None,
    drop_rate: float = 0.0,
    feature_levels: int = 4,
    decoder_channels: int = 32,
    input_transform: str = "none",
    image_pool: str = "gap",
    map_topk: float = 0.02,
    stem_stride: int | None = None,
    trace: Mapping[str, Any] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    **kwargs: Any,
) -> DetectorNet | TraceNet:
    """Create a :class:`DetectorNet` from any timm backbone name, or a :class:`TraceNet`.

    ``backbone="tracenet"`` builds the forensic :class:`~fakedamage.models.trace.TraceNet` from
    ``trace`` (:class:`~fakedamage.models.trace.TraceConfig` fields); the timm arguments are
    then ignored.

    The backbone is built with ``features_only=True`` (its last ``feature_levels``
    feature maps feed the mask decoder; the deepest feeds the image head).

    Args:
        backbone: timm model name, e.g. ``tf_efficientnet_lite0`` or ``resnet18``.
        pretrained: Load timm's ImageNet weights (from the hub: needs network).
        pretrained_file: Local weights file (``.safetensors`` or ``.pth``) loaded through
            timm's ``pretrained_cfg_overlay``; works offline and implies ``pretrained``.
            Every backbone tensor must be present with the right shape.
        drop_rate: Dropout before the image head.
        feature_levels: How many of the deepest feature levels the mask decoder uses.
        decoder_channels: Width of the mask decoder.
        input_transform: ``none`` or ``npr`` (see :class:`DetectorNet`).
        image_pool: ``gap`` or ``gap+map`` (see :class:`DetectorNet`).
        map_topk: Share of region-map cells pooled by ``gap+map``.
        stem_stride: Stride of the backbone's first convolution (``None``: the backbone's own;
            1 keeps full resolution into the first blocks).
        mean, std: Input normalisation (``[0, 1]`` scale) to build into the model; ``None``:
            :func:`resolve_normalization` (timm's pretrained config). A loaded checkpoint passes its
            stored :class:`ModelMeta` values, so a timm upgrade cannot change a trained model.
        **kwargs: Passed to :func:`timm.create_model`.

    Returns:
        The detector; ``forward(x)`` returns ``(logit (N, 1), mask logits (N, 1, H, W))``.

    Raises:
        ValueError: unknown backbone (with close names), or a backbone without ``features_only``.
        FileNotFoundError: ``pretrained_file`` does not exist.
        PretrainedMismatchError: ``pretrained_file`` lacks or mis-shapes backbone tensors.
    """
    if resolve_backbone(backbone) == TRACE_BACKBONE:
        if pretrained_file:
            raise UsageError("tracenet has no ImageNet weights; set model.pretrained_file=null "
                             "(or start from a fakedamage checkpoint with trainer.init_from=...)")
        model = TraceNet(TraceConfig(**dict(trace or {})))
        if mean is not None and (tuple(mean), tuple(std or ())) != ((0.0,) * 3, (1.0,) * 3):
            raise UsageError(f"tracenet applies no normalisation (mean 0, std 1), but mean={tuple(mean)} "
                             f"std={tuple(std or ())} was asked for; the checkpoint's metadata is inconsistent")
        return model
    if (mean is None) != (std is None):
        raise UsageError("give both mean and std, or neither")
    if mean is None:
        mean, std = resolve_normalization(backbone)
    elif len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise UsageError(f"normalisation needs 3 means and 3 positive stds, got mean={tuple(mean)} std={tuple(std)}")
    path = None
    if pretrained_file:
        path = os.fspath(pretrained_file)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path}: pretrained weights not found; run scripts/convert_efficientnet_lite0.py "
                "or set model.pretrained_file=null"
            )
        _read_shapes(path)  # unreadable or truncated: one line naming the file, before timm tries
        kwargs["pretrained_cfg_overlay"] = dict(file=path)
        pretrained = True
    try:
        encoder = timm.create_model(backbone, pretrained=pretrained, features_only=True,
                                    out_indices=int(feature_levels), **kwargs)
    except RuntimeError as e:
        if path:  # name the missing / mis-shaped tensors, against a freshly built encoder
            kwargs.pop("pretrained_cfg_overlay")
            _check_pretrained(path, timm.create_model(backbone, features_only=True, out_indices=int(feature_levels),
                                                      **kwargs), backbone)
            raise PretrainedMismatchError(f"{path}: weights do not fit backbone {backbone!r}: "
                                          f"{str(e).splitlines()[0]}") from None
        if pretrained and not path:
            raise PretrainedLoadError(f"could not load timm's pretrained weights for {backbone!r} ({str(e).splitlines()[0]}); "
                               "offline, pass model.pretrained_file=PATH") from None
        raise
    except (OSError, ConnectionError) as e:
        if pretrained and not path:
            raise PretrainedLoadError(f"could not download timm's pretrained weights for {backbone!r} ({type(e).__name__}); "
                               "offline, pass model.pretrained_file=PATH") from None
        raise
    except (TypeError, AssertionError, NotImplementedError) as e:
        raise UsageError(f"backbone {backbone!r} does not provide multi-scale features (features_only): {e}") from None
    if path:
        _check_pretrained(path, encoder, backbone)
    if stem_stride:
        set_stem_stride(encoder, int(stem_stride))
    model = DetectorNet(encoder, mean, std, drop_rate=drop_rate, decoder_channels=decoder_channels,
                           input_transform=input_transform, image_pool=image_pool, map_topk=map_topk)
    model.stem_stride = int(stem_stride) if stem_stride else None
    return model


def build_meta(model: DetectorNet, backbone: str, tile_size: int, tile_stride: int | None = None,
               aggregation: str = "max", topk: int = 2, threshold: float = 0.5,
               training: Mapping[str, Any] | None = None, scan: str = "dense", refine_top: int = 8) -> ModelMeta:
    """Describe a detector and its input policy as a frozen :class:`ModelMeta`."""
    return ModelMeta(
        backbone=backbone,
        tile_size=int(tile_size),
        tile_stride=int(tile_stride or tile_size),
        aggregation=aggregation,
        topk=int(topk),
        scan=scan,
        refine_top=int(refine_top),
        threshold=float(threshold),
        mean=tuple(float(v) for v in model.mean.flatten().tolist()),
        std=tuple(float(v) for v in model.std.flatten().tolist()),
        version=__version__,
        training=dict(training or {}),
        git_commit=git_commit(),
    )
