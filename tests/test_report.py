"""Reports: files produced, plots referenced exist, the HTML opens offline."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from fakedamage.report import (
    KEY_METRICS,
    plot_generalisation_matrix,
    plot_histograms,
    plot_pr,
    plot_reliability,
    plot_roc,
    write_report,
)


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


# --------------------------------------------------------------------------- report.html from Markdown (issue 15)


class _Page(HTMLParser):
    """Visible text chunks, tags seen, and per table the number of cells of each row, of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []
        self.tables: list[list[int]] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("head", "style", "script", "title"):
            self._skip += 1
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append(0)
        elif tag in ("td", "th"):
            self.tables[-1][-1] += 1

    def handle_endtag(self, tag):
        if tag in ("head", "style", "script", "title"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.text.append(data)


def _parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    p.close()
    return p


def _realistic_report(**over) -> dict:
    """A metrics dict shaped as ``fakedamage eval`` writes it (commands/evaluate.py)."""
    m = {"n": 240, "n_real": 120, "n_fake": 120, "auc": 0.9137, "ap": 0.9021, "tpr_at_1fpr": 0.31, "tpr_at_5fpr": 0.55,
         "eer": 0.16, "balanced_accuracy": 0.81, "fpr": 0.0083, "tpr": 0.42, "ece": 0.05, "nll": 0.41, "brier": 0.13,
         "pixel_f1": 0.38, "pixel_iou": 0.27}
    report = {
        "model": "runs/exp_1/weights/best.safetensors", "manifest": "runs/exp_1/data/manifest.parquet",
        "split": "test", "threshold": 0.8123, "temperature": 1.7,
        "calibration": {"target_fpr": 0.01, "temperature": 1.7, "n_real": 40, "n_sources": 3,
                        "fpr_upper_95": 0.0722,
                        "warning": "40 reals cannot show FPR <= 0.01 (95% upper bound 0.072; 299 needed); the reals "
                                   "come from 3 source photos (< 10); real scores cluster by photo. Recalibrate on "
                                   "more genuine photos: fakedamage calibrate weights=... data.manifest=..."},
        "metrics": {"overall": m,
                    "trace": {**m, "n_real": 60, "n_fake": 60, "pair_win": 0.78, "pairs": 60},
                    "trace generator=sd_xl_inpaint": {**m, "pair_win": 0.8},
                    "trace damage_type=dent": {**m, "auc": float("nan")},
                    "generator=kandinsky_2.2": m, "variant=real_damage": {**m, "n": None}},
        "ci": {"auc": (0.88, 0.94), "tpr_at_1fpr": (0.2, 0.4)},
        "pixel": {"pixel_f1": 0.38, "pixel_iou": 0.27, "pixel_n": 57, "pixel_best_threshold": 0.3,
                  "pixel_f1_best_threshold": 0.44},
        "robustness": {"none": {"n": 240, "auc": 0.91, "trace_auc": 0.8}, "jpeg50": {"n": 240, "auc": 0.85},
                       "rescale0.5": {"n": 238, "auc": 0.7, "dropped": 2}},
        "whole_photos": {"bands": [{"band": "<1MP", "photos": 4, "genuine": 4, "fpr": 0.0, "fakes": 4, "tpr": 0.5,
                                    "trace_auc": 0.75},
                                   {"band": "all", "photos": 9, "genuine": 9, "fpr": 0.11, "fakes": 9, "tpr": 0.44,
                                    "trace_auc": None}],
                         "failed": ["runs/exp_1/data/whole/photo_07.jpg: cannot identify image file"]},
    }
    report.update(over)
    return report


def _plots(tmp_path) -> dict:
    preds = _preds()
    return {"ROC (log FPR)": plot_roc(preds, tmp_path / "roc.png", title="best on test").name,
            "score histograms": plot_histograms(preds, tmp_path / "histograms.png", 0.5).name}


def test_report_html_renders_the_markdown_not_its_markup(tmp_path):
    plots = _plots(tmp_path)
    md_path, html_path = write_report(tmp_path, _realistic_report(), plots)
    md, page = md_path.read_text(), html_path.read_text()
    assert "**Calibration warning:**" in md and "`runs/exp_1/weights/best.safetensors`" in md  # report.md keeps Markdown
    p = _parse(page)
    visible = "\n".join(p.text)
    assert "**" not in visible and "`" not in visible and "|" not in visible, visible
    assert not re.search(r"-{3}\|", visible)  # no table delimiter rows
    assert not [t for t in p.text if t.lstrip().startswith("#")]  # headings are headings
    assert "<strong>Calibration warning:</strong>" in page
    assert "<code>runs/exp_1/weights/best.safetensors</code>" in page and "<code>real_damage</code>" in page
    assert "<h1>fakedamage evaluation report</h1>" in page and "<h2>By group</h2>" in page
    # every Markdown table is an HTML table with all its rows, each row with all its cells
    n_tables = len(re.findall(r"^\|(---\|)+$", md, flags=re.M))
    assert n_tables == 4 and len(p.tables) == n_tables
    assert sum(map(len, p.tables)) == sum(1 for line in md.splitlines() if line.startswith("| "))
    assert all(len(set(rows)) == 1 for rows in p.tables), p.tables
    assert "trace generator=sd_xl_inpaint" in visible and "kandinsky_2.2" in visible
    assert "runs/exp_1/data/whole/photo_07.jpg: cannot identify image file" in visible
    # plots inlined, alt text from the Markdown, still offline
    assert page.count("data:image/png;base64,") == len(plots) and 'alt="ROC (log FPR)"' in page
    assert "http://" not in page and "https://" not in page and "roc.png" not in page


def test_report_escapes_untrusted_text(tmp_path):
    hostile = {
        "model": "m*od`el`<b>x</b>.onnx",
        "manifest": "a_b/_c_/[x](javascript:alert(1)).parquet",
        "calibration": {**_realistic_report()["calibration"], "warning": "*not* <script>alert(1)</script> & co | x\n# y"},
    }
    report = _realistic_report(**hostile)
    report["metrics"]["generator=sd|xl **v2** <i>"] = report["metrics"]["overall"]
    report["whole_photos"]["failed"] = ["img_<img src=x onerror=alert(1)>_1.jpg: `broken` &amp; gone"]
    md_path, html_path = write_report(tmp_path, report, _plots(tmp_path))
    p = _parse(html_path.read_text())
    visible = " ".join(" ".join(p.text).split())
    for s in (hostile["model"], hostile["manifest"], "*not* <script>alert(1)</script> & co | x # y",
              "generator=sd|xl **v2** <i>", "img_<img src=x onerror=alert(1)>_1.jpg: `broken` &amp; gone"):
        assert s in visible, s  # shown literally, whole
    body_tags = set(p.tags)
    assert not {"script", "b", "i", "a", "em"} & body_tags, body_tags
    assert p.tags.count("img") == 2  # the two plots, nothing from the text
    by_group = p.tables[1]  # pipes in names do not add cells
    assert len(set(by_group)) == 1 and by_group[0] == 1 + len(KEY_METRICS), by_group
    assert p.tags.count("h1") == 1  # "# y" in the warning is no heading


def test_plot_generalisation_matrix_takes_plain_data(tmp_path):
    vals = [[0.9, 0.55], [0.71, float("nan")]]
    out = plot_generalisation_matrix(vals, ["tracenet, without sd", "tracenet, all families"], ["sd", "flux"],
                                     tmp_path / "matrix.png", unseen=[[True, False], [False, False]])
    assert out == tmp_path / "matrix.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_private_plt_stays_in_report():
    """Plots live in report.py; other modules call its public plot_* functions, never ``_plt``."""
    src = Path(__file__).resolve().parents[1] / "src" / "fakedamage"
    leaks = [str(f.relative_to(src)) for f in src.rglob("*.py") if f != src / "report.py" and "_plt" in f.read_text()]
    assert not leaks, f"private report._plt used outside report.py: {leaks}"
