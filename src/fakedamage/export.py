"""ONNX export with the preprocessing inside the file, gated on parity over real images.

The exported graph takes RGB tiles in ``[0, 1]`` (normalisation is in the graph) and
returns per-tile ``logit``, ``prob`` and the per-pixel ``mask``. Everything else a client
needs (tile size, stride, padding, aggregation, temperature, threshold, classes, the
scoring recipe, the training-data summary, git commit and date) is JSON in the file's
``metadata_props["fakedamage"]`` and in a ``model.json`` sidecar. The file is written only
if the ONNX scores match PyTorch on real images.

Optional reduced-precision copies are gated too: ``model.int8.onnx`` (static QDQ
quantisation, per-channel weights, activations calibrated on real training images) and
``model.fp16.onnx`` (float16 weights and compute, float32 inputs and outputs, checked on
CUDA) are written only if their validation AUC stays within ``auc_tolerance`` of fp32.

The tile size is fixed in the graph: the score is defined as a pool over native-resolution
tiles, so the runtime tiles any image (see :data:`~fakedamage.meta.SCORING_RECIPE`) and
the batch axis is the only dynamic one.
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
from .meta import ModelMeta
from .utils.io import atomic_path, atomic_write_text
from .utils.onnx_io import write_model_metadata

__all__ = ["ExportConfig", "ExportWrapper", "ParityReport", "ParityError", "GateReport", "GateError", "export_onnx",
           "check_parity", "quantize_int8", "convert_fp16", "check_auc_gate", "write_reduced_precision",
           "benchmark_onnx"]


@dataclass(frozen=True)
class ExportConfig:
    """The ``export`` config group: exporter settings and the parity gate."""

    opset: int = 17
    dynamo: bool = False
    parity_images: int = 64
    tolerance: float = 1e-4
    benchmark_images: int = 32
    int8: bool = False
    fp16: bool = False
    auc_tolerance: float = 0.01
    calibration_images: int = 64
    per_channel: bool = True
    int8_method: str = "percentile"

    def __post_init__(self) -> None:
        if self.auc_tolerance < 0:
            raise ValueError(f"export.auc_tolerance must be >= 0, got {self.auc_tolerance}")
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


def _stamp(meta: ModelMeta, precision: str = "fp32") -> ModelMeta:
    """``meta`` with the export's precision, UTC time and code commit."""
    from datetime import datetime, timezone

    from . import __version__
    from .utils.io import git_commit

    return meta.replace(precision=precision, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        git_commit=git_commit() or meta.git_commit, version=meta.version or __version__)


def _export_graph(model: nn.Module, meta: ModelMeta, path: Path, opset: int, dynamo: bool) -> None:
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
    write_model_metadata(path, meta)


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
    meta = _stamp(meta)
    with atomic_path(path) as tmp:
        _export_graph(model, meta, tmp, opset, dynamo)
        report = check_parity(TorchScorer(model, meta), tmp, parity_images, tolerance)
        if not report.ok:
            raise ParityError(
                f"{path}: ONNX disagrees with PyTorch on {report.n_images} real images: max |Δprob| "
                f"{report.max_abs_dprob:.2e} (tolerance {tolerance:.0e}), {report.verdicts_agree} verdicts agree; "
                "not written"
            )
        meta = meta.replace(export_checks={"parity": report.to_dict()})
        write_model_metadata(tmp, meta)
    atomic_write_text(path.with_suffix(".json"), meta.to_json() + "\n")
    return report


class GateError(RuntimeError):
    """A reduced-precision model lost too much AUC; nothing was written."""


@dataclass(frozen=True)
class GateReport:
    """AUC of a reduced-precision copy against fp32 on the same validation images."""

    precision: str
    n_images: int
    auc_fp32: float
    auc: float
    tolerance: float
    max_abs_dprob: float

    @property
    def delta(self) -> float:
        return self.auc - self.auc_fp32

    @property
    def ok(self) -> bool:
        return abs(self.delta) <= self.tolerance

    def to_dict(self) -> dict:
        return {"precision": self.precision, "n_images": self.n_images, "auc_fp32": self.auc_fp32, "auc": self.auc,
                "delta_auc": self.delta, "tolerance": self.tolerance, "max_abs_dprob": self.max_abs_dprob,
                "ok": self.ok}


def _calibration_tiles(images: Sequence[np.ndarray], meta: ModelMeta, n_tiles: int, seed: int = 0) -> np.ndarray:
    from .runtime.tiling import extract_tiles

    tiles = np.concatenate([extract_tiles(im, meta.tile_size, meta.tile_stride)[0] for im in images])
    rng = np.random.default_rng(seed)
    return tiles[np.sort(rng.permutation(len(tiles))[:n_tiles])]


