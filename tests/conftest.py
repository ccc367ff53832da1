"""Shared fixtures: one real end-to-end CLI run on tiny offline data, reused by several tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

from fakedamage.utils.memory import tune_malloc  # noqa: E402

tune_malloc()  # the CLI does this too; without it tensor work page-faults on every step (see the module)


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -m fakedamage ARGS`` in a real subprocess."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "fakedamage", *args], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"fakedamage {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")
    return proc


def claim_builders():
    """``scripts/eval_assess.py`` as a module: the claim builders the assess tests share (no torch at import)."""
    import importlib.util

    if "eval_assess" in sys.modules:
        return sys.modules["eval_assess"]
    spec = importlib.util.spec_from_file_location("eval_assess", REPO / "scripts" / "eval_assess.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> dict[str, Path]:
    """synth -> train -> eval -> export -> predict through the CLI, on the smoke experiment."""
    run = tmp_path_factory.mktemp("pipeline") / "run"
    common = ["experiment=smoke", f"run_dir={run}"]
    out = {"run": run, "manifest": run / "data" / "manifest.parquet"}
    out["synth"] = run_cli("synth", *common)
    out["train"] = run_cli("train", *common)
    best = run / "weights" / "best.safetensors"
    out["eval"] = run_cli("eval", f"weights={best}", f"data.manifest={out['manifest']}", "progress=false")
    out["export"] = run_cli("export", f"weights={best}", f"data.manifest={out['manifest']}", "export.parity_images=8")
    out["predict"] = run_cli("predict", str(run / "data" / "images"), "--model", str(run / "model.onnx"),
                             "--output", str(run / "preds.csv"))
    out["best"], out["onnx"] = best, run / "model.onnx"
    return out
