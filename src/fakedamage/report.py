"""Evaluation reports: plots, ``report.md`` and a self-contained ``report.html`` (images inlined).

Everything here reads plain dicts (metrics as written to ``metrics.json``, per-image
prediction rows), so a report can be rebuilt from a finished run folder. Every plot of the
package is drawn here (matplotlib stays behind the private ``_plt``). ``report.html`` is
rendered from the same Markdown as ``report.md`` (markdown-it-py, raw HTML off), with
untrusted text (paths, generator names, warnings) escaped for Markdown first.
"""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .utils.io import atomic_path, atomic_write_text

__all__ = ["plot_roc", "plot_pr", "plot_reliability", "plot_histograms", "plot_robustness", "plot_heatmap_grid",
           "plot_generalisation_matrix", "write_report", "render_markdown_html", "KEY_METRICS"]

#: Columns of the report tables, in order.
KEY_METRICS = ("n", "auc", "ap", "tpr_at_1fpr", "tpr_at_5fpr", "pair_win", "eer", "balanced_accuracy", "fpr", "ece",
               "nll", "brier", "pixel_f1", "pixel_iou")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    plt = _plt()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _arrays(preds: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([p["label"] for p in preds]), np.array([p["score"] for p in preds], dtype=np.float64)


def plot_roc(preds: Sequence[dict], path: str | Path, title: str = "ROC") -> Path:
    """ROC curve (log-scale FPR, so the low-FPR region is readable) per fake variant and overall."""
    from sklearn.metrics import roc_curve

    plt = _plt()
    labels, scores = _arrays(preds)
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    curves = [("all fakes", np.ones_like(labels, dtype=bool))]
    for v in sorted({p["variant"] for p in preds if p["label"] == 1}):
        curves.append((v, (labels == 0) | np.array([p["variant"] == v for p in preds])))
    for name, sel in curves:
        if 0 < labels[sel].sum() < sel.sum():
            fpr, tpr, _ = roc_curve(labels[sel], scores[sel])
            ax.plot(np.maximum(fpr, 1e-3), tpr, label=name)
    n_real = int((labels == 0).sum())
    ax.axvline(0.01, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel(f"false-positive rate (log; {n_real} real images)")
    ax.set_ylabel("true-positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, Path(path))


def plot_pr(preds: Sequence[dict], path: str | Path) -> Path:
    """Precision-recall curve, overall and per fake variant."""
    from sklearn.metrics import precision_recall_curve

    plt = _plt()
    y, s = _arrays(preds)
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    groups = [("all fakes", np.ones_like(y, bool))] + [
        (v, (y == 0) | np.array([p["variant"] == v for p in preds])) for v in sorted({p["variant"] for p in preds if p["label"] == 1})]
    for name, sel in groups:
        if 0 < y[sel].sum() < sel.sum():
            prec, rec, _ = precision_recall_curve(y[sel], s[sel])
            ax.plot(rec, prec, label=name)
    ax.set_xlabel("recall (fakes caught)")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("precision-recall")
    return _save(fig, Path(path))


def plot_reliability(preds: Sequence[dict], path: str | Path, n_bins: int = 10) -> Path:
    """Reliability diagram: observed fake rate against mean predicted probability per bin."""
    plt = _plt()
    y, s = _arrays(preds)
    bins = np.minimum((s * n_bins).astype(int), n_bins - 1)
    xs, ys, ns = [], [], []
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            xs.append(s[sel].mean())
            ys.append(y[sel].mean())
            ns.append(int(sel.sum()))
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=120)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    ax.plot(xs, ys, marker="o")
    for x, yy, n in zip(xs, ys, ns):
        ax.annotate(str(n), (x, yy), fontsize=7, xytext=(3, -9), textcoords="offset points")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed share of fakes")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title("reliability (numbers: images per bin)")
    return _save(fig, Path(path))


def plot_histograms(preds: Sequence[dict], path: str | Path, threshold: float) -> Path:
    """Score histograms: reals by variant, fakes by generator, with the threshold marked."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120, sharex=True)
    edges = np.linspace(0, 1, 26)
    for ax, label, key, title in ((axes[0], 0, "variant", "real images by variant"),
                                  (axes[1], 1, "generator", "fakes by generator")):
        for g in sorted({p[key] or "-" for p in preds if p["label"] == label}):
            vals = [p["score"] for p in preds if p["label"] == label and (p[key] or "-") == g]
            ax.hist(vals, bins=edges, alpha=0.55, label=f"{g} ({len(vals)})")
        ax.axvline(threshold, color="k", ls="--", lw=1)
        ax.set_title(title)
        ax.set_xlabel("score")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("images")
    return _save(fig, Path(path))


def plot_robustness(robustness: Mapping[str, Mapping], path: str | Path) -> Path:
    """Left: AUC and TPR@1%FPR under each laundering condition (bars). Then one panel per family
    with several levels (JPEG quality, rescale factor): both metrics along the level, clean AUC dotted."""
    plt = _plt()
    names = list(robustness)
    get = lambda n, k: robustness[n].get(k) if robustness[n].get(k) is not None else np.nan  # noqa: E731
    families: dict[str, list[str]] = {}
    for n in names:
        families.setdefault(str(robustness[n].get("family", n)), []).append(n)
    curves = {f: sorted(m, key=lambda n: robustness[n].get("level", 0)) for f, m in families.items() if len(m) > 1}
    fig, axes = plt.subplots(1, 1 + len(curves), figsize=(max(6, 0.7 * len(names)) + 3.2 * len(curves), 4), dpi=120,
                             squeeze=False, gridspec_kw={"width_ratios": [max(2.0, len(names) / 4)] + [1.0] * len(curves)})
    ax = axes[0, 0]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [get(n, "auc") for n in names], 0.4, label="AUC")
    ax.bar(x + 0.2, [get(n, "tpr_at_1fpr") for n in names], 0.4, label="TPR@1%FPR")
    ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.set_title("robustness to laundering (test split)")
    for axc, (fam, members) in zip(axes[0, 1:], curves.items()):
        lv = [robustness[n].get("level", 0) for n in members]
        axc.plot(lv, [get(n, "auc") for n in members], "-o", label="AUC")
        axc.plot(lv, [get(n, "tpr_at_1fpr") for n in members], "--s", label="TPR@1%FPR")
        if "none" in robustness:
            axc.axhline(get("none", "auc"), color="grey", ls=":", lw=1, label="clean AUC")
        axc.set_xlabel({"jpeg": "JPEG quality", "rescale": "rescale factor"}.get(fam, f"{fam} level"))
        axc.set_ylim(0, 1.02)
        axc.set_title(fam)
        axc.legend(fontsize=7)
    return _save(fig, Path(path))


def plot_heatmap_grid(items: Sequence[tuple[str, np.ndarray, np.ndarray]], path: str | Path, cols: int = 4) -> Path:
    """Grid of images with their region maps overlaid (red = generated), titled."""
    plt = _plt()
    rows = max(1, math.ceil(len(items) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.2 * rows), dpi=100, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, image, heat) in zip(axes.flat, items):
        ax.imshow(image)
        ax.imshow(np.ma.masked_less(heat, 0.05), cmap="Reds", alpha=0.55, vmin=0, vmax=1)
        ax.set_title(title, fontsize=7)
    return _save(fig, Path(path))


def plot_generalisation_matrix(values: Sequence[Sequence[float]] | np.ndarray, rows: Sequence[str],
                               families: Sequence[str], path: str | Path,
                               unseen: Sequence[Sequence[bool]] | np.ndarray | None = None) -> Path:
    """Leave-one-family-out matrix: trace AUC per training set (row) and test family (column).

    Args:
        values: ``(len(rows), len(families))`` trace AUCs (NaN where missing); coloured on 0.5..1.
        rows: Row labels (training sets, e.g. ``"tracenet, without sdxl"``).
        families: Column labels (test families).
        path: PNG to write.
        unseen: Same shape as ``values``: true where the family was held out of that row's
            training (the number is starred and bold).

    Returns:
        ``path``.
    """
    plt = _plt()
    vals = np.asarray(values, dtype=float).reshape(len(rows), len(families))
    marks = np.zeros(vals.shape, bool) if unseen is None else np.asarray(unseen, dtype=bool).reshape(vals.shape)
    fig, ax = plt.subplots(figsize=(1.6 * len(families) + 4, 0.45 * len(rows) + 1.5), dpi=120)
    im = ax.imshow(vals, vmin=0.5, vmax=1.0, cmap="viridis", aspect="auto")
    for i in range(len(rows)):
        for j in range(len(families)):
            ax.text(j, i, f"{vals[i, j]:.3f}" + ("*" if marks[i, j] else ""), ha="center", va="center", fontsize=7,
                    color="white" if vals[i, j] < 0.8 else "black", fontweight="bold" if marks[i, j] else "normal")
    ax.set_xticks(range(len(families)), list(families), fontsize=8)
    ax.set_yticks(range(len(rows)), list(rows), fontsize=7)
    ax.set_xlabel("test family (* = unseen in training)")
    fig.colorbar(im, ax=ax, label="trace AUC (genuine damage vs pasted fakes)")
    return _save(fig, Path(path))


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "–" if not math.isfinite(v) else f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def _table(rows: Mapping[str, Mapping], cols: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    head = ["group", *cols]
    body = [[name, *(_fmt(m.get(c)) for c in cols)] for name, m in rows.items()]
    return head, body


_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~&])")
_MD_LOOSE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # "_" not between two letters/digits
# at a line start these open a list item or an ATX heading (each needs a space or the line end after it)
_MD_BLOCK_START = re.compile(r"(?:(\d{1,9})([.)])|#{1,6}|[+-])(?=\s|$)")


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _esc(text) -> str:
    """Untrusted text as literal inline Markdown: one line, and nothing in it reads as markup
    (emphasis, code, links, images, raw HTML, entities, table pipes, a block marker at the start)."""
    t = _MD_SPECIAL.sub(r"\\\1", _one_line(text))
    t = _MD_LOOSE_UNDERSCORE.sub(r"\\_", t)
    m = _MD_BLOCK_START.match(t)
    if m:
        t = f"{m[1]}\\{m[2]}{t[m.end():]}" if m[1] else "\\" + t
    return t


def _code(text) -> str:
    """Untrusted text as a Markdown code span (fence longer than any backtick run inside it)."""
    t = _one_line(text)
    if not t:
        return ""
    fence = "`" * (max((len(r) for r in re.findall(r"`+", t)), default=0) + 1)
    pad = " " if t[0] == "`" or t[-1] == "`" else ""
    return f"{fence}{pad}{t}{pad}{fence}"


def _link(name: str) -> str:
    """A file name as a Markdown link destination."""
    if re.fullmatch(r"[\w.\-/]+", name):
        return name
    return "<" + re.sub(r"([<>\\])", r"\\\1", _one_line(name)) + ">"


def _md_table(head, body) -> str:
    def row(cells) -> str:
        return "| " + " | ".join(_esc(c) for c in cells) + " |"

    return "\n".join([row(head), "|" + "---|" * len(head)] + [row(r) for r in body])


def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")  # raw HTML in the text is shown, not run


def render_markdown_html(markdown: str, images: Mapping[str, str] | None = None) -> str:
    """Render Markdown to an HTML fragment (CommonMark + tables; raw HTML escaped, never passed through).

    Args:
        markdown: The Markdown text.
        images: Image link destination (as written in the Markdown) -> URL that replaces it in the
            HTML, e.g. a ``data:image/png;base64,...`` URI to inline a plot.
    """
    md = _markdown()
    env: dict = {}
    tokens = md.parse(markdown, env)
    wanted = {md.normalizeLink(k): v for k, v in (images or {}).items()}
    for tok in tokens:
        for child in tok.children or ():
            if child.type == "image" and child.attrGet("src") in wanted:
                child.attrSet("src", wanted[child.attrGet("src")])
    return md.renderer.render(tokens, md.options, env)


def write_report(out_dir: str | Path, report: Mapping, plots: Mapping[str, str]) -> tuple[Path, Path]:
    """Write ``report.md`` and a self-contained ``report.html`` from a metrics dict.

    Args:
        out_dir: Run folder; ``plots`` paths are relative to it.
        report: As written to ``metrics.json``: ``model``, ``split``, ``threshold``, ``metrics``
            (group -> metrics), optional ``ci``, ``calibration``, ``pixel``, ``robustness``.
        plots: Caption -> PNG file name (relative to ``out_dir``); each must exist.

    Returns:
        Paths of ``report.md`` and ``report.html``.
    """
    out_dir = Path(out_dir)
    for name in plots.values():
        if not (out_dir / name).is_file():
            raise FileNotFoundError(f"{out_dir / name}: plot missing; the report would reference nothing")
    sections: list[tuple[str, str, tuple | None]] = []  # (title, text, table)
    o = report["metrics"]["overall"]
    intro = (f"Model {_code(report['model'])} on split {_code(report['split'])} of {_code(report['manifest'])}: "
             f"{_esc(o['n'])} images ({_esc(o['n_real'])} real, {_esc(o['n_fake'])} fake). "
             f"Threshold {report['threshold']:.4f}"
             + (f" (chosen for {100 * report['calibration']['target_fpr']:.0f}% FPR on the calibration split, "
                f"temperature {report['calibration']['temperature']:.3f})" if report.get("calibration") else "")
             + f"; at it the FPR on this split is {_fmt(o.get('fpr'))} and the TPR {_fmt(o.get('tpr'))}.")
    cal = report.get("calibration") or {}
    if cal.get("n_real"):
        intro += (f" The calibration split had {_esc(cal['n_real'])} reals from {_esc(cal.get('n_sources') or '?')} "
                  "source photos; "
                  f"the 95% upper bound on the FPR it could show is {_fmt(cal.get('fpr_upper_95'))}.")
    if cal.get("warning"):
        intro += f" **Calibration warning:** {_esc(cal['warning'])}"
    tr = report["metrics"].get("trace")
    if tr:
        intro = (f"**Trace AUC {_fmt(tr.get('auc'))}, TPR at 1% FPR {_fmt(tr.get('tpr_at_1fpr'))}** "
                 f"({_esc(tr['n_real'])} genuine-damage images against {_esc(tr['n_fake'])} with the same damage "
                 f"through a generator and pasted back; the fake outscores its own genuine twin in "
                 f"{_fmt(tr.get('pair_win'))} of {_esc(tr.get('pairs'))} pairs). This is the headline: only generator "
                 "traces separate these two sets, so a detector that flags damage as such scores 0.5 here. "
                 "Pristine-vs-fake figures follow. " + intro)
    else:
        intro = ("No trace figure: this split has no `real_damage` and `inpaint_pasted` pair, so nothing here "
                 "shows that the detector sees generator traces rather than damage. " + intro)
    sections.append(("Summary", intro, None))
    if report.get("ci"):
        ci = report["ci"]
        body = [[k, _fmt(o.get(k)), f"[{_fmt(lo)}, {_fmt(hi)}]"] for k, (lo, hi) in ci.items()]
        sections.append(("Overall, with 95% bootstrap intervals (resampling source photos)", "",
                         (["metric", "value", "95% interval"], body)))
    sections.append(("By group", "`trace` groups: genuine damage (`real_damage`) against pasted fakes "
                     "(`inpaint_pasted`), per generator (all genuine damage against that generator's fakes) and per "
                     "damage type (both sides of that type); `pair_win` is the share of crops whose fake outscores "
                     "its own genuine twin. Other fake groups are scored against all reals; real variants against all fakes. "
                     "Pixel metrics: mean per-image F1/IoU of the region map at the fixed threshold 0.5, on fakes "
                     "whose edit is a mask.", _table(report["metrics"], KEY_METRICS)))
    if report.get("pixel"):
        p = report["pixel"]
        sections.append(("Localisation", f"Pixel F1 at 0.5: {_fmt(p.get('pixel_f1'))}, IoU {_fmt(p.get('pixel_iou'))} "
                         f"on {_esc(p.get('pixel_n'))} fakes. Best-threshold pixel F1 (oracle: threshold "
                         f"{_fmt(p.get('pixel_best_threshold'))} picked on these test labels, not deployable): "
                         f"{_fmt(p.get('pixel_f1_best_threshold'))}.", None))
    if report.get("robustness"):
        sections.append(("Robustness to laundering", "Each condition applied to every test image at test time "
                         "(threshold unchanged). `trace_*` columns: genuine damage vs pasted fakes under that condition.",
                         _table(report["robustness"], ("n", "trace_auc", "trace_tpr_at_1fpr", "auc", "ap", "tpr_at_1fpr",
                                                                                "tpr_at_5fpr", "fpr", "tpr", "pixel_f1",
                                                                                "dropped"))))
    if report.get("whole_photos"):
        w = report["whole_photos"]
        failed = (f" {len(w['failed'])} photo(s) could not be read: {_esc('; '.join(w['failed'][:3]))}."
                  if w["failed"] else "")
        sections.append(("Whole photos", "Whole-photo claims of the same held-out photos at native size (JPEG): "
                         "genuine (also resampled 0.5x and 2x: resized photos are genuine too), genuine damage, and damage "
                         "through a generator pasted back, scored as the "
                         "runtime scores a claim (size correction included), at the model's threshold. "
                         "fpr: genuine photos flagged; tpr: pasted fakes flagged; trace_auc: genuine damage vs "
                         "pasted." + failed,
                         _table({b["band"]: b for b in w["bands"]}, ("photos", "genuine", "fpr", "fpr_real_damage",
                                                                     "fakes", "tpr", "trace_auc"))))
    md = ["# fakedamage evaluation report\n"]
    for title, text, table in sections:
        md.append(f"## {title}\n")
        if text:
            md.append(text + "\n")
        if table:
            md.append(_md_table(*table) + "\n")
    md.append("## Plots\n")
    md += [f"### {_esc(cap)}\n\n![{_esc(cap)}]({_link(name)})\n" for cap, name in plots.items()]
    text = "\n".join(md)
    md_path = atomic_write_text(out_dir / "report.md", text)

    inline = {name: "data:image/png;base64," + base64.b64encode((out_dir / name).read_bytes()).decode("ascii")
              for name in plots.values()}
    css = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
           "table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;"
           "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}"
           "code{background:#f3f3f3;padding:0 3px;border-radius:3px;word-break:break-all}")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>fakedamage report</title>"
            f"<style>{css}</style></head><body>{render_markdown_html(text, inline)}</body></html>")
    html_path = atomic_write_text(out_dir / "report.html", page)
    return md_path, html_path
