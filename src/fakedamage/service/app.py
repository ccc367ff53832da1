"""The review service as a FastAPI app: ``create_app(config)``.

Endpoints:

* ``POST /v1/predict[?heatmap=true]``: one image as a multipart upload (field ``file``).
* ``POST /v1/predict/batch[?heatmap=true]``: several images (repeated field ``files``);
  one result or error per item, in order.
* ``POST /v1/assess[?maps=true]``: assess a refund claim (:mod:`fakedamage.assess`): the claim
  photo in the field ``claim``, optional listing photos in repeated ``references`` fields and
  packing videos in repeated ``reference_videos`` fields. Answers the verdict, the deciding
  reason and every evidence item (``Assessment.to_dict``); ``maps=true`` embeds the maps.
* ``GET /v1/model``: model metadata, effective threshold and the service limits.
* ``GET /healthz`` (liveness), ``GET /readyz`` (model loaded and warmed up),
  ``GET /metrics`` (Prometheus).
* ``GET /``: the review page (``static/``), offline, no third-party assets.

The service never fetches URLs given by clients: it only reads uploaded bytes.
Limits answer with the JSON error form (:mod:`.errors`): body or file too large
413, too many images 413, not an image type 415, corrupt image or too many pixels
422, past the per-request timeout 504, at capacity 503, missing API key 401.
``/v1/assess`` follows the same model: every part is checked like a ``/v1/predict`` upload
(413 per file, 415 for a type that is not an image, or not a video in ``reference_videos``),
at most ``max_batch`` reference files (413), a claim that cannot be decoded is 422; a
reference that cannot be decoded is not an error but a ``reference_error`` evidence item.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..runtime import Detector
from .config import ConfigError, ServiceConfig
from .engine import Engine, model_id
from .errors import STATUS_KINDS, ServiceError
from .imaging import ACCEPTED_TYPES, check_media_type
from .middleware import RequestMiddleware, render_error
from .prometheus import CONTENT_TYPE_LATEST, ServiceMetrics

__all__ = ["create_app", "STATIC_DIR"]

logger = logging.getLogger("fakedamage.service")
T = TypeVar("T")

#: The review page's files.
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Room for multipart headers and boundaries around each file.
_PART_OVERHEAD = 16 << 10
#: Content-Security-Policy of the review page: nothing but this origin, and the heatmap data URL.
_PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
             "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _display_name(filename: str | None, index: int) -> str:
    """A client file name made safe to echo: base name, printable, at most 100 characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()[:100]
    return name or f"upload-{index}"


async def _with_deadline(aw: Awaitable[T], timeout_s: float) -> T:
    """Await ``aw`` for at most ``timeout_s``; 504 ``timeout`` after that."""
    try:
        return await asyncio.wait_for(aw, timeout_s)
    except asyncio.TimeoutError:  # TimeoutError since 3.11; distinct in 3.10
        raise ServiceError(504, "timeout", f"the request took longer than its {timeout_s:g} s limit; "
                           "retry later or send a smaller image") from None


async def _read_uploads(request: Request, max_files: int, batch: bool) -> tuple[list[UploadFile], Any]:
    """Parse a multipart body into its file parts (in order) and the form (to close afterwards)."""
    ctype = request.headers.get("content-type", "")
    field = "files" if batch else "file"
    if not ctype.lower().startswith("multipart/form-data"):
        raise ServiceError(415, "unsupported_media_type",
                           f"send images as multipart/form-data in the field {field!r} "
                           f"(got {ctype or 'no content type'!r})")
    try:
        form = await request.form(max_files=max_files, max_fields=16)
    except StarletteHTTPException as e:
        if "too many files" in str(e.detail).lower():
            if batch:
                raise ServiceError(413, "batch_too_large", f"at most {max_files} images per batch request; "
                                   "split the batch") from None
            raise ServiceError(400, "invalid_request", "send one image per request to /v1/predict; "
                               "use /v1/predict/batch for several") from None
        raise ServiceError(400, "invalid_request", f"malformed multipart body ({e.detail})") from None
    uploads = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
    if not uploads:
        await form.close()
        raise ServiceError(400, "missing_file",
                           f"no file in the upload; send the image in the multipart field {field!r}")
    return uploads, form


async def _read_limited(upload: UploadFile, name: str, max_bytes: int, what: str = "image") -> bytes:
    """The upload's bytes, after the size check (413)."""
    size = upload.size
    if size is not None and size > max_bytes:
        raise ServiceError(413, "payload_too_large",
                           f"{name}: {size:,} bytes is over the {max_bytes:,} byte limit per {what}")
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ServiceError(413, "payload_too_large", f"{name}: over the {max_bytes:,} byte limit per {what}")
    return data


