"""ONNX export with the preprocessing inside the file, gated on parity over real images.

The exported graph takes RGB tiles in ``[0, 1]`` (normalisation is in the graph) and
returns per-tile ``logit``, ``prob`` and the per-pixel ``mask``. Everything else a client
needs (tile size, stride, padding, aggregation, temperature, threshold, classes, the
scoring recipe, the training-data summary, git commit and date) is JSON in the file's
``metadata_props["fakedamage"]`` and in a ``model.json`` sidecar. The file is written only
if the ONNX scores match PyTorch on real images.

Optional reduced-precision copies are gated on the operating point, not only on AUC:
``model.int8.onnx`` (static QDQ quantisation, per-channel int8 weights, uint8 activations whose
ranges are set on tiles of real training images, see :func:`quantize_int8`) and ``model.fp16.onnx``
(float16 weights and compute, float32 inputs and outputs, checked on CUDA). A reduced copy moves
scores (one validation image's probability moved by 0.93 under int8 while the AUC changed by less
than 0.005), so it does not inherit the fp32 threshold: its temperature and threshold are fitted
again on the validation split with :mod:`fakedamage.calibration` and written into its own
metadata. It is written only if, on the validation images (:func:`check_gate`),

* its AUC is within ``auc_tolerance`` (0.01) of fp32's,
* its false-positive rate on the validation reals at its own threshold exceeds fp32's at fp32's
  threshold by at most ``fpr_tolerance`` (0.01, absolute), and
* at least ``min_verdict_agreement`` (0.98) of the images get the same verdict (``is_fake``) from
  both copies, each at its own threshold.

"Calibration" in this project means fitting the threshold and temperature; the int8 ranges of
activations are called *activation ranges* here (``activation_range_method``, config key
``export.int8_method``; images: config key ``export.calibration_images``).

The tile size is fixed in the graph: the score is defined as a pool over native-resolution
tiles, so the runtime tiles any image (see :data:`~fakedamage.meta.SCORING_RECIPE`) and
the batch axis is the only dynamic one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .errors import FakedamageError, UsageError
from .meta import ModelMeta
from .scorers import TorchScorer
from .utils.io import atomic_path, atomic_write_text
from .utils.onnx_io import write_model_metadata

__all__ = ["ExportConfig", "ExportWrapper", "ParityReport", "ParityError", "GateReport", "GateError", "export_onnx",
           "check_parity", "quantize_int8", "convert_fp16", "check_gate", "write_reduced_precision",
           "benchmark_onnx", "ACTIVATION_RANGE_METHODS", "DEFAULT_ACTIVATION_RANGE_METHOD", "DEFAULT_AUC_TOLERANCE",
           "DEFAULT_FPR_TOLERANCE", "DEFAULT_MIN_VERDICT_AGREEMENT"]

#: Largest allowed ``|AUC(reduced) - AUC(fp32)|`` on the validation split.
DEFAULT_AUC_TOLERANCE = 0.01
#: Largest allowed increase (absolute, e.g. 0.01 = one percentage point) of the false-positive rate
#: on the validation reals: the reduced copy at its own threshold against fp32 at fp32's.
DEFAULT_FPR_TOLERANCE = 0.01
#: Smallest allowed share of validation images whose verdict (``is_fake``) the reduced copy shares
#: with fp32, each at its own threshold.
DEFAULT_MIN_VERDICT_AGREEMENT = 0.98
#: How the int8 activation ranges are set from the activation-range tiles (onnxruntime
#: ``CalibrationMethod``): ``minmax`` (the observed range), ``percentile`` (the 99.999th percentile
#: of absolute values: one outlier does not stretch the range) or ``entropy`` (KL-optimal clipping).
ACTIVATION_RANGE_METHODS = ("minmax", "percentile", "entropy")
#: The default of :data:`ACTIVATION_RANGE_METHODS` (also ``export.int8_method`` in configs/export/default.yaml).
DEFAULT_ACTIVATION_RANGE_METHOD = "percentile"


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
    #: Gate of reduced copies: see :data:`DEFAULT_AUC_TOLERANCE`, :data:`DEFAULT_FPR_TOLERANCE`,
    #: :data:`DEFAULT_MIN_VERDICT_AGREEMENT`; ``target_fpr`` of their recalibrated threshold
    #: (``None``: fp32's false-positive rate on the validation reals; see :func:`check_gate`).
    auc_tolerance: float = DEFAULT_AUC_TOLERANCE
    fpr_tolerance: float = DEFAULT_FPR_TOLERANCE
    min_verdict_agreement: float = DEFAULT_MIN_VERDICT_AGREEMENT
    target_fpr: float | None = None
    #: Real training images whose tiles set the int8 activation ranges (not threshold calibration).
    calibration_images: int = 64
    per_channel: bool = True
    #: int8 activation-range method, one of :data:`ACTIVATION_RANGE_METHODS` (the config key keeps its name).
    int8_method: str = DEFAULT_ACTIVATION_RANGE_METHOD

    @property
    def activation_range_method(self) -> str:
        """How int8 activation ranges are set (config key ``export.int8_method``)."""
        return self.int8_method

    def gate_kwargs(self) -> dict:
        """The gate settings as keyword arguments of :func:`write_reduced_precision`."""
        return {"auc_tolerance": self.auc_tolerance, "fpr_tolerance": self.fpr_tolerance,
                "min_verdict_agreement": self.min_verdict_agreement, "target_fpr": self.target_fpr,
                "per_channel": self.per_channel, "activation_range_method": self.int8_method}

    def __post_init__(self) -> None:
        if self.auc_tolerance < 0:
            raise UsageError(f"export.auc_tolerance must be >= 0, got {self.auc_tolerance}")
        if self.fpr_tolerance < 0:
            raise UsageError(f"export.fpr_tolerance must be >= 0, got {self.fpr_tolerance}")
        if not 0 <= self.min_verdict_agreement <= 1:
            raise UsageError(f"export.min_verdict_agreement must be in [0, 1], got {self.min_verdict_agreement}")
        if self.target_fpr is not None and not 0 <= self.target_fpr < 1:
            raise UsageError(f"export.target_fpr must be null or in [0, 1), got {self.target_fpr}")
        if self.int8_method not in ACTIVATION_RANGE_METHODS:
            raise UsageError(f"export.int8_method (int8 activation ranges) must be one of {ACTIVATION_RANGE_METHODS}, "
                             f"got {self.int8_method!r}")
        if self.opset < 13:
            raise UsageError(f"export.opset must be >= 13, got {self.opset}")
        if self.parity_images < 1:
            raise UsageError(f"export.parity_images must be >= 1, got {self.parity_images}")


class ExportWrapper(nn.Module):
    """What the ONNX graph computes: tiles in ``[0, 1]`` ``(N, 3, T, T)`` -> ``logit`` and ``prob``
    ``(N, 1)`` and the per-pixel ``mask`` probability ``(N, 1, T, T)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logit, mask = self.model(image)
        return logit, torch.sigmoid(logit), torch.sigmoid(mask)


