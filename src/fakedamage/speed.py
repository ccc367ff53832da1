"""Inference speed (the `benchmark` verb; accuracy across generators is :mod:`fakedamage.generalisation`):
one detector on three engines, side by side in one run.

ONNX Runtime fp32, ONNX Runtime int8 and PyTorch eager run the same weights on the same
real tiles (cut from the photos that scikit-image ships) at each batch size. Each cell
reports tiles per second (the model's input images), p50/p99 latency per call, achieved
GFLOP/s and its share of this CPU's fp32 peak, estimated from its core count, clock and
SIMD width (a rough upper bound, labelled as such).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

__all__ = ["BenchRow", "cpu_peak_gflops", "flops_per_tile", "real_tiles", "time_calls", "run_speed_benchmark"]


@dataclass(frozen=True)
class BenchRow:
    engine: str
    batch: int
    calls: int
    tiles_per_s: float
    p50_ms: float
    p99_ms: float
    gflops: float


def cpu_peak_gflops(threads: int) -> tuple[float, str]:
    """Estimated fp32 peak of ``threads`` cores: GHz x FLOPs/cycle (2 FMA units x SIMD lanes x 2)."""
    flags, mhz = "", 0.0
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("flags") and not flags:
                flags = line
            if line.startswith("cpu MHz") and not mhz:
                mhz = float(line.split(":")[1])
    except OSError:
        pass
    lanes = 16 if " avx512f" in flags else 8 if " avx2" in flags else 4
    per_cycle = 2 * lanes * (2 if " fma" in flags or lanes == 16 else 1)
    ghz = (mhz or 2500.0) / 1000
    isa = "AVX-512" if lanes == 16 else "AVX2" if lanes == 8 else "SSE"
    return threads * ghz * per_cycle, f"{threads} cores x {ghz:.2f} GHz x {per_cycle} FLOP/cycle ({isa} FMA)"


def flops_per_tile(model, tile_size: int) -> float:
    """FLOPs (2 per multiply-add) of one forward pass on one tile, counted by PyTorch."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, tile_size, tile_size))
    return float(counter.get_total_flops())


def real_tiles(tile_size: int, n: int = 32) -> np.ndarray:
    """``(n, 3, T, T)`` float32 tiles in ``[0, 1]`` from the photos scikit-image ships."""
    import skimage.data

    from .runtime.tiling import extract_tiles

    photos = [skimage.data.coffee(), skimage.data.chelsea(), skimage.data.astronaut(), skimage.data.rocket()]
    tiles = np.concatenate([extract_tiles(p, tile_size, tile_size)[0] for p in photos])
    return np.ascontiguousarray(np.resize(tiles, (n, *tiles.shape[1:])))


def time_calls(fn: Callable[[], object], seconds: float, min_calls: int = 5, warmup: int = 2) -> np.ndarray:
    """Latencies (ms) of repeated ``fn()`` calls for about ``seconds`` (at least ``min_calls``)."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    t_end = time.perf_counter() + seconds
    while len(times) < min_calls or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return np.asarray(times)


def _row(engine: str, batch: int, lat: np.ndarray, flops: float) -> BenchRow:
    tps = batch / (lat.mean() / 1e3)
    return BenchRow(engine, batch, len(lat), float(tps), float(np.percentile(lat, 50)), float(np.percentile(lat, 99)),
                    float(tps * flops / 1e9) if flops else float("nan"))


def _ort_session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def run_speed_benchmark(model_path: str | Path, weights: str | Path | None = None, int8: str | Path | None = None,
                        threads: int | None = None, batch_sizes: Sequence[int] = (1, 32), seconds: float = 4.0,
                        min_calls: int = 5) -> dict:
    """Time every available engine at every batch size; returns the table and the ratios."""
    from .runtime.detector import Detector

    model_path = Path(model_path)
    if not threads:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    meta = Detector(model_path, providers=["CPUExecutionProvider"]).meta
    tiles = real_tiles(meta.tile_size, max(batch_sizes))
    engines: dict[str, Callable[[np.ndarray], object]] = {}
    sess = _ort_session(model_path, threads)
    engines["ort fp32"] = lambda x, s=sess: s.run([meta.output_names[0]], {meta.input_name: x})
    if int8 and Path(int8).is_file():
        s8 = _ort_session(Path(int8), threads)
        engines["ort int8"] = lambda x, s=s8: s.run([meta.output_names[0]], {meta.input_name: x})
    flops = 0.0
    if weights and Path(weights).is_file():
        import torch

        from .export import ExportWrapper
        from .models import load_checkpoint

        torch.set_num_threads(threads)
        model, _ = load_checkpoint(weights)
        wrapped = ExportWrapper(model.eval())
        flops = flops_per_tile(model.eval(), meta.tile_size)

        def eager(x: np.ndarray) -> object:
            with torch.inference_mode():
                return wrapped(torch.from_numpy(x))

        engines["torch eager"] = eager
    rows = [_row(name, b, time_calls(lambda fn=fn, b=b: fn(tiles[:b]), seconds, min_calls), flops)
            for b in batch_sizes for name, fn in engines.items()]
    peak, how = cpu_peak_gflops(threads)
    by = {(r.engine, r.batch): r for r in rows}
    ratios = {}
    for b in batch_sizes:
        if ("torch eager", b) in by:
            ratios[f"ort fp32 / torch eager @ batch {b}"] = by[("ort fp32", b)].tiles_per_s / by[("torch eager", b)].tiles_per_s
        if ("ort int8", b) in by:
            ratios[f"ort int8 / ort fp32 @ batch {b}"] = by[("ort int8", b)].tiles_per_s / by[("ort fp32", b)].tiles_per_s
    return {"model": str(model_path), "backbone": meta.backbone, "tile_size": meta.tile_size, "threads": threads,
            "gflop_per_tile": flops / 1e9, "cpu_peak_gflops": peak, "cpu_peak_how": how,
            "rows": [asdict(r) for r in rows], "ratios": ratios}


def format_table(result: dict) -> str:
    """The benchmark as a text table plus the ratio lines."""
    peak = result["cpu_peak_gflops"]
    lines = [f"{result['backbone']} at {result['tile_size']} px tiles, {result['threads']} threads; "
             f"{result['gflop_per_tile']:.3f} GFLOP per tile; CPU fp32 peak estimate {peak:.0f} GFLOP/s "
             f"({result['cpu_peak_how']}, at the reported clock: boost clocks exceed it, and int8 rows count "
             "the fp32-equivalent work, so they can pass 100%)",
             f"{'engine':<12} {'batch':>5} {'tiles/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'GFLOP/s':>8} {'% peak':>7}"]
    for r in result["rows"]:
        g = r["gflops"]
        lines.append(f"{r['engine']:<12} {r['batch']:>5} {r['tiles_per_s']:>9.1f} {r['p50_ms']:>8.2f} "
                     f"{r['p99_ms']:>8.2f} {g:>8.1f} {100 * g / peak:>6.1f}%" if g == g else
                     f"{r['engine']:<12} {r['batch']:>5} {r['tiles_per_s']:>9.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}")
    lines += [f"{k}: {v:.2f}x" for k, v in result["ratios"].items()]
    return "\n".join(lines)
