"""The runtime path imports no torch: platform teams install numpy, Pillow, onnxruntime only."""

import subprocess
import sys

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
