"""The ``fakedamage`` command: verbs with ``key=value`` overrides.

    fakedamage demo                                   # everything, offline, on CPU
    fakedamage synth data.root=data/mine              # make a dataset
    fakedamage train data.manifest=data/mine/manifest.parquet trainer.epochs=3
    fakedamage train name=x resume=true               # continue a killed run at the same step
    torchrun --nproc_per_node 2 -m fakedamage train   # DDP
    fakedamage calibrate weights=runs/train/weights/best.safetensors data.manifest=... split=val
    fakedamage eval weights=runs/train/weights/best.safetensors data.manifest=...
    fakedamage bench data.manifest=runs/demo/data/manifest.parquet   # leave-one-generator-out
    fakedamage export weights=runs/train/weights/best.safetensors data.manifest=...
    fakedamage predict photos/ --model runs/train/model.onnx --output preds.csv
    fakedamage benchmark model=runs/train/model.onnx   # ORT fp32 / int8 / PyTorch speed
    fakedamage serve --model runs/train/model.onnx --host 127.0.0.1 --port 8000   # review API + page
    fakedamage assess claim.jpg --model runs/train/model.onnx --ref listing.jpg --html review.html
    fakedamage verify-client runs/train/model.conformance.json -- node clients/js/score.js runs/train/model.onnx

``predict``, ``serve``, ``assess`` and ``verify-client`` import no torch. Configured verbs take Hydra overrides; ``--show``
prints the composed config and exits.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import Any, Callable

__all__ = ["main", "VERBS"]

VERBS: dict[str, str] = {
    "demo": "run the whole pipeline on offline photos: synth, train, eval, export, predict",
    "synth": "make a content-aligned real/fake dataset from real photos",
    "train": "fine-tune a timm backbone (image score + region map) on a manifest; resume=true continues a run",
    "calibrate": "set a checkpoint's threshold for a target FPR (and its temperature) on your own photos",
    "calibrate-photos": "fit an ONNX model's size correction and threshold on genuine whole photos; FPR per size band",
    "eval": "score a checkpoint or ONNX file on a manifest split: metrics with intervals, robustness, report",
    "bench": "leave-one-generator-out benchmark of our model, NPR, resize-224 and AEROBLADE baselines",
    "export": "export a checkpoint to ONNX, gated on parity with PyTorch",
    "predict": "score images with an exported ONNX model (torch-free)",
    "serve": "HTTP review service: JSON API, metrics and a review page for an ONNX model (torch-free)",
    "assess": "assess a refund claim: provenance labels, the merchant's photos, the detector (torch-free)",
    "benchmark": "speed of ORT fp32, ORT int8 and PyTorch eager on the same weights, side by side",
    "verify-client": "check a client in any language against a model's conformance vectors (torch-free)",
}
#: ``key=value`` aliases per verb: ``model=`` names a file for these verbs, while Hydra would read
#: it as the ``model`` config group.
KEY_ALIASES = {"eval": {"model": "weights"}, "calibrate": {"model": "weights"}, "benchmark": {"model": "onnx"},
               "calibrate-photos": {"model": "onnx"}}
CONFIGURED = ("demo", "synth", "train", "calibrate", "calibrate-photos", "eval", "bench", "export", "benchmark")


def _runner(verb: str) -> Callable[[dict], object]:
    if verb == "demo":
        from .commands.demo import run_demo as fn
    elif verb == "synth":
        from .commands.synth import run_synth as fn
    elif verb == "train":
        from .train import run_train as fn
    elif verb == "calibrate":
        from .commands.calibrate import run_calibrate as fn
    elif verb == "calibrate-photos":
        from .commands.calibrate_photos import run_calibrate_photos as fn
    elif verb == "eval":
        from .commands.evaluate import run_eval as fn
    elif verb == "bench":
        from .commands.bench import run_bench_cmd as fn
    elif verb == "benchmark":
        from .commands.benchmark import run_benchmark as fn
    else:
        from .commands.export import run_export as fn
    return fn


def _config_help(verb: str) -> str:
    from .config import compose_config

    try:
        cfg = compose_config(verb.replace("-", "_"))
    except Exception:
        cfg = None
    lines = [f"usage: fakedamage {verb} [--show] [key=value ...]", "", VERBS[verb], ""]
    if cfg is not None:
        from omegaconf import OmegaConf

        lines += ["config (override any key with key=value; groups: data, model, trainer, export, generator,"
                  " experiment):", OmegaConf.to_yaml(OmegaConf.create(cfg))]
    else:
        lines.append(f"see configs/{verb}.yaml; required keys are marked ???")
    return "\n".join(lines)


def _main_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fakedamage",
        description="Detect product photos whose damage was painted in by AI.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="verbs:\n" + "\n".join(f"  {v:<10} {d}" for v, d in VERBS.items())
        + "\n\nrun 'fakedamage VERB --help' for what a verb takes.",
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"fakedamage {__version__}")
    p.add_argument("verb", nargs="?", help="one of: " + ", ".join(VERBS))
    return p


def call_runner(runner: Callable[[dict], Any], cfg: dict) -> int:
    """Run a configured verb's runner and map the errors a user can fix to one line on stderr.

    :class:`~fakedamage.errors.FakedamageError` (bad config, unreadable input, failed gate, ...) and
    ``FileNotFoundError`` print ``error: <first line>`` and return 1; Ctrl-C returns 130 (finished
    work is kept). Anything else is a bug in fakedamage and propagates with its traceback.
    """
    from .errors import FakedamageError

    try:
        runner(cfg)
    except (FakedamageError, FileNotFoundError) as e:
        return _fail(str(e).splitlines()[0] if str(e) else type(e).__name__, 1)
    except KeyboardInterrupt:
        return _fail("interrupted; finished work is kept (rerun the same command to resume)", 130)
    return 0


def _verify_client(rest: list[str]) -> int:
    """``fakedamage verify-client VECTORS -- COMMAND...``: run a client on the conformance vectors."""
    from pathlib import Path

    from .conformance import load_conformance, verify_client
    from .errors import FakedamageError

    command = rest[rest.index("--") + 1 :] if "--" in rest else []
    own = rest[: rest.index("--")] if "--" in rest else rest
    vp = argparse.ArgumentParser(
        prog="fakedamage verify-client", description=VERBS["verify-client"],
        epilog="example: fakedamage verify-client runs/demo/model.conformance.json -- "
               "node clients/js/score.js runs/demo/model.onnx\n"
               "The command gets the vector files appended and must print CSV 'path,score,is_fake'.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    vp.add_argument("vectors", help="model.conformance.json, or the .onnx model (its conformance file beside it)")
    vp.add_argument("--command", default=None, help="the client command as one string (or give it after --)")
    vp.add_argument("--timeout", type=float, default=600.0, help="seconds the client may take (default 600)")
    args = vp.parse_args(own)
    cmd = args.command or command
    if not cmd:
        vp.error("give the client command after -- (or --command)")
    vectors = Path(args.vectors)
    if vectors.suffix == ".onnx":
        vectors = vectors.with_name(vectors.stem + ".conformance.json")
    try:
        doc = load_conformance(vectors)
        report = verify_client(vectors, cmd, timeout=args.timeout)
    except (FakedamageError, FileNotFoundError) as e:
        return _fail(str(e).splitlines()[0], 1)
    print(report.table())
    ok = sum(r["ok"] for r in report.rows)
    print(f"{ok}/{len(report.rows)} vectors agree (PNG within {doc['png_score_tolerance']:g}, JPEG within "
          f"{doc['jpeg_score_tolerance']:g}, same verdicts): {'PASS' if report.passed else 'FAIL'}")
    return 0 if report.passed else 1


def _fail(msg: str, code: int) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    from .utils.memory import tune_malloc

    tune_malloc()  # before any tensor work: see fakedamage.utils.memory
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _main_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    if argv[0] == "--version":
        parser.parse_args(argv)
    verb, rest = argv[0], argv[1:]
    if verb not in VERBS:
        close = difflib.get_close_matches(verb, VERBS, n=1)
        hint = f"; did you mean 'fakedamage {close[0]}'?" if close else ""
        return _fail(f"unknown verb '{verb}'{hint} (verbs: {', '.join(VERBS)})", 2)

    if verb == "predict":
        from .runtime.predict import add_predict_arguments, run_predict

        pp = argparse.ArgumentParser(prog="fakedamage predict", description=VERBS["predict"])
        add_predict_arguments(pp)
        return run_predict(**vars(pp.parse_args(rest)))
    if verb == "serve":
        from .service.cli import add_serve_arguments, run_serve

        sp = argparse.ArgumentParser(prog="fakedamage serve", description=VERBS["serve"])
        add_serve_arguments(sp)
        return run_serve(**vars(sp.parse_args(rest)))
    if verb == "verify-client":
        return _verify_client(rest)
    if verb == "assess":
        from .assess.cli import add_assess_arguments, run_assess

        ap = argparse.ArgumentParser(prog="fakedamage assess", description=VERBS["assess"])
        add_assess_arguments(ap)
        return run_assess(**vars(ap.parse_args(rest)))

    if any(a in ("-h", "--help") for a in rest):
        print(_config_help(verb))
        return 0
    show = "--show" in rest
    aliases = KEY_ALIASES.get(verb, {})
    overrides = [a for a in rest if a != "--show"]
    overrides = [aliases[a.split("=", 1)[0]] + "=" + a.split("=", 1)[1]
                 if "=" in a and a.split("=", 1)[0] in aliases else a for a in overrides]
    bad = [a for a in overrides if a.startswith("-")]
    if bad:
        return _fail(f"unknown option {bad[0]}; configured verbs take key=value overrides (see fakedamage {verb} --help)", 2)

    from .config import ConfigError, compose_config

    try:
        cfg = compose_config(verb.replace("-", "_"), overrides)
    except ConfigError as e:
        return _fail(str(e), 2)
    if show:
        from omegaconf import OmegaConf

        print(OmegaConf.to_yaml(OmegaConf.create(cfg)))
        return 0
    return call_runner(_runner(verb), cfg)


if __name__ == "__main__":
    raise SystemExit(main())
