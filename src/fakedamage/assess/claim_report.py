"""The review page of one claim assessment: a self-contained HTML file (verdict, evidence, maps).

Not to be confused with :mod:`fakedamage.report`, the detector's evaluation report: this
module renders one :class:`~fakedamage.assess.assessor.Assessment` for a refund reviewer.
No external files.

Maps are drawn over the claim thumbnail (red, stronger = more opaque); changed regions of
a reference match are boxed. Everything is inlined (CSS, base64 PNGs); text is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .assessor import Assessment
from .evidence import Evidence, thumbnail

__all__ = ["render_html", "write_html", "overlay"]

_COLOURS = {"likely_ai_edited": "#b3261e", "needs_review": "#b26a00", "likely_authentic": "#1e6b34"}
_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d1d1f;max-width:1100px}
h1{font-size:20px;margin:0 0 4px} .verdict{display:inline-block;color:#fff;padding:4px 12px;border-radius:6px;
font-weight:600} table{border-collapse:collapse;width:100%;margin:16px 0} td,th{border-bottom:1px solid #ddd;
padding:6px 8px;text-align:left;vertical-align:top} th{background:#f5f5f7} .bar{height:10px;border-radius:3px}
.deciding{background:#fff7e0} figure{display:inline-block;margin:8px 12px 8px 0;vertical-align:top}
figcaption{font-size:12px;color:#555;max-width:420px} img{max-width:420px;border:1px solid #ccc}
.muted{color:#666;font-size:13px} code{font-size:12px}
"""


def _png_uri(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def overlay(base: np.ndarray, heat: np.ndarray, boxes: list[tuple[int, int, int, int]] = (),
            image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Draw a ``[0, 1]`` map in red over an RGB thumbnail, and boxes (in claim pixels).

    Args:
        base: ``(h, w, 3)`` uint8 RGB thumbnail of the claim.
        heat: ``(h', w')`` float map covering the whole claim (any resolution).
        boxes: ``(x0, y0, x1, y1)`` in claim pixel coordinates.
        image_size: ``(H, W)`` of the claim, to scale the boxes.

    Returns:
        ``(h, w, 3)`` uint8 RGB.
    """
    h, w = base.shape[:2]
    m = np.asarray(Image.fromarray(np.asarray(heat, np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR))
    alpha = (np.clip(m, 0.0, 1.0) ** 0.8 * 0.75)[..., None]
    red = np.array([230, 30, 30], np.float32)
    out = (base.astype(np.float32) * (1 - alpha) + red * alpha).clip(0, 255).astype(np.uint8)
    if boxes and image_size:
        pil = Image.fromarray(out)
        draw = ImageDraw.Draw(pil)
        sy, sx = h / image_size[0], w / image_size[1]
        for x0, y0, x1, y1 in boxes:
            draw.rectangle([x0 * sx, y0 * sy, x1 * sx, y1 * sy], outline=(255, 220, 0), width=2)
        out = np.asarray(pil)
    return out


def _figures(a: Assessment, e: Evidence) -> str:
    parts = []
    if e.map is not None:
        boxes = [tuple(r["box"]) for r in (e.details.get("match") or {}).get("regions", [])]
        img = overlay(a.thumbnail, e.map, boxes, a.image_size)
        parts.append(f'<figure><img alt="{html.escape(e.map_label)}" src="{_png_uri(img)}">'
                     f"<figcaption>{html.escape(e.map_label)}</figcaption></figure>")
    if e.map is None and e.mask is not None and e.details.get("boxes"):  # e.g. a visible AI label, boxed
        boxes = [tuple(b) for b in e.details["boxes"]]
        img = overlay(a.thumbnail, e.mask.astype(np.float32) * 0.5, boxes, a.image_size)
        caption = f"{e.kind.replace('_', ' ')}: where it is"
        parts.append(f'<figure><img alt="{html.escape(caption)}" src="{_png_uri(img)}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    for name, picture in e.images.items():
        parts.append(f'<figure><img alt="{html.escape(name)}" src="{_png_uri(thumbnail(picture, 512))}">'
                     f"<figcaption>{html.escape(name.replace('_', ' '))}</figcaption></figure>")
    return "".join(parts)


def _bar(strength: float) -> str:
    colour = "#b3261e" if strength > 0 else "#1e6b34" if strength < 0 else "#999"
    width = max(2, int(abs(strength) * 100))
    return f'<div class="bar" style="width:{width}px;background:{colour}"></div>{strength:+.2f}'


def render_html(a: Assessment, title: str | None = None) -> str:
    """The review page of one assessment as a string.

    Args:
        a: The :class:`Assessment`.
        title: Page title (default: the claim name).

    Returns:
        A complete HTML document with everything inlined.
    """
    name = a.claim or "claim"
    colour = _COLOURS.get(a.verdict, "#444")
    rows = []
    for i, e in enumerate(a.evidence):
        cls = ' class="deciding"' if i in a.decided_by else ""
        rows.append(f"<tr{cls}><td><code>{html.escape(e.kind)}</code><br><span class='muted'>{html.escape(e.source)}"
                    f"</span></td><td>{_bar(e.strength)}</td><td>{html.escape(e.explanation)}"
                    f"{'<br><b>decided the verdict</b>' if i in a.decided_by else ''}</td></tr>")
    figures = "".join(_figures(a, e) for e in a.evidence)
    t = a.thresholds
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title or name)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(name)}</h1>
<p><span class="verdict" style="background:{colour}">{html.escape(a.verdict.replace('_', ' '))}</span>
&nbsp; score {a.score:.2f} &nbsp; <span class="muted">{html.escape(a.reason)}</span></p>
<figure><img alt="claim" src="{_png_uri(a.thumbnail)}"><figcaption>claim photo ({a.image_size[1]}x{a.image_size[0]})
</figcaption></figure>{figures}
<table><tr><th>evidence</th><th>strength</th><th>what it means</th></tr>
{''.join(rows)}</table>
<p class="muted">Rule: the strongest item for AI editing decides (likely AI-edited at &ge; {t.get('ai_threshold', 0):.2f},
needs review at &ge; {t.get('review_threshold', 0):.2f}); otherwise positive provenance (a trusted C2PA camera
capture) of at least {t.get('authentic_threshold', 0):.2f} gives likely authentic. Missing labels, independent photos
and a low detector score never count as authenticity. Time: {a.timings.get('total', 0):.0f} ms.</p>
</body></html>
"""
    return doc


def write_html(a: Assessment, path: str | os.PathLike, title: str | None = None) -> Path:
    """Write :func:`render_html` atomically (temp file + rename).

    Returns:
        The written path.
    """
    from ..utils.io import atomic_write_text

    return atomic_write_text(path, render_html(a, title))

