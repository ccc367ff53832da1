"""Assess a refund claim photo: provenance, pixel detector and the merchant's photos, fused.

    >>> from fakedamage.runtime import Detector
    >>> from fakedamage.assess import Assessor
    >>> assessor = Assessor(Detector("model.onnx"))                      # doctest: +SKIP
    >>> a = assessor.assess("claim.jpg", references=["listing1.jpg"])    # doctest: +SKIP
    >>> a.verdict, a.score, [e.kind for e in a.evidence]                 # doctest: +SKIP
    ('likely_ai_edited', 0.95, ['no_provenance_label', 'detector', 'reference_match'])

The detector is optional: ``Assessor(None)`` uses provenance and references only. The
verdict comes from :func:`fakedamage.assess.fusion.fuse` (a documented rule; thresholds in
:class:`~fakedamage.assess.settings.AssessConfig`) and names the evidence that decided it.

Assessments in different threads are independent (one :class:`Assessor` per thread): no
process-wide state such as warning filters is touched, and corrupt EXIF is found by an explicit
check of its structure (:mod:`fakedamage.assess.provenance.exif`), not by recording Pillow's
warnings. Pillow may still print such a warning through Python's ``warnings`` module.

torch is never imported: numpy, Pillow, OpenCV, onnxruntime (through the detector),
defusedxml, and optionally c2pa-python, invisible-watermark's torch-free decoder and
rapidocr-onnxruntime's OCR models (visible AI labels, :mod:`fakedamage.assess.explicit_label`;
``explicit_label: false`` in the config skips that step).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence, Union

import numpy as np
from PIL import Image

from ..runtime.image_io import ImageDecodeError, load_image
from .evidence import Evidence, encode_png_base64, json_safe, thumbnail
from .explicit_label import explicit_label_evidence, merge_explicit_label
from .fusion import Decision, detector_strength, fuse
from .provenance import read_provenance
from .reference import ReferenceImage, ReferenceMatcher, load_references, reference_evidence
from .settings import AssessConfig, load_config

__all__ = ["Assessor", "Assessment", "Evidence", "ClaimSource", "ReferenceSource"]

#: What :meth:`Assessor.assess` accepts as the claim: a path, the file's bytes, or pixels
#: (pixels carry no metadata, so provenance is then reported as not checked).
ClaimSource = Union[str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray]
#: A reference: an image path, encoded bytes (e.g. an upload), a PIL image, ``(H, W, 3)`` uint8 RGB
#: pixels, or a :class:`ReferenceImage` (which names it).
ReferenceSource = Union[str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray, ReferenceImage]


class _DetectorLike(Protocol):
    has_heatmap: bool

    def predict(self, x: Any, heatmap: bool = False) -> Any: ...


@dataclass(frozen=True, eq=False)
class Assessment:
    """The outcome of assessing one claim.

    Attributes:
        claim: The claim's path or name (``None`` for unnamed bytes or pixels).
        verdict: ``likely_ai_edited``, ``needs_review`` or ``likely_authentic``.
        score: Strength of the strongest evidence for AI editing, in ``[0, 1]``.
        reason: One sentence naming the deciding evidence.
        evidence: Every item found, in the order provenance, detector, reference.
        decided_by: Indices into :attr:`evidence` of the items that decided the verdict.
        rule: The fusion rule that fired (1-4, see :mod:`fakedamage.assess.fusion`).
        image_size: ``(H, W)`` of the decoded claim.
        timings: Milliseconds per stage (``decode``, ``provenance``, ``explicit_label`` (OCR of the border
            bands), ``detector``, ``references``, ``total``).
        thresholds: The fusion thresholds used.
        thumbnail: ``(h, w, 3)`` uint8 RGB claim, longer side at most 512, for reports.
    """

    claim: str | None
    verdict: str
    score: float
    reason: str
    evidence: tuple[Evidence, ...]
    decided_by: tuple[int, ...]
    rule: int
    image_size: tuple[int, int]
    timings: dict[str, float]
    thresholds: dict[str, float]
    thumbnail: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((1, 1, 3), np.uint8))

    @property
    def deciding(self) -> list[Evidence]:
        """The evidence items that decided the verdict."""
        return [self.evidence[i] for i in self.decided_by]

    def to_dict(self, include_maps: bool = False, max_side: int = 512) -> dict[str, Any]:
        """JSON-safe dictionary, self-sufficient for a review page.

        Args:
            include_maps: Embed the claim thumbnail and every evidence map / picture as base64
                PNGs (longer side at most ``max_side``).
            max_side: Longest side of embedded pictures.

        Returns:
            ``{"claim", "verdict", "score", "reason", "rule", "decided_by": [{"index", "kind"}],
            "evidence": [...], "image_size", "timings_ms", "thresholds", "claim_thumbnail"}``
            (``claim_thumbnail`` is ``None`` without ``include_maps``).
        """
        from .. import __version__

        return json_safe({
            "claim": self.claim,
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "reason": self.reason,
            "rule": self.rule,
            "decided_by": [{"index": i, "kind": self.evidence[i].kind} for i in self.decided_by],
            "evidence": [e.to_dict(include_maps, max_side) for e in self.evidence],
            "image_size": list(self.image_size),
            "timings_ms": {k: round(v, 1) for k, v in self.timings.items()},
            "thresholds": dict(self.thresholds),
            "claim_thumbnail": encode_png_base64(self.thumbnail, max_side) if include_maps else None,
            "fakedamage_version": __version__,
        })


def _read_claim(claim: ClaimSource, cfg: AssessConfig) -> tuple[bytes | None, Any, str | None]:
    """``(file bytes or None, what load_image gets, name)``."""
    if isinstance(claim, (str, os.PathLike)):
        path = Path(claim)
        if not path.is_file():
            raise ImageDecodeError(f"{path}: no such file; check the claim path")
        size = path.stat().st_size
        if size > cfg.max_file_bytes:
            raise ImageDecodeError(f"{path}: {size / 1e6:.0f} MB is over the {cfg.max_file_bytes / 1e6:.0f} MB limit; "
                                   f"upload a smaller photo")
        data = path.read_bytes()
        return data, data, os.fspath(path)
    if isinstance(claim, (bytes, bytearray, memoryview)):
        data = bytes(claim)
        if len(data) > cfg.max_file_bytes:
            raise ImageDecodeError(f"<bytes>: {len(data) / 1e6:.0f} MB is over the limit; upload a smaller photo")
        return data, data, None
    return None, claim, getattr(claim, "filename", None) or None


def _detector_evidence(detector: _DetectorLike, pixels: np.ndarray, cfg: AssessConfig) -> Evidence:
    want_map = bool(getattr(detector, "has_heatmap", False))
    pred = detector.predict(pixels, heatmap=want_map)
    s, t = float(pred.score), float(pred.threshold)
    strength = detector_strength(s, t, cfg)
    heat = pred.heatmap
    if s >= t:
        where = ", mostly in the highlighted area" if heat is not None else ""
        text = f"The pixel detector scores the photo {s:.2f} (threshold {t:.2f}): its pixels look AI-generated{where}."
    else:
        text = (f"The pixel detector scores the photo {s:.2f}, below its threshold {t:.2f}: it finds no sign of "
                f"AI-painted pixels.")
    details = {"score": s, "threshold": t, "logit": float(getattr(pred, "logit", float("nan"))),
               "n_tiles": int(getattr(pred, "n_tiles", 0)),
               "timings_ms": {k: round(float(v), 1) for k, v in (getattr(pred, "timings", {}) or {}).items()}}
    small = thumbnail(np.asarray(heat, dtype=np.float32), 1024) if heat is not None else None
    return Evidence("detector", strength, text, "detector", details, small,
                    "detector heatmap (probability of AI-generated pixels)" if small is not None else "")


class Assessor:
    """Assess claims with provenance, an optional pixel detector and the merchant's references.

    Args:
        detector: A :class:`fakedamage.runtime.Detector` (or anything with ``predict(x, heatmap=)``
            and ``has_heatmap``), or ``None`` for provenance and reference evidence only.
        config: Thresholds; default: ``configs/assess.yaml`` if found, else the dataclass defaults.
        cache_size: Prepared references kept between claims (a batch often reuses listing photos).

    One :class:`Assessor` per thread.
    """

    def __init__(self, detector: _DetectorLike | None = None, config: AssessConfig | None = None,
                 cache_size: int = 64) -> None:
        if config is None:
            config = load_config()
        self.detector = detector
        self.config = config
        self.matcher = ReferenceMatcher(config, cache_size=cache_size)

    def _references(self, references: Sequence[ReferenceSource],
                    videos: Sequence[str | os.PathLike]) -> tuple[list[ReferenceImage], list[Evidence]]:
        paths = [r for r in references if isinstance(r, (str, os.PathLike))]
        refs, errors = load_references(paths, videos, self.config)
        extra: list[ReferenceImage] = []
        for i, r in enumerate(references):
            if isinstance(r, ReferenceImage):
                extra.append(r)
            elif isinstance(r, (np.ndarray, bytes, bytearray, memoryview, Image.Image)):
                try:
                    extra.append(ReferenceImage(f"reference #{i + 1}", load_image(r)))
                except ImageDecodeError as e:
                    errors.append(Evidence("reference_error", 0.0, f"The reference #{i + 1} could not be used ({e}).",
                                           "reference", {"reference": f"#{i + 1}", "error": str(e)}))
        refs = refs + extra
        if len(refs) > self.config.max_references:
            why = f"only the first {self.config.max_references} are used"
            errors.append(Evidence("reference_error", 0.0, f"The reference set ({len(refs)} images) could not be used "
                                   f"({why}).", "reference", {"reference": f"set ({len(refs)} images)", "error": why}))
        return refs[: self.config.max_references], errors

    def assess(self, claim: ClaimSource, references: Sequence[ReferenceSource] = (),
               reference_videos: Sequence[str | os.PathLike] = (), name: str | None = None) -> Assessment:
        """Assess one claim.

        Args:
            claim: Path, file bytes, PIL image or ``(H, W, 3)`` uint8 array.
            references: The merchant's listing photos (paths, bytes, PIL images, arrays or
                :class:`ReferenceImage`; unnamed ones are called ``"reference #i"``).
            reference_videos: Packing videos; frames sampled at ``config.video_fps``.
            name: Name shown in reports (default: the claim path).

        Returns:
            The :class:`Assessment`.

        Raises:
            ImageDecodeError: The claim's pixels cannot be decoded (bad metadata never raises;
                it becomes a ``metadata_error`` item).
        """
        cfg = self.config
        t0 = time.perf_counter()
        data, source, claim_name = _read_claim(claim, cfg)
        pixels = load_image(source)
        t1 = time.perf_counter()
        evidence: list[Evidence] = list(read_provenance(data, pixels, cfg))
        t_label = time.perf_counter()
        evidence = merge_explicit_label(evidence, *explicit_label_evidence(pixels, cfg))
        t2 = time.perf_counter()
        if self.detector is not None:
            evidence.append(_detector_evidence(self.detector, pixels, cfg))
        t3 = time.perf_counter()
        if references or reference_videos:
            refs, errors = self._references(references, reference_videos)
            evidence.extend(errors)
            if refs:
                evidence.append(reference_evidence(self.matcher.match(pixels, refs), cfg))
        t4 = time.perf_counter()
        decision: Decision = fuse(evidence, cfg)
        timings = {"decode": (t1 - t0) * 1e3, "provenance": (t_label - t1) * 1e3,
                   "explicit_label": (t2 - t_label) * 1e3, "detector": (t3 - t2) * 1e3,
                   "references": (t4 - t3) * 1e3, "total": (time.perf_counter() - t0) * 1e3}
        return Assessment(
            claim=name or claim_name, verdict=decision.verdict, score=decision.score, reason=decision.reason,
            evidence=tuple(evidence), decided_by=decision.decided_by, rule=decision.rule,
            image_size=(int(pixels.shape[0]), int(pixels.shape[1])), timings=timings,
            thresholds={"ai_threshold": cfg.ai_threshold, "review_threshold": cfg.review_threshold,
                        "authentic_threshold": cfg.authentic_threshold},
            thumbnail=thumbnail(pixels, 512))
