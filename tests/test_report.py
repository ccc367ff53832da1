"""Reports: files produced, plots referenced exist, the HTML opens offline."""

import json
import re

import numpy as np
import pytest

from conftest import run_cli
from fakedamage.report import plot_histograms, plot_pr, plot_reliability, write_report


def _preds(n=40):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        label = i % 2
        out.append({"label": label, "score": float(np.clip(rng.normal(0.3 + 0.4 * label, 0.2), 0, 1)),
                    "variant": "inpaint_pasted" if label else "pristine", "generator": "g1" if label else ""})
    return out


def test_write_report_references_existing_plots(tmp_path):
    preds = _preds()
    plots = {"pr": plot_pr(preds, tmp_path / "pr.png").name,
             "rel": plot_reliability(preds, tmp_path / "rel.png").name,
             "hist": plot_histograms(preds, tmp_path / "hist.png", 0.5).name}
    report = {"model": "m.onnx", "manifest": "x.parquet", "split": "test", "threshold": 0.5,
              "metrics": {"overall": {"n": 40, "n_real": 20, "n_fake": 20, "auc": 0.9, "fpr": 0.05, "tpr": 0.8}}}
    md, html = write_report(tmp_path, report, plots)
    text = md.read_text()
    for name in re.findall(r"\]\(([^)]+\.png)\)", text):
        assert (tmp_path / name).is_file()
    assert len(re.findall(r"\]\(([^)]+\.png)\)", text)) == 3
    page = html.read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "http://" not in page and "https://" not in page  # self-contained, opens offline
    with pytest.raises(FileNotFoundError, match="plot missing"):
        write_report(tmp_path, report, {"gone": "nope.png"})


def test_eval_cli_writes_full_report(pipeline, tmp_path):
    out = tmp_path / "ev"
    run_cli("eval", f"weights={pipeline['best']}", f"data.manifest={pipeline['manifest']}", f"out_dir={out}",
            "progress=false", "robustness=[none,jpeg50,rescale0.5]", "bootstrap=50")
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["robustness"]) == {"none", "jpeg50", "rescale0.5"}
    assert {"auc", "ap", "tpr_at_1fpr", "tpr_at_5fpr", "eer", "ece", "nll", "brier", "balanced_accuracy",
            "accuracy"} <= set(m["metrics"]["overall"])
    assert set(m["ci"]["auc"]) and m["pixel"]["pixel_n"] >= 1 and "pixel_f1_best_threshold" in m["pixel"]
    md = (out / "report.md").read_text()
    names = re.findall(r"\]\(([^)]+\.png)\)", md)
    assert {"roc.png", "pr.png", "reliability.png", "histograms.png", "robustness.png", "heatmaps.png"} <= set(names)
    assert all((out / n).is_file() for n in names)
    assert (out / "report.html").stat().st_size > 10_000


def test_training_writes_calibrated_threshold_into_metadata(pipeline):
    side = json.loads((pipeline["best"].with_suffix(".json")).read_text())
    cal = side["calibration"]
    assert cal["fpr"] <= cal["target_fpr"] and side["meta"]["threshold"] == cal["threshold"]
    assert side["meta"]["temperature"] == cal["temperature"]
    # export carries them into the ONNX metadata
    from fakedamage import Detector

    det = Detector(pipeline["onnx"])
    assert det.meta.threshold == cal["threshold"] and det.meta.temperature == cal["temperature"]
