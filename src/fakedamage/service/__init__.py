"""HTTP review service: ``fakedamage serve`` (JSON API, Prometheus metrics, offline review page).

Built on the torch-free runtime; importing this package imports neither torch nor
the web stack (FastAPI is imported by :func:`create_app` / ``fakedamage serve``)::

    from fakedamage.service import ServiceConfig, create_app
    app = create_app(ServiceConfig(model="model.onnx"))   # any ASGI server can run it
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import ConfigError, ServiceConfig

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import FastAPI

    from ..runtime import Detector

__all__ = ["ServiceConfig", "ConfigError", "create_app"]


def create_app(config: ServiceConfig, detector: "Detector | None" = None) -> "FastAPI":
    """Build the FastAPI app; see :func:`fakedamage.service.app.create_app`."""
    from .app import create_app as _create_app

    return _create_app(config, detector)
