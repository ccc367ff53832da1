"""``fakedamage predict``: score image files with an exported ONNX model (torch-free).

Usage::

    fakedamage predict IMAGES... --model model.onnx [--output preds.csv|preds.jsonl] [--threshold T]
        [--save-heatmaps DIR]
    python -m fakedamage.runtime.predict IMAGES... --model model.onnx

``IMAGES`` are files, folders (searched recursively for image extensions, hidden
entries skipped) and glob patterns (``**`` allowed; quote them so the shell does not
expand them). Without ``--output`` one line per image goes to stdout::

    photos/claim1.jpg  score=0.9731  FAKE

With ``--output`` a CSV (columns ``path,score,is_fake,threshold,logit,n_tiles,error``)
or JSONL file is written atomically (temp file + ``os.replace``), chosen by extension.
A file that cannot be read is reported on stderr as one ``error: <message>`` line and
processing continues. ``--save-heatmaps DIR`` writes, per image, ``DIR/<name>.heatmap.png``:
the photo with the model's localisation map blended over it (``<name>`` is the input path
relative to the current folder with ``/`` replaced by ``__``, so files never collide).

Exit codes: 0 every image scored; 1 some image failed or an input matched nothing;
2 usage error (bad ``--output`` extension, bad option value, missing or invalid model).
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from ..utils.io import atomic_write_text

__all__ = ["IMAGE_EXTENSIONS", "OUTPUT_FORMATS", "expand_inputs", "run_predict", "add_predict_arguments", "main"]

#: File extensions (lower case) picked up from folders and globs.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
#: Output file extension -> format.
OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl"}
#: Columns of the CSV output.
CSV_COLUMNS = ("path", "score", "is_fake", "threshold", "logit", "n_tiles", "error")

_GLOB_CHARS = frozenset("*?[")
_MAX_LISTED_FAILURES = 10


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _walk_images(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, skipping hidden files and folders."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(root, f) for f in files if not f.startswith(".") and _is_image(Path(f)))
    return found


def expand_inputs(specs: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Expand files, folders and glob patterns into image files.

    An existing file is taken as is (any extension: the user named it). A folder is
    searched recursively for :data:`IMAGE_EXTENSIONS`. A pattern containing ``*``,
    ``?`` or ``[`` is globbed (``**`` spans folders) and its matches are filtered by
    extension.

    Args:
        specs: Paths, folders or glob patterns.

    Returns:
        ``(files, unmatched)``: the files sorted by path with duplicates removed, and
        the specs that matched no file.
    """
    found: dict[str, Path] = {}
    unmatched: list[str] = []
    for spec in specs:
        path = Path(spec)
        if path.is_file():
            hits = [path]
        elif path.is_dir():
            hits = _walk_images(path)
        elif _GLOB_CHARS & set(spec):
            hits = [Path(p) for p in glob.glob(spec, recursive=True) if os.path.isfile(p) and _is_image(Path(p))]
        else:
            hits = []
        if not hits:
            unmatched.append(spec)
        for hit in hits:
            found.setdefault(os.path.normcase(os.path.abspath(hit)), hit)
    return sorted(found.values(), key=str), unmatched


def _row(result: Any) -> dict[str, Any]:
    """CSV/JSONL row of a Prediction or PredictionError."""
    from .detector import PredictionError

    if isinstance(result, PredictionError):
        return {"path": result.path, "score": None, "is_fake": None, "threshold": None, "logit": None,
                "n_tiles": None, "error": result.error}
    d = result.to_dict()
    return {"path": d["path"], "score": round(d["score"], 6), "is_fake": d["is_fake"], "threshold": d["threshold"],
            "logit": round(d["logit"], 6), "n_tiles": d["n_tiles"], "error": None}


def _render(rows: list[dict[str, Any]], fmt: str) -> str:
    buf = io.StringIO()
    if fmt == "csv":
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    else:
        for row in rows:
            buf.write(json.dumps(row) + "\n")
    return buf.getvalue()


def heatmap_name(path: Path) -> str:
    """File name of an image's overlay: its path (relative to the cwd when inside it) flattened."""
    try:
        rel = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        rel = Path(*path.resolve().parts[1:])
    return "__".join(rel.with_suffix("").parts) + ".heatmap.png"


