"""ONNX export with the preprocessing inside the file, gated on parity over real images.

The exported graph takes RGB in ``[0, 1]`` (normalisation is in the graph) and
returns per-tile ``logit`` and ``prob``. Everything else a client needs (tile size,
stride, aggregation, temperature, threshold, classes) is JSON in the file's
``metadata_props["fakedamage"]`` and in a ``model.json`` sidecar. The file is
written only if the ONNX scores match PyTorch on real images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .evaluate import TorchScorer
from .meta import META_KEY, ModelMeta
from .utils.io import atomic_path, atomic_write_text

__all__ = ["ExportConfig", "ExportWrapper", "ParityReport", "ParityError", "export_onnx", "check_parity", "benchmark_onnx"]


@dataclass(frozen=True)
class ExportConfig:
    """The ``export`` config group: exporter settings and the parity gate."""

    opset: int = 17
    dynamo: bool = False
    parity_images: int = 64
    tolerance: float = 1e-4
    benchmark_images: int = 32

    def __post_init__(self) -> None:
        if self.opset < 13:
            raise ValueError(f"export.opset must be >= 13, got {self.opset}")
        if self.parity_images < 1:
            raise ValueError(f"export.parity_images must be >= 1, got {self.parity_images}")


class ExportWrapper(nn.Module):
    """What the ONNX graph computes: tiles in ``[0, 1]`` ``(N, 3, T, T)`` -> ``logit`` and ``prob``
    ``(N, 1)`` and the per-pixel ``mask`` probability ``(N, 1, T, T)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logit, mask = self.model(image)
        return logit, torch.sigmoid(logit), torch.sigmoid(mask)


class ParityError(RuntimeError):
    """The exported model disagrees with PyTorch beyond tolerance."""


@dataclass(frozen=True)
class ParityReport:
    n_images: int
    max_abs_dprob: float
    verdicts_agree: int
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_dprob <= self.tolerance and self.verdicts_agree == self.n_images

    def to_dict(self) -> dict:
        return {"n_images": self.n_images, "max_abs_dprob": self.max_abs_dprob,
                "verdicts_agree": self.verdicts_agree, "tolerance": self.tolerance, "ok": self.ok}


def _export_graph(model: nn.Module, meta: ModelMeta, path: Path, opset: int, dynamo: bool) -> None:
    import onnx

    wrapper = ExportWrapper(model).eval().cpu()
    example = torch.rand(2, 3, meta.tile_size, meta.tile_size)
    names = dict(input_names=[meta.input_name], output_names=list(meta.output_names))
    if dynamo:
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(wrapper, (example,), str(path), dynamo=True, opset_version=opset,
                          dynamic_shapes={"image": {0: batch}}, **names)
    else:
        axes = {n: {0: "batch"} for n in [meta.input_name, *meta.output_names]}
        torch.onnx.export(wrapper, (example,), str(path), dynamo=False, opset_version=opset,
                          dynamic_axes=axes, do_constant_folding=True, **names)
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {META_KEY: meta.to_json()})
    proto.producer_name = "fakedamage"
    proto.doc_string = "fakedamage detector; see metadata_props['fakedamage'] for the input policy"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def check_parity(scorer: TorchScorer, onnx_path: str | Path, images: Sequence[np.ndarray],
                 tolerance: float = 1e-4) -> ParityReport:
    """Compare image probabilities of PyTorch and onnxruntime on real images."""
    from .runtime.detector import Detector

    det = Detector(onnx_path, providers=["CPUExecutionProvider"])
    worst, agree = 0.0, 0
    for img in images:
        p_torch = scorer(img)
        p_onnx = det.predict(img).score
        worst = max(worst, abs(p_torch - p_onnx))
        agree += (p_torch >= det.threshold) == (p_onnx >= det.threshold)
    return ParityReport(len(images), float(worst), int(agree), tolerance)


def export_onnx(model: nn.Module, meta: ModelMeta, path: str | Path, parity_images: Sequence[np.ndarray],
                opset: int = 17, dynamo: bool = False, tolerance: float = 1e-4) -> ParityReport:
    """Export, check parity on real images, then write ``path`` and ``<path>.json`` atomically.

    Args:
        model: Trained detector (CPU copy is exported).
        meta: Metadata stored in the file.
        path: Destination ``.onnx``.
        parity_images: Real ``(H, W, 3)`` uint8 images (at least a few dozen).
        opset: ONNX opset (17 is the robust default).
        dynamo: Use the dynamo exporter instead of the TorchScript-based one.
        tolerance: Max allowed |Δprob|.

    Raises:
        ParityError: nothing is written; the message gives the measured gap.
    """
    if not parity_images:
        raise ValueError("parity needs real images; none were given")
    path = Path(path)
    model = model.eval().cpu()
    with atomic_path(path) as tmp:
        _export_graph(model, meta, tmp, opset, dynamo)
        report = check_parity(TorchScorer(model, meta), tmp, parity_images, tolerance)
        if not report.ok:
            raise ParityError(
                f"{path}: ONNX disagrees with PyTorch on {report.n_images} real images: max |Δprob| "
                f"{report.max_abs_dprob:.2e} (tolerance {tolerance:.0e}), {report.verdicts_agree} verdicts agree; "
                "not written"
            )
    atomic_write_text(path.with_suffix(".json"), meta.to_json() + "\n")
    return report


def benchmark_onnx(onnx_path: str | Path, images: Sequence[np.ndarray], threads: int | None = None,
                   warmup: int = 2) -> dict:
    """Images per second of the torch-free :class:`~fakedamage.Detector` on decoded images."""
    from .runtime.detector import Detector

    det = Detector(onnx_path, providers=["CPUExecutionProvider"], threads=threads)
    for img in images[:warmup]:
        det.predict(img)
    t0 = time.perf_counter()
    tiles = 0
    for img in images:
        tiles += det.predict(img).n_tiles
    dt = time.perf_counter() - t0
    return {"images": len(images), "seconds": round(dt, 3), "images_per_s": round(len(images) / dt, 2),
            "tiles_per_s": round(tiles / dt, 2)}
