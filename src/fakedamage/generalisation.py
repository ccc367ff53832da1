"""Leave-one-generator-family-out benchmark: how a detector generalises to generator families it
never saw in training (the `bench` verb). Speed is :mod:`fakedamage.speed` (the `benchmark` verb).

Generators are grouped into *families* of editors that leave related traces (default rules,
overridable with ``families``): ``taef2`` (the real pretrained FLUX.2 tiny autoencoder),
``ldm`` (the zoo's latent-diffusion-style VAEs, ``ldm-*``), ``inpainter`` (the zoo's LaMa-like
inpainters), ``surrogate`` (the small ``ae-*`` autoencoders), any other generator a family of its
own. For each family ``F``, a detector is trained on every fake *except* ``F``'s (all reals kept)
and tested on the test split against each family. The cell of row "without F" and column F is
the unseen-family result: "without taef2" is *zoo only -> TAEF2*, which says whether the zoo is
realistic enough to teach the traces of a real decoder it never saw.

Each cell reports, for its test family, the **trace** figures (genuine damage, ``real_damage``,
against that family's pasted fakes, ``inpaint_pasted``: only generator traces separate them)
and the pristine-vs-fake figures (all its fakes against all reals). Baselines, from their papers'
descriptions, on the same data:

* ``npr``: NPR (Tan et al., CVPR 2024): a ResNet-18 from scratch on the neighbouring-pixel
  residual ``x - up(down(x))``;
* ``resize224``: our own model, but every image resized to 224 x 224 (the usual input policy
  that this project avoids) in training and testing;
* ``aeroblade``: AEROBLADE-style (Ricker et al., CVPR 2024), training-free: an image is fake
  when an autoencoder reconstructs it well; the distance is the smallest mean squared
  reconstruction error over the whole-image decoders of the *training* families (the held-out
  family's decoders are never used);
* ``external``: any ONNX file (torch-free :class:`~fakedamage.Detector`) or Python callable
  ``images -> scores`` (``package.module:function``), scored once on the same test images.

A finished cell is kept on disk (``<run>/<detector>/without-<family>/predictions.csv``), so a
killed benchmark resumes where it stopped. ``include_all`` adds a row trained on every family
(what the shipped model sees).
"""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import importlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .data.manifest import Sample, read_manifest
from .errors import UsageError
from .evaluate import evaluate_samples, finite, save_predictions, trace_metrics, unreadable_summary
from .metrics import binary_metrics
from .scorers import AerobladeScorer, CallableScorer, OnnxScorer, ResizeScorer, TorchScorer
from .utils.io import atomic_write_json, atomic_write_text, file_sha256

__all__ = ["cell_key", "BenchConfig", "BASELINES", "DEFAULT_FAMILIES", "generator_family", "leave_one_out_rows", "ResizeScorer",
           "AerobladeScorer", "load_external", "generalisation_matrix", "run_bench"]

BASELINES = ("ours", "npr", "resize224", "aeroblade")
#: ``(pattern, family)`` rules applied in order to generator names (fnmatch patterns).
DEFAULT_FAMILIES: tuple[tuple[str, str], ...] = (("taef2*", "taef2"), ("ldm-*", "ldm"), ("inpainter*", "inpainter"),
                                                 ("ae-*", "surrogate"))
ALL = "all"


def generator_family(name: str, families: Mapping[str, Sequence[str]] | None = None) -> str:
    """The family of a generator: the first ``families`` entry with a matching pattern, else
    :data:`DEFAULT_FAMILIES`, else the generator's own name."""
    for fam, patterns in (families or {}).items():
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return fam
    for pattern, fam in DEFAULT_FAMILIES:
        if fnmatch.fnmatchcase(name, pattern):
            return fam
    return name


@dataclass(frozen=True)
class BenchConfig:
    """What the benchmark runs.

    Attributes:
        detectors: Any of :data:`BASELINES`.
        holdout: Families to hold out in turn (default: every family with test fakes).
        families: ``family -> generator-name patterns``, tried before :data:`DEFAULT_FAMILIES`.
        include_all: Also train one model on every family (row "all").
        external: ONNX paths or ``module:function`` callables scored without training.
        resize: Side of the ``resize224`` baseline's input.
    """

    detectors: tuple[str, ...] = BASELINES
    holdout: tuple[str, ...] | None = None
    families: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    include_all: bool = False
    external: tuple[str, ...] = ()
    resize: int = 224

    def __post_init__(self) -> None:
        bad = [d for d in self.detectors if d not in BASELINES]
        if bad:
            raise UsageError(f"unknown bench detector(s) {bad}; valid: {', '.join(BASELINES)}")

    def family(self, generator: str) -> str:
        return generator_family(generator, self.families)