async def _read_checked(upload: UploadFile, name: str, max_bytes: int) -> bytes:
    """The upload's bytes, after the size (413) and content-type (415) checks."""
    data = await _read_limited(upload, name, max_bytes)
    if not data:
        raise ServiceError(422, "decode_error", f"{name}: empty file (0 bytes); upload the image file itself")
    check_media_type(upload.content_type, data[:16], name)
    return data


async def _predict_one(engine: Engine, request: Request, heatmap: bool, deadline: float) -> dict[str, Any]:
    """Read the single upload of a ``/v1/predict`` request and score it."""
    uploads, form = await _read_uploads(request, max_files=1, batch=False)
    try:
        upload = uploads[0]  # max_files=1
        name = _display_name(upload.filename, 0)
        data = await _read_checked(upload, name, engine.config.max_upload_bytes)
    finally:
        await form.close()
    return await engine.score(data, name, heatmap, deadline)


async def _predict_many(engine: Engine, request: Request, heatmap: bool, deadline: float) -> list[dict[str, Any]]:
    """Read the uploads of a batch request and score them in parallel; one result or error per item.

    A timeout fails the whole request (504); any other failure stays with its item.
    """
    uploads, form = await _read_uploads(request, max_files=engine.config.max_batch, batch=True)
    items: list[tuple[str, bytes | ServiceError]] = []
    try:
        for i, upload in enumerate(uploads):
            name = _display_name(upload.filename, i)
            try:
                items.append((name, await _read_checked(upload, name, engine.config.max_upload_bytes)))
            except ServiceError as e:
                items.append((name, e))
    finally:
        await form.close()

    async def one(name: str, data: bytes | ServiceError) -> dict[str, Any]:
        if isinstance(data, ServiceError):
            raise data
        return await engine.score(data, name, heatmap, deadline)

    outcomes = await asyncio.gather(*(one(n, d) for n, d in items), return_exceptions=True)
    results: list[dict[str, Any]] = []
    for i, ((name, _), out) in enumerate(zip(items, outcomes, strict=True)):
        if not isinstance(out, BaseException):
            results.append({"index": i, "ok": True, **out})
            continue
        if isinstance(out, ServiceError) and out.kind == "timeout":
            raise out
        if isinstance(out, ServiceError):
            err = out
        else:
            logger.error("batch item %d failed", i, exc_info=out)
            err = ServiceError(500, "internal_error", f"{name}: {type(out).__name__}; the request id is in the logs")
        engine.metrics.observe_error(err.kind)
        results.append({"index": i, "filename": name, "ok": False, "status": err.status, "error": err.to_dict()})
    return results


#: Multipart fields of ``/v1/assess``.
_ASSESS_FIELDS = ("claim", "references", "reference_videos")
_ASSESS_HOWTO = ("send the claim photo in the field 'claim', listing photos in 'references' "
                 "and packing videos in 'reference_videos'")


async def _read_assess(request: Request, config: ServiceConfig) -> tuple[str, bytes, list[Any]]:
    """Parse a ``/v1/assess`` body: ``(claim name, claim bytes, [ReferenceUpload, ...])`` in upload order.

    Every part is read with the per-file limit (413); the claim and the listing photos must be
    images (415), the videos known containers (415). An empty reference is passed on (it becomes
    a ``reference_error`` item); an empty claim is a 422.
    """
    from .claims import ReferenceUpload, check_video_type

    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise ServiceError(415, "unsupported_media_type",
                           f"send the claim as multipart/form-data (got {ctype or 'no content type'!r}); {_ASSESS_HOWTO}")
    try:
        form = await request.form(max_files=1 + config.max_batch, max_fields=16)
    except StarletteHTTPException as e:
        if "too many files" in str(e.detail).lower():
            raise ServiceError(413, "batch_too_large", f"at most {config.max_batch} reference files (photos and videos) "
                               "per request besides the claim; send the most relevant ones") from None
        raise ServiceError(400, "invalid_request", f"malformed multipart body ({e.detail})") from None
    try:
        claims: list[tuple[str, UploadFile]] = []
        parts: list[tuple[str, str, UploadFile]] = []
        for i, (field, value) in enumerate(form.multi_items()):
            if field not in _ASSESS_FIELDS:
                shown = "".join(ch for ch in field[:40] if ch.isprintable())
                raise ServiceError(400, "invalid_request", f"unknown field {shown!r}; {_ASSESS_HOWTO}")
            if not isinstance(value, UploadFile):
                raise ServiceError(400, "invalid_request", f"the field {field!r} must be a file upload; {_ASSESS_HOWTO}")
            name = _display_name(value.filename, i)
            if field == "claim":
                claims.append((name, value))
            else:
                parts.append((field, name, value))
        if not claims:
            raise ServiceError(400, "missing_file", f"no claim photo in the upload; {_ASSESS_HOWTO}")
        if len(claims) > 1:
            raise ServiceError(400, "invalid_request", "one claim photo per request to /v1/assess")
        if len(parts) > config.max_batch:
            raise ServiceError(413, "batch_too_large", f"at most {config.max_batch} reference files (photos and "
                               f"videos) per request, got {len(parts)}; send the most relevant ones")
        claim_name, claim_upload = claims[0]
        claim = await _read_checked(claim_upload, claim_name, config.max_upload_bytes)
        refs: list[ReferenceUpload] = []
        for field, name, upload in parts:
            if field == "references":
                if (upload.content_type or "").lower().startswith("video/"):
                    raise ServiceError(415, "unsupported_media_type", f"{name}: a video is not a listing photo; "
                                       "send videos in the field 'reference_videos'")
                data = await _read_limited(upload, name, config.max_upload_bytes)
                if data:
                    check_media_type(upload.content_type, data[:16], name)
                refs.append(ReferenceUpload(name, data))
            else:
                data = await _read_limited(upload, name, config.max_upload_bytes, "video")
                suffix = check_video_type(upload.content_type, data[:16], name) if data else ".mp4"
                refs.append(ReferenceUpload(name, data, suffix))
    finally:
        await form.close()
    return claim_name, claim, refs


