"""Configuration of ``fakedamage serve``: one frozen dataclass built from flags and environment.

Every setting has a command-line flag and an environment variable; a flag given on
the command line wins over the variable, which wins over the default::

    fakedamage serve --model model.onnx --port 8000
    FAKEDAMAGE_MODEL=model.onnx FAKEDAMAGE_API_KEY=s3cret fakedamage serve

Sizes accept binary suffixes (``512k``, ``20M``, ``1G``). This module imports only
the standard library.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import UsageError
from ..runtime.image_io import DEFAULT_MAX_PIXELS

__all__ = ["ServiceConfig", "ConfigError", "ENV_VARS", "default_workers", "flag_name", "parse_size"]

#: Config field -> environment variable read when the flag is not given.
ENV_VARS: dict[str, str] = {
    "model": "FAKEDAMAGE_MODEL",
    "host": "FAKEDAMAGE_HOST",
    "port": "FAKEDAMAGE_PORT",
    "workers": "FAKEDAMAGE_WORKERS",
    "threads": "FAKEDAMAGE_THREADS",
    "providers": "FAKEDAMAGE_PROVIDERS",
    "threshold": "FAKEDAMAGE_THRESHOLD",
    "max_upload_bytes": "FAKEDAMAGE_MAX_UPLOAD_BYTES",
    "max_pixels": "FAKEDAMAGE_MAX_PIXELS",
    "max_batch": "FAKEDAMAGE_MAX_BATCH",
    "timeout_s": "FAKEDAMAGE_TIMEOUT",
    "queue_size": "FAKEDAMAGE_QUEUE_SIZE",
    "pixel_budget": "FAKEDAMAGE_PIXEL_BUDGET",
    "pixel_wait_s": "FAKEDAMAGE_PIXEL_WAIT",
    "heatmap_max_side": "FAKEDAMAGE_HEATMAP_MAX_SIDE",
    "api_key": "FAKEDAMAGE_API_KEY",
    "log_level": "FAKEDAMAGE_LOG_LEVEL",
}

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_LOG_LEVELS = ("debug", "info", "warning", "error")


def flag_name(field: str) -> str:
    """Command-line flag of a config field (``timeout_s`` -> ``--timeout``)."""
    return "--" + field.removesuffix("_s").replace("_", "-")


class ConfigError(UsageError):
    """A setting is missing or invalid. The message names the flag and the variable."""


def default_workers() -> int:
    """CPU cores this process may run on (affinity-aware), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_size(value: str | int) -> int:
    """Parse a byte size such as ``"20M"``, ``"512k"``, ``"1GiB"`` or ``"1048576"`` (binary units).

    Args:
        value: An int, or a string of a number with an optional ``k``/``M``/``G`` suffix.

    Returns:
        The size in bytes.

    Raises:
        ValueError: The string is not a size.
    """
    if isinstance(value, int):
        return value
    m = _SIZE_RE.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a size (examples: 20M, 512k, 1048576)")
    unit = (m.group(2) or "b")[0].lower()
    return int(float(m.group(1)) * {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit])


def _parse_providers(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(p.strip() for p in items if p.strip())


def _parse_optional_str(value: Any) -> str | None:
    s = str(value).strip()
    return s or None


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "model": lambda v: Path(os.path.expanduser(str(v))),
    "host": lambda v: str(v).strip(),
    "port": int,
    "workers": int,
    "threads": int,
    "providers": _parse_providers,
    "threshold": float,
    "max_upload_bytes": parse_size,
    "max_pixels": lambda v: int(float(v)),
    "max_batch": int,
    "timeout_s": float,
    "queue_size": int,
    "pixel_budget": lambda v: int(float(v)),
    "pixel_wait_s": float,
    "heatmap_max_side": int,
    "api_key": _parse_optional_str,
    "log_level": lambda v: str(v).strip().lower(),
}


