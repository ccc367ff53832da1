#!/usr/bin/env python3
"""Bounded load test of ``fakedamage serve`` on loopback: requests/s, p50/p99 latency, errors.

Each level runs N client threads for a fixed duration; every client keeps one HTTP
connection open and posts the same photo to ``/v1/predict`` back to back. The test
stops by itself: no request starts after the deadline and each one has a timeout.
Only loopback addresses are accepted (``127.0.0.0/8``, ``::1``, ``localhost``).

Usage::

    # against a running server
    python scripts/load_test.py --url http://127.0.0.1:8000 --image photo.jpg --clients 1 4 16 --duration 15
    # start a server for the test (on a free loopback port) and stop it afterwards
    python scripts/load_test.py --model model.onnx --image photo.jpg --clients 1 4 16 --duration 15

Prints one table row per client count. Exit code: 0 no errors, 1 some request failed,
2 usage error (non-loopback URL, missing file, server did not start).
"""

from __future__ import annotations

import argparse
import http.client
import io
import ipaddress
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit

__all__ = ["LevelResult", "run_level", "main"]


@dataclass
class LevelResult:
    """Outcome of one load level."""

    clients: int
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.errors

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.duration_s if self.duration_s > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the successful requests' latency, in ms (``nan`` if none)."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback name or address (no DNS lookup is made)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def multipart(image: bytes, filename: str, content_type: str) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body with the image in the field ``file``."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode()
    return head + image + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def synthetic_jpeg(width: int = 512, height: int = 512) -> bytes:
    """A photo-like JPEG (gradients and noise) for when no ``--image`` is given."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([120 + 80 * x, 100 + 60 * y, 140 - 50 * x * y], axis=-1)
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _client(host: str, port: int, path: str, body: bytes, headers: dict[str, str], deadline: float,
            timeout: float, result: LevelResult, lock: threading.Lock) -> None:
    conn: http.client.HTTPConnection | None = None
    latencies: list[float] = []
    errors: list[str] = []
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            if resp.status == 200:
                latencies.append((time.perf_counter() - t0) * 1e3)
            else:
                errors.append(f"HTTP {resp.status}: {payload[:200].decode('utf-8', 'replace')}")
            if resp.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            errors.append(f"{type(e).__name__}: {e}")
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()
    with lock:
        result.latencies_ms.extend(latencies)
        result.errors += len(errors)
        result.error_samples.extend(errors[: max(0, 5 - len(result.error_samples))])


def run_level(url: str, body: bytes, content_type: str, clients: int, duration_s: float, timeout: float = 30.0,
              api_key: str | None = None, heatmap: bool = False) -> LevelResult:
    """Run ``clients`` threads posting ``body`` to ``url``/v1/predict for ``duration_s`` seconds.

    Args:
        url: Base URL of the service (loopback).
        body: The multipart request body.
        content_type: Its ``Content-Type`` (with the boundary).
        clients: Concurrent connections.
        duration_s: How long new requests are started.
        timeout: Socket timeout of each request.
        api_key: Sent as ``X-API-Key`` when given.
        heatmap: Ask for the heatmap PNG too.

    Returns:
        The latencies of successful requests and the error count.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = "/v1/predict" + ("?heatmap=true" if heatmap else "")
    headers = {"Content-Type": content_type}
    if api_key:
        headers["X-API-Key"] = api_key
    result = LevelResult(clients=clients, duration_s=duration_s)
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + duration_s
    threads = [threading.Thread(target=_client, args=(host, port, path, body, headers, deadline, timeout, result, lock),
                                daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration_s + timeout + 5)
    result.duration_s = time.monotonic() - start
    return result


def _start_server(model: Path, extra: Sequence[str]) -> tuple[subprocess.Popen, str]:
    """Start ``python -m fakedamage.service`` on a free loopback port; return it and its URL once ready."""
    cmd = [sys.executable, "-m", "fakedamage.service", "--model", str(model), "--host", "127.0.0.1", "--port", "0",
           "--log-level", "warning", *extra]
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a chatty server can never block on it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        proc.kill()
        proc.wait()
        log.seek(0)
        raise RuntimeError(f"server did not start: {line.strip()} {log.read().strip()[-1000:]}")
    url = line.rsplit(" ", 1)[-1].strip()
    parts = urlsplit(url)
    for _ in range(600):
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, url
            conn.close()
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not become ready within 60 s")


def _table(results: list[LevelResult]) -> str:
    rows = [("clients", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors")]
    for r in results:
        mx = max(r.latencies_ms) if r.latencies_ms else math.nan
        rows.append((str(r.clients), str(r.requests), f"{r.rps:.1f}", f"{r.percentile(50):.1f}",
                     f"{r.percentile(99):.1f}", f"{mx:.1f}", str(r.errors)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="base URL of a running service on loopback, e.g. http://127.0.0.1:8000")
    where.add_argument("--model", type=Path, help="start a service with this .onnx on a free loopback port")
    parser.add_argument("--image", type=Path, help="photo to post (default: a synthetic 512x512 JPEG)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16], help="concurrent clients per level")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per level (default 15)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request socket timeout in seconds")
    parser.add_argument("--heatmap", action="store_true", help="request the heatmap PNG too")
    parser.add_argument("--api-key", default=os.environ.get("FAKEDAMAGE_API_KEY"), help="X-API-Key to send")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument("--server-arg", action="append", default=[], help="extra flag for the started server (repeatable)")
    args = parser.parse_args(argv)

    if args.duration <= 0 or args.duration > 3600 or any(c < 1 or c > 256 for c in args.clients):
        print("error: --duration must be in (0, 3600] s and --clients in [1, 256]", file=sys.stderr)
        return 2
    if args.url:
        host = urlsplit(args.url).hostname or ""
        if urlsplit(args.url).scheme != "http" or not is_loopback(host):
            print(f"error: {args.url}: only http:// on loopback (127.0.0.1, ::1, localhost) is allowed", file=sys.stderr)
            return 2
    if args.image is not None and not args.image.is_file():
        print(f"error: {args.image}: no such file", file=sys.stderr)
        return 2
    image = args.image.read_bytes() if args.image else synthetic_jpeg()
    name = args.image.name if args.image else "synthetic.jpg"
    ctype = {".png": "image/png", ".webp": "image/webp"}.get(Path(name).suffix.lower(), "image/jpeg")
    body, content_type = multipart(image, name, ctype)

    proc = None
    url = args.url
    try:
        if args.model:
            try:
                proc, url = _start_server(args.model, args.server_arg)
            except (RuntimeError, OSError) as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
        print(f"load test: {url}/v1/predict, {name} ({len(image):,} bytes), {args.duration:g} s per level, "
              f"clients {args.clients}", flush=True)
        results = []
        for clients in args.clients:
            r = run_level(url, body, content_type, clients, args.duration, args.timeout, args.api_key, args.heatmap)
            results.append(r)
            for sample in r.error_samples:
                print(f"  error ({clients} clients): {sample}", file=sys.stderr)
        print(_table(results), flush=True)
        if args.json:
            args.json.write_text(json.dumps([
                {"clients": r.clients, "requests": r.requests, "rps": r.rps, "p50_ms": r.percentile(50),
                 "p99_ms": r.percentile(99), "errors": r.errors, "duration_s": r.duration_s} for r in results], indent=2))
        return 1 if any(r.errors for r in results) else 0
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    sys.exit(main())