class ParityError(FakedamageError, RuntimeError):
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
    """``meta`` with the export's precision, UTC time and code commit, in the current metadata format
    (the scoring spec this code implements; a checkpoint trained by older code is re-described)."""
    from datetime import datetime, timezone

    from . import __version__
    from .meta import FORMAT_VERSION
    from .scoring_spec import SCORING_SPEC
    from .utils.io import git_commit

    return meta.replace(precision=precision, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        git_commit=git_commit() or meta.git_commit, version=meta.version or __version__,
                        format_version=FORMAT_VERSION, scoring=json.loads(json.dumps(SCORING_SPEC)),
                        normalization_in_graph=True)


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
                opset: int = 17, dynamo: bool = False, tolerance: float = 1e-4, conformance: bool = True) -> ParityReport:
    """Export, check parity on real images, then write ``path`` and ``<path>.json`` atomically.

    Args:
        model: Trained detector (CPU copy is exported).
        meta: Metadata stored in the file.
        path: Destination ``.onnx``.
        parity_images: Real ``(H, W, 3)`` uint8 images (at least a few dozen).
        opset: ONNX opset (17 is the robust default).
        dynamo: Use the dynamo exporter instead of the TorchScript-based one.
        tolerance: Max allowed |Δprob|.
        conformance: Also write ``<stem>.conformance.json`` (:mod:`fakedamage.conformance`) beside
            ``path`` and record its SHA-256 in the metadata (``conformance_sha256``).

    Raises:
        ParityError: nothing is written; the message gives the measured gap.
        UsageError: the metadata does not follow the published schema, or the model's normalisation
            differs from its metadata.
    """
    from .models.checkpoint import check_normalization
    from .scoring_spec import validate_metadata

    if not parity_images:
        raise UsageError("parity needs real images; none were given")
    path = Path(path)
    model = model.eval().cpu()
    check_normalization(model, meta, path)
    meta = _stamp(meta)
    validate_metadata(meta.to_dict())
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
        if conformance:  # vectors scored by the finished file; their digest goes into its metadata
            from .conformance import write_conformance

            _, digest = write_conformance(tmp, path.with_name(path.stem + ".conformance.json"))
            meta = meta.replace(conformance_sha256=digest)
            write_model_metadata(tmp, meta)
    atomic_write_text(path.with_suffix(".json"), meta.to_json() + "\n")
    return report


