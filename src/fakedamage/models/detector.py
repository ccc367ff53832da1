"""The detector module: normalisation in the graph, then any timm backbone."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["DamageDetector"]


class DamageDetector(nn.Module):
    """Image-level fake-damage classifier over native-resolution tiles.

    The module takes what the runtime feeds the ONNX file, RGB in ``[0, 1]``, and
    normalises inside the graph, so training, export and prediction cannot
    disagree on preprocessing.

    Args:
        backbone: A timm model built with ``num_classes=1``.
        mean: Per-channel mean on the ``[0, 1]`` scale.
        std: Per-channel standard deviation on the ``[0, 1]`` scale.
    """

    def __init__(self, backbone: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score tiles.

        Args:
            x: ``(N, 3, H, W)`` float tensor, RGB in ``[0, 1]``.

        Returns:
            ``(N, 1)`` logits; positive means AI-made damage.
        """
        return self.backbone((x - self.mean) / self.std)
