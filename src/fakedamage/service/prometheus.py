"""Prometheus metrics of the review service, in a registry of their own (one per app).

Exposed at ``GET /metrics`` in the Prometheus text format:

* ``fakedamage_http_requests_total{method, route, status}``: answered requests.
* ``fakedamage_http_request_duration_seconds{method, route}``: latency histogram.
* ``fakedamage_errors_total{kind}``: error answers by kind (``payload_too_large``,
  ``decode_error``, ``timeout``, ...), per-item errors of batches included.
* ``fakedamage_images_total{outcome}``: images scored, ``fake`` / ``real``.
* ``fakedamage_inference_seconds``: time of one image in the worker (decode + model).
* ``fakedamage_assessments_total{verdict}``: claims assessed (``/v1/assess``), by verdict.
* ``fakedamage_assess_seconds``: time of one assessment in the worker (references, claim, encoding).
* ``fakedamage_inflight_requests``: requests admitted for inference right now.
* ``fakedamage_model_info{model_id, version, backbone}``: always 1.

Routes are labelled by their template (unknown paths are ``other``), so label
cardinality stays bounded whatever clients send.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServiceMetrics", "CONTENT_TYPE_LATEST", "LATENCY_BUCKETS"]

#: Latency buckets in seconds: 5 ms .. 60 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServiceMetrics:
    """The service's metrics, registered in a private :class:`CollectorRegistry`.

    Args:
        model_id: Content id of the served model.
        version: fakedamage version that trained it.
        backbone: Its feature extractor.
    """

    def __init__(self, model_id: str, version: str, backbone: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("fakedamage_http_requests", "HTTP requests answered.", ["method", "route", "status"],
                                registry=r)
        self.latency = Histogram("fakedamage_http_request_duration_seconds", "HTTP request latency.",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter("fakedamage_errors", "Error answers (and failed batch items) by kind.", ["kind"], registry=r)
        self.images = Counter("fakedamage_images", "Images scored, by verdict.", ["outcome"], registry=r)
        self.inference = Histogram("fakedamage_inference_seconds", "Decode + model time of one image in a worker.",
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.assessments = Counter("fakedamage_assessments", "Claims assessed, by verdict.", ["verdict"], registry=r)
        self.assess_seconds = Histogram("fakedamage_assess_seconds", "Time of one claim assessment in a worker.",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.pixels = Gauge("fakedamage_inflight_pixels", "Pixels of the images being decoded or scored (the "
                            "pixel budget in use).", registry=r)
        self.inflight = Gauge("fakedamage_inflight_requests", "Requests admitted for inference (running or queued).",
                              registry=r)
        info = Gauge("fakedamage_model_info", "The served model (value is always 1).",
                     ["model_id", "version", "backbone"], registry=r)
        info.labels(model_id=model_id, version=version or "unknown", backbone=backbone).set(1)
        for kind in ("payload_too_large", "too_many_pixels", "unsupported_media_type", "decode_error", "timeout"):
            self.errors.labels(kind=kind)  # export zeros, so dashboards see the series before the first error
        for verdict in ("likely_ai_edited", "needs_review", "likely_authentic"):
            self.assessments.labels(verdict=verdict)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.latency.labels(method=method, route=route).observe(seconds)

    def observe_error(self, kind: str) -> None:
        """Count one error of ``kind``."""
        self.errors.labels(kind=kind).inc()

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)
