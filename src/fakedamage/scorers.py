"""Scorers: callables ``image -> probability`` that evaluation, training's validation, the
benchmark and export's parity check share.

=====================  ==================================================================
``TorchScorer``        a PyTorch detector, tile by tile, as the runtime scans
``OnnxScorer``         an exported model through the torch-free :class:`fakedamage.Detector`
``ResizeScorer``       the resize-to-224 baseline (one forward of the whole image resized)
``AerobladeScorer``    training-free reconstruction distance over whole-image decoders
``CallableScorer``     an external ``images -> scores`` function
=====================  ==================================================================

This module sits below :mod:`fakedamage.train`, :mod:`fakedamage.evaluate` and
:mod:`fakedamage.generalisation`, and imports none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .errors import UsageError
from .meta import ModelMeta
from .runtime.tiling import ScanResult, scan_image, sigmoid

__all__ = ["TorchScorer", "OnnxScorer", "ResizeScorer", "AerobladeScorer", "CallableScorer"]


class TorchScorer:
    """Score whole images with a PyTorch detector, tile by tile.

    Args:
        model: :class:`~fakedamage.models.DetectorNet` (put in eval mode here).
        meta: Input policy (tile size, stride, aggregation, temperature).
        device: torch device.
        batch_size: Tiles per forward pass.
    """

    def __init__(self, model: torch.nn.Module, meta: ModelMeta, device: str | torch.device = "cpu",
                 batch_size: int = 32) -> None:
        self.model = model.eval()
        self.meta = meta
        self.device = torch.device(device)
        self.batch_size = batch_size

    @torch.no_grad()
    def _score_batch(self, tiles: np.ndarray, with_map: bool) -> tuple[np.ndarray, np.ndarray | None]:
        x = torch.from_numpy(tiles).to(self.device)
        if with_map:
            logit, mask = self.model(x)
            return logit.float().reshape(-1).cpu().numpy(), torch.sigmoid(mask.float()).cpu().numpy()
        logit = self.model.classify(x) if hasattr(self.model, "classify") else self.model(x)[0]
        return logit.float().reshape(-1).cpu().numpy(), None

    def scan(self, image: np.ndarray, with_map: bool = False, **overrides) -> ScanResult:
        """Score an ``(H, W, 3)`` uint8 image as the runtime does (:func:`~fakedamage.runtime.tiling.scan_image`);
        ``overrides`` replace scan settings of the metadata, as :meth:`fakedamage.Detector.scan`."""
        m = self.meta
        kw = dict(tile_size=m.tile_size, tile_stride=m.tile_stride, aggregation=m.aggregation, topk=m.topk,
                  scan=m.scan, refine_top=m.refine_top, size_slope=m.size_slope,
                  size_reference_pixels=m.size_reference_pixels)
        kw.update(overrides)
        return scan_image(image, self._score_batch, batch_size=self.batch_size, with_map=with_map, **kw)

    def run(self, image: np.ndarray, with_map: bool = False) -> tuple[ScanResult, np.ndarray | None]:
        """The scan and, optionally, the stitched ``(H, W)`` float32 per-pixel probability map."""
        res = self.scan(image, with_map)
        return res, res.heatmap

    def score(self, res: ScanResult) -> float:
        """Image probability of a scan (size-corrected pooled logit, then temperature)."""
        return float(sigmoid(res.adjusted / self.meta.temperature))

    def score_and_logit(self, image: np.ndarray) -> tuple[float, float]:
        """``(probability, size-corrected pooled logit before temperature)`` of one image."""
        res = self.scan(image)
        return self.score(res), res.adjusted

    def __call__(self, image: np.ndarray) -> float:
        """Probability that the image carries AI-made damage."""
        return self.score(self.scan(image))


class OnnxScorer:
    """Score whole images with an exported model through the torch-free :class:`~fakedamage.Detector`."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        from .runtime.detector import Detector

        self.detector = Detector(path, providers=["CPUExecutionProvider"], threads=threads)
        self.meta = self.detector.meta

    def scan(self, image: np.ndarray, **overrides) -> ScanResult:
        """The runtime's raw scan (:meth:`fakedamage.Detector.scan`)."""
        return self.detector.scan(image, **overrides)

    def score_and_logit(self, image: np.ndarray) -> tuple[float, float]:
        p = self.detector.predict(image)
        return p.score, p.logit * self.meta.temperature

    def __call__(self, image: np.ndarray) -> float:
        return self.detector.predict(image).score


class ResizeScorer:
    """The resize-input baseline at test time: the whole image resized to ``size`` x ``size``, one forward."""

    def __init__(self, model: torch.nn.Module, size: int = 224, device: str | torch.device = "cpu") -> None:
        self.model, self.size, self.device = model.eval(), int(size), torch.device(device)

    def __call__(self, image: np.ndarray) -> float:
        from .data.dataset import resize_pair

        x, _ = resize_pair(image, None, self.size)
        t = torch.from_numpy(x).permute(2, 0, 1)[None].float().div(255.0).to(self.device)
        with torch.no_grad():
            return float(torch.sigmoid(self.model.classify(t)).item())


class AerobladeScorer:
    """Training-free: ``score = 1 / (1 + d / 1e-3)`` with ``d`` the smallest mean squared reconstruction
    error (RGB in ``[0, 1]``) over the given whole-image decoders; a well-reconstructed image scores high.

    Args:
        decoders: Generators with ``decodes_whole_image`` (autoencoders).
    """

    def __init__(self, decoders: Sequence[Any]) -> None:
        self.aes = [d for d in decoders if getattr(d, "decodes_whole_image", False)]
        if not self.aes:
            raise UsageError("aeroblade needs at least one whole-image decoder (autoencoder) among the training families")

    def distance(self, image: np.ndarray) -> float:
        x = image.astype(np.float32) / 255.0
        empty = np.zeros(image.shape[:2], np.float32)
        return min(float(np.mean((ae.regenerate(image, empty).astype(np.float32) / 255.0 - x) ** 2)) for ae in self.aes)

    def __call__(self, image: np.ndarray) -> float:
        return 1.0 / (1.0 + self.distance(image) / 1e-3)


class CallableScorer:
    """A ``images -> scores`` function (an external detector) as a per-image scorer."""

    def __init__(self, fn: Callable[[list[np.ndarray]], Sequence[float]]) -> None:
        self.fn = fn

    def __call__(self, image: np.ndarray) -> float:
        return float(np.asarray(self.fn([image]), dtype=np.float64).reshape(-1)[0])