def leave_one_out_rows(samples: Sequence[Sample], held_out: str | Sequence[str]) -> list[Sample]:
    """All rows except the held-out generators' fakes in the train and val splits (test untouched)."""
    held = {held_out} if isinstance(held_out, str) else set(held_out)
    return [s for s in samples if not (s.label == 1 and s.generator in held and s.split in ("train", "val"))]


def load_decoders(names: Sequence[str], root: str | Path) -> list[Any]:
    """Whole-image decoders for generator names: ``taef2``, zoo members (``ldm-*``), and ``ae-*``
    surrogates whose weights a dataset keeps in ``<root>/generators``; other names are skipped."""
    from .data.generators import create_generator

    out = []
    for name in names:
        if name == "taef2":
            out.append(create_generator("taef2"))
        elif name.startswith("ldm-"):
            out.append(create_generator("ldm", weights=name, name=name))
        elif (Path(root) / "generators" / f"{name}.safetensors").is_file():
            out.append(create_generator("autoencoder", weights=Path(root) / "generators" / f"{name}.safetensors"))
    return out


def load_external(spec: str) -> tuple[str, Callable[[np.ndarray], float]]:
    """``path.onnx`` or ``package.module:function`` (``images -> scores``) -> ``(name, per-image scorer)``."""
    if spec.endswith(".onnx"):
        if not Path(spec).is_file():
            raise FileNotFoundError(f"{spec}: external ONNX detector not found")
        return Path(spec).stem, OnnxScorer(spec)
    if ":" not in spec:
        raise UsageError(f"external detector {spec!r}: give an .onnx path or package.module:function")
    mod, fn = spec.split(":", 1)
    try:
        return fn, CallableScorer(getattr(importlib.import_module(mod), fn))
    except (ImportError, AttributeError) as e:
        raise UsageError(f"external detector {spec!r}: cannot import ({e})") from None


def generalisation_matrix(preds: Sequence[dict], families: Sequence[str], family_of: Callable[[str], str],
                          threshold: float = 0.5) -> dict:
    """Per test family: ``trace_*`` (all genuine damage against the family's pasted fakes, see
    :func:`~fakedamage.evaluate.trace_metrics`) and pristine-vs-fake :func:`binary_metrics` (the
    family's fakes against all reals)."""
    reals = [p for p in preds if p["label"] == 0]
    out = {}
    for f in families:
        fakes = [p for p in preds if p["label"] == 1 and p["generator"] and family_of(p["generator"]) == f]
        if not fakes or not reals:
            continue
        sel = reals + fakes
        cell = binary_metrics([p["label"] for p in sel], [p["score"] for p in sel], threshold)
        tr = trace_metrics(sel, threshold).get("trace")
        if tr:
            cell.update({f"trace_{k}": tr[k] for k in ("auc", "tpr_at_1fpr", "tpr_at_5fpr", "pair_win", "n_real",
                                                       "n_fake")})
        out[f] = cell
    return out


