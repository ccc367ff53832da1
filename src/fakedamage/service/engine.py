"""Inference for the review service: a bounded thread pool around one shared :class:`Detector`.

The event loop never runs the model. Each image is decoded and scored in a worker
thread of a pool sized by ``ServiceConfig.workers``; onnxruntime releases the GIL,
so the workers run in parallel on the one (thread-safe) session. Admission is
bounded too: at most ``queue_size`` requests may wait for or hold workers, beyond
that the service answers 503 at once instead of queueing without end.

Memory is bounded by a global **pixel budget**: before an upload is decoded, its size is
read from the header and reserved; an upload that does not fit waits up to
``pixel_wait_s`` and then gets 503. The reservation is released when the worker's job
really ends, not when the request returns, so a timed-out request's memory is still
counted while its job runs. A request's deadline is checked by a job before it starts and
by the scan before every batch of tiles, so a timed-out request stops its own inference
at the next batch.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import io
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable, TypeVar

import numpy as np

from ..runtime import Detector, ImageDecodeError, load_image
from ..runtime.tiling import ScanCancelled
from ..utils.io import file_sha256
from .config import ServiceConfig
from .errors import ServiceError
from .imaging import heatmap_png
from .prometheus import ServiceMetrics

__all__ = ["Engine", "model_id", "decode_error"]

T = TypeVar("T")

#: Substrings of :class:`ImageDecodeError` messages that mean "too many pixels" (422 ``too_many_pixels``).
_PIXEL_LIMIT_MARKERS = ("over the limit of", "decompression bomb")


def model_id(path: Path) -> str:
    """Content id of a model file: ``sha256:`` and the first 16 hex digits of its hash."""
    return "sha256:" + file_sha256(path)[:16]


def decode_error(err: ImageDecodeError, name: str) -> ServiceError:
    """422 for an image the decoder refused; the decoder's one-line message, naming the upload.

    Args:
        err: The decoder's error (its message starts with ``"<bytes>: "``).
        name: The upload's file name, put in place of ``<bytes>``.
    """
    message = str(err)
    if message.startswith("<bytes>:"):
        message = name + message[len("<bytes>") :]
    kind = "too_many_pixels" if any(m in message for m in _PIXEL_LIMIT_MARKERS) else "decode_error"
    return ServiceError(422, kind, message)


class _Expired(Exception):
    """The request's deadline passed before its job started."""


