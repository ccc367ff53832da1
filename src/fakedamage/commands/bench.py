"""``fakedamage bench``: the leave-one-family-out benchmark (see :mod:`fakedamage.generalisation`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

__all__ = ["run_bench_cmd"]


def run_bench_cmd(cfg: Mapping[str, Any]) -> dict:
    from ..config import save_config
    from ..generalisation import BenchConfig, run_bench
    from ..train import configs_from_dict

    run_dir = Path(cfg["run_dir"])
    save_config(cfg, run_dir / "config.yaml")
    data, model, trainer = configs_from_dict(cfg)
    families = {k: tuple(v) for k, v in (cfg.get("families") or {}).items()}
    bench = BenchConfig(detectors=tuple(cfg["detectors"]), holdout=tuple(cfg["holdout"]) if cfg.get("holdout") else None,
                        families=families, include_all=bool(cfg.get("include_all", False)),
                        external=tuple(cfg.get("external") or ()), resize=int(cfg.get("resize", 224)))
    out = run_bench(data, model, trainer, run_dir, bench, progress=bool(cfg.get("progress", True)))
    print("families: " + "; ".join(f"{f} ({', '.join(g)})" for f, g in out["members"].items()))
    print("mean trace AUC on the unseen family: " + "  ".join(f"{d} {v:.4f}" for d, v in out["unseen_trace_auc"].items()))
    print("mean AUC (pristine vs fake) on the unseen family: "
          + "  ".join(f"{d} {v:.4f}" for d, v in out["unseen_auc"].items()))
    print(f"wrote {run_dir}/bench.json, matrix.csv, matrix.png, report.md")
    return out
