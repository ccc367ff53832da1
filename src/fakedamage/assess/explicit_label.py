"""Explicit-label evidence: a visible AI label ("AI生成", "豆包AI生成", "Made with AI") read by OCR.

GB 45438-2025 makes AI services put a visible label at an edge or corner of the images they make.
Re-saving, a screenshot or a chat app strips the implicit (metadata) label; the visible one stays
in the pixels. This module reads the text in the claim's border bands and reports an
``explicit_ai_label`` item when a phrase of :mod:`fakedamage.assess.label_phrases` is found.

How: :mod:`fakedamage.assess.border_text` reads the text lines in the border bands (rapidocr's
PP-OCRv4 models; a 12 MP photo costs about 0.15 s of CPU), and each line is matched against the
label phrases, tolerant of OCR noise (:func:`~fakedamage.assess.label_phrases.match_label`).

A phrase read exactly with OCR confidence at least ``explicit_label_min_confidence`` gets
``explicit_label_strength`` (as strong as a GB 45438 implicit label: it decides
``likely_ai_edited``); a near match or a less confident read gets ``explicit_label_weak_strength``
(needs review). The item's ``mask`` marks the label's box; ``details`` give the text read, its box
``[x0, y0, x1, y1]`` in claim pixels, the OCR confidence and the phrase matched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .border_text import TextLine, ocr_available, read_border_text
from .evidence import Evidence
from .label_phrases import PhraseMatch, match_label
from .settings import AssessConfig

__all__ = ["LabelHit", "find_labels", "explicit_label_evidence", "merge_explicit_label",
           "ocr_available", "read_border_text"]

_MAX_MASK_SIDE = 512    # grid of the evidence mask (the claim thumbnail's size)
_CHECKED = "visible AI label (OCR of the border bands)"


@dataclass(frozen=True)
class LabelHit:
    """A line that carries an AI label: the line, the phrase matched, and whether it is confident."""

    line: TextLine
    match: PhraseMatch
    confident: bool


def find_labels(lines: list[TextLine], cfg: AssessConfig) -> list[LabelHit]:
    """The lines that carry an AI label, most convincing first (confident, exact, confidence, phrase length)."""
    hits = []
    for ln in lines:
        m = match_label(ln.text, cfg.explicit_label_max_edit_fraction)
        if m is not None:
            hits.append(LabelHit(ln, m, m.edits == 0 and ln.confidence >= cfg.explicit_label_min_confidence))
    hits.sort(key=lambda hit: (not hit.confident, hit.match.edits, -hit.line.confidence, -len(hit.match.phrase.compact)))
    kept: list[LabelHit] = []
    for hit in hits:  # a line and the joined run that contains it are one label
        if not any(_covers(k.line.box, hit.line.box) for k in kept):
            kept.append(hit)
    return kept


def _covers(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether boxes ``a`` and ``b`` share at least half of the smaller one."""
    ix, iy = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix > 0 and iy > 0 and ix * iy >= 0.5 * max(1, smaller)


def _where(box: tuple[int, int, int, int], height: int, width: int) -> str:
    cx, cy = (box[0] + box[2]) / 2 / width, (box[1] + box[3]) / 2 / height
    v = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else ""
    u = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
    if v and u:
        return f"{v}-{u} corner"
    return f"{v or u} edge" if v or u else "centre"


def _mask(boxes: list[tuple[int, int, int, int]], height: int, width: int) -> np.ndarray:
    s = min(1.0, _MAX_MASK_SIDE / max(height, width))
    mh, mw = max(1, round(height * s)), max(1, round(width * s))
    mask = np.zeros((mh, mw), bool)
    for x0, y0, x1, y1 in boxes:
        mask[int(y0 * s): max(int(y0 * s) + 1, int(np.ceil(y1 * s))),
             int(x0 * s): max(int(x0 * s) + 1, int(np.ceil(x1 * s)))] = True
    return mask


def _hit_dict(hit: LabelHit, height: int, width: int) -> dict:
    return {"text": hit.line.text, "box": list(hit.line.box), "confidence": round(hit.line.confidence, 4),
            "phrase": hit.match.phrase.text, "service": hit.match.phrase.service, "edits": hit.match.edits,
            "confident": hit.confident, "where": _where(hit.line.box, height, width)}


def explicit_label_evidence(pixels: np.ndarray, cfg: AssessConfig) -> tuple[list[Evidence], bool, str]:
    """The ``explicit_ai_label`` item of a claim, if it shows a visible AI label.

    Args:
        pixels: ``(H, W, 3)`` uint8 RGB claim.
        cfg: Settings (``explicit_label`` switches the step off).

    Returns:
        ``(items, checked, what)``: no item or one (the most convincing label; every label found is
        in its ``details["labels"]``); whether the OCR ran; and what was (or why it was not)
        checked, for the "no provenance label" item.

    Raises:
        ValueError: ``pixels`` is not an ``(H, W, 3)`` uint8 image.
    """
    if not cfg.explicit_label:
        return [], False, "visible AI label (explicit_label is off)"
    if not ocr_available():
        return [], False, "visible AI label (rapidocr-onnxruntime not installed)"
    t0 = time.perf_counter()
    lines = read_border_text(pixels, cfg)
    hits = find_labels(lines, cfg)
    ms = round((time.perf_counter() - t0) * 1e3, 1)
    if not hits:
        return [], True, _CHECKED
    h, w = pixels.shape[:2]
    best = hits[0]
    d = _hit_dict(best, h, w)
    who = f" such as {best.match.phrase.service}" if best.match.phrase.service else ""
    if best.confident:
        strength = cfg.explicit_label_strength
        text = (f'The photo shows the visible AI label "{best.line.text}" in its {d["where"]} (read by OCR, confidence '
                f'{best.line.confidence:.2f}): the mark AI services{who} put on the images they generate or edit.')
    else:
        strength = cfg.explicit_label_weak_strength
        how = "nearly matches" if best.match.edits else "matches"
        text = (f'Text in the photo\'s {d["where"]} reads "{best.line.text}" (OCR confidence '
                f'{best.line.confidence:.2f}), which {how} the AI label "{best.match.phrase.text}": a reviewer should look at it.')
    details = {**d, "labels": [_hit_dict(x, h, w) for x in hits], "boxes": [list(x.line.box) for x in hits],
               "lines_read": len(lines), "timings_ms": {"ocr": ms}}
    item = Evidence("explicit_ai_label", strength, text, "provenance", details,
                    mask=_mask([x.line.box for x in hits], h, w))
    return [item], True, _CHECKED


def merge_explicit_label(provenance: list[Evidence], items: list[Evidence], checked: bool, what: str) -> list[Evidence]:
    """Provenance items with the explicit-label result folded in.

    A label found replaces the ``no_provenance_label`` item (a visible label is a provenance label)
    and follows the other provenance items; otherwise the ``no_provenance_label`` item, if any,
    lists the OCR step under ``checked`` (or ``not_checked``).
    """
    if items:
        return [e for e in provenance if e.kind != "no_provenance_label"] + list(items)
    out = []
    for e in provenance:
        if e.kind == "no_provenance_label":
            key = "checked" if checked else "not_checked"
            details = {**e.details, key: [*e.details.get(key, []), what]}
            e = Evidence(e.kind, e.strength, e.explanation, e.source, details, e.map, e.map_label, e.images, e.mask)
        out.append(e)
    return out
