"""``fakedamage assess``: assess refund claims from the command line (torch-free).

One claim::

    fakedamage assess CLAIM [--model model.onnx] [--ref REF ...] [--ref-video VIDEO ...]
                      [--json out.json] [--html out.html] [--maps] [--config assess.yaml] [--set key=value ...]

Put ``CLAIM`` first: ``--ref`` takes every following path. Without ``--model`` only provenance
and reference evidence are used. The verdict, score and evidence list go to stdout.

A batch, from a CSV file with a header::

    fakedamage assess --batch claims.csv [--model model.onnx] [--output results.csv|results.jsonl]
                      [--html-dir reports/] [--maps]

Columns: ``claim`` (required), ``refs`` and ``ref_videos`` (optional, several paths separated by
``;``), ``id`` (optional). Relative paths are resolved against the CSV's folder. A row that
fails (missing file, undecodable photo) is reported on stderr and in the output's ``error``
column, and the batch goes on. ``--output`` ``.csv`` writes one summary row per claim; ``.jsonl``
writes every assessment in full. All files are written atomically.

Exit codes: 0 every claim assessed; 1 some claim failed; 2 usage error (bad option, model,
config or CSV).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

__all__ = ["add_assess_arguments", "run_assess", "main", "BATCH_COLUMNS", "SUMMARY_COLUMNS"]

#: Columns read from a batch CSV (only ``claim`` is required).
BATCH_COLUMNS = ("id", "claim", "refs", "ref_videos")
#: Columns of the batch summary CSV.
SUMMARY_COLUMNS = ("id", "claim", "verdict", "score", "decided_by", "reason", "reference", "n_inliers",
                   "changed_fraction", "time_ms", "error")


def add_assess_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``assess`` options to ``parser``.

    Args:
        parser: e.g. ``argparse.ArgumentParser(prog="fakedamage assess")``.

    Returns:
        The same parser.
    """
    parser.add_argument("claim", nargs="?", help="claim photo (omit with --batch)")
    parser.add_argument("--model", help="exported ONNX detector (optional: without it, provenance and references only)")
    parser.add_argument("--ref", nargs="+", action="extend", default=[], metavar="REF",
                        help="merchant listing photo(s) to compare against")
    parser.add_argument("--ref-video", nargs="+", action="extend", default=[], metavar="VIDEO",
                        help="packing video(s); frames sampled at video_fps (see --set)")
    parser.add_argument("--json", metavar="OUT.json", help="write the full assessment as JSON")
    parser.add_argument("--html", metavar="OUT.html", help="write a self-contained review page")
    parser.add_argument("--batch", metavar="CLAIMS.csv", help="assess every row of a CSV (columns: claim, refs, "
                                                                "ref_videos, id)")
    parser.add_argument("--output", metavar="OUT.csv|OUT.jsonl", help="batch results: summary CSV or full JSONL")
    parser.add_argument("--html-dir", metavar="DIR", help="batch: one review page per claim")
    parser.add_argument("--maps", action="store_true", help="embed maps and thumbnails (base64 PNG) in JSON output")
    parser.add_argument("--config", metavar="ASSESS.yaml", help="thresholds (default: configs/assess.yaml)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="override config values, e.g. --set ai_threshold=0.8 video_fps=1")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads for the detector")
    parser.add_argument("-q", "--quiet", action="store_true", help="batch: no per-claim lines on stdout")
    return parser


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


def _atomic_text(path: str | os.PathLike, text: str) -> None:
    from ..utils.io import atomic_write_text

    atomic_write_text(path, text)


def _format(a: Any) -> str:
    lines = [f"{a.claim or 'claim'}: {a.verdict} (score {a.score:.2f}) - {a.reason}"]
    for i, e in enumerate(a.evidence):
        mark = "*" if i in a.decided_by else " "
        lines.append(f" {mark}{e.strength:+.2f}  {e.kind:<26} {e.explanation}")
    return "\n".join(lines)


def _split_paths(cell: str | None, base: Path) -> list[str]:
    if not cell:
        return []
    out = []
    for part in cell.split(";"):
        part = part.strip()
        if part:
            p = Path(part).expanduser()
            out.append(str(p if p.is_absolute() else base / p))
    return out


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "claim"


def _summary_row(row_id: str, claim: str, a: Any = None, error: str = "") -> dict[str, Any]:
    if a is None:
        return {"id": row_id, "claim": claim, "verdict": "", "score": "", "decided_by": "", "reason": "",
                "reference": "", "n_inliers": "", "changed_fraction": "", "time_ms": "", "error": error}
    match = next((e.details.get("match") for e in a.evidence if e.kind in ("reference_match", "reference_copy")), None)
    return {"id": row_id, "claim": claim, "verdict": a.verdict, "score": round(a.score, 4),
            "decided_by": ";".join(a.evidence[i].kind for i in a.decided_by), "reason": a.reason,
            "reference": match["reference"] if match else "", "n_inliers": match["n_inliers"] if match else "",
            "changed_fraction": match["changed_fraction"] if match else "", "time_ms": round(a.timings["total"], 1),
            "error": ""}


