"""Torch-free detector: score photos with an exported fakedamage ONNX model.

The ONNX file carries its own :class:`~fakedamage.meta.ModelMeta` (``metadata_props``
key ``"fakedamage"``), so a :class:`Detector` needs nothing but the file:

    >>> det = Detector("model.onnx")                        # doctest: +SKIP
    >>> pred = det.predict("claim.jpg")                     # doctest: +SKIP
    >>> pred.score, pred.is_fake                            # doctest: +SKIP
    (0.973..., True)

Scoring an image: decode to RGB uint8 at native resolution -> score tiles ``batch_size``
at a time, never all at once (:func:`~fakedamage.runtime.tiling.scan_image`: the dense grid,
or coarse-to-fine as the metadata says) -> pool -> subtract the size correction ->
``score = sigmoid(adjusted / temperature)`` -> ``is_fake = score >= threshold``.

Only numpy, Pillow, onnxruntime and ``fakedamage.meta`` / ``fakedamage.runtime``
are imported; never torch. A :class:`Detector` is safe to share between threads:
it holds one ``InferenceSession`` and ``predict`` changes no state.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import onnxruntime as ort

from ..errors import UsageError
from ..meta import META_KEY, ModelMeta
from .image_io import DEFAULT_MAX_PIXELS, ImageDecodeError, ImageSource, load_image
from .tiling import ScanCancelled, ScanResult, scan_image, sigmoid

__all__ = ["Detector", "Prediction", "PredictionError", "ModelLoadError", "DEFAULT_PROVIDERS", "ScanCancelled"]

logger = logging.getLogger(__name__)

#: Execution providers tried when none are requested, best first.
DEFAULT_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


class ModelLoadError(UsageError):
    """The model file is missing, not ONNX, or not a fakedamage model. One-line message."""


@dataclass(frozen=True, eq=False)
class Prediction:
    """Result of scoring one image.

    Attributes:
        path: The input path, or ``None`` for bytes / arrays / in-memory images.
        score: Image probability of AI-painted damage, ``sigmoid(logit)`` in ``[0, 1]``.
        is_fake: ``score >= threshold``.
        threshold: Decision threshold used.
        logit: Pooled tile logit minus the size correction, divided by the model temperature
            (so ``score == sigmoid(logit)``).
        tile_scores: ``(n_tiles,)`` float64 read-only array, per-tile probabilities
            ``sigmoid(tile_logit / temperature)`` of the scored tiles.
        tile_origins: ``(y, x)`` top-left corner of each scored tile in the (padded) image.
        image_size: ``(H, W)`` of the decoded, upright image.
        timings: Milliseconds spent in ``decode``, ``infer`` (tiling, model, pooling) and ``total``.
        heatmap: ``(H, W)`` float32 read-only map at image size, per-pixel probability that the
            pixel was produced by a generator (tile maps stitched, overlaps blended with a Hann window), or ``None``
            unless requested with ``predict(x, heatmap=True)``.
    """

    path: str | None
    score: float
    is_fake: bool
    threshold: float
    logit: float
    tile_scores: np.ndarray
    tile_origins: list[tuple[int, int]]
    image_size: tuple[int, int]
    timings: dict[str, float]
    heatmap: np.ndarray | None = None

    @property
    def n_tiles(self) -> int:
        """Number of tiles the image was cut into."""
        return int(self.tile_scores.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (tile origins omitted; they follow from ``image_size`` and the model meta)."""
        return {
            "path": self.path,
            "score": float(self.score),
            "is_fake": bool(self.is_fake),
            "threshold": float(self.threshold),
            "logit": float(self.logit),
            "n_tiles": self.n_tiles,
            "image_size": [int(v) for v in self.image_size],
            "tile_scores": [float(v) for v in self.tile_scores],
            "timings": {k: round(float(v), 3) for k, v in self.timings.items()},
        }


@dataclass(frozen=True)
class PredictionError:
    """An input of :meth:`Detector.predict_batch` that could not be scored.

    Attributes:
        path: The input path, or ``None`` for non-path inputs.
        error: One-line message naming the input, the problem and the fix.
    """

    path: str | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "error": self.error}


def _input_path(x: object) -> str | None:
    if isinstance(x, (str, os.PathLike)):
        return os.fsdecode(x)
    return None


def _select_providers(requested: Sequence[str] | None) -> tuple[list[str], str]:
    """``requested`` ∩ available (order of ``requested``); CPU if nothing is left."""
    wanted = list(requested) if requested else list(DEFAULT_PROVIDERS)
    available = set(ort.get_available_providers())
    chosen = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
    return chosen, wanted[0]


