"""Conformance vectors: small deterministic image files with the decoded pixels, tiles, logits and
scores a model must give them, so a client in any language can prove it follows the scoring spec.

``fakedamage export`` writes ``<model>.conformance.json`` beside the ONNX file (its SHA-256 goes into
the metadata as ``conformance_sha256``). Each vector holds the file as base64, its kind, and what a
conforming client computes from it: the decoded upright size, the SHA-256 of the decoded
``H x W x 3`` RGB bytes, the number of scored tiles, the pooled and size-corrected logits, the score
and the verdict. ``fakedamage verify-client`` runs any command that prints ``path,score,is_fake``
CSV on the vector files and reports the differences.

The images cover what clients get wrong: odd sizes, smaller than a tile on one or both sides, very
wide, 16-bit colour and grey, 1/2/4-bit grey, alpha, palette with tRNS, grey+alpha, EXIF-rotated
JPEG and PNG (eXIf), an XMP orientation that must be ignored, baseline, progressive and grey JPEG.
PNG files are written by a small encoder here (Pillow cannot write 16-bit colour or 2/4-bit grey).

Torch-free: numpy, Pillow and the runtime :class:`~fakedamage.Detector`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import math
import shlex
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from .errors import UsageError

__all__ = ["FORMAT", "PNG_SCORE_TOLERANCE", "JPEG_SCORE_TOLERANCE", "ConformanceImage", "conformance_images",
           "build_vectors", "write_conformance", "rewrite_model_metadata", "load_conformance", "verify_client", "ClientReport"]

FORMAT = "fakedamage-conformance/1"
#: Largest |score difference| allowed on lossless files: float32 graph outputs, float64 pooling.
PNG_SCORE_TOLERANCE = 1e-5
#: Largest |score difference| allowed on JPEG files: the same as PNG. The spec fixes JPEG decoding to
#: libjpeg-turbo's default arithmetic, which the Node client in clients/js reproduces bit for bit
#: (score difference 0 on the vectors, <= 1.1e-16 on real photos). A looser tolerance would let wrong
#: decoders pass: jpeg-js's own IDCT (1-3 levels on 6-13 % of values) moved scores by up to 0.03, and
#: stock jpeg-js decoding by up to 0.55 on real photos.
JPEG_SCORE_TOLERANCE = PNG_SCORE_TOLERANCE


@dataclass(frozen=True)
class ConformanceImage:
    """One vector's file: ``name`` (with extension), ``kind`` (what it exercises) and its bytes."""

    name: str
    kind: str
    data: bytes

    @property
    def lossy(self) -> bool:
        return self.name.lower().endswith((".jpg", ".jpeg"))


# ----------------------------------------------------------------------------------- image making


def _content(h: int, w: int, seed: int) -> np.ndarray:
    """A deterministic photo-like ``(h, w, 3)`` uint8 picture: smooth shading, edges and fine noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([128 + 80 * np.sin(x / (7 + c) + y / (11 + 2 * c) + c) for c in range(3)], axis=2)
    blocks = ((np.floor(x / 9) + np.floor(y / 13)) % 2)[..., None] * 40.0
    noise = rng.normal(0.0, 12.0, (h, w, 3))
    return np.clip(np.round(base + blocks + noise), 0, 255).astype(np.uint8)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png(width: int, height: int, colour_type: int, bit_depth: int, rows: Sequence[bytes],
         before_idat: Sequence[tuple[bytes, bytes]] = ()) -> bytes:
    """A PNG file from raw scanlines (filter 0 on every row), with extra chunks before IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    for kind, body in before_idat:
        out += _chunk(kind, body)
    return out + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def _pack_bits(values: np.ndarray, bits: int) -> list[bytes]:
    """Rows of ``bits``-bit samples packed big-endian into bytes (PNG low bit depths)."""
    rows = []
    per = 8 // bits
    for row in values:
        padded = np.concatenate([row, np.zeros((-len(row)) % per, row.dtype)]).reshape(-1, per)
        shifts = np.array([bits * (per - 1 - i) for i in range(per)], np.uint8)
        rows.append((padded.astype(np.uint8) << shifts).sum(axis=1).astype(np.uint8).tobytes())
    return rows