class GateError(FakedamageError, RuntimeError):
    """A reduced-precision copy failed its gate (AUC, FPR at its threshold, verdict agreement); nothing was written."""


@dataclass(frozen=True)
class GateReport:
    """A reduced-precision copy against fp32 on the same validation images.

    Each copy scores the images as a client would (whole images, tiled, size-corrected) and
    decides at its own threshold and temperature: fp32 with those in its metadata, the reduced
    copy with those recalibrated on these images (``threshold``, ``temperature``).

    Attributes:
        precision: ``int8`` or ``fp16``.
        n_images, n_real: Validation images, and how many of them are real (label 0).
        auc_fp32, auc: AUC of each copy.
        tolerance: Largest allowed ``|auc - auc_fp32|``.
        max_abs_dprob: Largest ``|Δprobability|`` between the copies, each with its own temperature.
        fpr_fp32: fp32's false-positive rate on the reals at its threshold.
        fpr: The reduced copy's at its recalibrated threshold.
        fpr_inherited: The reduced copy's at fp32's threshold and temperature (what it would have
            shipped without recalibration; reported, not gated).
        fpr_tolerance: Largest allowed ``fpr - fpr_fp32``.
        verdicts_agree: Images with the same ``is_fake`` from both copies.
        min_verdict_agreement: Smallest allowed ``verdicts_agree / n_images``.
        threshold, temperature: The reduced copy's, recalibrated (written into its metadata).
        threshold_fp32, temperature_fp32: fp32's, from its metadata.
        target_fpr: Target of the recalibrated threshold.
        fpr_upper_95: One-sided 95 % upper bound of the reduced copy's true FPR given its false
            positives among ``n_real`` (:func:`~fakedamage.calibration.fpr_upper_bound`): how much
            the split can show.
    """

    precision: str
    n_images: int
    auc_fp32: float
    auc: float
    tolerance: float
    max_abs_dprob: float
    n_real: int = 0
    fpr_fp32: float = 0.0
    fpr: float = 0.0
    fpr_inherited: float = 0.0
    fpr_tolerance: float = DEFAULT_FPR_TOLERANCE
    verdicts_agree: int = 0
    min_verdict_agreement: float = DEFAULT_MIN_VERDICT_AGREEMENT
    threshold: float = 0.5
    temperature: float = 1.0
    threshold_fp32: float = 0.5
    temperature_fp32: float = 1.0
    target_fpr: float = 0.01
    fpr_upper_95: float = 1.0

    @property
    def delta(self) -> float:
        """``auc - auc_fp32``."""
        return self.auc - self.auc_fp32

    @property
    def fpr_increase(self) -> float:
        """``fpr - fpr_fp32`` (absolute)."""
        return self.fpr - self.fpr_fp32

    @property
    def verdict_agreement(self) -> float:
        """Share of the images with the same verdict from both copies."""
        return self.verdicts_agree / self.n_images if self.n_images else 0.0

    def failures(self) -> list[str]:
        """One phrase per check that fails (empty when the copy passes)."""
        out = []
        if not abs(self.delta) <= self.tolerance:
            out.append(f"validation AUC {self.auc:.4f} vs fp32 {self.auc_fp32:.4f} (change {self.delta:+.4f}, "
                       f"allowed ±{self.tolerance:g})")
        if not self.fpr_increase <= self.fpr_tolerance + 1e-12:
            out.append(f"FPR on {self.n_real} validation reals {self.fpr:.4f} at its threshold {self.threshold:.4f} vs "
                       f"fp32 {self.fpr_fp32:.4f} (increase {self.fpr_increase:+.4f}, allowed +{self.fpr_tolerance:g})")
        if not self.verdict_agreement >= self.min_verdict_agreement - 1e-12:
            out.append(f"verdicts agree with fp32 on {self.verdicts_agree}/{self.n_images} images "
                       f"({self.verdict_agreement:.2%}, at least {self.min_verdict_agreement:.2%} required)")
        return out

    @property
    def ok(self) -> bool:
        return not self.failures()

    def to_dict(self) -> dict:
        return {"precision": self.precision, "n_images": self.n_images, "n_real": self.n_real,
                "auc_fp32": self.auc_fp32, "auc": self.auc, "delta_auc": self.delta, "tolerance": self.tolerance,
                "max_abs_dprob": self.max_abs_dprob, "fpr_fp32": self.fpr_fp32, "fpr": self.fpr,
                "fpr_increase": self.fpr_increase, "fpr_inherited": self.fpr_inherited,
                "fpr_tolerance": self.fpr_tolerance, "verdicts_agree": self.verdicts_agree,
                "verdict_agreement": self.verdict_agreement, "min_verdict_agreement": self.min_verdict_agreement,
                "threshold": self.threshold, "temperature": self.temperature, "threshold_fp32": self.threshold_fp32,
                "temperature_fp32": self.temperature_fp32, "target_fpr": self.target_fpr,
                "fpr_upper_95": self.fpr_upper_95, "ok": self.ok}


