"""``scripts/eval_assess.py`` and ``make eval-assess`` use the model and generators they are given.

A missing model, missing generator weights or a missing ``MODEL=`` stop with one clear line
(naming the file and the fix) and exit code 2, before any claim is built; nothing falls back
silently to another run's files. Only argument checking runs here (a second or so each).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "eval_assess.py"


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args, "--out", str(tmp_path / "out")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_missing_model_is_one_clear_error(tmp_path):
    missing = tmp_path / "runs" / "nowhere" / "model.onnx"
    line = _one_error_line(_run("--model", str(missing), tmp_path=tmp_path))
    assert str(missing) in line and "not found" in line and "MODEL=" in line and "--model none" in line
    assert not (tmp_path / "out").exists()  # stopped before building anything


def test_model_is_required(tmp_path):
    proc = _run(tmp_path=tmp_path)
    assert proc.returncode == 2 and "--model" in proc.stderr and "Traceback" not in proc.stderr
    line = _one_error_line(_run("--model", "", tmp_path=tmp_path))
    assert "--model is empty" in line


def test_generators_need_their_weights(tmp_path):
    line = _one_error_line(_run("--model", "none", "--generators", "classical,ae", tmp_path=tmp_path))
    assert "--ae-weights" in line
    empty = tmp_path / "generators"
    empty.mkdir()
    line = _one_error_line(_run("--model", "none", "--generators", "ae", "--ae-weights", str(empty), tmp_path=tmp_path))
    assert str(empty) in line and "ae-*.safetensors" in line
    line = _one_error_line(_run("--model", "none", "--generators", "gan", tmp_path=tmp_path))
    assert "unknown kind(s) gan" in line and "classical, ae" in line


def test_unreadable_model_is_one_clear_error(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not an onnx model")
    line = _one_error_line(_run("--model", str(bad), tmp_path=tmp_path))
    assert str(bad) in line


def test_make_target_needs_model():
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    proc = subprocess.run([make, "-n", "eval-assess"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "MODEL=path/to/model.onnx" in proc.stderr and "make eval-assess MODEL=runs/demo/model.onnx" in proc.stderr
    proc = subprocess.run([make, "-n", "eval-assess", "MODEL=some/model.onnx", "GENERATORS=classical,ae",
                           "AE_WEIGHTS=some/generators"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert ('--model "some/model.onnx" --generators "classical,ae"' in proc.stdout
            and "--ae-weights some/generators" in proc.stdout)