def quantize_int8(fp32_path: str | Path, out_path: str | Path, calibration_images: Sequence[np.ndarray],
                  meta: ModelMeta, per_channel: bool = True, n_tiles: int = 256, method: str = "minmax") -> None:
    """Static QDQ int8 quantisation with onnxruntime's tools.

    Weights are int8 (per output channel when ``per_channel``), activations uint8 with
    ranges calibrated (MinMax) on tiles of real images; inputs and outputs stay float32.

    Args:
        fp32_path: The exported fp32 model.
        out_path: Where the int8 model goes (not atomic; :func:`write_reduced_precision` is).
        calibration_images: Real ``(H, W, 3)`` uint8 training images.
        meta: The fp32 model's metadata (tile size and stride).
        per_channel: Per-channel weight scales.
        n_tiles: Most calibration tiles.
        method: Activation-range calibration: ``minmax``, ``percentile`` (99.999th) or ``entropy``.
    """
    import tempfile

    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    if method not in methods:
        raise ValueError(f"int8 calibration method must be one of {sorted(methods)}, got {method!r}")
    tiles = _calibration_tiles(calibration_images, meta, n_tiles)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(tiles[i : i + 1] for i in range(len(tiles)))

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {meta.input_name: x}

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out_path), _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=methods[method],
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True,
                                       "CalibPercentile": 99.999})


def convert_fp16(fp32_path: str | Path, out_path: str | Path) -> None:
    """float16 weights and compute with float32 inputs and outputs (``keep_io_types``)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    onnx.save(proto, str(out_path))


def check_auc_gate(fp32_path: str | Path, candidate_path: str | Path, images: Sequence[np.ndarray],
                   labels: Sequence[int], precision: str, tolerance: float = 0.01,
                   providers: Sequence[str] | None = None) -> GateReport:
    """Score validation images with both models (whole images, tiled) and compare their AUC."""
    from sklearn.metrics import roc_auc_score

    from .runtime.detector import Detector

    providers = list(providers or ["CPUExecutionProvider"])
    ref = Detector(fp32_path, providers=providers)
    cand = Detector(candidate_path, providers=providers)
    p_ref = np.array([ref.predict(im).score for im in images])
    p_cand = np.array([cand.predict(im).score for im in images])
    y = np.asarray(labels, dtype=int)
    if not 0 < y.sum() < y.size:
        raise ValueError("the AUC gate needs real and fake validation images")
    return GateReport(precision, len(images), float(roc_auc_score(y, p_ref)), float(roc_auc_score(y, p_cand)),
                      float(tolerance), float(np.abs(p_ref - p_cand).max()))


def write_reduced_precision(fp32_path: str | Path, precision: str, val_images: Sequence[np.ndarray],
                            val_labels: Sequence[int], calibration_images: Sequence[np.ndarray] = (),
                            tolerance: float = 0.01, per_channel: bool = True,
                            method: str = "minmax") -> tuple[Path, GateReport]:
    """Make ``<name>.int8.onnx`` or ``<name>.fp16.onnx`` beside ``fp32_path``, gated on validation AUC.

    Raises:
        GateError: the AUC changed by more than ``tolerance``; nothing is written.
        ValueError: fp16 without CUDA (its gate must run where fp16 kernels exist).
    """
    import onnxruntime as ort

    from .runtime.detector import Detector

    fp32_path = Path(fp32_path)
    out = fp32_path.with_name(f"{fp32_path.stem}.{precision}.onnx")
    meta = Detector(fp32_path, providers=["CPUExecutionProvider"]).meta
    providers: list[str] = ["CPUExecutionProvider"]
    if precision == "fp16":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ValueError(f"{out.name}: fp16 export needs a CUDA GPU (onnxruntime-gpu) to check its AUC gate; "
                             "export.int8=true is the CPU option")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    elif precision != "int8":
        raise ValueError(f"precision must be int8 or fp16, got {precision!r}")
    if precision == "int8" and not calibration_images:
        raise ValueError("int8 quantisation needs real calibration images (the train split)")
    with atomic_path(out) as tmp:
        if precision == "int8":
            quantize_int8(fp32_path, tmp, calibration_images, meta, per_channel=per_channel, method=method)
        else:
            convert_fp16(fp32_path, tmp)
        reduced = _stamp(meta, precision)
        write_model_metadata(tmp, reduced)
        report = check_auc_gate(fp32_path, tmp, val_images, val_labels, precision, tolerance, providers)
        if not report.ok:
            raise GateError(f"{out}: {precision} validation AUC {report.auc:.4f} vs fp32 {report.auc_fp32:.4f} "
                            f"(change {report.delta:+.4f}, allowed ±{tolerance}) on {report.n_images} images; not written")
        reduced = reduced.replace(export_checks={**meta.export_checks, f"{precision}_auc_gate": report.to_dict()})
        write_model_metadata(tmp, reduced)
    atomic_write_text(out.with_suffix(".json"), reduced.to_json() + "\n")
    return out, report


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
