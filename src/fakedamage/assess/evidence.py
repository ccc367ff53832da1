"""One piece of evidence about a claim photo, and how maps and thumbnails are serialised.

An :class:`Evidence` item is what a reviewer reads: its ``kind`` (a stable machine name),
a signed ``strength`` in ``[-1, 1]`` (positive supports "AI-edited", negative supports
"authentic", 0 is informative only), one plain sentence of ``explanation``, the
machine-readable ``details`` behind it and, where relevant, a ``map`` (detector heatmap
or difference map against the matched reference) over the whole claim image.

Only numpy and Pillow are imported.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from PIL import Image

__all__ = ["Evidence", "EVIDENCE_KINDS", "SOURCES", "encode_png_base64", "thumbnail", "json_safe"]

#: Where an item comes from.
SOURCES: tuple[str, ...] = ("provenance", "reference", "detector")

#: Every ``kind`` an :class:`Evidence` can have, with what it reports.
EVIDENCE_KINDS: dict[str, str] = {
    "gb45438_label": "GB 45438-2025 implicit AI-content label (XMP TC260:AIGC JSON)",
    "c2pa_manifest": "C2PA content credentials (manifest, signature, digital source types)",
    "iptc_digital_source_type": "IPTC DigitalSourceType (or AISystemUsed) written in XMP",
    "sd_watermark": "Stable Diffusion / SDXL invisible watermark (invisible-watermark dwtDct)",
    "generation_parameters": "generation settings written by an AI image tool (PNG text, EXIF, comment)",
    "explicit_ai_label": "a visible AI label in the pixels (GB 45438 explicit label, e.g. \"AI生成\"), read by OCR",
    "editing_software": "EXIF Software / XMP CreatorTool naming an editor or generator",
    "no_provenance_label": "no provenance label found (never evidence of authenticity)",
    "metadata_error": "malformed, oversized or hostile metadata",
    "detector": "pixel detector score and heatmap",
    "reference_match": "the claim is a transformed copy of a reference with changed regions",
    "reference_copy": "the claim is a transformed copy of a reference with no visible change",
    "independent_photo": "the claim is not derived from any reference",
    "reference_error": "a reference image or video could not be read",
}

_MAX_MAP_SIDE = 512


def json_safe(value: Any) -> Any:
    """Recursively convert numpy scalars/arrays, tuples and non-finite floats to JSON types.

    Args:
        value: Any nesting of dicts, lists, tuples, numpy values, str, int, float, bool, None.

    Returns:
        The same structure with only JSON-serialisable values (NaN/inf become ``None``).
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if value is None or isinstance(value, str) else str(value)


def thumbnail(image: np.ndarray, max_side: int = _MAX_MAP_SIDE) -> np.ndarray:
    """Downscale an image or map so that its longer side is at most ``max_side``.

    Args:
        image: ``(H, W)`` float map or ``(H, W, 3)`` uint8 image.
        max_side: Longest side of the result.

    Returns:
        The array at reduced size (same dtype), or ``image`` itself when already small enough.
    """
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if image.ndim == 2:
        pil = Image.fromarray(np.asarray(image, dtype=np.float32), mode="F")
        return np.asarray(pil.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    return np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).resize(size, Image.Resampling.LANCZOS))