def _predict_and_save_overlay(detector: Any, path: Path, folder: Path) -> Any:
    """Decode ``path`` once, score it with its heatmap and write the overlay; a bad file gives a PredictionError."""
    import dataclasses

    from .detector import PredictionError
    from .image_io import ImageDecodeError, load_image
    from .overlay import save_overlay

    try:
        image = load_image(path, max_pixels=detector.max_pixels)
    except ImageDecodeError as e:
        return PredictionError(str(path), str(e))
    result = detector.predict(image, heatmap=True)
    save_overlay(folder / heatmap_name(path), image, result.heatmap)
    return dataclasses.replace(result, path=str(path))


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_predict(
    inputs: Sequence[str],
    model: str | os.PathLike,
    output: str | os.PathLike | None = None,
    threshold: float | None = None,
    batch_size: int = 8,
    threads: int | None = None,
    quiet: bool = False,
    save_heatmaps: str | os.PathLike | None = None,
    format: str = "text",  # noqa: A002 - the --format flag
) -> int:
    """Score image files and report them; the body of ``fakedamage predict``.

    Args:
        inputs: Files, folders and glob patterns (see :func:`expand_inputs`).
        model: The exported ``.onnx`` model.
        output: Optional ``.csv`` or ``.jsonl`` file to write instead of stdout lines.
        threshold: Decision threshold overriding the model's own.
        batch_size: Most tiles per model run.
        threads: onnxruntime intra-op threads.
        quiet: Print no per-image lines or summary (errors are still printed).
        save_heatmaps: Folder for ``<name>.heatmap.png`` overlays (the model needs a ``mask`` output).
        format: Without ``output``: ``text`` lines, or the ``csv`` / ``jsonl`` rows on stdout.

    Returns:
        Exit code: 0 all scored, 1 some failed or nothing matched, 2 usage error.
    """
    fmt = None
    if format not in ("text", "csv", "jsonl"):
        return _usage_error(f"--format {format}: use text, csv or jsonl")
    if output is None and format != "text":
        fmt = format
    elif output is not None:
        fmt = OUTPUT_FORMATS.get(Path(output).suffix.lower())
        if fmt is None:
            return _usage_error(f"--output {output}: unknown extension; use .csv or .jsonl")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        return _usage_error(f"--threshold {threshold}: must be between 0 and 1")
    if batch_size < 1:
        return _usage_error(f"--batch-size {batch_size}: must be >= 1")
    if threads is not None and threads < 1:
        return _usage_error(f"--threads {threads}: must be >= 1")

    from .detector import Detector, ModelLoadError, PredictionError

    try:
        detector = Detector(model, threads=threads, threshold=threshold, batch_size=batch_size)
    except ModelLoadError as e:
        return _usage_error(str(e))
    if save_heatmaps is not None and not detector.has_heatmap:
        return _usage_error(f"--save-heatmaps: {model} has no localisation output; re-export it with fakedamage export")

    files, unmatched = expand_inputs(inputs)
    failures: list[str] = []
    for spec in unmatched:
        print(f"error: {spec}: no such file, or no images found there", file=sys.stderr)
        failures.append(spec)

    rows: list[dict[str, Any]] = []
    bar = progress_bar(len(files), "predict", quiet)

    def say(msg: str, file: Any) -> None:
        if bar is not None:
            bar.write(msg, file=file)
        else:
            print(msg, file=file, flush=True)

    for path in files:
        if bar is not None:
            bar.update(1)
        if save_heatmaps is None:
            result = detector.predict_batch([path])[0]
        else:
            result = _predict_and_save_overlay(detector, path, Path(save_heatmaps))
        if isinstance(result, PredictionError):
            say(f"error: {result.error}", file=sys.stderr)
            failures.append(str(path))
        elif fmt is None and not quiet:  # text lines (csv/jsonl rows go out at the end)
            say(f"{path}  score={result.score:.4f}  {'FAKE' if result.is_fake else 'REAL'}", file=sys.stdout)
        rows.append(_row(result))
    if bar is not None:
        bar.close()

    if fmt is not None and rows and output is None:
        sys.stdout.write(_render(rows, fmt))
    elif fmt is not None and rows:
        atomic_write_text(Path(output), _render(rows, fmt), newline="")  # type: ignore[arg-type]
        if not quiet:
            print(f"wrote {len(rows)} row{'s' if len(rows) != 1 else ''} to {output}", file=sys.stderr)
    if save_heatmaps is not None and not quiet:
        print(f"wrote heatmap overlays to {save_heatmaps}/", file=sys.stderr)
    if not files:
        print("error: no images to score", file=sys.stderr)
        return 1
    total = len(files) + len(unmatched)
    if failures and total > 1 and not quiet:
        listed = ", ".join(failures[:_MAX_LISTED_FAILURES])
        more = f" and {len(failures) - _MAX_LISTED_FAILURES} more" if len(failures) > _MAX_LISTED_FAILURES else ""
        print(f"{len(failures)} of {total} inputs failed: {listed}{more}", file=sys.stderr)
    return 1 if failures else 0


def progress_bar(total: int, desc: str, quiet: bool = False):
    """A tqdm bar on stderr (images/s and ETA) when stderr is a terminal, there are several
    items and not ``quiet``; else ``None`` (piped output stays clean)."""
    if quiet or total < 2 or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # the runtime extra installs it; a bare install just has no bar
        return None
    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, dynamic_ncols=True, leave=False)


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def add_predict_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``predict`` options; ``vars(parser.parse_args())`` matches :func:`run_predict`'s keywords."""
    parser.add_argument("inputs", nargs="+", metavar="IMAGES", help="image files, folders (recursive) or quoted globs")
    parser.add_argument("--model", "-m", required=True, help="exported fakedamage .onnx model")
    parser.add_argument("--output", "-o", default=None, help="write results to a .csv or .jsonl file instead of stdout")
    parser.add_argument("--format", default="text", choices=("text", "csv", "jsonl"),
                        help="what stdout gets without --output: one line per image (text, default), or the CSV / "
                             "JSONL rows of --output (csv: a conforming client for fakedamage verify-client)")
    parser.add_argument("--threshold", type=_probability, default=None, help="decision threshold (default: the model's)")
    parser.add_argument("--batch-size", type=_positive_int, default=8, help="most tiles per model run (default: 8, fastest on CPU for 128 px tiles)")
    parser.add_argument("--threads", type=_positive_int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    parser.add_argument("--save-heatmaps", metavar="DIR", default=None,
                        help="write an overlay PNG of the localisation map per image into DIR")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m fakedamage.runtime.predict``."""
    parser = argparse.ArgumentParser(
        prog="fakedamage predict", description="Score product photos for AI-painted damage with an ONNX model."
    )
    add_predict_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    return run_predict(**vars(args))


if __name__ == "__main__":
    sys.exit(main())