class Engine:
    """Scores uploads in a bounded thread pool.

    Args:
        detector: The shared detector (built with ``max_pixels=config.max_pixels``).
        config: The service config (pool size, queue size, heatmap size).
        metrics: Where inference times and verdicts are counted.
        model_id: Content id of the model, returned with every result.
    """

    def __init__(self, detector: Detector, config: ServiceConfig, metrics: ServiceMetrics, model_id: str) -> None:
        self.detector = detector
        self.config = config
        self.metrics = metrics
        self.model_id = model_id
        self._pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="fakedamage-infer")
        self._admitted = 0
        self._pixels = 0
        self._room: asyncio.Condition | None = None
        self._releases: set[asyncio.Task] = set()  # strong references: the loop keeps only weak ones
        self.ready = False

    @property
    def admitted(self) -> int:
        """Requests admitted for inference right now (running or waiting)."""
        return self._admitted

    def model_summary(self) -> dict[str, Any]:
        """The model fields returned with each prediction."""
        meta = self.detector.meta
        return {"id": self.model_id, "name": self.detector.path.name, "version": meta.version or "unknown",
                "backbone": meta.backbone}

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold one of ``queue_size`` admission slots for the body of the ``async with``.

        Raises:
            ServiceError: 503 ``busy`` when every slot is taken.
        """
        if self._admitted >= self.config.queue_size:
            raise ServiceError(503, "busy", f"the service is at capacity ({self.config.queue_size} requests in progress); "
                               "retry shortly", headers={"Retry-After": "1"})
        self._admitted += 1
        self.metrics.inflight.inc()
        try:
            yield
        finally:
            self._admitted -= 1
            self.metrics.inflight.dec()

    @property
    def pixels_in_flight(self) -> int:
        """Pixels reserved by images being decoded or scored right now."""
        return self._pixels

    async def _reserve(self, pixels: int, deadline: float) -> None:
        """Reserve ``pixels`` of the budget, waiting up to ``pixel_wait_s`` (and the deadline) for room.

        Raises:
            ServiceError: 503 ``busy`` when there is no room in time.
        """
        if self._room is None:
            self._room = asyncio.Condition()
        budget = self.config.pixel_budget
        until = min(deadline, time.monotonic() + self.config.pixel_wait_s)
        async with self._room:
            while self._pixels + pixels > budget:
                left = until - time.monotonic()
                if left <= 0:
                    raise ServiceError(503, "busy", f"the service is at its pixel budget ({self._pixels / 1e6:.0f} of "
                                       f"{budget / 1e6:.0f} MP in progress, this image {pixels / 1e6:.1f} MP); "
                                       "retry shortly", headers={"Retry-After": "2"})
                try:
                    await asyncio.wait_for(self._room.wait(), left)
                except asyncio.TimeoutError:
                    pass
            self._pixels += pixels
            self.metrics.pixels.set(self._pixels)

    async def _release(self, pixels: int) -> None:
        assert self._room is not None
        async with self._room:
            self._pixels -= pixels
            self.metrics.pixels.set(self._pixels)
            self._room.notify_all()

    async def run(self, fn: Callable[[], T], deadline: float, pixels: int = 0) -> T:
        """Run ``fn`` in the pool unless ``deadline`` (``time.monotonic``) passes first.

        Args:
            fn: The job.
            deadline: ``time.monotonic()`` after which the job is skipped (or, for a scan, stopped).
            pixels: Pixel-budget reservation held until the job has really ended.

        Raises:
            ServiceError: 504 ``timeout`` when the deadline passed before the job started or
                stopped its scan; 503 ``busy`` when the pixel budget has no room in time.
        """
        ctx = contextvars.copy_context()  # keep the request id in the worker's log records

        def job() -> T:
            if time.monotonic() > deadline:
                raise _Expired
            return ctx.run(fn)

        loop = asyncio.get_running_loop()
        if pixels:
            await self._reserve(pixels, deadline)
        try:
            cf = self._pool.submit(job)
        except BaseException:
            if pixels:
                await self._release(pixels)
            raise
        def schedule_release() -> None:
            task = loop.create_task(self._release(pixels))
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

        if pixels:  # released when the job ends, even if the request has stopped waiting for it
            cf.add_done_callback(lambda _: loop.call_soon_threadsafe(schedule_release))
        try:
            return await asyncio.wrap_future(cf)
        except (_Expired, ScanCancelled):
            raise ServiceError(504, "timeout", f"the request passed its {self.config.timeout_s:g} s limit; "
                               "its inference was stopped; retry later") from None

    async def score(self, data: bytes, name: str, heatmap: bool, deadline: float) -> dict[str, Any]:
        """Decode and score one upload in a worker.

        Args:
            data: The encoded image file.
            name: Its file name (for messages).
            heatmap: Also return the localisation map as a base64 PNG overlay.
            deadline: ``time.monotonic()`` value after which the job is skipped.

        Returns:
            JSON-ready result: score, verdict, threshold, model, timings and ``heatmap`` (or ``None``).

        Raises:
            ServiceError: 422 for an undecodable or oversized image, 504 past the deadline.
        """
        queued = time.perf_counter()
        pixels = self.header_pixels(data)
        return await self.run(lambda: self._score_sync(data, name, heatmap, queued, deadline), deadline, pixels)

    def header_pixels(self, data: bytes) -> int:
        """``width * height`` from the image header (not decoded), capped at ``max_pixels``; 1 when unreadable
        (the decoder then refuses the file with a 422)."""
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
        except Exception:  # noqa: BLE001 - untrusted bytes; the decoder reports the problem
            return 1
        return max(1, min(int(w) * int(h), self.config.max_pixels))

    def _score_sync(self, data: bytes, name: str, heatmap: bool, queued: float, deadline: float) -> dict[str, Any]:
        started = time.perf_counter()
        image = self._decode(data, name)
        decoded = time.perf_counter()
        pred = self.detector.predict(image, heatmap=heatmap, cancelled=lambda: time.monotonic() > deadline)
        del image
        self.metrics.inference.observe(time.perf_counter() - started)
        self.metrics.images.labels(outcome="fake" if pred.is_fake else "real").inc()
        heat = None
        heat_ms = 0.0
        if heatmap and pred.heatmap is not None:
            t0 = time.perf_counter()
            png, w, h = heatmap_png(pred.heatmap, self.config.heatmap_max_side)
            heat = {"format": "png", "encoding": "base64", "width": w, "height": h,
                    "colormap": "inferno; alpha = probability", "max": round(float(np.max(pred.heatmap)), 6),
                    "data": base64.b64encode(png).decode("ascii")}
            heat_ms = (time.perf_counter() - t0) * 1e3
        class_names = self.detector.meta.class_names
        return {
            "filename": name,
            "score": float(pred.score),
            "is_fake": bool(pred.is_fake),
            "label": class_names[1] if pred.is_fake else class_names[0],
            "threshold": float(pred.threshold),
            "logit": float(pred.logit),
            "n_tiles": pred.n_tiles,
            "image_size": {"height": pred.image_size[0], "width": pred.image_size[1]},
            "model": self.model_summary(),
            "timings_ms": {
                "queue": round((started - queued) * 1e3, 3),
                "decode": round((decoded - started) * 1e3, 3),
                "infer": round(pred.timings["infer"], 3),
                "heatmap": round(heat_ms, 3),
            },
            "heatmap": heat,
        }

    def _decode(self, data: bytes, name: str) -> np.ndarray:
        """Decode an upload to RGB; every decoder failure is a 422 naming the upload."""
        try:
            return load_image(data, max_pixels=self.config.max_pixels)
        except ImageDecodeError as e:
            raise decode_error(e, name) from None
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - untrusted bytes: any decoder exception means bad data
            detail = " ".join(str(e).split()) or type(e).__name__
            raise ServiceError(422, "decode_error", f"{name}: unreadable image data ({type(e).__name__}: {detail}); "
                               "re-export or re-upload the full file") from None

    async def warm_up(self) -> None:
        """Score one blank tile so the first request does not pay for lazy initialisation; sets :attr:`ready`."""
        t = self.detector.meta.tile_size
        blank = np.full((t, t, 3), 128, dtype=np.uint8)
        await self.run(lambda: self.detector.predict(blank, heatmap=self.detector.has_heatmap), time.monotonic() + 600)
        self.ready = True

    def close(self) -> None:
        """Stop the pool: queued jobs are cancelled, running ones finish in the background."""
        self.ready = False
        self._pool.shutdown(wait=False, cancel_futures=True)