def _activation_tiles(images: Sequence[np.ndarray], meta: ModelMeta, n_tiles: int, seed: int = 0) -> np.ndarray:
    """Up to ``n_tiles`` tiles of ``images`` (a seeded sample, in order) that set the int8 activation ranges."""
    from .runtime.tiling import extract_tiles

    tiles = np.concatenate([extract_tiles(im, meta.tile_size, meta.tile_stride)[0] for im in images])
    rng = np.random.default_rng(seed)
    return tiles[np.sort(rng.permutation(len(tiles))[:n_tiles])]


def quantize_int8(fp32_path: str | Path, out_path: str | Path, activation_images: Sequence[np.ndarray],
                  meta: ModelMeta, per_channel: bool = True, n_tiles: int = 256,
                  activation_range_method: str = DEFAULT_ACTIVATION_RANGE_METHOD) -> None:
    """Static QDQ int8 quantisation with onnxruntime's tools.

    Weights are int8 (symmetric, per output channel when ``per_channel``); activations are uint8
    (asymmetric) with ranges set by ``activation_range_method`` (default ``percentile``: the
    99.999th percentile of absolute values) on tiles of real images; inputs and outputs stay
    float32. This is onnxruntime's "calibration" of activations, unrelated to the threshold
    and temperature calibration of :mod:`fakedamage.calibration`.

    Args:
        fp32_path: The exported fp32 model.
        out_path: Where the int8 model goes (not atomic; :func:`write_reduced_precision` is).
        activation_images: Real ``(H, W, 3)`` uint8 training images.
        meta: The fp32 model's metadata (tile size and stride).
        per_channel: Per-channel weight scales.
        n_tiles: Most activation-range tiles.
        activation_range_method: One of :data:`ACTIVATION_RANGE_METHODS`.
    """
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    if activation_range_method not in methods:
        raise UsageError(f"int8 activation-range method must be one of {ACTIVATION_RANGE_METHODS}, "
                         f"got {activation_range_method!r}")
    tiles = _activation_tiles(activation_images, meta, n_tiles)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(tiles[i : i + 1] for i in range(len(tiles)))

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {meta.input_name: x}

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        shape_nodes = _shape_arithmetic_nodes(pre)
        quantize_static(str(pre), str(out_path), _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=methods[activation_range_method], nodes_to_exclude=shape_nodes,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True,
                                       "CalibPercentile": 99.999})


def _shape_arithmetic_nodes(path: Path) -> list[str]:
    """Nodes whose outputs do not depend on the input's values, only on its shape or on constants.

    Exporters compute padding and resize sizes in float arithmetic on ``Shape`` outputs (e.g.
    timm's TF-"same" padding of EfficientNet-Lite: ``Sub``, ``Mul``, ``Clip``, ``Add`` on tile
    sizes). Quantising those to 8 bits changes the padding, hence the feature maps' sizes and
    alignment: the int8 copy of ``tf_efficientnet_lite0`` scored like a different model (logit
    correlation 0.5 with fp32). They stay float; only nodes on the input's value path are quantised.
    Nodes without a name get one (saved back to ``path``) so that they can be excluded by name.
    """
    import onnx

    proto = onnx.load(str(path))
    renamed = False
    for i, node in enumerate(proto.graph.node):
        if not node.name:
            node.name, renamed = f"fakedamage_node_{i}", True
    if renamed:
        onnx.save(proto, str(path))
    value = {i.name for i in proto.graph.input} - {t.name for t in proto.graph.initializer}
    excluded = []
    for node in proto.graph.node:  # ONNX graphs are topologically sorted
        if node.op_type not in ("Shape", "Size") and any(i in value for i in node.input):
            value.update(node.output)
        else:
            excluded.append(node.name)
    return excluded