class Detector:
    """Score images with an exported fakedamage ONNX model.

    Args:
        path: The ``.onnx`` file written by ``fakedamage export``.
        providers: onnxruntime execution providers in order of preference; those
            not available here are skipped. Default: CUDA, then CPU.
        threads: ``intra_op_num_threads`` of the session (default: onnxruntime's choice).
        threshold: Decision threshold overriding the model's calibrated ``meta.threshold``.
        batch_size: Most tiles sent to the model in one run.
        max_pixels: Largest accepted ``width * height`` of an input image.

    Raises:
        ModelLoadError: The file is missing, not ONNX, or has no ``"fakedamage"`` metadata.

    All attributes are read-only after construction.
    """

    __slots__ = ("_path", "_meta", "_threshold", "_batch_size", "_max_pixels", "_session", "_logit_name", "_mask_name")

    def __init__(
        self,
        path: str | os.PathLike,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        threshold: float | None = None,
        batch_size: int = 8,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self._path = Path(path)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if not self._path.is_file():
            raise ModelLoadError(f"{self._path}: model file not found; pass the .onnx written by `fakedamage export`")

        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only; provider fallback is reported below
        if threads is not None:
            opts.intra_op_num_threads = int(threads)
        chosen, first_wanted = _select_providers(providers)
        try:
            session = ort.InferenceSession(str(self._path), sess_options=opts, providers=chosen)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own pybind types
            detail = " ".join(str(e).split())[:200]
            raise ModelLoadError(f"{self._path}: not a loadable ONNX model ({detail}); re-export it with `fakedamage export`") from None
        used = session.get_providers()[0]
        if used != first_wanted:
            # Falling back from the default CUDA on a CPU-only machine is expected: info, not warning.
            log = logger.info if providers is None else logger.warning
            log("fakedamage: %s is not available, running %s with %s", first_wanted, self._path.name, used)

        meta_json = session.get_modelmeta().custom_metadata_map.get(META_KEY)
        if meta_json is None:
            raise ModelLoadError(
                f"{self._path} is not a fakedamage model (no '{META_KEY}' metadata); export it with `fakedamage export`"
            )
        try:
            meta = ModelMeta.from_json(meta_json)
        except ValueError as e:
            raise ModelLoadError(f"{self._path}: invalid '{META_KEY}' metadata ({e})") from None
        self._check_io(session, meta)

        self._session = session
        self._meta = meta
        self._threshold = float(meta.threshold if threshold is None else threshold)
        self._batch_size = int(batch_size)
        self._max_pixels = int(max_pixels)
        self._logit_name = meta.output_names[0]
        outputs = {o.name for o in session.get_outputs()}
        self._mask_name = "mask" if "mask" in meta.output_names and "mask" in outputs else None

    def _check_io(self, session: ort.InferenceSession, meta: ModelMeta) -> None:
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = {o.name for o in session.get_outputs()}
        if meta.input_name not in inputs:
            raise ModelLoadError(f"{self._path}: model has no input {meta.input_name!r} (inputs: {sorted(inputs)}); re-export it")
        if meta.output_names[0] not in outputs:
            raise ModelLoadError(f"{self._path}: model has no output {meta.output_names[0]!r} (outputs: {sorted(outputs)}); re-export it")
        shape = inputs[meta.input_name].shape
        t = meta.tile_size
        if len(shape) != 4 or any(isinstance(d, int) and d != e for d, e in zip(shape[1:], (3, t, t))):
            raise ModelLoadError(f"{self._path}: input shape {shape} does not match (N, 3, {t}, {t}) from its metadata; re-export it")

    # Read-only attributes ---------------------------------------------------------
    @property
    def path(self) -> Path:
        """The model file."""
        return self._path

    @property
    def meta(self) -> ModelMeta:
        """Metadata stored in the model file."""
        return self._meta

    @property
    def threshold(self) -> float:
        """Decision threshold on the score (override, else ``meta.threshold``)."""
        return self._threshold

    @property
    def batch_size(self) -> int:
        """Most tiles per model run."""
        return self._batch_size

    @property
    def max_pixels(self) -> int:
        """Largest accepted ``width * height``."""
        return self._max_pixels

    @property
    def has_heatmap(self) -> bool:
        """Whether the model has a localisation output (``predict(x, heatmap=True)`` works)."""
        return self._mask_name is not None

    @property
    def providers(self) -> list[str]:
        """Execution providers of the session, the one used first."""
        return list(self._session.get_providers())

    # Inference --------------------------------------------------------------------
    def score_tiles(self, tiles: np.ndarray, with_map: bool = False):
        """Run the model on tiles, ``batch_size`` at a time.

        Args:
            tiles: ``(N, 3, T, T)`` float32 array in ``[0, 1]``, ``T = meta.tile_size``.
            with_map: Also return the per-pixel ``mask`` output.

        Returns:
            ``(N,)`` float32 raw tile logits (before temperature); with ``with_map`` the pair
            ``(logits, maps)`` with ``maps`` ``(N, T, T)`` float32 probabilities.
        """
        t = self._meta.tile_size
        if tiles.ndim != 4 or tiles.shape[1:] != (3, t, t):
            raise ValueError(f"expected tiles of shape (N, 3, {t}, {t}), got {tiles.shape}")
        if with_map and self._mask_name is None:
            raise ValueError(f"{self._path.name} has no 'mask' output; export a model with a localisation head")
        tiles = np.ascontiguousarray(tiles, dtype=np.float32)
        runs = [self._score_batch(tiles[i : i + self._batch_size], with_map)
                for i in range(0, len(tiles), self._batch_size)]
        logits = (np.concatenate([r[0] for r in runs]).astype(np.float32, copy=False) if runs
                  else np.zeros((0,), dtype=np.float32))
        if not with_map:
            return logits
        maps = (np.concatenate([r[1] for r in runs]).astype(np.float32, copy=False) if runs
                else np.zeros((0, t, t), dtype=np.float32))
        return logits, maps

    def predict(self, x: ImageSource, heatmap: bool = False, cancelled: Callable[[], bool] | None = None
                ) -> Prediction:
        """Score one image.

        Args:
            x: Path, encoded bytes, PIL image or uint8 array ``(H, W[, 3|4])``.
            heatmap: Also return the ``(H, W)`` localisation map (needs a ``mask`` output).
            cancelled: Checked before every batch of tiles; when it returns true the scan stops
                and :class:`ScanCancelled` is raised (the service's request timeout).

        Returns:
            The :class:`Prediction`.

        Raises:
            ImageDecodeError: The input cannot be decoded (message names it).
            ScanCancelled: ``cancelled()`` returned true.
        """
        t0 = time.perf_counter()
        image = load_image(x, max_pixels=self._max_pixels)
        t1 = time.perf_counter()
        meta = self._meta
        if heatmap and self._mask_name is None:
            raise ValueError(f"{self._path.name} has no 'mask' output; export a model with a localisation head")
        res = self.scan(image, heatmap=heatmap, cancelled=cancelled)
        shape = (int(image.shape[0]), int(image.shape[1]))
        del image
        heat = res.heatmap
        if heat is not None:
            heat.setflags(write=False)
        logit = res.adjusted / meta.temperature
        score = float(sigmoid(logit))
        tile_scores = np.asarray(sigmoid(res.logits / meta.temperature), dtype=np.float64).reshape(-1)
        tile_scores.setflags(write=False)
        t2 = time.perf_counter()
        return Prediction(
            path=_input_path(x),
            score=score,
            is_fake=score >= self._threshold,
            threshold=self._threshold,
            logit=float(logit),
            tile_scores=tile_scores,
            tile_origins=[(int(y), int(x_)) for y, x_ in res.origins],
            image_size=shape,
            timings={"decode": (t1 - t0) * 1e3, "infer": (t2 - t1) * 1e3, "total": (t2 - t0) * 1e3},
            heatmap=heat,
        )

    def scan(self, image: np.ndarray, heatmap: bool = False, cancelled: Callable[[], bool] | None = None,
             **overrides: Any) -> ScanResult:
        """Raw scan of a decoded ``(H, W, 3)`` uint8 image: tile logits, pooled and size-corrected logits.

        ``overrides`` replace scan settings of the metadata (``scan``, ``refine_top``, ``size_slope``,
        ``size_reference_pixels``, ``tile_stride``) for calibration and benchmarks.
        """
        m = self._meta
        kw = dict(tile_size=m.tile_size, tile_stride=m.tile_stride, aggregation=m.aggregation, topk=m.topk,
                  scan=m.scan, refine_top=m.refine_top, size_slope=m.size_slope,
                  size_reference_pixels=m.size_reference_pixels)
        unknown = set(overrides) - set(kw)
        if unknown:
            raise TypeError(f"unknown scan setting(s) {sorted(unknown)}")
        kw.update(overrides)
        return scan_image(image, self._score_batch, batch_size=self._batch_size, with_map=heatmap,
                          cancelled=cancelled, **kw)

    def _score_batch(self, tiles: np.ndarray, with_map: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """One model run on at most ``batch_size`` tiles: raw logits and, with ``with_map``, maps."""
        names = [self._logit_name, self._mask_name] if with_map else [self._logit_name]
        out = self._session.run(names, {self._meta.input_name: tiles})
        t = self._meta.tile_size
        return out[0].reshape(-1), (out[1].reshape(-1, t, t) if with_map else None)

    def predict_batch(self, items: Iterable[ImageSource], heatmap: bool = False) -> list[Prediction | PredictionError]:
        """Score several images; a bad item yields a :class:`PredictionError`, never an exception.

        Args:
            items: Inputs accepted by :meth:`predict`.
            heatmap: Also compute each image's localisation map.

        Returns:
            One result per item, in order.
        """
        results: list[Prediction | PredictionError] = []
        for item in items:
            try:
                results.append(self.predict(item, heatmap=heatmap))
            except ImageDecodeError as e:
                results.append(PredictionError(_input_path(item), str(e)))
            except ScanCancelled:
                raise
            except Exception as e:  # noqa: BLE001 - one bad item must not stop the batch
                name = _input_path(item) or "<input>"
                detail = " ".join(str(e).split()) or type(e).__name__
                results.append(PredictionError(_input_path(item), f"{name}: {type(e).__name__}: {detail}"))
        return results

    def __repr__(self) -> str:
        m = self._meta
        return (
            f"Detector(path={str(self._path)!r}, backbone={m.backbone!r}, tile_size={m.tile_size}, "
            f"tile_stride={m.tile_stride}, aggregation={m.aggregation!r}, threshold={self._threshold}, "
            f"provider={self.providers[0]!r})"
        )
