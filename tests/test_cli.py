"""The command line, end to end, in real subprocesses."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_cli


def test_help_lists_every_verb():
    out = run_cli("--help").stdout
    for verb in ("synth", "train", "eval", "export", "predict", "demo"):
        assert verb in out


@pytest.mark.parametrize("verb", ["synth", "train", "eval", "export", "demo"])
def test_verb_help_shows_config(verb):
    out = run_cli(verb, "--help").stdout
    assert f"fakedamage {verb}" in out and "key=value" in out


def test_predict_help():
    assert "--model" in run_cli("predict", "--help").stdout


def test_console_script_installed():
    script = Path(sys.executable).parent / "fakedamage"
    assert script.exists(), "pip install -e . should install the `fakedamage` console script"


def test_unknown_verb_suggests():
    proc = run_cli("trian", check=False)
    assert proc.returncode == 2
    assert "did you mean 'fakedamage train'" in proc.stderr


def test_config_typo_rejected_with_valid_keys():
    proc = run_cli("train", "trainer.epocs=3", check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert "trainer.epocs" in line and "did you mean 'trainer.epochs'" in line and "lr" in line


def test_unknown_group_option_named():
    proc = run_cli("train", "model=resnet181", check=False)
    assert proc.returncode == 2
    assert "resnet18" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_required_value():
    proc = run_cli("eval", check=False)
    assert proc.returncode == 2 and "weights" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_manifest_is_one_line(tmp_path):
    proc = run_cli("train", f"run_dir={tmp_path}", f"data.manifest={tmp_path}/nope.csv", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "nope.csv" in proc.stderr and "fakedamage synth" in proc.stderr


def test_python_m_train_entry_point():
    proc = subprocess.run([sys.executable, "-m", "fakedamage", "train", "--show", "trainer.epochs=2"],
                                        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "epochs: 2" in proc.stdout


def test_pipeline_writes_run_folder(pipeline):
    run = pipeline["run"]
    for rel in ("config.yaml", "weights/best.safetensors", "weights/best.json", "weights/last.safetensors",
                "metrics.csv", "model.onnx", "model.json", "data/manifest.parquet", "data/sources.csv"):
        assert (run / rel).is_file(), rel
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert len(rows) == 1 and "val_auc" in rows[0]
    side = json.loads((run / "weights" / "best.json").read_text())
    assert side["meta"]["backbone"] == "resnet10t" and side["meta"]["tile_size"] == 64


def test_pipeline_eval_outputs(pipeline):
    out = pipeline["best"].parent / "eval-test"
    m = json.loads((out / "metrics.json").read_text())
    o = m["metrics"]["overall"]
    assert o["n"] > 0 and 0.0 <= o["auc"] <= 1.0 and "tpr_at_1fpr" in o
    assert (out / "roc.png").stat().st_size > 1000
    assert "AUC" in pipeline["eval"].stdout
    # whole-photo claims of the test photos are reported beside the crops, per size band
    whole = m["whole_photos"]
    assert whole["failed"] == [] and [b["band"] for b in whole["bands"]][-1] == "all"
    everything = whole["bands"][-1]
    assert everything["fakes"] >= 1 and everything["trace_auc"] is not None
    assert everything["genuine"] == 3 * everything["fakes"] and whole["resampled"] == [0.5, 2.0]  # + 0.5x, 2x copies
    assert "## Whole photos" in (out / "report.md").read_text()


def test_pipeline_export_prints_next_commands(pipeline):
    assert "fakedamage predict" in pipeline["export"].stdout
    assert "parity" in pipeline["export"].stderr


def test_calibrate_resets_the_threshold_on_another_split(pipeline, tmp_path):
    import shutil

    import pandas as pd

    w = tmp_path / "best.safetensors"
    shutil.copy(pipeline["best"], w)
    shutil.copy(pipeline["best"].with_suffix(".json"), w.with_suffix(".json"))
    proc = run_cli("calibrate", f"weights={w}", f"data.manifest={pipeline['manifest']}", "split=test", "target_fpr=0.05")
    side = json.loads(w.with_suffix(".json").read_text())
    cal = side["calibration"]
    n_real = int((pd.read_parquet(pipeline["manifest"]).query("split == 'test'").label == 0).sum())
    assert cal["n_real"] == n_real and cal["fpr"] <= 0.05 and side["meta"]["threshold"] == cal["threshold"]
    assert "warning:" in proc.stderr and "fakedamage export" in proc.stdout  # a smoke split is far too small
    bad = run_cli("calibrate", f"weights={tmp_path / 'nope.safetensors'}", f"data.manifest={pipeline['manifest']}",
                  check=False)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1


def test_pipeline_predict_csv(pipeline):
    rows = list(csv.DictReader(open(pipeline["run"] / "preds.csv")))
    n_images = len(list((pipeline["run"] / "data" / "images").rglob("*.jpg")))
    assert len(rows) == n_images > 0
    assert {"path", "score", "is_fake"} <= set(rows[0])
    assert all(0.0 <= float(r["score"]) <= 1.0 for r in rows)


def test_predict_folder_with_corrupt_file_goes_on(pipeline, tmp_path):
    imgs = sorted((pipeline["run"] / "data" / "images").rglob("*.jpg"))[:2]
    for p in imgs:
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "broken.jpg").write_bytes(imgs[0].read_bytes()[:300])
    proc = run_cli("predict", str(tmp_path), "--model", str(pipeline["onnx"]), check=False)
    assert proc.returncode == 1
    assert len([line for line in proc.stdout.splitlines() if "score=" in line]) == 2
    assert "broken.jpg" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("content", [b"", b"not an image at all", None], ids=["empty", "text", "truncated"])
def test_predict_single_bad_file(pipeline, tmp_path, content):
    bad = tmp_path / "claim.jpg"
    if content is None:
        src = sorted((pipeline["run"] / "data" / "images").rglob("*.jpg"))[0].read_bytes()
        content = src[: len(src) // 2]
    bad.write_bytes(content)
    proc = run_cli("predict", str(bad), "--model", str(pipeline["onnx"]), check=False)
    assert proc.returncode != 0
    err = [line for line in proc.stderr.strip().splitlines() if line]
    assert err and "claim.jpg" in err[0] and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_demo_smoke(tmp_path):
    proc = run_cli("demo", "experiment=smoke", f"run_dir={tmp_path / 'demo'}")
    out = proc.stdout
    for needle in ("fakedamage demo summary", "held-out", "AUC", "TPR@1%FPR", "per generator", "ONNX parity",
                   "images/s", "run folder"):
        assert needle in out, needle
    summary = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    assert summary["parity"]["ok"] and summary["dataset"]["images"] > 0
    for rel in ("config.yaml", "metrics.csv", "metrics.json", "roc.png", "model.onnx", "weights/best.safetensors",
                "report.md", "report.html", "pr.png", "reliability.png", "histograms.png", "robustness.png"):
        assert (tmp_path / "demo" / rel).is_file(), rel
    # the report references only plots that exist, and covers the robustness sweep
    import re

    md = (tmp_path / "demo" / "report.md").read_text()
    assert all((tmp_path / "demo" / n).is_file() for n in re.findall(r"\]\(([^)]+\.png)\)", md))
    assert "Robustness to laundering" in md and "jpeg50" in md
    assert "threshold" in out and "chosen for 1% FPR" in out


def _one_clean_line(proc) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return lines[-1]


def test_unknown_backbone_is_one_line_with_suggestions(pipeline, tmp_path):
    proc = run_cli("train", f"run_dir={tmp_path}", f"data.manifest={pipeline['manifest']}",
                   "model.backbone=resnet_18", "model.pretrained_file=null", check=False)
    line = _one_clean_line(proc)
    assert "unknown timm backbone 'resnet_18'" in line and "resnet18" in line


def test_manifest_without_columns_is_one_line(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = tmp_path / "manifest.parquet"
    pq.write_table(pa.table({"path": ["a.jpg"], "label": [1]}), bad)
    line = _one_clean_line(run_cli("train", f"run_dir={tmp_path}", f"data.manifest={bad}", check=False))
    assert str(bad) in line and "missing columns" in line


def test_mismatched_pretrained_file_is_one_line(pipeline, tmp_path):
    from fakedamage.models.pretrained import convert_efficientnet_lite0

    lite0 = convert_efficientnet_lite0(tmp_path / "lite0.safetensors")
    line = _one_clean_line(run_cli("train", f"run_dir={tmp_path}", f"data.manifest={pipeline['manifest']}",
                                   "model.backbone=resnet10t", f"model.pretrained_file={lite0}", check=False))
    assert str(lite0) in line and "do not fit backbone 'resnet10t'" in line and "missing" in line


def test_resume_without_state_is_one_line(pipeline, tmp_path):
    line = _one_clean_line(run_cli("train", f"run_dir={tmp_path / 'fresh'}", f"data.manifest={pipeline['manifest']}",
                                   "experiment=smoke", "resume=true", check=False))
    assert "last.state.pt: no training state to resume" in line


def test_train_writes_tensorboard_csv_and_resumable_state(pipeline):
    run = pipeline["run"]
    assert list((run / "tb").glob("events.out.tfevents.*"))
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    for col in ("epoch", "step", "lr", "train_loss", "train_mask_loss", "train_img_s", "data_wait", "skipped",
                "val_auc", "val_tpr_at_1fpr", "val_pixel_f1"):
        assert col in header, col
    assert (run / "weights" / "last.state.pt").is_file()
    side = json.loads((run / "weights" / "best.json").read_text())
    assert side["config"]["trainer"]["seed"] == 0 and "deterministic" in side["config"]["trainer"]
    assert side["architecture"] == {"feature_levels": 4, "decoder_channels": 32}


def test_hub_weights_offline_is_one_line(pipeline, tmp_path):
    import os

    env_off = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "fakedamage", "train", f"run_dir={tmp_path}",
                           f"data.manifest={pipeline['manifest']}", "model.backbone=resnet10t", "model.pretrained=true",
                           "model.pretrained_file=null"], capture_output=True, text=True, env=env_off, cwd=REPO,
                          timeout=300)
    line = _one_clean_line(proc)
    assert "could not download timm's pretrained weights for 'resnet10t'" in line and "pretrained_file" in line
