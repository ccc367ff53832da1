"""OCR of a claim's border bands: the text lines near its edges and corners, in claim pixels.

Used by :mod:`fakedamage.assess.explicit_label` to find visible AI labels, cheaply (a 12 MP photo
costs about 0.15 s of CPU):

1. the top and bottom bands (``explicit_label_band`` of the height, full width: all four corners
   and the top and bottom edges) and the left and right strips between them are cut out and
   downscaled so that the shorter side of the image would be ``explicit_label_work_side`` pixels;
2. rapidocr's PP-OCRv4 detector (:mod:`fakedamage.assess.ocr`, loaded once per process) finds
   text boxes in each band; at most ``explicit_label_max_lines`` boxes (best detection score
   first) are kept;
3. each box is cut from the **full-resolution** claim, scaled to the recogniser's line height and
   read; neighbouring boxes on one line are also read joined ("豆包" + "AI生成").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .settings import AssessConfig

__all__ = ["TextLine", "ocr_available", "scan_regions", "read_border_text"]

_MIN_SIDE = 32          # smaller claims carry no legible label
_JOIN_GAP = 1.5         # boxes on one line closer than this many text heights are also read joined


@dataclass(frozen=True)
class TextLine:
    """One line of text read in a border band.

    Attributes:
        text: What the recogniser read.
        confidence: Its mean character confidence, in ``[0, 1]``.
        box: ``(x0, y0, x1, y1)`` in claim pixels (axis-aligned bounds of the detected quad).
        region: The band it was found in: ``"top"``, ``"bottom"``, ``"left"`` or ``"right"``.
    """

    text: str
    confidence: float
    box: tuple[int, int, int, int]
    region: str


def ocr_available() -> bool:
    """Whether rapidocr-onnxruntime (and its models) can be loaded; loads the engine on first call."""
    try:
        from . import ocr  # noqa: F401  (builds the engine once per process)
    except ImportError:
        return False
    return True


def scan_regions(height: int, width: int, band: float) -> list[tuple[str, int, int, int, int]]:
    """The border bands scanned: ``(name, y0, y1, x0, x1)`` in claim pixels.

    The top and bottom bands span the full width (corners and top/bottom edges); the left and
    right strips cover the height between them.
    """
    bh, bw = max(1, round(height * band)), max(1, round(width * band))
    regions = [("top", 0, bh, 0, width), ("bottom", max(bh, height - bh), height, 0, width)]
    if height - 2 * bh > 0:
        regions += [("left", bh, height - bh, 0, bw), ("right", bh, height - bh, max(bw, width - bw), width)]
    return [r for r in regions if r[2] > r[1] and r[4] > r[3]]


def _shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``size`` ``(w, h)``; large reductions first average whole blocks (OpenCV's fast path)."""
    h, w = image.shape[:2]
    k = min(w // size[0], h // size[1])
    if k >= 2:
        image = cv2.resize(image[: h // k * k, : w // k * k], (w // k, h // k), interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if image.shape[1] > size[0] else cv2.INTER_LINEAR)


def _line_image(pixels: np.ndarray, quad: np.ndarray, height: int) -> np.ndarray | None:
    """The text line inside ``quad`` (claim pixels), straightened and scaled to ``height`` rows, BGR."""
    qw = float(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[3] - quad[2])))
    qh = float(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    if qw < 2 or qh < 2 or qh >= 1.5 * qw:  # vertical text: labels are written horizontally
        return None
    h, w = pixels.shape[:2]
    x0, y0 = max(0, int(np.floor(quad[:, 0].min()))), max(0, int(np.floor(quad[:, 1].min())))
    x1, y1 = min(w, int(np.ceil(quad[:, 0].max())) + 1), min(h, int(np.ceil(quad[:, 1].max())) + 1)
    crop, local = pixels[y0:y1, x0:x1], quad - np.float32([x0, y0])
    r = min(1.0, height / qh)
    if r < 1.0:  # shrink with area averaging first: a warp alone would alias large text
        size = (max(1, round(crop.shape[1] * r)), max(1, round(crop.shape[0] * r)))
        crop = _shrink(crop, size)
        local = local * np.float32(r)
    out_w, out_h = max(1, round(qw * r)), max(1, round(qh * r))
    dst = np.float32([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]])
    line = cv2.warpPerspective(crop, cv2.getPerspectiveTransform(local.astype(np.float32), dst), (out_w, out_h),
                               flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(line[..., ::-1])


def _joined(lines: list[TextLine]) -> list[TextLine]:
    """Runs of neighbouring boxes on one text line, read as one (only runs of two or more)."""
    out: list[TextLine] = []
    for region in sorted({ln.region for ln in lines}):
        row = sorted((ln for ln in lines if ln.region == region), key=lambda ln: ln.box[0])
        run: list[TextLine] = []
        for ln in row + [None]:
            if ln is not None and run:
                prev = run[-1]
                top, bottom = max(prev.box[1], ln.box[1]), min(prev.box[3], ln.box[3])
                hgt = max(prev.box[3] - prev.box[1], ln.box[3] - ln.box[1])
                lower = min(prev.box[3] - prev.box[1], ln.box[3] - ln.box[1])
                if bottom - top >= 0.5 * lower and ln.box[0] - prev.box[2] <= _JOIN_GAP * hgt:
                    run.append(ln)
                    continue
            if len(run) >= 2:
                box = (min(r.box[0] for r in run), min(r.box[1] for r in run),
                       max(r.box[2] for r in run), max(r.box[3] for r in run))
                out.append(TextLine(" ".join(r.text for r in run), min(r.confidence for r in run), box, region))
            run = [ln] if ln is not None else []
    return out


def read_border_text(pixels: np.ndarray, cfg: AssessConfig) -> list[TextLine]:
    """OCR of the claim's border bands (see the module docstring).

    Args:
        pixels: ``(H, W, 3)`` uint8 RGB claim.
        cfg: ``explicit_label_*`` settings.

    Returns:
        The lines read with confidence at least ``explicit_label_min_text_score``, plus the joined
        runs of neighbouring boxes.

    Raises:
        ValueError: ``pixels`` is not an ``(H, W, 3)`` uint8 image.
        ImportError: rapidocr-onnxruntime is not installed.
    """
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"explicit label: expected an (H, W, 3) uint8 RGB image, got "
                         f"{getattr(pixels, 'shape', type(pixels).__name__)} {getattr(pixels, 'dtype', '')}".rstrip())
    from . import ocr

    h, w = pixels.shape[:2]
    if min(h, w) < _MIN_SIDE:
        return []
    scale = min(2.0, cfg.explicit_label_work_side / min(h, w))
    found: list[tuple[float, str, np.ndarray]] = []
    for name, y0, y1, x0, x1 in scan_regions(h, w, cfg.explicit_label_band):
        band = pixels[y0:y1, x0:x1]
        size = (max(16, round((x1 - x0) * scale)), max(16, round((y1 - y0) * scale)))
        small = _shrink(band, size)
        quads, scores = ocr.detect(np.ascontiguousarray(small[..., ::-1]))
        sx, sy = (x1 - x0) / size[0], (y1 - y0) / size[1]
        for quad, score in zip(quads, scores):
            found.append((float(score), name, quad * np.float32([sx, sy]) + np.float32([x0, y0])))
    found.sort(key=lambda f: -f[0])
    kept, images = [], []
    for _, name, quad in found[: cfg.explicit_label_max_lines]:
        image = _line_image(pixels, quad, ocr.REC_HEIGHT)
        if image is not None:
            kept.append((name, quad))
            images.append(image)
    lines = []
    for (name, quad), (text, conf) in zip(kept, ocr.recognize(images)):
        if text.strip() and conf >= cfg.explicit_label_min_text_score:
            box = (int(np.floor(quad[:, 0].min())), int(np.floor(quad[:, 1].min())),
                   int(np.ceil(quad[:, 0].max())), int(np.ceil(quad[:, 1].max())))
            lines.append(TextLine(text.strip(), conf, box, name))
    return lines + _joined(lines)