def create_app(config: ServiceConfig, detector: Detector | None = None) -> FastAPI:
    """Build the review service.

    Args:
        config: Service settings (see :class:`ServiceConfig`).
        detector: A loaded detector to serve; default: load ``config.model``.

    Returns:
        The ASGI app. Its lifespan warms the model up (``/readyz`` answers 503 until then)
        and stops the inference pool on shutdown.

    Raises:
        fakedamage.runtime.ModelLoadError: The model cannot be loaded.
    """
    if detector is None:
        detector = Detector(config.model, providers=config.providers, threads=config.ort_threads,
                            threshold=config.threshold, max_pixels=config.max_pixels)
    mid = model_id(detector.path)
    meta = detector.meta
    metrics = ServiceMetrics(mid, meta.version, meta.backbone)
    engine = Engine(detector, config, metrics, mid)
    claim_assessor, assess_config, assess_missing = None, None, ""
    try:
        from ..assess import load_config
        from .claims import ClaimAssessor
    except ImportError as e:  # the assess extra (OpenCV, ...) is not installed: /v1/assess answers 501
        assess_missing = e.name or str(e)
        logger.warning("claim assessment is off: %s is missing (pip install 'fakedamage[assess]')", assess_missing)
    else:
        try:
            assess_config = load_config()
        except (OSError, ValueError) as e:
            raise ConfigError(f"assess config: {e}") from None
        claim_assessor = ClaimAssessor(detector, config, assess_config, metrics)
    index_html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await engine.warm_up()
            logger.info("model %s (%s, %s) ready on %s with %d workers", detector.path.name, mid, meta.backbone,
                        detector.providers[0], config.workers)
        except Exception:  # noqa: BLE001 - keep serving /healthz; /readyz reports the failure
            logger.exception("model warm-up failed; /readyz answers 503")
        yield
        engine.close()

    app = FastAPI(title="fakedamage review service", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.config, app.state.engine, app.state.metrics = config, engine, metrics

    def body_limit(path: str) -> int:
        if path == "/v1/predict":
            return config.max_upload_bytes + _PART_OVERHEAD
        if path == "/v1/predict/batch":
            return (config.max_upload_bytes + _PART_OVERHEAD) * config.max_batch
        if path == "/v1/assess":
            return (config.max_upload_bytes + _PART_OVERHEAD) * (1 + config.max_batch)
        return 64 << 10

    app.add_middleware(RequestMiddleware, metrics=metrics, api_key=config.api_key, body_limit=body_limit)

    def error_response(request: Request, err: ServiceError) -> Response:
        status, headers, body = render_error(err, getattr(request.state, "request_id", "-"), metrics)
        return Response(body, status_code=status, headers=headers)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, err: ServiceError) -> Response:
        return error_response(request, err)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> Response:
        kind = STATUS_KINDS.get(err.status_code, "http_error")
        return error_response(request, ServiceError(err.status_code, kind, str(err.detail), headers=err.headers))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, err: RequestValidationError) -> Response:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg', '')}" for e in err.errors()]
        return error_response(request, ServiceError(400, "invalid_request", "; ".join(parts) or "invalid request"))

    def check_heatmap(heatmap: bool) -> None:
        if heatmap and not detector.has_heatmap:
            raise ServiceError(400, "heatmap_unavailable", f"{detector.path.name} has no localisation output; "
                               "call without heatmap=true")

    @app.post("/v1/predict")
    async def predict(request: Request, heatmap: bool = False) -> JSONResponse:
        """Score one uploaded image."""
        check_heatmap(heatmap)
        t0, deadline = time.perf_counter(), time.monotonic() + config.timeout_s
        async with engine.admit():
            result = await _with_deadline(_predict_one(engine, request, heatmap, deadline), config.timeout_s)
        result["timings_ms"]["total"] = round((time.perf_counter() - t0) * 1e3, 3)
        return JSONResponse({"request_id": request.state.request_id, **result})

    @app.post("/v1/predict/batch")
    async def predict_batch(request: Request, heatmap: bool = False) -> JSONResponse:
        """Score several uploaded images; a bad item gets an error entry, not a failed request."""
        check_heatmap(heatmap)
        t0, deadline = time.perf_counter(), time.monotonic() + config.timeout_s
        async with engine.admit():
            results = await _with_deadline(_predict_many(engine, request, heatmap, deadline), config.timeout_s)
        n_ok = sum(r["ok"] for r in results)
        return JSONResponse({
            "request_id": request.state.request_id, "model": engine.model_summary(), "count": len(results),
            "n_ok": n_ok, "n_errors": len(results) - n_ok, "results": results,
            "timings_ms": {"total": round((time.perf_counter() - t0) * 1e3, 3)},
        })

    @app.post("/v1/assess")
    async def assess(request: Request, maps: bool = False) -> JSONResponse:
        """Assess a claim photo against optional listing photos and packing videos."""
        if claim_assessor is None:
            raise ServiceError(501, "assess_unavailable", f"claim assessment is not installed on this server "
                               f"({assess_missing} is missing; pip install 'fakedamage[assess]')")
        t0, deadline = time.perf_counter(), time.monotonic() + config.timeout_s

        async def run() -> dict[str, Any]:
            claim_name, claim, refs = await _read_assess(request, config)
            queued = time.perf_counter()
            started: list[float] = []

            def job() -> dict[str, Any]:
                started.append(time.perf_counter())
                return claim_assessor.assess(claim, claim_name, refs, maps)

            # assessments run concurrently on the worker pool, bounded by the workers and the pixel budget
            out = await engine.run(job, deadline, engine.header_pixels(claim))
            out["timings_ms"] = {"queue": round((started[0] - queued) * 1e3, 3), **out["timings_ms"]}
            return out

        async with engine.admit():
            out = await _with_deadline(run(), config.timeout_s)
        out["timings_ms"]["total"] = round((time.perf_counter() - t0) * 1e3, 3)
        return JSONResponse({"request_id": request.state.request_id, "model": engine.model_summary(), **out})

    @app.get("/v1/model")
    async def model() -> dict[str, Any]:
        """Model metadata, the effective threshold and the service limits."""
        return {
            **engine.model_summary(),
            "threshold": detector.threshold,
            "model_threshold": meta.threshold,
            "class_names": list(meta.class_names),
            "has_heatmap": detector.has_heatmap,
            "providers": detector.providers,
            "service_version": __version__,
            "limits": {
                "max_upload_bytes": config.max_upload_bytes, "max_pixels": config.max_pixels,
                "max_batch": config.max_batch, "timeout_s": config.timeout_s, "workers": config.workers,
                "queue_size": config.queue_size, "pixel_budget": config.pixel_budget, "content_types": sorted(ACCEPTED_TYPES),
            },
            "assess": _assess_info(),
            "meta": meta.to_dict(),
        }

    def _assess_info() -> dict[str, Any]:
        if claim_assessor is None or assess_config is None:
            return {"available": False, "missing": assess_missing}
        from .claims import VIDEO_TYPES

        return {"available": True, "max_references": config.max_batch, "video_content_types": sorted(VIDEO_TYPES),
                "thresholds": {"ai_threshold": assess_config.ai_threshold,
                               "review_threshold": assess_config.review_threshold,
                               "authentic_threshold": assess_config.authentic_threshold}}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, Any]:
        """Readiness: the model is loaded and warmed up."""
        if not engine.ready:
            raise ServiceError(503, "not_ready", "the model is not ready yet (loading or warm-up failed; see the logs)")
        return {"status": "ready", "model": engine.model_summary(), "inflight": engine.admitted,
                "pixels_in_flight": engine.pixels_in_flight}

    @app.get("/metrics")
    async def prometheus() -> Response:
        """Prometheus text exposition."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        """The review page."""
        return HTMLResponse(index_html, headers={"Content-Security-Policy": _PAGE_CSP, "Referrer-Policy": "no-referrer",
                                                 "X-Frame-Options": "DENY", "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