def convert_fp16(fp32_path: str | Path, out_path: str | Path) -> None:
    """float16 weights and compute with float32 inputs and outputs (``keep_io_types``)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    onnx.save(proto, str(out_path))


def check_gate(fp32_path: str | Path, candidate_path: str | Path, images: Sequence[np.ndarray],
               labels: Sequence[int], precision: str, auc_tolerance: float = DEFAULT_AUC_TOLERANCE,
               providers: Sequence[str] | None = None, *, fpr_tolerance: float = DEFAULT_FPR_TOLERANCE,
               min_verdict_agreement: float = DEFAULT_MIN_VERDICT_AGREEMENT,
               target_fpr: float | None = None) -> GateReport:
    """Recalibrate a reduced copy on validation images and compare it with fp32 at the operating point.

    Both models score every image (whole image, tiled, size-corrected logit). fp32 decides
    with its metadata's temperature and threshold. The candidate gets its own: the temperature
    is fitted (:func:`~fakedamage.calibration.fit_temperature`, only when fp32's is not 1.0, i.e.
    fp32 was temperature-calibrated) and the threshold is set on its real scores for
    ``target_fpr`` (:func:`~fakedamage.calibration.threshold_at_fpr`, midway to the next score
    as :func:`~fakedamage.calibration.calibrate` sets it).

    With ``target_fpr=None`` the target is fp32's false-positive rate on these reals, so the
    candidate keeps fp32's number of false positives on the split, wherever fp32's threshold was
    set; the FPR check then guards against ties and explicit targets, and verdict agreement is
    what shows whether the copy moved images across the operating point.

    Args:
        fp32_path: The fp32 model.
        candidate_path: The reduced copy (any metadata with the same tiling).
        images: Validation ``(H, W, 3)`` uint8 images, real and fake.
        labels: Their labels (0 real, 1 fake).
        precision: Name for the report.
        auc_tolerance, fpr_tolerance, min_verdict_agreement: See :class:`GateReport`.
        providers: onnxruntime providers (CPU by default).
        target_fpr: Target FPR of the candidate's threshold (``None``: fp32's on these reals).
    """
    from sklearn.metrics import roc_auc_score

    from .calibration import fit_temperature, fpr_upper_bound, threshold_at_fpr
    from .runtime.detector import Detector
    from .runtime.tiling import sigmoid

    providers = list(providers or ["CPUExecutionProvider"])
    ref = Detector(fp32_path, providers=providers)
    cand = Detector(candidate_path, providers=providers)
    y = np.asarray(labels, dtype=int)
    if len(images) != y.size:
        raise UsageError(f"{len(images)} validation images but {y.size} labels")
    if not 0 < y.sum() < y.size:
        raise UsageError("the reduced-precision gate needs real and fake validation images")
    z_ref = np.array([ref.scan(im).adjusted for im in images], dtype=np.float64)
    z_cand = np.array([cand.scan(im).adjusted for im in images], dtype=np.float64)
    t_ref, thr_ref = ref.meta.temperature, ref.meta.threshold
    p_ref = sigmoid(z_ref / t_ref)
    real = y == 0
    fpr_ref = float((p_ref[real] >= thr_ref).mean())
    target = min(fpr_ref if target_fpr is None else float(target_fpr), 1 - 1e-9)
    # what calibration.calibrate does (same functions, same margin above the deciding real), also for
    # target 0, where calibrate() cannot compute its "reals needed" warning
    temperature = fit_temperature(z_cand, y) if abs(t_ref - 1.0) > 1e-12 else 1.0
    p_cand = sigmoid(z_cand / temperature)
    threshold = threshold_at_fpr(p_cand[real], target, all_scores=p_cand)
    false_pos = int((p_cand[real] >= threshold).sum())
    agree = int(((p_ref >= thr_ref) == (p_cand >= threshold)).sum())
    return GateReport(
        precision, int(y.size), float(roc_auc_score(y, z_ref)), float(roc_auc_score(y, z_cand)), float(auc_tolerance),
        float(np.abs(p_ref - p_cand).max()), n_real=int(real.sum()), fpr_fp32=fpr_ref,
        fpr=false_pos / int(real.sum()),
        fpr_inherited=float((sigmoid(z_cand[real] / t_ref) >= thr_ref).mean()), fpr_tolerance=float(fpr_tolerance),
        verdicts_agree=agree, min_verdict_agreement=float(min_verdict_agreement), threshold=float(threshold),
        temperature=float(temperature), threshold_fp32=float(thr_ref), temperature_fp32=float(t_ref),
        target_fpr=float(target), fpr_upper_95=fpr_upper_bound(int(real.sum()), false_pos))


def write_reduced_precision(fp32_path: str | Path, precision: str, val_images: Sequence[np.ndarray],
                            val_labels: Sequence[int], activation_images: Sequence[np.ndarray] = (),
                            auc_tolerance: float = DEFAULT_AUC_TOLERANCE, per_channel: bool = True,
                            activation_range_method: str = DEFAULT_ACTIVATION_RANGE_METHOD, *,
                            fpr_tolerance: float = DEFAULT_FPR_TOLERANCE,
                            min_verdict_agreement: float = DEFAULT_MIN_VERDICT_AGREEMENT,
                            target_fpr: float | None = None) -> tuple[Path, GateReport]:
    """Make ``<name>.int8.onnx`` or ``<name>.fp16.onnx`` beside ``fp32_path``, recalibrated and gated.

    The copy's temperature and threshold are recalibrated on the validation images and written
    into its metadata (ONNX ``metadata_props`` and the ``.json`` sidecar) with the gate's report
    under ``export_checks["<precision>_gate"]``; see :func:`check_gate` for the gate.

    Args:
        fp32_path: The exported fp32 model (its metadata is the starting point of the copy's).
        precision: ``int8`` or ``fp16``.
        val_images, val_labels: The validation split (real and fake): recalibration and gate.
        activation_images: Real training images whose tiles set the int8 activation ranges.
        auc_tolerance: Largest allowed AUC change (:data:`DEFAULT_AUC_TOLERANCE`).
        per_channel: Per-channel int8 weight scales.
        activation_range_method: One of :data:`ACTIVATION_RANGE_METHODS`.
        fpr_tolerance: Largest allowed FPR increase on the validation reals (:data:`DEFAULT_FPR_TOLERANCE`).
        min_verdict_agreement: Smallest share of same verdicts (:data:`DEFAULT_MIN_VERDICT_AGREEMENT`).
        target_fpr: Target FPR of the copy's threshold (``None``: fp32's on the validation reals).

    Raises:
        GateError: a check failed (the message names each failing check with its measured value
            and tolerance); nothing is written.
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
            raise UsageError(f"{out.name}: fp16 export needs a CUDA GPU (onnxruntime-gpu) to check its gate; "
                             "export.int8=true is the CPU option")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    elif precision != "int8":
        raise UsageError(f"precision must be int8 or fp16, got {precision!r}")
    if precision == "int8" and not len(activation_images):
        raise UsageError("int8 quantisation needs real images to set its activation ranges (the train split)")
    with atomic_path(out) as tmp:
        if precision == "int8":
            quantize_int8(fp32_path, tmp, activation_images, meta, per_channel=per_channel,
                          activation_range_method=activation_range_method)
        else:
            convert_fp16(fp32_path, tmp)
        reduced = _stamp(meta, precision)
        write_model_metadata(tmp, reduced)  # loadable by the Detector for the gate; rewritten below
        report = check_gate(fp32_path, tmp, val_images, val_labels, precision, auc_tolerance, providers,
                            fpr_tolerance=fpr_tolerance, min_verdict_agreement=min_verdict_agreement,
                            target_fpr=target_fpr)
        if not report.ok:
            raise GateError(f"{out}: {precision} copy fails its gate on {report.n_images} validation images: "
                            f"{'; '.join(report.failures())}; not written")
        checks = {**meta.export_checks, f"{precision}_gate": report.to_dict()}
        if precision == "int8":
            checks[f"{precision}_gate"]["activation_range_method"] = activation_range_method
        reduced = reduced.replace(threshold=report.threshold, temperature=report.temperature, export_checks=checks)
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