def _nanmean(values: Sequence[float]) -> float:
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _read_preds(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [{**r, "label": int(r["label"]), "score": float(r["score"])} for r in csv.DictReader(f)]


def _train_cell(detector: str, rows: list[Sample], data, model_cfg, trainer, cell: Path, cfg: BenchConfig):
    from .models import load_checkpoint
    from .train import fit

    if detector == "npr":
        model_cfg = dataclasses.replace(model_cfg, backbone="resnet18", pretrained=False, pretrained_file=None,
                                        input_transform="npr", image_pool="gap", stem_stride=None)
    if detector == "resize224":
        model_cfg = dataclasses.replace(model_cfg, tile_size=cfg.resize, tile_stride=cfg.resize)
        data = dataclasses.replace(data, resize_to=cfg.resize)
    result = fit(data, model_cfg, dataclasses.replace(trainer, calibrate=False), cell, rows=rows)
    model, meta = load_checkpoint(result.best)
    return ResizeScorer(model, cfg.resize) if detector == "resize224" else TorchScorer(model, meta)


def cell_key(detector: str, held: str, held_gens: Sequence[str], data, model_cfg, trainer, cfg: BenchConfig,
             manifest_sha256: str) -> str:
    """SHA-256 of everything a cell's predictions depend on: the detector, what it holds out, the
    data / model / trainer / bench configs and the manifest's bytes. A resumed bench reuses a cell's
    predictions only under the same key."""
    import hashlib

    def plain(obj: Any) -> Any:
        return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj

    blob = {"detector": detector, "held": held, "held_generators": sorted(held_gens), "data": plain(data),
            "model": plain(model_cfg), "trainer": plain(trainer),
            "bench": {"families": {k: list(v) for k, v in dict(cfg.families).items()}, "resize": cfg.resize},
            "manifest_sha256": manifest_sha256}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def run_bench(data, model_cfg, trainer, run_dir: str | Path, cfg: BenchConfig = BenchConfig(),
              progress: bool = True) -> dict:
    """Run the leave-one-family-out protocol; write ``bench.json``, ``matrix.csv``, ``matrix.png`` and ``report.md``.

    Args:
        data: :class:`~fakedamage.train.DataConfig` (its manifest is the benchmark dataset).
        model_cfg: Our model (the ``ours`` and ``resize224`` rows).
        trainer: Training budget used for every trained cell.
        run_dir: Output folder.
        cfg: Detectors, families, external detectors.

    Returns:
        ``{"matrix": {row: {test_family: metrics}}, "unseen_trace_auc": {detector: mean}, ...}``.
    """
    run_dir = Path(run_dir)
    manifest = Path(data.manifest)
    samples = read_manifest(manifest)
    root = manifest.parent
    gens_in_test = sorted({s.generator for s in samples if s.label == 1 and s.generator and s.split == "test"})
    members: dict[str, list[str]] = {}
    for g in sorted({s.generator for s in samples if s.label == 1 and s.generator}):
        members.setdefault(cfg.family(g), []).append(g)
    in_test = sorted({cfg.family(g) for g in gens_in_test})
    fams = list(cfg.holdout or in_test)
    missing = [f for f in fams if f not in in_test]
    if missing:
        raise UsageError(f"{manifest}: famil(ies) {missing} have no test fakes; cannot measure them "
                         f"(families with test fakes: {in_test}; members: {members})")
    if len(in_test) < 2:
        raise UsageError(f"{manifest}: leave-one-family-out needs at least two generator families, found {in_test}")
    test = [s for s in samples if s.split == "test"]
    if not any(s.variant == "real_damage" for s in test):
        print(f"warning: {manifest} has no real_damage test images: the trace figures will be missing", file=sys.stderr)
    matrix: dict[str, dict] = {}
    unseen: dict[str, list[float]] = {}
    unreadable_cells: dict[str, dict] = {}
    manifest_sha = file_sha256(manifest)
    cells = [(d, f) for d in cfg.detectors for f in fams] + ([(d, ALL) for d in cfg.detectors if d != "aeroblade"]
                                                              if cfg.include_all else [])
    for detector, held in cells:
        held_gens = members.get(held, []) if held != ALL else []
        cell = run_dir / detector / f"without-{held}"
        done, record = cell / "predictions.csv", cell / "cell.json"
        key = cell_key(detector, held, held_gens, data, model_cfg, trainer, cfg, manifest_sha)
        saved = json.loads(record.read_text()) if record.is_file() else {}
        if done.is_file() and saved.get("key") == key:
            preds = _read_preds(done)
            unreadable = list(saved.get("unreadable", []))
        else:
            if done.is_file() and progress:
                print(f"bench: {detector} without {held}: config or data changed since its predictions were made; "
                      "recomputing", file=sys.stderr)
            if progress:
                print(f"bench: {detector} without {held} ({', '.join(held_gens) or 'nothing held out'})", file=sys.stderr)
            if detector == "aeroblade":
                trained = [g for f, gs in members.items() if f != held for g in gs]
                scorer = AerobladeScorer(load_decoders(trained, root))  # never the held-out family's decoders
            else:
                scorer = _train_cell(detector, leave_one_out_rows(samples, held_gens), data, model_cfg, trainer,
                                     cell, cfg)
            unreadable = []
            preds = evaluate_samples(scorer, test, root, unreadable=unreadable)
            save_predictions(preds, done)
            atomic_write_json(record, {"key": key, "unreadable": unreadable})  # written last: marks the cell done
        row = generalisation_matrix(preds, in_test, cfg.family)
        name = f"{detector}, all families" if held == ALL else f"{detector}, without {held}"
        if unreadable:
            unreadable_cells[name] = unreadable_summary(unreadable, len(test))
        matrix[name] = row
        if held in row and "trace_auc" in row[held]:
            unseen.setdefault(detector, []).append(row[held]["trace_auc"])
    for spec in cfg.external:
        name, scorer = load_external(spec)
        unreadable = []
        preds = evaluate_samples(scorer, test, root, unreadable=unreadable)
        if unreadable:
            unreadable_cells[f"external:{name}"] = unreadable_summary(unreadable, len(test))
        save_predictions(preds, run_dir / "external" / f"{name}.csv")
        matrix[f"external:{name}"] = generalisation_matrix(preds, in_test, cfg.family)

    def seen(d: str, key: str) -> float:
        return _nanmean([m.get(key) for r, row in matrix.items() if r.startswith(d + ", without ")
                         for f, m in row.items() if not r.endswith(f"without {f}")])

    summary = {"manifest": str(manifest), "families": in_test, "members": members, "holdout": fams,
               "detectors": list(cfg.detectors), "external": list(cfg.external), "matrix": matrix,
               "unseen_trace_auc": {d: _nanmean(v) for d, v in unseen.items()},
               "seen_trace_auc": {d: seen(d, "trace_auc") for d in cfg.detectors},
               "unseen_auc": {d: _nanmean([matrix[f"{d}, without {f}"].get(f, {}).get("auc") for f in fams])
                              for d in cfg.detectors},
               "seen_auc": {d: seen(d, "auc") for d in cfg.detectors},
               "unreadable": unreadable_cells}
    for name, u in unreadable_cells.items():
        print(f"warning: bench {name}: {u['n']} of {len(test)} test images could not be read and are not in its "
              f"figures, e.g. {u['files'][0]['error']}", file=sys.stderr)
    _write_outputs(run_dir, summary)
    return summary


def _write_outputs(run_dir: Path, summary: Mapping[str, Any]) -> None:
    from .report import plot_generalisation_matrix

    fams, matrix = summary["families"], summary["matrix"]
    keys = ("trace_auc", "trace_tpr_at_1fpr", "auc", "tpr_at_1fpr")
    lines = ["row," + ",".join(f"{k}[{f}]" for k in keys for f in fams)]
    for r, row in matrix.items():
        lines.append(f"{r}," + ",".join(f"{_get(row, f, k):.4f}" for k in keys for f in fams))
    atomic_write_text(run_dir / "matrix.csv", "\n".join(lines) + "\n")
    atomic_write_json(run_dir / "bench.json", finite(json.loads(json.dumps(summary, default=float))))
    rows = list(matrix)
    plot_generalisation_matrix([[_get(matrix[r], f, "trace_auc") for f in fams] for r in rows], rows, fams,
                               run_dir / "matrix.png",
                               unseen=[[r.endswith(f"without {f}") for f in fams] for r in rows])
    md = ["# Leave-one-family-out benchmark\n", f"Manifest `{summary['manifest']}`.\n",
          "Families: " + "; ".join(f"**{f}** ({', '.join(summary['members'].get(f, []))})" for f in fams) + ".\n",
          "Trace figures: genuine damage (`real_damage`) against the family's pasted fakes (`inpaint_pasted`), "
          "which differ only by generator traces. Pristine-vs-fake AUC: the family's fakes against all reals.\n",
          "| detector | trace AUC, unseen family | trace AUC, seen families | AUC, unseen family | AUC, seen families |",
          "|---|---|---|---|---|"]
    for d in summary["detectors"]:
        md.append(f"| {d} | {_fmt(summary['unseen_trace_auc'].get(d))} | {_fmt(summary['seen_trace_auc'].get(d))} | "
                  f"{_fmt(summary['unseen_auc'].get(d))} | {_fmt(summary['seen_auc'].get(d))} |")
    for key, title in (("trace_auc", "Trace AUC / TPR at 1% FPR"), ("auc", "Pristine-vs-fake AUC / TPR at 1% FPR")):
        tpr = "trace_tpr_at_1fpr" if key == "trace_auc" else "tpr_at_1fpr"
        md += ["", f"{title} per training set (row) and test family (column); * marks the unseen family.", "",
               "| row | " + " | ".join(fams) + " |", "|---|" + "---|" * len(fams)]
        for r, row in matrix.items():
            md.append(f"| {r} | " + " | ".join(f"{_fmt(_get(row, f, key))}/{_fmt(_get(row, f, tpr), 2)}" +
                                               ("*" if r.endswith(f"without {f}") else "") for f in fams) + " |")
    md += ["", "![generalisation matrix](matrix.png)", ""]
    atomic_write_text(run_dir / "report.md", "\n".join(md))


def _get(row: Mapping, fam: str, key: str) -> float:
    v = row.get(fam, {}).get(key)
    return float("nan") if v is None else float(v)


def _fmt(v: Any, digits: int = 3) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"
