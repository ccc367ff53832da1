"""Leave-one-generator-out benchmark: our detector, three baselines and any outside detector, one protocol.

For each generator ``g`` in the manifest, a detector is trained on every fake *except*
``g``'s (all reals kept) and tested on the test split against each generator's fakes.
The generalisation matrix has one row per training set ("without g") and one column per
test generator; the cells where the row's missing generator meets its own column are the
unseen-generator results. Baselines, from their papers' descriptions, on the same data:

* ``npr``: NPR (Tan et al., CVPR 2024): a ResNet-18 from scratch on the neighbouring-pixel
  residual ``x - up(down(x))``;
* ``resize224``: our own model, but every image resized to 224 x 224 (the usual input policy
  that this project avoids) in training and testing;
* ``aeroblade``: AEROBLADE-style (Ricker et al., CVPR 2024), training-free: an image is fake
  when an autoencoder reconstructs it well; the distance is the smallest mean squared
  reconstruction error over the autoencoders of the *training* generators (the held-out
  generator's own autoencoder is never used);
* ``external``: any ONNX file (torch-free :class:`~fakedamage.Detector`) or Python callable
  ``images -> scores`` (``package.module:function``), scored once on the same test images.

A finished cell is kept on disk (``<run>/<detector>/without-<g>/predictions.csv``), so a killed
benchmark resumes where it stopped.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .data.manifest import Sample, read_manifest
from .evaluate import OnnxScorer, TorchScorer, evaluate_samples, finite, save_predictions
from .metrics import binary_metrics
from .utils.io import atomic_write_json, atomic_write_text

__all__ = ["BenchConfig", "BASELINES", "leave_one_out_rows", "ResizeScorer", "AerobladeScorer", "load_external",
           "generalisation_matrix", "run_bench"]

BASELINES = ("ours", "npr", "resize224", "aeroblade")


@dataclass(frozen=True)
class BenchConfig:
    """What the benchmark runs.

    Attributes:
        detectors: Any of :data:`BASELINES`.
        generators: Generators to hold out in turn (default: every generator in the manifest).
        external: ONNX paths or ``module:function`` callables scored without training.
        aeroblade_weights: Autoencoder files for ``aeroblade`` (default: ``<data>/generators/*.safetensors``).
        resize: Side of the ``resize224`` baseline's input.
    """

    detectors: tuple[str, ...] = BASELINES
    generators: tuple[str, ...] | None = None
    external: tuple[str, ...] = ()
    aeroblade_weights: tuple[str, ...] = ()
    resize: int = 224

    def __post_init__(self) -> None:
        bad = [d for d in self.detectors if d not in BASELINES]
        if bad:
            raise ValueError(f"unknown bench detector(s) {bad}; valid: {', '.join(BASELINES)}")


def leave_one_out_rows(samples: Sequence[Sample], held_out: str) -> list[Sample]:
    """All rows except the held-out generator's fakes in the train and val splits (test untouched)."""
    return [s for s in samples if not (s.label == 1 and s.generator == held_out and s.split in ("train", "val"))]


class ResizeScorer:
    """The resize-input baseline at test time: the whole image resized to ``size`` x ``size``, one forward."""

    def __init__(self, model, size: int = 224, device: str = "cpu") -> None:
        import torch

        self.model, self.size, self.device, self.torch = model.eval(), int(size), torch.device(device), torch

    def __call__(self, image: np.ndarray) -> float:
        from .data.dataset import resize_pair

        x, _ = resize_pair(image, None, self.size)
        t = self.torch.from_numpy(x).permute(2, 0, 1)[None].float().div(255.0).to(self.device)
        with self.torch.no_grad():
            return float(self.torch.sigmoid(self.model.classify(t)).item())


class AerobladeScorer:
    """Training-free: ``score = 1 / (1 + d / 1e-3)`` with ``d`` the smallest mean squared reconstruction
    error (RGB in ``[0, 1]``) over the given autoencoders; a well-reconstructed image scores high."""

    def __init__(self, weights: Sequence[str | Path]) -> None:
        from .data.generators import create_generator

        if not weights:
            raise ValueError("aeroblade needs at least one autoencoder weights file")
        self.aes = [create_generator("autoencoder", weights=w) for w in weights]

    def distance(self, image: np.ndarray) -> float:
        x = image.astype(np.float32) / 255.0
        return min(float(np.mean((ae.regenerate(image).astype(np.float32) / 255.0 - x) ** 2)) for ae in self.aes)

    def __call__(self, image: np.ndarray) -> float:
        return 1.0 / (1.0 + self.distance(image) / 1e-3)


class _CallableScorer:
    def __init__(self, fn: Callable[[list[np.ndarray]], Sequence[float]]) -> None:
        self.fn = fn

    def __call__(self, image: np.ndarray) -> float:
        return float(np.asarray(self.fn([image]), dtype=np.float64).reshape(-1)[0])


def load_external(spec: str) -> tuple[str, Callable[[np.ndarray], float]]:
    """``path.onnx`` or ``package.module:function`` (``images -> scores``) -> ``(name, per-image scorer)``."""
    if spec.endswith(".onnx"):
        if not Path(spec).is_file():
            raise FileNotFoundError(f"{spec}: external ONNX detector not found")
        return Path(spec).stem, OnnxScorer(spec)
    if ":" not in spec:
        raise ValueError(f"external detector {spec!r}: give an .onnx path or package.module:function")
    mod, fn = spec.split(":", 1)
    try:
        return fn, _CallableScorer(getattr(importlib.import_module(mod), fn))
    except (ImportError, AttributeError) as e:
        raise ValueError(f"external detector {spec!r}: cannot import ({e})") from None


def generalisation_matrix(preds: Sequence[dict], generators: Sequence[str], threshold: float = 0.5) -> dict:
    """Per test generator: its test fakes against all test reals -> :func:`binary_metrics`."""
    reals = [p for p in preds if p["label"] == 0]
    out = {}
    for g in generators:
        fakes = [p for p in preds if p["label"] == 1 and p["generator"] == g]
        if fakes and reals:
            sel = reals + fakes
            out[g] = binary_metrics([p["label"] for p in sel], [p["score"] for p in sel], threshold)
    return out


def _nanmean(values: Sequence[float]) -> float:
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _read_preds(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [{**r, "label": int(r["label"]), "score": float(r["score"])} for r in csv.DictReader(f)]


def _train_cell(detector: str, held: str, rows: list[Sample], data, model_cfg, trainer, cell: Path, cfg: BenchConfig):
    from .models import load_checkpoint
    from .train import fit

    if detector == "npr":
        model_cfg = dataclasses.replace(model_cfg, backbone="resnet18", pretrained=False, pretrained_file=None,
                                        input_transform="npr")
    if detector == "resize224":
        model_cfg = dataclasses.replace(model_cfg, tile_size=cfg.resize, tile_stride=cfg.resize)
        data = dataclasses.replace(data, resize_to=cfg.resize)
    result = fit(data, model_cfg, dataclasses.replace(trainer, calibrate=False), cell, rows=rows)
    model, meta = load_checkpoint(result.best)
    return ResizeScorer(model, cfg.resize) if detector == "resize224" else TorchScorer(model, meta)


def run_bench(data, model_cfg, trainer, run_dir: str | Path, cfg: BenchConfig = BenchConfig(),
              progress: bool = True) -> dict:
    """Run the leave-one-generator-out protocol; write ``bench.json``, ``matrix.csv``, heatmaps and ``report.md``.

    Args:
        data: :class:`~fakedamage.train.DataConfig` (its manifest is the benchmark dataset).
        model_cfg: Our model (the ``ours`` and ``resize224`` rows).
        trainer: Training budget used for every trained cell.
        run_dir: Output folder.
        cfg: Detectors, generators, external detectors.

    Returns:
        ``{"matrix": {row: {test_generator: metrics}}, "unseen": {detector: mean unseen AUC}, ...}``.
    """
    run_dir = Path(run_dir)
    manifest = Path(data.manifest)
    samples = read_manifest(manifest)
    root = manifest.parent
    in_test = {s.generator for s in samples if s.label == 1 and s.generator and s.split == "test"}
    gens = list(cfg.generators or sorted(in_test))
    missing = [g for g in gens if g not in in_test]
    if missing:
        raise ValueError(f"{manifest}: generator(s) {missing} have no test fakes; cannot measure them "
                         f"(generators with test fakes: {sorted(in_test)})")
    if len(gens) < 2:
        raise ValueError(f"{manifest}: leave-one-generator-out needs at least two generators, found {gens}")
    test = [s for s in samples if s.split == "test"]
    matrix: dict[str, dict] = {}
    unseen: dict[str, list[float]] = {}
    for detector in cfg.detectors:
        for held in gens:
            cell = run_dir / detector / f"without-{held}"
            done = cell / "predictions.csv"
            if done.is_file():
                preds = _read_preds(done)
            else:
                if progress:
                    print(f"bench: {detector} without {held}", file=sys.stderr)
                if detector == "aeroblade":
                    weights = list(cfg.aeroblade_weights) or sorted(str(p) for p in (root / "generators").glob("*.safetensors"))
                    weights = [w for w in weights if Path(w).stem != held]  # never the held-out generator's own AE
                    scorer = AerobladeScorer(weights)
                else:
                    scorer = _train_cell(detector, held, leave_one_out_rows(samples, held), data, model_cfg, trainer,
                                         cell, cfg)
                preds = evaluate_samples(scorer, test, root)
                save_predictions(preds, done)
            row = generalisation_matrix(preds, gens)
            matrix[f"{detector}, without {held}"] = row
            if held in row:
                unseen.setdefault(detector, []).append(row[held]["auc"])
    for spec in cfg.external:
        name, scorer = load_external(spec)
        preds = evaluate_samples(scorer, test, root)
        save_predictions(preds, run_dir / "external" / f"{name}.csv")
        matrix[f"external:{name}"] = generalisation_matrix(preds, gens)
    summary = {"manifest": str(manifest), "generators": gens, "detectors": list(cfg.detectors),
               "external": list(cfg.external), "matrix": matrix,
               "unseen_auc": {d: _nanmean(v) for d, v in unseen.items()},
               "seen_auc": {d: _nanmean([m["auc"] for r, row in matrix.items() if r.startswith(d + ", without ")
                                         for g, m in row.items() if not r.endswith(f"without {g}")])
                            for d in cfg.detectors}}
    _write_outputs(run_dir, summary)
    return summary


def _write_outputs(run_dir: Path, summary: Mapping[str, Any]) -> None:
    from .report import _plt

    gens, matrix = summary["generators"], summary["matrix"]
    lines = ["row," + ",".join(f"auc[{g}]" for g in gens) + "," + ",".join(f"tpr1[{g}]" for g in gens)]
    for r, row in matrix.items():
        lines.append(f"{r}," + ",".join(f"{row.get(g, {}).get('auc', float('nan')):.4f}" for g in gens) + "," +
                     ",".join(f"{row.get(g, {}).get('tpr_at_1fpr', float('nan')):.4f}" for g in gens))
    atomic_write_text(run_dir / "matrix.csv", "\n".join(lines) + "\n")
    atomic_write_json(run_dir / "bench.json", finite(json.loads(json.dumps(summary, default=float))))
    plt = _plt()
    rows = list(matrix)
    vals = np.array([[matrix[r].get(g, {}).get("auc", np.nan) for g in gens] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(1.6 * len(gens) + 4, 0.45 * len(rows) + 1.5), dpi=120)
    im = ax.imshow(vals, vmin=0.5, vmax=1.0, cmap="viridis", aspect="auto")
    for i, r in enumerate(rows):
        for j, g in enumerate(gens):
            unseen_cell = r.endswith(f"without {g}")
            ax.text(j, i, f"{vals[i, j]:.3f}" + ("*" if unseen_cell else ""), ha="center", va="center", fontsize=7,
                    color="white" if vals[i, j] < 0.8 else "black", fontweight="bold" if unseen_cell else "normal")
    ax.set_xticks(range(len(gens)), gens, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xlabel("test generator (* = unseen in training)")
    fig.colorbar(im, ax=ax, label="AUC")
    fig.tight_layout()
    fig.savefig(run_dir / "matrix.png")
    plt.close(fig)
    md = ["# Leave-one-generator-out benchmark\n", f"Manifest `{summary['manifest']}`; generators {', '.join(gens)}.\n",
          "| detector | mean AUC on the unseen generator | mean AUC on seen generators |", "|---|---|---|"]
    for d in summary["detectors"]:
        md.append(f"| {d} | {summary['unseen_auc'].get(d, float('nan')):.4f} | {summary['seen_auc'].get(d, float('nan')):.4f} |")
    md += ["", "AUC per training set (row) and test generator (column); * marks the unseen generator.", "",
           "| row | " + " | ".join(gens) + " |", "|---|" + "---|" * len(gens)]
    for r, row in matrix.items():
        md.append(f"| {r} | " + " | ".join(f"{row.get(g, {}).get('auc', float('nan')):.4f}" +
                                           ("*" if r.endswith(f"without {g}") else "") for g in gens) + " |")
    md += ["", "![generalisation matrix](matrix.png)", ""]
    atomic_write_text(run_dir / "report.md", "\n".join(md))
