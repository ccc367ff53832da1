"""``fakedamage calibrate-photos``: a size correction and threshold that hold on whole photos of any size.

Scores genuine whole photos through the torch-free runtime (:meth:`fakedamage.Detector.scan`),
fits the model's ``size_slope`` on them, sets its ``threshold`` on their size-corrected scores
(never below the crop-calibrated one), and reports FPR, TPR and trace AUC per size band on
other photos, before and after. Writes the new :class:`~fakedamage.meta.ModelMeta` into the
ONNX file and its ``.json`` sidecar (atomically), and the report to ``whole_photos.json`` /
``whole_photos.md``.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..errors import UsageError

__all__ = ["run_calibrate_photos", "select_photos"]


def select_photos(cfg: Mapping[str, Any]) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    """``(calibration, report)`` lists of ``(name, path)``.

    ``photos=offline``: the manifest's val-split source photos calibrate and its test-split ones
    report; offline photos the manifest does not use are split between the two by a hash of
    their name. Train-split photos are never used. ``photos=<folder>``: every image in it
    calibrates and nothing is reported.
    """
    spec = str(cfg["photos"])
    if spec != "offline":
        from ..runtime.predict import expand_inputs

        paths, missing = expand_inputs([spec])
        if missing or not paths:
            raise FileNotFoundError(f"{spec}: no images found; give a folder of genuine photos or photos=offline")
        return [(p.name, p) for p in paths], []
    from ..data.manifest import read_manifest
    from ..data.photos import find_offline_photos

    manifest = Path(cfg["data"]["manifest"])
    split_of: dict[str, str] = {}
    if manifest.is_file():
        for s in read_manifest(manifest):
            split_of[s.source_id] = s.split.removesuffix("_whole")
    calib, report = [], []
    for p in find_offline_photos(min_side=256):
        split = split_of.get(p.name)
        if split is None:
            split = "val" if zlib.crc32(p.name.encode()) % 2 == 0 else "test"
        if split == "val":
            calib.append((p.name, Path(p.path)))
        elif split == "test":
            report.append((p.name, Path(p.path)))
    n = cfg.get("max_photos")
    return (calib[:n], report[:n]) if n else (calib, report)


def _load(photos: Sequence[tuple[str, Path]], max_pixels: int) -> Iterator[tuple[str, np.ndarray]]:
    """Decode the photos one at a time (a whole photo is up to 150 MB; never hold them all)."""
    from ..data.photos import load_rgb

    for name, path in photos:
        yield name, load_rgb(path, max_pixels=max_pixels)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    out = ["| size band | photos | genuine | FPR | FPR real damage | fakes | TPR | trace AUC |",
           "|---|---|---|---|---|---|---|---|"]
    out += [f"| {r['band']} | {r['photos']} | {r['genuine']} | {f(r['fpr'])} | {f(r['fpr_real_damage'])} | "
            f"{r['fakes']} | {f(r['tpr'])} | {f(r['trace_auc'])} |" for r in rows]
    return out


def run_calibrate_photos(cfg: Mapping[str, Any]) -> dict[str, Any]:
    from ..conformance import rewrite_model_metadata
    from ..runtime import Detector
    from ..utils.io import atomic_write_json, atomic_write_text
    from ..whole_photos import band_report, calibrate_size, score_claims

    model = Path(cfg["onnx"])
    det = Detector(model, providers=["CPUExecutionProvider"], threads=cfg.get("threads"),
                   batch_size=int(cfg["batch_size"]))
    meta = det.meta
    tile, ref = meta.tile_size, meta.size_reference_pixels
    factors = [float(f) for f in cfg["factors"]]
    calib_photos, report_photos = select_photos(cfg)
    if not calib_photos:
        raise UsageError("no genuine photos to calibrate on; install the offline photo packages or give photos=<folder>")
    say = lambda msg: print(f"  {msg}", file=sys.stderr, flush=True)  # noqa: E731
    print(f"calibrate-photos: {len(calib_photos)} calibration photos, {len(report_photos)} report photos, "
          f"factors {factors}", file=sys.stderr)
    max_px = int(cfg["max_pixels"])
    new, summary = calibrate_size(det.scan, _load(calib_photos, max_px), meta, factors, float(cfg["target_fpr"]),
                                  max_px, int(cfg["seed"]), bool(cfg["fit_slope"]), say)
    slope, threshold = new.size_slope, new.threshold

    generator = None
    if report_photos and cfg.get("generators"):
        from ..data.generators import create_generator

        spec = dict(next(iter(cfg["generators"].values())))
        generator = create_generator(spec.pop("kind"), **spec)
    report = (score_claims(det.scan, _load(report_photos, max_px), factors, generator, tile, max_px,
                           int(cfg["seed"]), say) if report_photos else [])
    before = band_report(report, meta.size_slope, tile, ref, meta.temperature, meta.threshold) if report else []
    after = band_report(report, slope, tile, ref, meta.temperature, threshold) if report else []
    summary = {"model": str(model), **summary, "generator": getattr(generator, "name", None),
               "report_before": before, "report_after": after,
               "before": {"size_slope": meta.size_slope, "threshold": meta.threshold}}
    cal = summary["calibration"]
    out = Path(cfg["out"]) if cfg.get("out") else model.parent / "whole_photos"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "whole_photos.json", summary)
    md = [f"# Whole photos: {model.name}", "",
          f"size_slope {slope:.4f} logit per ln(area) (reference {ref} px); threshold {threshold:.4f} "
          f"(whole photos {summary['threshold_whole_photos']:.4f}, crops {meta.threshold:.4f}); calibration: "
          f"{cal['images']} genuine images from {cal['photos']} photos, {cal['false_positives']} false positives "
          f"(95% upper bound {cal['fpr_upper_95']:.3f}).", ""]
    if report:
        md += ["## Report photos, before (crop threshold, no size correction)", "", *_table(before), "",
               "## Report photos, after", "", *_table(after), ""]
    atomic_write_text(out / "whole_photos.md", "\n".join(md))
    print("\n".join(md))
    if cfg["write"]:
        rewrite_model_metadata(model, new)
        print(f"wrote size_slope and threshold into {model} (+ {model.with_suffix('.json').name}; conformance "
              "vectors re-scored if present)", file=sys.stderr)
    print(f"next: fakedamage predict {model} <photos>", file=sys.stderr)
    return summary
