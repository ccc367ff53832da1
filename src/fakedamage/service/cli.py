"""``fakedamage serve``: run the review service (HTTP API + review page) with uvicorn.

Usage::

    fakedamage serve --model model.onnx --host 127.0.0.1 --port 8000
    FAKEDAMAGE_MODEL=model.onnx FAKEDAMAGE_API_KEY=s3cret fakedamage serve --host 0.0.0.0
    python -m fakedamage.service --model model.onnx --port 0      # any free port

Every flag has an environment variable (see ``--help``); a flag wins over its
variable. Once the socket is bound, one line goes to stdout::

    fakedamage serve: listening on http://127.0.0.1:8000

Exit codes: 0 after a graceful shutdown on SIGINT/SIGTERM (requests in flight finish
first), 2 for a usage error (bad setting, missing or invalid model, address in use,
serve extra not installed).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import socket
import sys
from typing import Any, Sequence

from ..runtime.image_io import DEFAULT_MAX_PIXELS
from .config import ENV_VARS, ConfigError, ServiceConfig, flag_name
from .logs import configure_logging

__all__ = ["add_serve_arguments", "run_serve", "main"]

logger = logging.getLogger("fakedamage.service")

_HELP: dict[str, tuple[str, str]] = {
    # field: (help, metavar)
    "model": ("exported .onnx model (from `fakedamage export`)", "MODEL.onnx"),
    "host": ("interface to listen on (default 127.0.0.1; use 0.0.0.0 in a container, with an API key)", "HOST"),
    "port": ("TCP port (default 8000; 0 = any free port)", "PORT"),
    "workers": ("inference threads (default: the CPU cores available)", "N"),
    "threads": ("onnxruntime threads per inference (default: cores // workers)", "N"),
    "providers": ("onnxruntime execution providers, comma-separated, best first (default CUDA,CPU)", "LIST"),
    "threshold": ("decision threshold overriding the model's calibrated one", "T"),
    "max_upload_bytes": ("largest image file accepted, e.g. 20M (default 20M; 413 above)", "SIZE"),
    "max_pixels": (f"largest width*height accepted (default {DEFAULT_MAX_PIXELS}; 422 above)", "N"),
    "max_batch": ("most images per batch request (default 16; 413 above)", "N"),
    "timeout_s": ("per-request deadline in seconds (default 30; 504 after it)", "SECONDS"),
    "queue_size": ("most requests in progress at once (default 64; 503 above)", "N"),
    "pixel_budget": ("most image pixels decoded or scored at once, all requests (default 100000000; "
                     "an upload that does not fit waits, then 503)", "N"),
    "pixel_wait_s": ("seconds an upload may wait for room in the pixel budget (default 2)", "SECONDS"),
    "heatmap_max_side": ("longest side of returned heatmap PNGs (default 1024)", "PIXELS"),
    "api_key": ("require this key in the X-API-Key header on /v1/* (prefer the variable: flags show in ps)", "KEY"),
    "log_level": ("debug, info, warning or error (default info)", "LEVEL"),
}


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` flags to ``parser``; every default is ``None`` so the environment can fill in.

    Args:
        parser: The parser of ``fakedamage serve``.
    """
    parser.epilog = "Each flag can also be set by its environment variable (shown in brackets)."
    for field, (text, metavar) in _HELP.items():
        parser.add_argument(flag_name(field), dest=field, default=None, metavar=metavar,
                            help=f"{text} [{ENV_VARS[field]}]")


def _bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket bound to ``host:port`` (IPv4 or IPv6)."""
    family, type_, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_serve(**kwargs: Any) -> int:
    """Serve until SIGINT/SIGTERM; the body of ``fakedamage serve``.

    Args:
        **kwargs: :class:`ServiceConfig` fields (``None`` = not given: the environment
            variable or the default applies), e.g. ``vars()`` of the parsed flags.

    Returns:
        Exit code: 0 after a clean shutdown, 2 for a usage error.
    """
    try:
        config = ServiceConfig.from_sources(kwargs)
    except ConfigError as e:
        return _error(str(e))
    configure_logging(config.log_level)
    try:
        import uvicorn

        from ..runtime import ModelLoadError
        from .app import create_app
    except ImportError as e:
        return _error(f"fakedamage serve needs the serve extra ({e.name} is missing); pip install 'fakedamage[serve]'")
    try:
        app = create_app(config)
    except (ModelLoadError, ConfigError) as e:
        return _error(str(e))
    try:
        sock = _bind(config.host, config.port)
    except OSError as e:
        return _error(f"cannot listen on {config.host}:{config.port} ({e.strerror or e}); pick another --port or --host")
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if not _is_loopback(host) and not config.api_key:
        logger.warning("listening on %s without an API key; set FAKEDAMAGE_API_KEY for shared deployments", host)
    print(f"fakedamage serve: listening on http://{shown}:{port}", flush=True)
    # Connections beyond limit_concurrency get uvicorn's 503 at once; inference admission is bounded separately.
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", server_header=False,
                                           timeout_keep_alive=5, timeout_graceful_shutdown=10,
                                           limit_concurrency=max(256, 4 * config.queue_size)))
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to the handler that was
    # installed before it; a no-op handler there turns a requested shutdown into a normal exit 0.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fakedamage.service``: same flags as ``fakedamage serve``."""
    parser = argparse.ArgumentParser(prog="fakedamage serve", description="Serve the review API and page.")
    add_serve_arguments(parser)
    return run_serve(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
