"""Claim assessment in the review service: the worker side of ``POST /v1/assess``.

The claim photo, the merchant's listing photos and packing videos arrive as uploaded
bytes; :func:`assess_upload` runs in an inference worker (never in the event loop) and
hands them to :class:`fakedamage.assess.Assessor` with the service's limits applied:

* the claim's pixel count is checked from its header (422 ``too_many_pixels`` above
  ``max_pixels``); a claim the decoder refuses is a 422 ``decode_error``;
* each reference image is decoded here with ``max_pixels``; one that cannot be decoded
  (corrupt, truncated, too many pixels) becomes a ``reference_error`` evidence item,
  exactly as the assess package reports a bad reference, and the others are still used;
* a reference video is written to a private temporary directory (``mkdtemp``: mode 0700,
  unpredictable name, file created exclusively), its frames are read with the assess
  package's own reader (:func:`fakedamage.assess.reference.sample_video_frames`), and the
  directory is removed before the worker returns. Only containers recognised by their
  magic bytes (ISO BMFF / QuickTime, Matroska / WebM, AVI) reach FFmpeg, so playlists
  and other formats that could make FFmpeg open further files or URLs never do. Frames are
  bounded: each at most ``max_pixels``, at most ``video_max_frames`` per video, and
  at most ``4 * max_pixels`` decoded video pixels per request.

Reference features are never cached between requests (client photos are not kept).
One :class:`~fakedamage.assess.Assessor` per worker thread (OpenCV matchers are not shared).

:meth:`ClaimAssessor.assess` may run in several worker threads at once: the assess package
touches no process-wide state (corrupt EXIF is found by checking its structure, not by
recording Pillow's warnings), each thread has its own :class:`~fakedamage.assess.Assessor`,
and the shared detector's ONNX session is safe to call concurrently.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..assess import AssessConfig, Assessor, Evidence, fuse
from ..assess.assessor import Assessment
from ..runtime import Detector, ImageDecodeError, load_image
from .config import ServiceConfig
from .engine import decode_error
from .errors import ServiceError
from .prometheus import ServiceMetrics

__all__ = ["ReferenceUpload", "ClaimAssessor", "VIDEO_TYPES", "sniff_video_type", "check_video_type",
           "VIDEO_PIXEL_BUDGET_FACTOR"]

#: Declared content types accepted for reference videos, and the file suffix given to FFmpeg.
VIDEO_TYPES: dict[str, str] = {
    "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi", "video/avi": ".avi", "video/msvideo": ".avi",
}
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
#: First box types of ISO BMFF / QuickTime files (bytes 4..8).
_QT_ATOMS = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
#: Decoded video pixels allowed per request, as a multiple of ``max_pixels``.
VIDEO_PIXEL_BUDGET_FACTOR = 4


def sniff_video_type(head: bytes) -> str | None:
    """Container of a video file from its first 12 bytes: ``video/mp4``, ``video/webm``, ``video/x-msvideo`` or ``None``."""
    if head[4:8] in _QT_ATOMS:
        return "video/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    return None


def check_video_type(content_type: str | None, head: bytes, name: str) -> str:
    """Refuse a reference video unless it is declared as one (or untyped) and its magic bytes are a known container.

    The magic bytes always decide (FFmpeg probes content, not names), so nothing but an
    MP4/MOV, WebM/MKV or AVI file reaches the video decoder.

    Returns:
        The file suffix handed to the decoder (``.mp4``, ``.webm``, ``.avi``).

    Raises:
        ServiceError: 415 ``unsupported_media_type``.
    """
    declared = (content_type or "").split(";")[0].strip().lower()
    accepted = "MP4, MOV, WebM, MKV or AVI"
    if declared not in VIDEO_TYPES and declared not in _GENERIC_TYPES:
        raise ServiceError(415, "unsupported_media_type",
                           f"{name}: content type {declared!r} is not accepted as a reference video; upload a {accepted} "
                           "file (listing photos go in the field 'references')")
    sniffed = sniff_video_type(head)
    if sniffed is None:
        raise ServiceError(415, "unsupported_media_type", f"{name}: the file is not a {accepted} video (unknown magic bytes)")
    return {"video/mp4": ".mp4", "video/webm": ".webm", "video/x-msvideo": ".avi"}[sniffed]


@dataclass(frozen=True)
class ReferenceUpload:
    """A listing photo or packing video as uploaded.

    Attributes:
        name: Display name (safe base name of the client's file name).
        data: The file's bytes.
        video_suffix: ``None`` for an image, else the container suffix from :func:`check_video_type`.
    """

    name: str
    data: bytes
    video_suffix: str | None = None


def _reference_error(name: str, why: str) -> Evidence:
    """The ``reference_error`` item, worded as :func:`fakedamage.assess.reference.load_references` words it."""
    why = " ".join(why.split())[:200]
    return Evidence("reference_error", 0.0, f"The reference {name} could not be used ({why}).", "reference",
                    {"reference": name, "error": why})


def _unnamed(message: str) -> str:
    """A decoder message without its ``"<bytes>: "`` prefix (the evidence sentence names the reference)."""
    return message[len("<bytes>:"):].strip() if message.startswith("<bytes>:") else message


def _check_claim_pixels(data: bytes, name: str, max_pixels: int) -> None:
    """422 ``too_many_pixels`` when the claim's header declares more than ``max_pixels`` (nothing is decoded)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
    except Exception:  # noqa: BLE001 - unreadable headers are reported by the assessor's decoder (422)
        return
    if w * h > max_pixels:
        raise ServiceError(422, "too_many_pixels",
                           f"{name}: image is {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,}; "
                           "downscale it or raise max_pixels if the file is trusted")


class ClaimAssessor:
    """Runs claim assessments in the service's worker threads.

    Args:
        detector: The service's shared detector (its heatmap becomes the ``detector`` item's map).
        config: The service config (pixel limit, map size).
        assess_config: Fusion thresholds (``configs/assess.yaml``).
        metrics: Where assessments and their times are counted.
    """

    def __init__(self, detector: Detector, config: ServiceConfig, assess_config: AssessConfig,
                 metrics: ServiceMetrics) -> None:
        self.detector = detector
        self.config = config
        self.assess_config = assess_config
        self.metrics = metrics
        self._local = threading.local()
        if assess_config.explicit_label:  # load the OCR models of visible AI labels now, not in the first claim's time
            from ..assess.explicit_label import ocr_available

            ocr_available()

    def _assessor(self) -> Assessor:
        assessor = getattr(self._local, "assessor", None)
        if assessor is None:
            assessor = self._local.assessor = Assessor(self.detector, self.assess_config, cache_size=1)
        return assessor

    # ----------------------------------------------------------------- references
    def _image_reference(self, ref: ReferenceUpload) -> np.ndarray:
        return load_image(ref.data, max_pixels=self.config.max_pixels)

    def _video_frames(self, ref: ReferenceUpload, budget: int) -> tuple[list[tuple[float, np.ndarray]], list[str], int]:
        """Sample a video's frames from a private temporary file; ``(frames, notes, pixels used)``.

        Raises:
            ValueError: The video cannot be read (becomes a ``reference_error`` item).
        """
        import cv2

        from ..assess.reference import sample_video_frames

        cfg, notes = self.assess_config, []
        with tempfile.TemporaryDirectory(prefix="fakedamage-video-") as tmp:
            path = os.path.join(tmp, "reference" + (ref.video_suffix or ".mp4"))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(ref.data)
            cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
            try:
                if not cap.isOpened():
                    raise ValueError("not a readable video")
                w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
                src_fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
                count = cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0
            finally:
                cap.release()
            if w <= 0 or h <= 0:
                raise ValueError("no video frame size could be read")
            if w * h > self.config.max_pixels:
                raise ValueError(f"frames of {w}x{h} = {w * h:,} pixels are over the limit of "
                                 f"{self.config.max_pixels:,}")
            max_frames = min(cfg.video_max_frames, budget // (w * h))
            if max_frames < 1:
                raise ValueError("the request's budget of decoded video frames is used up; send fewer or shorter videos")
            try:
                frames = sample_video_frames(path, cfg.video_fps, max_frames)
            except ValueError as e:  # its messages start with the (temporary) path
                raise ValueError(str(e).replace(path + ": ", "").replace(path, ref.name)) from None
        if not math.isfinite(src_fps) or src_fps <= 0:
            src_fps = 25.0
        step = 1 if cfg.video_fps <= 0 else max(1, round(src_fps / cfg.video_fps))
        if math.isfinite(count) and count > 0 and len(frames) == max_frames and math.ceil(count / step) > max_frames:
            notes.append(f"only the first {max_frames} sampled frames ({frames[-1][0]:.1f} s) were used")
        used = sum(int(f.shape[0]) * int(f.shape[1]) for _, f in frames)
        return frames, notes, used

    def _references(self, refs: list[ReferenceUpload]) -> tuple[list[Any], list[Evidence]]:
        from ..assess.reference import ReferenceImage, phash

        images: list[ReferenceImage] = []
        errors: list[Evidence] = []
        budget = VIDEO_PIXEL_BUDGET_FACTOR * self.config.max_pixels
        for ref in refs:
            if not ref.data:
                errors.append(_reference_error(ref.name, "empty file (0 bytes)"))
                continue
            if ref.video_suffix is None:
                try:
                    images.append(ReferenceImage(ref.name, self._image_reference(ref)))
                except ImageDecodeError as e:
                    errors.append(_reference_error(ref.name, _unnamed(str(e))))
                except MemoryError:
                    raise
                except Exception as e:  # noqa: BLE001 - untrusted bytes: any decoder failure means bad data
                    errors.append(_reference_error(ref.name, f"unreadable image data ({type(e).__name__})"))
                continue
            try:
                frames, notes, used = self._video_frames(ref, budget)
            except MemoryError:
                raise
            except Exception as e:  # noqa: BLE001 - ValueError, OSError, cv2.error: the video is unusable
                errors.append(_reference_error(ref.name, str(e) or type(e).__name__))
                continue
            budget -= used
            errors.extend(_reference_error(ref.name, n) for n in notes)
            last: int | None = None
            for t, frame in frames:  # near-identical consecutive frames are kept once, as load_references does
                hsh = phash(frame)
                if last is not None and bin(hsh ^ last).count("1") <= 4:
                    continue
                last = hsh
                images.append(ReferenceImage(f"{ref.name}@{t:.1f}s", frame))
        limit = self.assess_config.max_references
        if len(images) > limit:
            errors.append(_reference_error(f"set ({len(images)} images)", f"only the first {limit} are used"))
            images = images[:limit]
        return images, errors

    # ----------------------------------------------------------------- entry point
    def assess(self, claim: bytes, claim_name: str, refs: list[ReferenceUpload], include_maps: bool) -> dict[str, Any]:
        """Assess one claim in the calling (worker) thread.

        Args:
            claim: The claim photo's bytes (content type already checked).
            claim_name: Its display name.
            refs: Listing photos and packing videos, in upload order.
            include_maps: Embed maps and pictures as base64 PNGs.

        Returns:
            ``{"assessment": Assessment.to_dict(...), "timings_ms": {...}}``.

        Raises:
            ServiceError: 422 for a claim that cannot be decoded or has too many pixels.
        """
        started = time.perf_counter()
        _check_claim_pixels(claim, claim_name, self.config.max_pixels)
        images, errors = self._references(refs)
        t_refs = time.perf_counter()
        try:
            a = self._assessor().assess(claim, references=images, name=claim_name)
        except ImageDecodeError as e:
            raise decode_error(e, claim_name) from None
        if errors:
            a = self._with_errors(a, errors)
        t_assess = time.perf_counter()
        out = a.to_dict(include_maps=include_maps, max_side=self.config.heatmap_max_side)
        done = time.perf_counter()
        self._count(a, done - started)
        return {"assessment": out,
                "timings_ms": {"references": round((t_refs - started) * 1e3, 3),
                               "assess": round((t_assess - t_refs) * 1e3, 3),
                               "encode": round((done - t_assess) * 1e3, 3)}}

    def _with_errors(self, a: Assessment, errors: list[Evidence]) -> Assessment:
        """``a`` with the service's ``reference_error`` items placed where the assessor puts its own
        (after provenance and detector, before the match result), and the verdict fused again."""
        evidence = list(a.evidence)
        at = next((i for i, e in enumerate(evidence) if e.source == "reference"), len(evidence))
        evidence[at:at] = errors
        d = fuse(evidence, self.assess_config)
        return dataclasses.replace(a, evidence=tuple(evidence), verdict=d.verdict, score=d.score, reason=d.reason,
                                   decided_by=d.decided_by, rule=d.rule)

    def _count(self, a: Assessment, seconds: float) -> None:
        self.metrics.assessments.labels(verdict=a.verdict).inc()
        self.metrics.assess_seconds.observe(seconds)
        det = next((e for e in a.evidence if e.kind == "detector"), None)
        if det is not None:
            score, threshold = det.details.get("score"), det.details.get("threshold")
            if isinstance(score, float) and isinstance(threshold, float):
                self.metrics.images.labels(outcome="fake" if score >= threshold else "real").inc()