def encode_png_base64(array: np.ndarray, max_side: int = _MAX_MAP_SIDE) -> str:
    """Encode a map or an image as a base64 PNG (no ``data:`` prefix).

    Args:
        array: ``(H, W)`` float map in ``[0, 1]`` (stored as 8-bit grey, value * 255) or
            ``(H, W, 3)`` uint8 RGB image.
        max_side: The longer side is reduced to this before encoding.

    Returns:
        ASCII base64 of the PNG bytes.
    """
    a = thumbnail(np.asarray(array), max_side)
    if a.ndim == 2:
        a = np.clip(np.nan_to_num(a.astype(np.float32)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", optimize=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass(frozen=True, eq=False)
class Evidence:
    """One finding about a claim.

    Attributes:
        kind: One of :data:`EVIDENCE_KINDS`.
        strength: Signed weight in ``[-1, 1]``: ``> 0`` supports "AI-edited", ``< 0`` supports
            "authentic", ``0`` informs only (e.g. "no provenance label found").
        explanation: One sentence a refund reviewer understands.
        source: ``"provenance"``, ``"reference"`` or ``"detector"``.
        details: JSON-safe facts behind the sentence (values read, counts, boxes, timings).
        map: Optional ``(h, w)`` float32 map in ``[0, 1]`` covering the whole claim image
            (same aspect ratio; possibly at reduced resolution), e.g. the detector heatmap or
            the difference map against the matched reference.
        map_label: What the map shows, for captions.
        images: Extra ``(h, w, 3)`` uint8 RGB pictures for the reviewer, e.g. the matched
            reference aligned onto the claim (``"aligned_reference"``).
        mask: Optional ``(h, w)`` bool on the same grid as :attr:`map`: the region the item points
            at (for ``reference_match``, the changed regions, i.e. where the damage was added).
    """

    kind: str
    strength: float
    explanation: str
    source: str
    details: Mapping[str, Any] = field(default_factory=dict)
    map: np.ndarray | None = None
    map_label: str = ""
    images: Mapping[str, np.ndarray] = field(default_factory=dict)
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVIDENCE_KINDS:
            raise ValueError(f"unknown evidence kind {self.kind!r}; expected one of {sorted(EVIDENCE_KINDS)}")
        if self.source not in SOURCES:
            raise ValueError(f"unknown evidence source {self.source!r}; expected one of {SOURCES}")
        s = float(self.strength)
        if not math.isfinite(s) or not -1.0 <= s <= 1.0:
            raise ValueError(f"strength must be a finite number in [-1, 1], got {self.strength!r}")
        object.__setattr__(self, "strength", s)

    @property
    def supports(self) -> str:
        """``"ai_edited"``, ``"authentic"`` or ``"neither"``: the direction of :attr:`strength`."""
        if self.strength > 0:
            return "ai_edited"
        return "authentic" if self.strength < 0 else "neither"

    def to_dict(self, include_maps: bool = False, max_side: int = _MAX_MAP_SIDE) -> dict[str, Any]:
        """JSON-safe dictionary.

        Args:
            include_maps: Embed :attr:`map` and :attr:`images` as base64 PNGs (longer side
                at most ``max_side``); otherwise only their presence and size are given.
            max_side: Longest side of embedded pictures.

        Returns:
            ``{"kind", "strength", "supports", "explanation", "source", "details", "map", "mask", "images"}``;
            ``map`` is ``None`` or ``{"label", "width", "height", "png_base64"?}`` (8-bit grey,
            value / 255 is the map value); ``mask`` likewise (255 inside the region).
        """
        out: dict[str, Any] = {
            "kind": self.kind,
            "strength": round(self.strength, 4),
            "supports": self.supports,
            "explanation": self.explanation,
            "source": self.source,
            "details": json_safe(dict(self.details)),
            "map": None,
            "mask": None,
            "images": {},
        }
        if self.map is not None:
            h, w = self.map.shape[:2]
            m: dict[str, Any] = {"label": self.map_label, "width": int(w), "height": int(h)}
            if include_maps:
                m["png_base64"] = encode_png_base64(self.map, max_side)
            out["map"] = m
        if self.mask is not None:
            h, w = self.mask.shape[:2]
            mk: dict[str, Any] = {"width": int(w), "height": int(h)}
            if include_maps:
                mk["png_base64"] = encode_png_base64(self.mask.astype(np.float32), max_side)
            out["mask"] = mk
        for name, img in self.images.items():
            h, w = img.shape[:2]
            entry: dict[str, Any] = {"width": int(w), "height": int(h)}
            if include_maps:
                entry["png_base64"] = encode_png_base64(img, max_side)
            out["images"][name] = entry
        return out