def _read_batch(path: Path) -> list[dict[str, str]]:
    """Rows of a batch CSV; raises ValueError with a one-line message."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read the batch CSV ({e})") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "claim" not in [f.strip() for f in reader.fieldnames]:
        raise ValueError(f"{path}: the batch CSV needs a header with a 'claim' column (optional: refs, ref_videos, id)")
    rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    return rows


def _run_batch(assessor: Any, batch: Path, output: str | None, html_dir: str | None, maps: bool,
               quiet: bool) -> int:
    from ..runtime.image_io import ImageDecodeError
    from .claim_report import write_html

    try:
        rows = _read_batch(batch)
    except ValueError as e:
        _err(str(e))
        return 2
    fmt = Path(output).suffix.lower() if output else None
    base = batch.resolve().parent
    summary: list[dict[str, Any]] = []
    full: list[str] = []
    failures = 0
    from ..runtime.predict import progress_bar

    bar = progress_bar(len(rows), "assess", quiet)
    for n, row in enumerate(rows, start=1):
        if bar is not None:
            bar.update(1)
        row_id = row.get("id") or str(n)
        claim_cell = row.get("claim", "")
        try:
            if not claim_cell:
                raise ValueError(f"row {n}: empty 'claim' cell")
            claim = _split_paths(claim_cell, base)[0]
            a = assessor.assess(claim, references=_split_paths(row.get("refs"), base),
                                reference_videos=_split_paths(row.get("ref_videos"), base), name=claim_cell)
        except (ImageDecodeError, ValueError, OSError) as e:
            failures += 1
            msg = " ".join(str(e).split()) or type(e).__name__
            _err(f"row {n} ({row_id}): {msg}")
            summary.append(_summary_row(row_id, claim_cell, error=msg))
            full.append(json.dumps({"id": row_id, "claim": claim_cell, "error": msg}))
            continue
        except Exception as e:  # noqa: BLE001 - one bad row must not stop the batch
            failures += 1
            msg = f"{type(e).__name__}: {' '.join(str(e).split())}"
            _err(f"row {n} ({row_id}): {msg}")
            summary.append(_summary_row(row_id, claim_cell, error=msg))
            full.append(json.dumps({"id": row_id, "claim": claim_cell, "error": msg}))
            continue
        summary.append(_summary_row(row_id, claim_cell, a))
        if fmt == ".jsonl":
            full.append(json.dumps({"id": row_id, **a.to_dict(include_maps=maps)}))
        if html_dir:
            write_html(a, Path(html_dir) / f"{_safe_name(row_id)}.html")
        if not quiet:
            line = f"{row_id}\t{a.verdict}\t{a.score:.2f}\t{claim_cell}\t{a.reason}"
            if bar is not None:
                bar.write(line, file=sys.stdout)
            else:
                print(line)
    if bar is not None:
        bar.close()
    if output:
        if fmt == ".jsonl":
            _atomic_text(output, "".join(line + "\n" for line in full))
        else:
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
            w.writeheader()
            w.writerows(summary)
            _atomic_text(output, buf.getvalue())
    print(f"{len(rows) - failures}/{len(rows)} claims assessed" + (f", {failures} failed (see stderr)" if failures
                                                                    else ""), file=sys.stderr)
    return 1 if failures else 0


def run_assess(claim: str | None = None, model: str | None = None, ref: Sequence[str] = (),
               ref_video: Sequence[str] = (), json: str | None = None, html: str | None = None,  # noqa: A002
               batch: str | None = None, output: str | None = None, html_dir: str | None = None,
               maps: bool = False, config: str | None = None, overrides: Sequence[str] = (),
               threads: int | None = None, quiet: bool = False) -> int:
    """Run ``fakedamage assess`` with parsed arguments (the keyword names of :func:`add_assess_arguments`).

    Returns:
        The exit code: 0 ok, 1 some claim failed, 2 usage error.
    """
    import json as _json
    import warnings

    from ..runtime.image_io import ImageDecodeError
    from .assessor import Assessor
    from .claim_report import write_html
    from .settings import load_config

    # Pillow's EXIF reader also warns about the corrupt EXIF that each assessment reports as a
    # metadata_error item; on the command line that is said once, in the assessment.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")
    if (claim is None) == (batch is None):
        _err("give one claim photo, or --batch CLAIMS.csv (see fakedamage assess --help)")
        return 2
    if batch and (json or html or ref or ref_video):
        _err("--json/--html/--ref/--ref-video are for one claim; with --batch use --output, --html-dir and the "
             "CSV's refs/ref_videos columns")
        return 2
    if claim and (output or html_dir):
        _err("--output/--html-dir are for --batch; for one claim use --json and --html")
        return 2
    if output and Path(output).suffix.lower() not in (".csv", ".jsonl"):
        _err(f"--output must end in .csv or .jsonl, got {output!r}")
        return 2
    pairs: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _err(f"--set takes key=value, got {item!r}")
            return 2
        pairs[key.strip()] = value.strip()
    try:
        cfg = load_config(config, pairs)
    except (ValueError, FileNotFoundError) as e:
        _err(str(e))
        return 2
    detector = None
    if model:
        from ..runtime.detector import Detector, ModelLoadError

        try:
            detector = Detector(model, threads=threads)
        except (ModelLoadError, ValueError) as e:
            _err(str(e))
            return 2
    assessor = Assessor(detector, cfg)
    if batch:
        return _run_batch(assessor, Path(batch), output, html_dir, maps, quiet)
    try:
        a = assessor.assess(claim, references=list(ref), reference_videos=list(ref_video))
    except (ImageDecodeError, OSError) as e:
        _err(" ".join(str(e).split()))
        return 1
    print(_format(a))
    if json:
        _atomic_text(json, _json.dumps(a.to_dict(include_maps=maps), indent=2) + "\n")
    if html:
        write_html(a, html)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fakedamage.assess.cli ...``."""
    parser = argparse.ArgumentParser(prog="fakedamage assess", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_assess_arguments(parser)
    return run_assess(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
