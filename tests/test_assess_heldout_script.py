"""``scripts/eval_assess_heldout.py``: the held-out validation of the assess thresholds runs end to end
on a tiny claim set and reports the confusion tables and the genuine false-flag rate; bad arguments
stop with one ``error:`` line; ``make eval-assess`` runs it after ``eval_assess.py``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "eval_assess_heldout.py"


def _run(*args: str, out: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args, "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def _have_cjk_font() -> bool:
    fc = shutil.which("fc-list")
    if fc is None:
        return False
    return bool(subprocess.run([fc, ":lang=zh", "file"], capture_output=True, text=True, timeout=30).stdout.strip())


def test_bad_arguments_are_one_clear_error(tmp_path):
    missing = tmp_path / "nowhere" / "model.onnx"
    line = _one_error_line(_run("--model", str(missing), out=tmp_path / "out"))
    assert str(missing) in line and "--model none" in line
    line = _one_error_line(_run("--model", "none", "--generators", "classical", out=tmp_path / "out"))
    assert "classical" in line and "chose the thresholds" in line and "taef2" in line
    line = _one_error_line(_run("--model", "none", "--sources", "mate-backgrounds", out=tmp_path / "out"))
    assert "mate-backgrounds" in line and "held-out" in line
    assert not (tmp_path / "out").exists()  # stopped before building anything


def test_make_eval_assess_runs_the_heldout_validation():
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    proc = subprocess.run([make, "-n", "eval-assess", "MODEL=some/model.onnx", "EVAL_OUT=out/x", "HELDOUT_N=3"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.index("scripts/eval_assess.py") < proc.stdout.index("scripts/eval_assess_heldout.py")
    assert ('eval_assess_heldout.py --model "some/model.onnx" --out "out/x/heldout"' in proc.stdout
            and "--n-per-kind 3" in proc.stdout)


@pytest.mark.slow
@pytest.mark.skipif(not _have_cjk_font(), reason="no CJK font (make fonts / apt-get install -y fonts-noto-cjk)")
def test_tiny_heldout_run_reports_tables_and_genuine_false_flags(tmp_path):
    out = tmp_path / "heldout"
    proc = _run("--model", "none", "--n-per-kind", "2", "--n-genuine", "2", "--generators", "inpainter",
                "--listing-side", "320,384", "--threads", "1", out=out, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## Verdicts overall", "## Verdicts per claim kind", "## Verdicts per deciding evidence"):
        assert heading in report and heading in proc.stdout
    assert "likely_ai_edited on genuine claims:" in report and "upper bound" in report
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    kinds = {p["claim_kind"] for p in res["per_claim"]}
    assert {"genuine_pristine", "genuine_real_damage", "genuine_screenshot", "ai_no_label", "ai_implicit_label",
            "ai_implicit_stripped", "ai_explicit_label", "ai_explicit_cropped", "ai_screenshot"} <= kinds
    assert res["n_genuine"] >= 6 and res["n_ai_edited"] >= 12
    assert set(res["confusion_overall"]) == {"genuine", "ai_edited"}
    fp = res["genuine_false_likely_ai_edited"]
    assert fp["n"] == res["n_genuine"] and 0 <= fp["upper95_one_sided_clopper_pearson"] <= 1
    assert all(p["info"]["source"] not in res["held_out"]["tuning_sources"] for p in res["per_claim"])
    # the implicit GB 45438 label is read and decides (provenance, independent of OCR and detector)
    implicit = [p for p in res["per_claim"] if p["claim_kind"] == "ai_implicit_label"]
    assert all(p["verdict"] == "likely_ai_edited" and "gb45438_label" in p["decided_by"] for p in implicit)
    # the metadata-stripped copies carry no label
    stripped = [p for p in res["per_claim"] if p["claim_kind"] == "ai_implicit_stripped"]
    assert all("gb45438_label" not in {e["kind"] for e in p["evidence"]} for p in stripped)
