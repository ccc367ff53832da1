"""``fakedamage assess`` command line (``python -m fakedamage.assess.cli``): one claim with JSON/HTML
output, the batch CSV form (bad rows reported, the batch goes on), usage errors, and the torch-free
import and run of the whole assess path."""

from __future__ import annotations

import base64
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, claim_builders


def _py(code: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=timeout)


def _cli(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    """Run the assess CLI in a fresh interpreter and check that torch was never imported."""
    code = ("import sys\nfrom fakedamage.assess.cli import main\n"
            f"rc = main({list(map(str, args))!r})\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "sys.exit(rc)\n")
    return _py(code, timeout)


@pytest.fixture(scope="module")
def build():
    """scripts/eval_assess.py, whose claim builders import no torch at module level."""
    return claim_builders()


@pytest.fixture(scope="module")
def files(build, tmp_path_factory) -> dict[str, Path]:
    """A listing photo, a claim painted from it (data-engine damage, transformed), an unrelated photo."""
    import skimage.data

    from fakedamage.data.damage import make_damage_mask, paint_damage

    spec_dir = tmp_path_factory.mktemp("assess_cli")
    listing = skimage.data.coffee()
    rng = np.random.default_rng(0)
    mask = make_damage_mask("chip", *listing.shape[:2], rng, image=listing)
    painted = paint_damage(listing, mask, "chip", rng)
    data, _, _ = build.transform_claim(painted, mask, rng)
    out = {"listing": spec_dir / "listing.jpg", "claim": spec_dir / "claim.jpg", "other": spec_dir / "other.jpg",
           "dir": spec_dir}
    Image.fromarray(listing).save(out["listing"], quality=92)
    out["claim"].write_bytes(data)
    Image.fromarray(skimage.data.chelsea()).save(out["other"], quality=90)
    return out


def test_import_and_assess_are_torch_free(files):
    code = (
        "import sys\n"
        "import fakedamage.assess, fakedamage.assess.cli, fakedamage.assess.claim_report\n"
        "from fakedamage.assess import Assessor\n"
        "from fakedamage.assess.watermark import watermark_available\n"
        "assert watermark_available()\n"
        f"a = Assessor(None).assess({str(files['claim'])!r}, references=[{str(files['listing'])!r}])\n"
        "assert a.verdict == 'likely_ai_edited', a.reason\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert not any(m == 'imwatermark' or m.startswith('imwatermark.') for m in sys.modules)\n"
    )
    proc = _py(code)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_single_claim_json_and_html(files, tmp_path):
    out_json, out_html = tmp_path / "out" / "a.json", tmp_path / "a.html"
    proc = _cli(files["claim"], "--ref", files["listing"], files["other"], "--json", out_json, "--html", out_html,
                "--maps")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "likely_ai_edited" in proc.stdout and "reference_match" in proc.stdout
    d = json.loads(out_json.read_text())
    assert d["verdict"] == "likely_ai_edited" and d["decided_by"][0]["kind"] == "reference_match"
    ref = next(e for e in d["evidence"] if e["kind"] == "reference_match")
    png = base64.b64decode(ref["map"]["png_base64"])
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert d["claim_thumbnail"] and ref["images"]["aligned_reference"]["png_base64"]
    page = out_html.read_text()
    assert "likely ai edited" in page and "data:image/png;base64," in page and "reference_match" in page
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org", "")  # self-contained
    assert not list(tmp_path.glob("**/.*.tmp"))  # atomic writes leave no temp files


def test_single_claim_without_references_or_model(files):
    proc = _cli(files["other"])
    assert proc.returncode == 0, proc.stderr
    assert "needs_review" in proc.stdout and "no_provenance_label" in proc.stdout


def test_batch_goes_on_after_bad_rows(files, tmp_path):
    d = files["dir"]
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    batch = tmp_path / "claims.csv"
    batch.write_text(
        "id,claim,refs\n"
        f"good,{files['claim']},{files['listing']};{files['other']}\n"
        f"missing,{d / 'nope.jpg'},{files['listing']}\n"
        f"corrupt,{bad.name},\n"  # relative to the CSV's folder
        f"badref,{files['other']},{d / 'missing_ref.jpg'}\n")
    out = tmp_path / "res.csv"
    proc = _cli("--batch", batch, "--output", out, "--html-dir", tmp_path / "pages", "-q")
    assert proc.returncode == 1, proc.stderr
    assert "2/4 claims assessed, 2 failed" in proc.stderr
    rows = {r["id"]: r for r in csv.DictReader(out.open())}
    assert list(rows) == ["good", "missing", "corrupt", "badref"]
    assert rows["good"]["verdict"] == "likely_ai_edited" and rows["good"]["reference"] == "listing.jpg"
    assert rows["missing"]["error"] and rows["corrupt"]["error"] and not rows["badref"]["error"]
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == ["badref.html", "good.html"]
    jsonl = tmp_path / "res.jsonl"
    proc = _cli("--batch", batch, "--output", jsonl, "-q")
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["good", "missing", "corrupt", "badref"]
    assert lines[0]["verdict"] == "likely_ai_edited" and "error" in lines[1]
    assert any(e["kind"] == "reference_error" for e in lines[3]["evidence"])


@pytest.mark.parametrize("args,needle", [
    ([], "give one claim"),
    (["CLAIM", "--batch", "x.csv"], "give one claim"),
    (["CLAIM", "--output", "x.csv"], "for --batch"),
    (["--batch", "BATCH", "--output", "x.txt"], ".csv or .jsonl"),
    (["CLAIM", "--set", "nope=1"], "unknown key"),
    (["CLAIM", "--set", "ai_threshold"], "key=value"),
    (["CLAIM", "--config", "missing.yaml"], "not found"),
    (["CLAIM", "--model", "missing.onnx"], "model file not found"),
    (["--batch", "NOHEADER"], "'claim' column"),
])
def test_usage_errors_exit_2(files, tmp_path, args, needle):
    noheader = tmp_path / "noheader.csv"
    noheader.write_text("photo\nx.jpg\n")
    batch = tmp_path / "b.csv"
    batch.write_text("claim\n")
    sub = {"CLAIM": str(files["claim"]), "BATCH": str(batch), "NOHEADER": str(noheader)}
    proc = _py("import sys\nfrom fakedamage.assess.cli import main\n"
               f"sys.exit(main({[sub.get(a, a) for a in args]!r}))")
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert needle in proc.stderr


def test_unreadable_claim_exits_1(tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"not an image")
    proc = _cli(bad)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1


def _detector_run(model: Path, files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    proc = _cli(files["claim"], "--model", model, "--ref", files["listing"], "--json", out, "--maps")
    assert proc.returncode == 0, proc.stderr[-3000:]
    d = json.loads(out.read_text())
    det = next(e for e in d["evidence"] if e["kind"] == "detector")
    assert 0.0 <= det["details"]["score"] <= 1.0 and det["explanation"].startswith("The pixel detector scores")
    assert det["map"] is None or det["map"]["png_base64"]
    proc = _cli(files["other"], "--model", model)  # detector and provenance only
    assert proc.returncode == 0 and "detector" in proc.stdout


@pytest.mark.slow
def test_with_pipeline_model(pipeline, files, tmp_path):
    _detector_run(pipeline["onnx"], files, tmp_path)
