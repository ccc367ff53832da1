"""``fakedamage demo``: the whole pipeline on offline photos, in minutes on a CPU.

photos -> synth (crops, and whole-photo claims of the val/test photos) -> train -> export
(parity-gated ONNX) -> size calibration on genuine whole val photos (written into the ONNX
metadata and the checkpoint) -> eval (held-out crops and whole photos) -> benchmark -> predict.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..config import save_config
from ..data.manifest import read_manifest
from ..runtime.image_io import DEFAULT_MAX_PIXELS
from ..utils.io import atomic_write_json

__all__ = ["run_demo"]


def _size_calibration(onnx_path: Path, weights: Path, rows: list, root: Path, cfg: Mapping[str, Any],
                      extra: Sequence[Any] = (), quality: int = 92) -> dict:
    """Fit the size correction and whole-photo threshold on genuine whole photos with the exported
    model (onnxruntime: several times faster than PyTorch on CPU here), then write them into the ONNX
    metadata, its ``model.json`` and the checkpoint's sidecar, so every copy carries the same meta.

    ``rows``: the ``val_whole`` genuine photos; ``extra``: offline photos the run does not use at all
    (``PhotoSource``), JPEG-encoded at ``quality`` like the whole-photo claims.
    """
    from ..conformance import rewrite_model_metadata
    from ..models import load_checkpoint
    from ..models.checkpoint import update_sidecar_meta
    from ..runtime import Detector
    from ..runtime.image_io import load_image
    from ..whole_photos import calibrate_size

    det = Detector(onnx_path, providers=["CPUExecutionProvider"])
    from ..data.photos import load_rgb
    from ..data.whole import jpeg_roundtrip

    def photos():
        for r in rows:
            yield r.source_id, load_image(root / r.path, max_pixels=DEFAULT_MAX_PIXELS)
        for p in extra:
            yield p.name, jpeg_roundtrip(load_rgb(p.path, max_pixels=DEFAULT_MAX_PIXELS), quality)

    new, summary = calibrate_size(det.scan, photos(), det.meta, list(cfg["factors"]), float(cfg["target_fpr"]),
                                  int(cfg.get("max_pixels", DEFAULT_MAX_PIXELS)))
    new = rewrite_model_metadata(onnx_path, new)  # also re-scores model.conformance.json
    ck = load_checkpoint(weights)[1]
    update_sidecar_meta(weights, ck.replace(size_slope=new.size_slope, threshold=new.threshold,
                                            export_checks=new.export_checks), size_calibration=summary)
    return summary


def run_demo(cfg: Mapping[str, Any]) -> dict:
    from ..export import ExportConfig, benchmark_onnx, export_onnx
    from ..runtime.detector import Detector
    from ..runtime.image_io import load_image
    from ..runtime.predict import run_predict
    from ..train import configs_from_dict, fit
    from .evaluate import evaluate_model
    from .export import parity_images
    from .synth import run_synth

    t0 = time.perf_counter()
    run_dir = Path(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    stage = lambda name: print(f"\n== {name} ({time.perf_counter() - t0:.0f} s) ==", file=sys.stderr)  # noqa: E731

    stage("synth: offline photos -> content-aligned fakes")
    manifest = run_synth(cfg)
    rows = read_manifest(manifest)

    stage("train")
    data, model_cfg, trainer = configs_from_dict({**cfg, "data": {**cfg["data"], "manifest": str(manifest)}})
    result = fit(data, model_cfg, trainer, run_dir, config=cfg)

    stage("export ONNX (parity gate on real validation images)")
    from ..models import load_checkpoint

    model, meta = load_checkpoint(result.best)
    e = ExportConfig(**cfg["export"])
    onnx_path = run_dir / "model.onnx"
    parity = export_onnx(model, meta, onnx_path, parity_images(manifest, e.parity_images),
                         opset=e.opset, dynamo=e.dynamo, tolerance=e.tolerance)

    size_cal = None
    whole_val = [r for r in rows if r.split == "val_whole" and r.variant == "pristine"]
    if whole_val and cfg.get("size_calibration"):
        extra = []
        if cfg["size_calibration"].get("unused_photos"):  # offline photos this run never touched
            from .synth import select_photos

            used = {r.source_id for r in rows}
            extra = [p for p in select_photos({**cfg["data"]["photos"], "max_photos": None})[0] if p.name not in used]
        stage(f"size calibration on {len(whole_val)} genuine whole validation photos and {len(extra)} unused "
              "offline photos (native and resampled)")
        size_cal = _size_calibration(onnx_path, result.best, whole_val, manifest.parent, cfg["size_calibration"],
                                     extra, int(cfg["data"].get("whole_quality") or 92))
        meta = load_checkpoint(result.best)[1]

    stage("evaluate on held-out photos (test split; whole photos with the ONNX model)")
    metrics = evaluate_model(result.best, manifest, "test", run_dir, progress=False,
                             robustness=list(cfg.get("robustness") or []), bootstrap=int(cfg.get("bootstrap", 500)),
                             whole_model=onnx_path)
    overall = metrics["metrics"]["overall"]
    test_rows = [r for r in rows if r.split == "test"]
    bench_imgs = [load_image(manifest.parent / r.path) for r in test_rows[: e.benchmark_images]]
    bench = benchmark_onnx(onnx_path, bench_imgs)

    stage("predict on sample images with the torch-free Detector")
    # two reals and two fakes, each from a different held-out photo where possible
    def spread(rs):
        firsts = list({r.source_id: r for r in reversed(rs)}.values())
        return (firsts + rs)[:2]
    samples = spread([r for r in test_rows if r.variant == "pristine"]) + spread([r for r in test_rows if r.label == 1])
    sample_paths = [str(manifest.parent / r.path) for r in samples]
    run_predict(sample_paths, str(onnx_path), output=str(run_dir / "sample_predictions.csv"), quiet=True)
    det = Detector(onnx_path)
    sample_lines = []
    for r, p in zip(samples, sample_paths):
        pred = det.predict(p)
        sample_lines.append(f"  {Path(p).relative_to(manifest.parent)}  truth={r.variant:<15} "
                            f"score={pred.score:.4f}  {'FAKE' if pred.is_fake else 'REAL'}")

    wall = time.perf_counter() - t0
    n_real = sum(1 for r in rows if r.label == 0)
    summary = {
        "dataset": {"images": len(rows), "real": n_real, "fake": len(rows) - n_real,
                    "photos": len({r.source_id for r in rows}), "manifest": str(manifest),
                    "test_images": len(test_rows), "test_photos": len({r.source_id for r in test_rows})},
        "trace": metrics["metrics"].get("trace"), "test": overall, "parity": parity.to_dict(), "onnx_benchmark": bench, "wall_seconds": round(wall, 1),
        "best_epoch": result.best_metrics.get("epoch"), "size_calibration": size_cal,
        "whole_photos": metrics.get("whole_photos"),
    }
    atomic_write_json(run_dir / "demo_summary.json", summary)
    d = summary["dataset"]
    print("\n" + "=" * 72)
    print("fakedamage demo summary")
    print(f"  dataset       {d['images']} images ({d['real']} real, {d['fake']} fake) from {d['photos']} photos; "
          f"test: {d['test_images']} images from {d['test_photos']} held-out photos")
    trace = metrics["metrics"].get("trace")
    if trace:
        print(f"  TRACE         AUC {trace['auc']:.4f}   TPR@1%FPR {trace['tpr_at_1fpr']:.3f}   pairs won "
              f"{trace['pair_win']:.3f}: genuine damage ({trace['n_real']}) vs the same damage through a generator, "
              f"pasted back ({trace['n_fake']}), held-out photos")
        per_gen_trace = {k.split("=", 1)[1]: v for k, v in metrics["metrics"].items() if k.startswith("trace generator=")}
        print("  trace/gen     " + "   ".join(f"{g} {v['auc']:.3f}" for g, v in per_gen_trace.items()))
        rob = metrics.get("robustness") or {}
        if rob:
            print("  trace laund.  " + "  ".join(f"{k} {v['trace_auc']:.3f}" for k, v in rob.items()
                                                 if v.get("trace_auc") is not None) + "  (trace AUC)")
    else:
        print("  TRACE         none: the test split has no real_damage/inpaint_pasted pair (add real_damage to variants)")
    print(f"  pristine+all  AUC {overall['auc']:.4f}   TPR@1%FPR {overall['tpr_at_1fpr']:.3f}   "
          f"TPR@5%FPR {overall['tpr_at_5fpr']:.3f}   AP {overall['ap']:.4f}   EER {overall['eer']:.3f}  (all reals vs all fakes)")
    cal = metrics.get("calibration")
    how = (f"chosen for {100 * cal['target_fpr']:g}% FPR on validation reals" if cal else "uncalibrated")
    print(f"  threshold     {metrics['threshold']:.4f} (temperature {metrics['temperature']:.3f}) {how}: "
          f"test FPR {overall['fpr']:.3f}, TPR {overall['tpr']:.3f}")
    if metrics.get("robustness"):
        print("  robustness    " + "  ".join(f"{k} {v['auc']:.3f}" for k, v in metrics["robustness"].items())
              + "  (AUC, all reals vs all fakes)")
    if overall.get("pixel_n"):
        print(f"  localisation  pixel F1 {overall['pixel_f1']:.3f}   IoU {overall['pixel_iou']:.3f}   at threshold 0.5 "
              f"on {overall['pixel_n']} pasted fakes")
    per_gen = {k.split("=", 1)[1]: v for k, v in metrics["metrics"].items() if k.startswith("generator=")}
    if per_gen:
        print("  per generator " + "   ".join(f"{g} AUC {v['auc']:.3f}" for g, v in per_gen.items()))
    if size_cal:
        c = size_cal["calibration"]
        print(f"  size          slope {size_cal['size_slope']:.3f} logit per ln(area); threshold "
              f"{size_cal['threshold']:.4f} on {c['images']} genuine whole images ({c['photos']} photos, "
              f"{c['megapixels'][0]}-{c['megapixels'][1]} MP): {c['false_positives']} flagged")
    whole = (metrics.get("whole_photos") or {}).get("bands") or []
    for b in whole:
        if b["genuine"] or b["fakes"]:
            f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
            print(f"  whole {b['band']:<7} {b['photos']} photos: FPR {f(b['fpr'])} ({b['genuine']} genuine)  "
                  f"TPR {f(b['tpr'])}  trace AUC {f(b['trace_auc'])}  (JPEG q92, native size)")
    print(f"  ONNX parity   max |Δprob| {parity.max_abs_dprob:.2e} on {parity.n_images} real images, "
          f"{parity.verdicts_agree}/{parity.n_images} verdicts agree")
    print(f"  ONNX speed    {bench['images_per_s']:.1f} images/s ({bench['tiles_per_s']:.0f} tiles/s, "
          f"{meta.tile_size}px tiles, CPU)")
    print("  samples")
    print("\n".join(sample_lines))
    print(f"  report        {run_dir}/report.html  (self-contained; also report.md, metrics.json, plots)")
    print(f"  run folder    {run_dir}/  (config.yaml, weights/, metrics.csv, predictions.csv, model.onnx)")
    print(f"  wall time     {wall:.0f} s")
    print("next:")
    print(f"  fakedamage predict {manifest.parent}/images --model {onnx_path} --output preds.csv")
    print(f"  fakedamage eval weights={onnx_path} data.manifest={manifest}")
    print("=" * 72)
    return summary
