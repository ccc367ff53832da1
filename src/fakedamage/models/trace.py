"""TraceNet: a small forensic network that scores generator traces cell by cell.

A fine-tuned ImageNet backbone learns *content* first; with the few thousand content-aligned
crops a CPU can make, it memorised its training photos and stayed near chance on held-out
ones (pristine vs TAEF2 reconstruction AUC 0.56-0.63, genuine vs AI-pasted damage about 0.52).
TraceNet builds the forensic prior in instead, so it learns from few photos and transfers to new
ones. In exploratory runs on lossless files it reached 0.92-0.97 (pristine vs reconstruction) and
0.73-0.85 (genuine vs pasted damage) on held-out photos; JPEG at quality 70-95 erases most of what
it learns (see the issue-13 note and ``report.md``'s laundering table).

1. **Fixed residual stem.** The image content is removed before anything is learned:
   ``x - box3x3(x)`` (high-pass) and ``x - up(avgpool2(x))`` (neighbouring-pixel residual, as
   NPR), both per RGB channel, scaled by 20 -> 6 channels.
2. **A full-resolution CNN** (no striding: upsampling traces live at the pixel period): a 3x3
   conv with an absolute-value nonlinearity (sign-invariant residual energy, as forensic nets
   use), then ``depth - 1`` 3x3 convs with ReLU and a 1x1 projection, ``width`` channels.
3. **Local statistics per cell**: over ``cell`` x ``cell`` windows every ``stride`` pixels, the
   log mean absolute value and log RMS of each channel (``2 * width`` numbers per cell).
4. **Context**: each cell's statistics minus their mean over the tile, so a region whose
   residuals differ from the rest of the tile stands out (a pasted edit) while a fully
   regenerated tile is judged on the absolute statistics.
5. **Cell head**: two 1x1 convs -> one logit per cell. The tile logit is the mean of the top
   ``topk`` share of cells (a small edit is not averaged away); the region map is the cell
   logits, bilinearly upsampled to the tile.

No normalisation is applied (the stem is already centred), so ``mean`` and ``std`` are 0 and 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError

__all__ = ["TraceConfig", "TraceNet", "TRACE_BACKBONE", "residual_stem"]

#: The ``backbone`` name under which :func:`~fakedamage.models.create_detector` builds a TraceNet.
TRACE_BACKBONE = "tracenet"


@dataclass(frozen=True)
class TraceConfig:
    """Architecture of a :class:`TraceNet`.

    Attributes:
        width: Channels of the full-resolution CNN.
        depth: Number of 3x3 convolutions (>= 2).
        cell: Side of the window local statistics are taken over (px).
        stride: Step between cells (px); the map's resolution.
        topk: Share of cells averaged into the tile logit.
        context: Add each cell's statistics relative to the tile mean.
    """

    width: int = 32
    depth: int = 3
    cell: int = 16
    stride: int = 8
    topk: float = 0.1
    context: bool = True

    def __post_init__(self) -> None:
        if self.depth < 2 or self.width < 1:
            raise UsageError(f"TraceNet needs depth >= 2 and width >= 1, got depth={self.depth}, width={self.width}")
        if not 0 < self.topk <= 1:
            raise UsageError(f"topk must be in (0, 1], got {self.topk}")
        if self.cell < 1 or self.stride < 1:
            raise UsageError(f"cell and stride must be >= 1, got {self.cell}, {self.stride}")


def residual_stem(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` in ``[0, 1]`` (``H``, ``W`` even) -> ``(N, 6, H, W)`` content-free residuals."""
    box = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)
    npr = x - F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0, mode="nearest")
    return torch.cat([x - box, npr], dim=1) * 20.0


class TraceNet(nn.Module):
    """Tiles in ``[0, 1]`` -> a trace logit per tile and a per-pixel region map.

    Same interface as :class:`~fakedamage.models.DetectorNet`: ``forward(x)`` returns
    ``(logit (N, 1), mask logits (N, 1, H, W))`` and ``classify(x)`` the logits alone.
    ``H`` and ``W`` must be even and at least ``cell``.
    """

    def __init__(self, cfg: TraceConfig = TraceConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.first = nn.Conv2d(6, w, 3, padding=1)
        self.body = nn.Sequential(*[m for _ in range(cfg.depth - 1) for m in (nn.Conv2d(w, w, 3, padding=1), nn.ReLU())])
        self.proj = nn.Conv2d(w, w, 1)
        n_stats = 2 * w * (2 if cfg.context else 1)
        self.head = nn.Sequential(nn.Conv2d(n_stats, 32, 1), nn.ReLU(), nn.Conv2d(32, 1, 1))
        # non-persistent: checkpoints hold learned tensors only; kept for the detector interface
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.ones(1, 3, 1, 1), persistent=False)

    def architecture(self) -> dict:
        """What :func:`~fakedamage.models.create_detector` needs to rebuild this network."""
        return asdict(self.cfg)

    def cells(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` -> ``(N, 1, h, w)`` cell logits, ``h = (H - cell) // stride + 1``."""
        h = self.proj(self.body(torch.abs(self.first(residual_stem(x)))))
        c, s = self.cfg.cell, self.cfg.stride
        stats = torch.cat([torch.log(F.avg_pool2d(h.abs(), c, s) + 1e-3),
                           0.5 * torch.log(F.avg_pool2d(h * h, c, s) + 1e-6)], dim=1)
        if self.cfg.context:
            stats = torch.cat([stats, stats - stats.mean(dim=(2, 3), keepdim=True)], dim=1)
        return self.head(stats)

    def _pool(self, cells: torch.Tensor) -> torch.Tensor:
        flat = cells.flatten(1)
        k = max(1, int(round(self.cfg.topk * int(flat.shape[1]))))  # a constant in an exported graph (fixed tile)
        return flat.topk(k, dim=1).values.mean(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, 3, H, W)`` -> ``(logit (N, 1), mask logits (N, 1, H, W))``."""
        cells = self.cells(x)
        mask = F.interpolate(cells, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
        return self._pool(cells), mask

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Tile logits ``(N, 1)``."""
        return self._pool(self.cells(x))
