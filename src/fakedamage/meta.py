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

__all__ = ["ModelMeta", "META_KEY", "FORMAT_VERSION", "AGGREGATIONS"]

#: Key of the JSON metadata entry in the ONNX file's ``metadata_props``.
META_KEY = "fakedamage"
#: Bumped when a field changes meaning; readers refuse newer major versions.
FORMAT_VERSION = 1
#: Ways to pool per-tile logits into one image logit.
AGGREGATIONS = ("max", "mean", "topk")


@dataclass(frozen=True)
class ModelMeta:
    """Frozen metadata of a detector: classes, threshold, input policy, normalisation.

    The model input is a float32 tensor ``(N, 3, tile_size, tile_size)`` in NCHW
    layout, RGB order, values in ``[0, 1]``. Normalisation with ``mean``/``std`` is
    part of the exported graph; it is recorded here so PyTorch code applies the same.
    Images are never resized: they are cut into tiles of ``tile_size`` with
    ``tile_stride`` (images smaller than a tile are reflect-padded), each tile gives
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
        training: Free-form summary of the training data (generators, counts, hash).
    """

    backbone: str
    class_names: tuple[str, str] = ("real", "ai_damage")
    tile_size: int = 128
    tile_stride: int = 128
    aggregation: str = "max"
    topk: int = 2
    threshold: float = 0.5
    temperature: float = 1.0
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    input_name: str = "image"
    output_names: tuple[str, ...] = ("logit", "prob", "mask")
    version: str = ""
    format_version: int = FORMAT_VERSION
    training: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.tile_size <= 0 or self.tile_stride <= 0:
            raise ValueError(f"tile_size and tile_stride must be positive, got {self.tile_size}, {self.tile_stride}")
        if self.tile_stride > self.tile_size:
            raise ValueError(f"tile_stride {self.tile_stride} > tile_size {self.tile_size} would skip pixels")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}")
        if self.topk < 1:
            raise ValueError(f"topk must be >= 1, got {self.topk}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std need three values (RGB)")

    def replace(self, **changes: Any) -> "ModelMeta":
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; tuples become lists."""
        d = dataclasses.asdict(self)
        d["training"] = dict(self.training)
        return json.loads(json.dumps(d))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelMeta":
        """Build from a dict written by :meth:`to_dict`; unknown keys are rejected."""
        data = dict(data)
        fv = int(data.get("format_version", FORMAT_VERSION))
        if fv > FORMAT_VERSION:
            raise ValueError(
                f"model metadata format {fv} is newer than this fakedamage understands ({FORMAT_VERSION}); "
                "upgrade fakedamage"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown model metadata keys {unknown}; valid keys: {sorted(names)}")
        for key in ("class_names", "mean", "std", "output_names"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "ModelMeta":
        return cls.from_dict(json.loads(text))