@dataclass(frozen=True)
class ServiceConfig:
    """Settings of the review service; validated on construction.

    Attributes:
        model: The exported ``.onnx`` model (``fakedamage export``).
        host: Interface to listen on; loopback by default.
        port: TCP port; ``0`` picks a free one (printed at start-up).
        workers: Inference threads (the pool size); default: the CPU cores available.
        threads: onnxruntime intra-op threads; default ``max(1, cores // workers)``.
        providers: onnxruntime execution providers, best first; default CUDA then CPU.
        threshold: Decision threshold overriding the model's calibrated one.
        max_upload_bytes: Largest accepted image file (413 above).
        max_pixels: Largest accepted ``width * height`` (422 above); checked from the header.
        max_batch: Most images in one ``/v1/predict/batch`` request (413 above).
        timeout_s: Per-request deadline covering upload parsing, queueing and inference (504).
        queue_size: Most requests admitted for inference at once, running or waiting (503 above).
        pixel_budget: Most image pixels decoded or scored at once, over all requests (memory is
            about 10 bytes per pixel while an image is in flight). An upload that does not fit
            waits up to ``pixel_wait_s`` for room, then gets 503 ``busy`` with ``Retry-After``.
            At least ``max_pixels``.
        pixel_wait_s: How long an upload may wait for room in the pixel budget.
        heatmap_max_side: Longest side of the returned heatmap PNG (the map is downscaled for transfer).
        api_key: When set, every ``/v1/*`` request needs the header ``X-API-Key: <key>`` (401).
        log_level: ``debug``, ``info``, ``warning`` or ``error``.
    """

    model: Path
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = dataclasses.field(default_factory=default_workers)
    threads: int | None = None
    providers: tuple[str, ...] | None = None
    threshold: float | None = None
    max_upload_bytes: int = 20 << 20
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_batch: int = 16
    timeout_s: float = 30.0
    queue_size: int = 64
    pixel_budget: int = 100_000_000
    pixel_wait_s: float = 2.0
    heatmap_max_side: int = 1024
    api_key: str | None = dataclasses.field(default=None, repr=False)
    log_level: str = "info"

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"{flag_name(name)} / {ENV_VARS[name]}: {why}")

        if not str(self.model):
            raise bad("model", "no model given; pass --model model.onnx or set FAKEDAMAGE_MODEL")
        if not 0 <= self.port <= 65535:
            raise bad("port", f"{self.port} is not a TCP port (0-65535)")
        if not self.host:
            raise bad("host", "empty host")
        for name in ("workers", "max_upload_bytes", "max_pixels", "max_batch", "queue_size", "heatmap_max_side"):
            if getattr(self, name) < 1:
                raise bad(name, f"must be >= 1, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise bad("threads", f"must be >= 1, got {self.threads}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise bad("threshold", f"must be between 0 and 1, got {self.threshold}")
        if self.pixel_budget < self.max_pixels:
            raise bad("pixel_budget", f"{self.pixel_budget} is below --max-pixels {self.max_pixels}: the largest "
                      "accepted image could never run; raise it or lower --max-pixels")
        if self.pixel_wait_s < 0:
            raise bad("pixel_wait_s", f"must be >= 0 seconds, got {self.pixel_wait_s}")
        if not self.timeout_s > 0:
            raise bad("timeout_s", f"must be > 0 seconds, got {self.timeout_s}")
        if self.log_level not in _LOG_LEVELS:
            raise bad("log_level", f"must be one of {', '.join(_LOG_LEVELS)}, got {self.log_level!r}")
        if self.providers is not None and not self.providers:
            raise bad("providers", "empty provider list")

    @property
    def ort_threads(self) -> int:
        """onnxruntime intra-op threads per run: ``threads`` or an even share of the cores."""
        return self.threads if self.threads is not None else max(1, default_workers() // self.workers)

    @classmethod
    def from_sources(cls, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> "ServiceConfig":
        """Build a config: flags (non-``None`` values) over environment variables over defaults.

        Args:
            flags: Field name -> value, e.g. ``vars(argparse_namespace)``; ``None`` means "not given".
                Unknown keys are rejected.
            env: Environment to read :data:`ENV_VARS` from; default ``os.environ``.

        Returns:
            The validated config.

        Raises:
            ConfigError: A value is missing, malformed or out of range.
        """
        flags = dict(flags or {})
        env = os.environ if env is None else env
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(flags) - names)
        if unknown:
            raise ConfigError(f"unknown service settings {unknown}; valid: {sorted(names)}")
        values: dict[str, Any] = {}
        for name in names:
            raw, source = flags.get(name), flag_name(name)
            if raw is None and env.get(ENV_VARS[name], "").strip():
                raw, source = env[ENV_VARS[name]], ENV_VARS[name]
            if raw is None:
                continue
            try:
                values[name] = _PARSERS[name](raw)
            except (TypeError, ValueError) as e:
                raise ConfigError(f"{source}={raw!r}: {e}") from None
        if "model" not in values:
            raise ConfigError("no model given; pass --model model.onnx or set FAKEDAMAGE_MODEL")
        return cls(**values)
