"""The runtime path imports no torch: platform teams install numpy, Pillow, onnxruntime only."""

import subprocess
import sys

import pytest

from conftest import REPO


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_import_package_is_torch_free_and_hydra_free():
    proc = _run("import sys, fakedamage; assert 'torch' not in sys.modules; "
                "assert not any(m.startswith('hydra') for m in sys.modules); print(fakedamage.__version__)")
    assert proc.returncode == 0, proc.stderr


def test_detector_predict_is_torch_free(pipeline):
    img = sorted((pipeline["run"] / "data" / "images").rglob("*.jpg"))[0]
    code = (
        "import sys\n"
        "from fakedamage import Detector\n"
        f"r = Detector({str(pipeline['onnx'])!r}).predict({str(img)!r})\n"
        "assert 0.0 <= r.score <= 1.0 and isinstance(r.is_fake, bool)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(r.score)\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr


def test_cli_predict_is_torch_free(pipeline):
    img = sorted((pipeline["run"] / "data" / "images").rglob("*.jpg"))[0]
    code = (
        "import sys\n"
        "from fakedamage.cli import main\n"
        f"rc = main(['predict', {str(img)!r}, '--model', {str(pipeline['onnx'])!r}])\n"
        "assert rc == 0, rc\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_runtime_extra_installs_and_predicts_without_torch(pipeline, tmp_path):
    """What a platform team does: a fresh venv with only `fakedamage[runtime]`, then predict."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    pip = subprocess.run([str(py), "-m", "pip", "install", "-q", f"{REPO}[runtime]"],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-2000:]
    has_torch = subprocess.run([str(py), "-c", "import torch"], capture_output=True, timeout=60)
    assert has_torch.returncode != 0, "the runtime extra must not pull in torch"
    img = sorted((pipeline["run"] / "data" / "images").rglob("*.jpg"))[0]
    proc = subprocess.run([str(venv / "bin" / "fakedamage"), "predict", str(img), "--model", str(pipeline["onnx"])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "score=" in proc.stdout
