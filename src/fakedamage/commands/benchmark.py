"""``fakedamage benchmark``: ORT fp32, ORT int8 and PyTorch eager speed on the same weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..speed import format_table, run_speed_benchmark
from ..utils.io import atomic_write_json

__all__ = ["run_benchmark"]


def run_benchmark(cfg: Mapping[str, Any]) -> dict:
    model = Path(cfg["onnx"])
    if not model.is_file():
        raise FileNotFoundError(f"{model}: model not found; export one with fakedamage export weights=...")
    weights = Path(cfg["weights"]) if cfg.get("weights") else model.parent / "weights" / "best.safetensors"
    int8 = Path(cfg["int8"]) if cfg.get("int8") else model.with_name(f"{model.stem}.int8.onnx")
    if cfg.get("weights") and not weights.is_file():
        raise FileNotFoundError(f"{weights}: checkpoint not found (weights=... names the PyTorch weights)")
    result = run_speed_benchmark(model, weights if weights.is_file() else None, int8 if int8.is_file() else None,
                                 cfg.get("threads"), list(cfg["batch_sizes"]), float(cfg["seconds"]),
                                 int(cfg["min_calls"]))
    print(format_table(result))
    if not int8.is_file():
        print(f"(no int8 row: {int8} missing; make it with fakedamage export ... export.int8=true)")
    if not weights.is_file():
        print(f"(no PyTorch row: {weights} missing; pass weights=...)")
    if cfg.get("out"):
        atomic_write_json(cfg["out"], result)
    return result