def _exif(orientation: int) -> bytes:
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex.tobytes()


def _pil(arr: np.ndarray, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


def conformance_images(tile: int) -> list[ConformanceImage]:
    """The vector files for a model with tile size ``tile`` (sizes are chosen relative to it)."""
    t = int(tile)
    out: list[ConformanceImage] = []

    def add(name: str, kind: str, data: bytes) -> None:
        out.append(ConformanceImage(name, kind, data))

    odd = _content(t + 13, 2 * t + 7, 1)
    add("rgb8_odd.png", "8-bit RGB PNG, odd size (tiles overlap at the far edges)", _pil(odd, "PNG"))
    small = _content(t // 2 + 3, t // 3 + 5, 2)
    add("rgb8_small.png", "smaller than a tile on both sides (edge padding)", _pil(small, "PNG"))
    thin = _content(t // 2 + 1, t + 9, 3)
    add("rgb8_short.png", "shorter than a tile, wider than one (edge padding on one axis)", _pil(thin, "PNG"))
    wide = _content(t // 2 + 5, 6 * t + 3, 4)
    add("rgb8_wide.png", "very wide (1:12)", _pil(wide, "PNG"))
    big = _content(3 * t + 1, 3 * t + 2, 5)
    add("rgb8_grid.png", "several tiles each way (coarse-to-fine refinement)", _pil(big, "PNG"))

    c16 = _content(t + 3, t + 21, 6).astype(np.uint16) * 257 + np.uint16(91)
    c16 = np.clip(c16.astype(np.int64) - (np.arange(c16.size).reshape(c16.shape) % 200), 0, 65535).astype(">u2")
    add("rgb16.png", "16-bit colour PNG (high byte)", _png(c16.shape[1], c16.shape[0], 2, 16,
                                                         [r.tobytes() for r in c16]))
    g16 = (_content(t + 5, t + 2, 7)[..., 0].astype(np.int64) * 257 + 129) % 65536
    add("grey16.png", "16-bit grey PNG (high byte)", _png(g16.shape[1], g16.shape[0], 0, 16,
                                                        [r.astype(">u2").tobytes() for r in g16]))
    for bits in (1, 2, 4):
        g = (_content(t + 1, t + 11, 10 + bits)[..., 1] >> (8 - bits)).astype(np.uint8)
        add(f"grey{bits}.png", f"{bits}-bit grey PNG (scaled to 8 bit)",
            _png(g.shape[1], g.shape[0], 0, bits, _pack_bits(g, bits)))

    rgba = np.concatenate([_content(t + 7, t + 4, 20), (np.arange((t + 7) * (t + 4)) % 256)
                           .reshape(t + 7, t + 4, 1).astype(np.uint8)], axis=2)
    add("rgba.png", "RGBA PNG (alpha dropped, not blended)", _pil(rgba, "PNG"))
    la = np.stack([_content(t + 2, t + 6, 21)[..., 0], np.full((t + 2, t + 6), 7, np.uint8)], axis=2)
    add("grey_alpha.png", "grey + alpha PNG (alpha dropped)", _pil(la, "PNG"))
    pal = Image.fromarray(_content(t + 4, t + 9, 22)).quantize(colors=64, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    pal.save(buf, "PNG", transparency=bytes([0] * 8 + [255] * 56))
    add("palette_trns.png", "palette PNG with tRNS transparency (ignored)", buf.getvalue())

    rot = _content(t + 17, 2 * t + 1, 30)
    add("exif_rot6.jpg", "JPEG with EXIF orientation 6 (rotate 90 clockwise)",
        _pil(rot, "JPEG", quality=90, exif=_exif(6)))
    add("exif_rot8.png", "PNG with an eXIf chunk, orientation 8 (rotate 90 counter-clockwise)",
        _pil(rot, "PNG", exif=_exif(8)))
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF>'
           b'</x:xmpmeta>')
    rows = [r.tobytes() for r in _content(t + 3, t + 30, 31)]
    add("xmp_orientation_ignored.png", "PNG with an XMP tiff:Orientation 6 (must be ignored)",
        _png(t + 30, t + 3, 2, 8, rows, [(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp)]))
    photo = _content(2 * t + 5, 2 * t + 40, 40)
    add("baseline.jpg", "baseline JPEG, 4:2:0, quality 92", _pil(photo, "JPEG", quality=92))
    add("progressive.jpg", "progressive JPEG, 4:4:4, quality 85",
        _pil(photo, "JPEG", quality=85, progressive=True, subsampling=0))
    add("grey.jpg", "grey JPEG", _pil(photo[..., 0], "JPEG", quality=90))
    return out


# ----------------------------------------------------------------------------------- vectors


def build_vectors(model: str | Path, images: Sequence[ConformanceImage] | None = None) -> dict[str, Any]:
    """Score the vector images with the Python reference client; returns the conformance document."""
    from .runtime.detector import Detector
    from .runtime.image_io import load_image

    det = Detector(model, providers=["CPUExecutionProvider"])
    meta = det.meta
    images = list(images) if images is not None else conformance_images(meta.tile_size)
    vectors = []
    for im in images:
        rgb = load_image(im.data)
        res = det.scan(rgb)
        pred = det.predict(rgb)
        vectors.append({
            "name": im.name, "kind": im.kind, "lossy": im.lossy,
            "file_base64": base64.b64encode(im.data).decode("ascii"),
            "file_sha256": hashlib.sha256(im.data).hexdigest(),
            "decoded": {"height": int(rgb.shape[0]), "width": int(rgb.shape[1]),
                        "rgb_sha256": hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()},
            "n_tiles": int(np.asarray(res.logits).size),
            "pooled_logit": float(res.pooled),
            "adjusted_logit": float(res.adjusted),
            "score": float(pred.score),
            "is_fake": bool(pred.is_fake),
        })
    return {"format": FORMAT, "tile_size": meta.tile_size,
            "threshold": meta.threshold, "png_score_tolerance": PNG_SCORE_TOLERANCE,
            "jpeg_score_tolerance": JPEG_SCORE_TOLERANCE,
            "note": "decoded.rgb_sha256 is the SHA-256 of the upright H x W x 3 uint8 RGB bytes, rows first. "
                    "A client must reproduce it exactly on lossless files; JPEG decoders may differ.",
            "vectors": vectors}


def write_conformance(model: str | Path, out: str | Path | None = None) -> tuple[Path, str]:
    """Write ``<model stem>.conformance.json`` (atomic); returns ``(path, sha256 of the file)``.

    The model's own metadata is not changed here; :func:`fakedamage.export.export_onnx` records the
    digest in ``conformance_sha256`` and rewrites the model's metadata.
    """
    from .utils.io import atomic_write_text

    model = Path(model)
    out = Path(out) if out else model.with_name(model.stem + ".conformance.json")
    text = json.dumps(build_vectors(model), indent=1, sort_keys=True) + "\n"
    atomic_write_text(out, text)
    return out, hashlib.sha256(text.encode("utf-8")).hexdigest()


def rewrite_model_metadata(model: str | Path, meta: Any) -> Any:
    """Rewrite an exported model's metadata (ONNX ``metadata_props`` and ``model.json``), atomically.

    When a conformance file lies beside the model, its vectors are scored again under the new
    metadata (a new threshold or size slope changes their expected scores) and the new digest goes
    into ``conformance_sha256``. Returns the metadata written.
    """
    from .utils.io import atomic_path, atomic_write_text
    from .utils.onnx_io import write_model_metadata

    model = Path(model)
    conf = model.with_name(model.stem + ".conformance.json")
    with atomic_path(model) as tmp:
        tmp.write_bytes(model.read_bytes())
        write_model_metadata(tmp, meta)
        if conf.is_file():
            _, digest = write_conformance(tmp, conf)
            meta = meta.replace(conformance_sha256=digest)
            write_model_metadata(tmp, meta)
    atomic_write_text(model.with_suffix(".json"), meta.to_json() + "\n")
    return meta


def load_conformance(path: str | Path) -> dict[str, Any]:
    """Read and check a conformance file (one-line errors)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: conformance file not found; `fakedamage export` writes it beside the model") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a conformance file ({e}); re-export the model") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("vectors"), list):
        raise UsageError(f"{path}: not a {FORMAT} file; re-export the model")
    return doc


# ----------------------------------------------------------------------------------- verify a client


@dataclass
class ClientReport:
    """What :func:`verify_client` found: one row per vector and whether all passed."""

    rows: list[dict[str, Any]]
    passed: bool
    command: str

    def table(self) -> str:
        lines = [f"{'vector':<28} {'kind':<5} {'expected':>10} {'client':>10} {'|diff|':>9} {'tol':>7}  result"]
        for r in self.rows:
            got = "missing" if r["client"] is None else f"{r['client']:.6f}"
            diff = "-" if r["diff"] is None else f"{r['diff']:.2e}"
            lines.append(f"{r['name']:<28} {'jpeg' if r['lossy'] else 'png':<5} {r['expected']:>10.6f} {got:>10} "
                         f"{diff:>9} {r['tolerance']:>7.0e}  {'ok' if r['ok'] else 'FAIL: ' + r['why']}")
        return "\n".join(lines)


def _parse_scores(text: str) -> dict[str, tuple[float, bool]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    out = {}
    for r in rows:
        if not r.get("path") or r.get("score") in (None, ""):
            continue
        try:
            out[Path(r["path"]).name] = (float(r["score"]), str(r.get("is_fake", "")).strip().lower() in ("true", "1"))
        except ValueError:
            continue
    return out


def verify_client(conformance: str | Path, command: str | Sequence[str], timeout: float = 600.0) -> ClientReport:
    """Run ``command IMAGE...`` on every vector file and compare its ``path,score,is_fake`` CSV output.

    A vector passes when the client printed it, ``|score - expected| <= tolerance`` (PNG
    ``png_score_tolerance``; JPEG ``jpeg_score_tolerance``) and the verdict is the same.
    """
    doc = load_conformance(conformance)
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if not argv:
        raise UsageError("verify-client needs the client command, e.g. node clients/js/score.js model.onnx")
    with tempfile.TemporaryDirectory(prefix="fakedamage-conformance-") as tmp:
        paths = []
        for v in doc["vectors"]:
            p = Path(tmp) / v["name"]
            p.write_bytes(base64.b64decode(v["file_base64"]))
            paths.append(str(p))
        try:
            proc = subprocess.run([*argv, *paths], capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            raise UsageError(f"client command not found: {argv[0]}; check the command") from None
        except subprocess.TimeoutExpired:
            raise UsageError(f"client command timed out after {timeout:.0f} s: {' '.join(argv)}") from None
    if proc.returncode != 0 and not proc.stdout.strip():
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"client command failed (exit {proc.returncode}): {detail}")
    got = _parse_scores(proc.stdout)
    rows, passed = [], True
    for v in doc["vectors"]:
        tol = float(doc["jpeg_score_tolerance"] if v["lossy"] else doc["png_score_tolerance"])
        row = {"name": v["name"], "lossy": v["lossy"], "expected": v["score"], "tolerance": tol,
               "client": None, "diff": None, "ok": False, "why": "not in the client's output"}
        if v["name"] in got:
            score, verdict = got[v["name"]]
            row["client"], row["diff"] = score, abs(score - v["score"]) if math.isfinite(score) else math.inf
            if row["diff"] > tol:
                row["why"] = f"score differs by {row['diff']:.2e} > {tol:.0e}"
            elif verdict != v["is_fake"]:
                row["why"] = f"verdict {verdict} != {v['is_fake']}"
            else:
                row["ok"], row["why"] = True, ""
        passed &= row["ok"]
        rows.append(row)
    return ClientReport(rows, passed, " ".join(argv))
