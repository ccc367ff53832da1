"""The detector network (PyTorch, for training and export; the torch-free runtime is
:class:`fakedamage.Detector`): normalisation in the graph, a timm feature backbone, two heads."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError

__all__ = ["DetectorNet", "ImageHead", "MaskDecoder", "INPUT_TRANSFORMS", "IMAGE_POOLS", "npr_residual",
           "topk_mean", "set_stem_stride"]

#: What the detector computes from its ``[0, 1]`` input before normalisation.
INPUT_TRANSFORMS = ("none", "npr")
#: How the image logit is formed: ``gap`` (global average pool of the deepest features) or
#: ``gap+map`` (that plus the mean of the top ``map_topk`` share of the region-map logits, so a
#: small edit is not averaged away).
IMAGE_POOLS = ("gap", "gap+map")


def topk_mean(x: torch.Tensor, frac: float) -> torch.Tensor:
    """``(N, 1, h, w)`` -> ``(N, 1)``: mean of the largest ``max(1, round(frac * h * w))`` values."""
    flat = x.flatten(1)
    k = max(1, int(round(frac * flat.shape[1])))
    return flat.topk(k, dim=1).values.mean(dim=1, keepdim=True)


def set_stem_stride(encoder: nn.Module, stride: int) -> str:
    """Set the stride of a timm backbone's first convolution (``conv_stem`` or ``conv1``).

    Stride 1 keeps pixel-level traces intact into the first blocks (at 4x their compute).

    Returns:
        The name of the convolution changed.

    Raises:
        ValueError: the backbone has no recognised stem convolution.
    """
    for name in ("conv_stem", "conv1", "stem.conv", "stem.0"):
        mod = encoder
        for part in name.split("."):
            mod = getattr(mod, part, None)
            if mod is None:
                break
        if isinstance(mod, nn.Conv2d):
            mod.stride = (int(stride), int(stride))
            return name
    raise UsageError(f"{type(encoder).__name__}: no stem convolution found (conv_stem, conv1, stem.conv); "
                     "use stem_stride=null with this backbone")


def npr_residual(x: torch.Tensor) -> torch.Tensor:
    """Neighbouring-pixel relationships (Tan et al., CVPR 2024): ``x - up(down(x))`` with nearest
    2x down- and upsampling, which isolates the traces that generators' upsampling leaves.
    ``H`` and ``W`` must be even."""
    return x - F.interpolate(F.interpolate(x, scale_factor=0.5, mode="nearest"), scale_factor=2.0, mode="nearest")


class ImageHead(nn.Module):
    """Global average pool of the deepest feature map, dropout, one linear logit.

    Args:
        in_channels: Channels of the deepest feature map.
        drop_rate: Dropout before the linear layer.
    """

    def __init__(self, in_channels: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_channels, 1)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        """``(N, C, h, w)`` -> ``(N, 1)`` logit."""
        return self.fc(self.drop(feature.mean(dim=(2, 3))))


class MaskDecoder(nn.Module):
    """A small FPN-style decoder from multi-scale features to an edited-region logit map.

    Each level gets a 1x1 lateral projection to ``channels``; levels are merged top-down
    (nearest upsampling plus sum), refined by a 3x3 conv, projected to one channel and
    bilinearly upsampled to the input's size. Only the *output map* is upsampled; the
    input image is never resized.

    Args:
        in_channels: Channels of each feature level, shallow to deep.
        channels: Width of the decoder.
    """

    def __init__(self, in_channels: Sequence[int], channels: int = 32) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.refine = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                    nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(channels, 1, 1)

    def logits(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Features (shallow to deep) -> ``(N, 1, h, w)`` mask logits at the shallowest level's size."""
        p = self.lateral[-1](features[-1])
        for lat, f in zip(reversed(self.lateral[:-1]), reversed(features[:-1])):
            p = lat(f) + F.interpolate(p, size=f.shape[-2:], mode="nearest")
        return self.out(self.refine(p))

    def forward(self, features: Sequence[torch.Tensor], size: Sequence[int]) -> torch.Tensor:
        """Features (shallow to deep) -> ``(N, 1, *size)`` mask logits."""
        return F.interpolate(self.logits(features), size=tuple(size), mode="bilinear", align_corners=False)


class DetectorNet(nn.Module):
    """Fake-damage detector over native-resolution tiles: an image logit and a region map.

    The module takes what the runtime feeds the ONNX file, RGB in ``[0, 1]``, and
    normalises inside the graph, so training, export and prediction cannot
    disagree on preprocessing.

    Args:
        encoder: A timm model built with ``features_only=True``.
        mean: Per-channel mean on the ``[0, 1]`` scale.
        std: Per-channel standard deviation on the ``[0, 1]`` scale.
        drop_rate: Dropout before the image head's linear layer.
        decoder_channels: Width of the mask decoder.
        input_transform: ``none``, or ``npr`` (the NPR baseline: the network sees
            :func:`npr_residual` of its input).
        image_pool: One of :data:`IMAGE_POOLS`.
        map_topk: Share of region-map cells averaged by ``gap+map``.
    """

    def __init__(self, encoder: nn.Module, mean: Sequence[float], std: Sequence[float],
                 drop_rate: float = 0.0, decoder_channels: int = 32, input_transform: str = "none",
                 image_pool: str = "gap", map_topk: float = 0.02) -> None:
        super().__init__()
        if input_transform not in INPUT_TRANSFORMS:
            raise UsageError(f"input_transform must be one of {INPUT_TRANSFORMS}, got {input_transform!r}")
        if image_pool not in IMAGE_POOLS:
            raise UsageError(f"image_pool must be one of {IMAGE_POOLS}, got {image_pool!r}")
        self.input_transform = input_transform
        self.image_pool = image_pool
        self.map_topk = float(map_topk)
        channels = list(encoder.feature_info.channels())
        self.encoder = encoder
        self.head = ImageHead(channels[-1], drop_rate)
        self.decoder = MaskDecoder(channels, decoder_channels)
        if image_pool == "gap+map":
            self.map_weight = nn.Parameter(torch.ones(1))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Score tiles and map their edited regions.

        Args:
            x: ``(N, 3, H, W)`` float tensor, RGB in ``[0, 1]``.

        Returns:
            ``logit``: ``(N, 1)``, positive means AI-made damage; ``mask``: ``(N, 1, H, W)``
            per-pixel logits that the pixel was produced by a generator.
        """
        features = self.encoder(self._prepare(x))
        low = self.decoder.logits(features)
        mask = F.interpolate(low, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
        return self._image_logit(features, low), mask

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Image logits only, ``(N, 1)`` (the region map is computed only when the logit uses it)."""
        features = self.encoder(self._prepare(x))
        return self._image_logit(features, self.decoder.logits(features) if self.image_pool == "gap+map" else None)

    def _image_logit(self, features: Sequence[torch.Tensor], low: torch.Tensor | None) -> torch.Tensor:
        logit = self.head(features[-1])
        if self.image_pool == "gap+map":
            logit = logit + self.map_weight * topk_mean(low, self.map_topk)
        return logit

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_transform == "npr":
            return npr_residual(x) / self.std  # a residual: centred already, scaled like the image
        return (x - self.mean) / self.std
