"""The one description of a trained detector that every stage shares.

:class:`ModelMeta` is created from the training config, stored beside the weights
(JSON sidecar), written into the ONNX file (``metadata_props["fakedamage"]``) and
read back by the torch-free :class:`fakedamage.Detector`. Training transforms,
export and prediction all take their input policy from it, so they cannot drift.

This module imports only the standard library.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import UsageError
from .scoring_spec import SCORING_SPEC

__all__ = ["ModelMeta", "META_KEY", "FORMAT_VERSION", "AGGREGATIONS", "PRECISIONS", "SCANS", "SCORING_RECIPE", "SCORING_SPEC"]

#: Key of the JSON metadata entry in the ONNX file's ``metadata_props``.
META_KEY = "fakedamage"
#: Bumped when a field changes meaning; readers refuse newer major versions.
FORMAT_VERSION = 3  # 2: scan, refine_top, size_slope, size_reference_pixels; 3: structured scoring spec,
#   edge padding, 16-bit -> high byte, EXIF-only orientation (fakedamage.scoring_spec)
#: Ways to pool per-tile logits into one image logit.
AGGREGATIONS = ("max", "mean", "topk")
#: Ways to choose the tiles scored: ``dense`` (every tile of the ``tile_stride`` grid) or
#: ``coarse_to_fine`` (the non-overlapping ``tile_size`` grid, then the dense tiles that overlap
#: the ``refine_top`` highest of those).
SCANS = ("dense", "coarse_to_fine")
#: Numeric precision of an exported graph.
PRECISIONS = ("fp32", "int8", "fp16")
#: The prose recipe of format_version 2 files (kept to describe them; format 3 has :data:`SCORING_SPEC`).
SCORING_RECIPE = "format_version 2: see fakedamage.scoring_spec for the structured spec of format 3"


@dataclass(frozen=True)
class ModelMeta:
    """Frozen metadata of a detector: classes, threshold, input policy, normalisation.

    The model input is a float32 tensor ``(N, 3, tile_size, tile_size)`` in NCHW
    layout, RGB order, values in ``[0, 1]``. Normalisation with ``mean``/``std`` is
    part of the exported graph; it is recorded here so PyTorch code applies the same.
    Images are never resized: they are cut into tiles of ``tile_size`` with
    ``tile_stride`` (images smaller than a tile are edge-padded), each tile gives
    one logit, and the tile logits are pooled by ``aggregation``. The image
    probability is ``sigmoid(pooled_logit / temperature)`` and the verdict is
    ``probability >= threshold``.

    Attributes:
        backbone: timm model name of the feature extractor.
        class_names: Names of label 0 and label 1.
        tile_size: Side of the square model input in pixels (native resolution).
        tile_stride: Step between tiles in pixels.
        aggregation: One of ``max``, ``mean``, ``topk`` (mean of the ``topk`` largest).
        topk: Number of tiles averaged when ``aggregation == "topk"``.
        scan: Which tiles are scored, one of :data:`SCANS` (see :data:`SCORING_RECIPE`).
        refine_top: Coarse tiles refined with the dense grid around them (``coarse_to_fine`` only).
        size_slope: Logits subtracted from the pooled logit per natural-log unit of image area
            (0: none), fitted on genuine whole photos so the false-positive rate at ``threshold``
            does not grow with the photo's size.
        size_reference_pixels: Area (pixels) at which the size correction is 0.
        threshold: Decision threshold on the probability.
        temperature: Logit temperature (calibration); 1.0 means uncalibrated.
        mean: Per-channel mean on the ``[0, 1]`` scale, applied inside the model.
        std: Per-channel standard deviation on the ``[0, 1]`` scale.
        input_name: Name of the ONNX input tensor.
        output_names: Names of the ONNX outputs: per-tile ``logit`` ``(N, 1)`` first, then
            ``prob`` ``(N, 1)`` and, for models with a localisation head, ``mask`` ``(N, 1, tile, tile)``
            (per-pixel probability that the pixel was produced by a generator).
        version: fakedamage version that trained the model.
        format_version: Version of this metadata format.
        training: Free-form summary of the training data (generators, counts, ``manifest_sha256``).
        input_layout: Layout of the input tensor (always ``NCHW``).
        input_dtype: Element type of the input tensor (``float32``; also for int8 graphs, which
            quantise inside).
        input_range: Value range of the input (``[0, 1]``: uint8 / 255).
        color_order: Channel order (``RGB``).
        precision: Numeric precision of the graph (``fp32``, ``int8``, ``fp16``).
        git_commit: Commit of the fakedamage code that trained or exported the model (``""`` if unknown).
        created: UTC time the file was written (ISO 8601).
        scoring: The normative scoring spec (:data:`SCORING_SPEC`): how a client in any language turns
            an image file into the score. Format-2 files carry a prose recipe string here.
        normalization_in_graph: ``mean``/``std`` are applied inside the exported graph (always true):
            a client feeds ``uint8 / 255`` and must not normalise again.
        conformance_sha256: SHA-256 of the ``model.conformance.json`` written beside the exported
            model (``""`` when none was written).
        export_checks: What export measured before writing the file: the parity with PyTorch and,
            for a reduced-precision copy (``<precision>_gate``), its gate against fp32 on the validation
            split (AUC change, FPR at its own recalibrated threshold, verdict agreement).
    """

    backbone: str
    class_names: tuple[str, str] = ("real", "ai_damage")
    tile_size: int = 128
    tile_stride: int = 128
    aggregation: str = "max"
    topk: int = 2
    scan: str = "dense"
    refine_top: int = 8
    size_slope: float = 0.0
    size_reference_pixels: int = 65536
    threshold: float = 0.5
    temperature: float = 1.0
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    input_name: str = "image"
    output_names: tuple[str, ...] = ("logit", "prob", "mask")
    version: str = ""
    format_version: int = FORMAT_VERSION
    training: Mapping[str, Any] = field(default_factory=dict)
    input_layout: str = "NCHW"
    input_dtype: str = "float32"
    input_range: tuple[float, float] = (0.0, 1.0)
    color_order: str = "RGB"
    precision: str = "fp32"
    git_commit: str = ""
    created: str = ""
    scoring: Mapping[str, Any] = field(default_factory=lambda: json.loads(json.dumps(SCORING_SPEC)))
    normalization_in_graph: bool = True
    conformance_sha256: str = ""
    export_checks: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.tile_size <= 0 or self.tile_stride <= 0:
            raise UsageError(f"tile_size and tile_stride must be positive, got {self.tile_size}, {self.tile_stride}")
        if self.tile_stride > self.tile_size:
            raise UsageError(f"tile_stride {self.tile_stride} > tile_size {self.tile_size} would skip pixels")
        if self.aggregation not in AGGREGATIONS:
            raise UsageError(f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}")
        if self.scan not in SCANS:
            raise UsageError(f"scan must be one of {SCANS}, got {self.scan!r}")
        if self.scan == "coarse_to_fine" and self.aggregation == "mean":
            raise UsageError("scan 'coarse_to_fine' needs aggregation 'max' or 'topk' (a mean needs every tile)")
        if self.refine_top < 0 or self.size_reference_pixels <= 0 or self.size_slope < 0:
            raise UsageError("refine_top and size_slope must be >= 0 and size_reference_pixels > 0")
        if self.topk < 1:
            raise UsageError(f"topk must be >= 1, got {self.topk}")
        if not 0.0 <= self.threshold <= 1.0:
            raise UsageError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.temperature <= 0:
            raise UsageError(f"temperature must be > 0, got {self.temperature}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if (self.input_layout, self.input_dtype, self.color_order) != ("NCHW", "float32", "RGB"):
            raise UsageError("this fakedamage reads only NCHW float32 RGB inputs; upgrade fakedamage")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise UsageError("mean and std need three values (RGB)")

    def replace(self, **changes: Any) -> "ModelMeta":
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; tuples become lists."""
        d = dataclasses.asdict(self)
        d["training"] = dict(self.training)
        d["export_checks"] = dict(self.export_checks)
        d["scoring"] = self.scoring if isinstance(self.scoring, str) else dict(self.scoring)
        return json.loads(json.dumps(d))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelMeta":
        """Build from a dict written by :meth:`to_dict`; unknown keys are ignored (logged), a newer
        ``format_version`` is refused."""
        data = dict(data)
        fv = int(data.get("format_version", FORMAT_VERSION))
        if fv > FORMAT_VERSION:
            raise UsageError(
                f"model metadata format {fv} is newer than this fakedamage understands ({FORMAT_VERSION}); "
                "upgrade fakedamage"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:  # the scoring spec's compatibility rule: clients ignore keys they do not know
            import logging

            logging.getLogger(__name__).warning("ignoring unknown model metadata keys %s", unknown)
            data = {k: v for k, v in data.items() if k in names}
        for key in ("class_names", "mean", "std", "output_names", "input_range"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "ModelMeta":
        return cls.from_dict(json.loads(text))
