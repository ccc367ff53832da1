"""Upload checks and heatmap rendering for the review service (numpy and Pillow only).

* :func:`check_media_type` decides from the declared content type and the file's
  magic bytes whether an upload may go to the decoder (415 otherwise).
* :func:`heatmap_png` turns the detector's ``(H, W)`` map into an RGBA PNG whose
  colour and opacity both follow the probability, ready to lay over the photo.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..runtime.overlay import colorize as runtime_colorize
from .errors import ServiceError

__all__ = ["ACCEPTED_TYPES", "sniff_image_type", "check_media_type", "heatmap_png", "colorize"]

#: Declared content types handed to the decoder as they are.
ACCEPTED_TYPES = frozenset({
    "image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/webp", "image/gif",
    "image/bmp", "image/x-bmp", "image/x-ms-bmp", "image/tiff", "image/tif",
})
#: Declared types that say nothing; the magic bytes decide.
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),  # RIFF....WEBP
    (b"BM", 0, "image/bmp"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
)

def sniff_image_type(head: bytes) -> str | None:
    """Content type of an image file from its first bytes, or ``None`` when it is no known image."""
    for magic, offset, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if mime == "image/webp" and head[:4] != b"RIFF":
                continue
            return mime
    return None


def check_media_type(content_type: str | None, head: bytes, name: str) -> None:
    """Refuse uploads that are not images before decoding them.

    A declared image type (:data:`ACCEPTED_TYPES`) goes to the decoder, which answers
    422 if the bytes are corrupt. A missing or ``application/octet-stream`` type is
    accepted when the magic bytes are those of an image. Anything else is refused.

    Args:
        content_type: The part's declared ``Content-Type`` (parameters allowed).
        head: The first bytes of the file (16 are enough).
        name: File name for the message.

    Raises:
        ServiceError: 415 ``unsupported_media_type``.
    """
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared in ACCEPTED_TYPES:
        return
    accepted = "JPEG, PNG, WebP, GIF, BMP or TIFF"
    if declared in _GENERIC_TYPES:
        if sniff_image_type(head) is not None:
            return
        raise ServiceError(415, "unsupported_media_type",
                           f"{name}: the file is not a {accepted} image (unknown magic bytes)")
    raise ServiceError(415, "unsupported_media_type",
                       f"{name}: content type {declared!r} is not accepted; upload a {accepted} image")


def colorize(heat: np.ndarray) -> np.ndarray:
    """Map probabilities in ``[0, 1]`` to RGBA uint8: the runtime's colours, opacity = probability."""
    p = np.clip(np.nan_to_num(heat.astype(np.float64), nan=0.0), 0.0, 1.0)
    alpha = np.round(p * 255.0).astype(np.uint8)[..., None]
    return np.concatenate([runtime_colorize(p), alpha], axis=-1)


def heatmap_png(heat: np.ndarray, max_side: int) -> tuple[bytes, int, int]:
    """Encode a heatmap as an RGBA PNG overlay, downscaled so its longest side is at most ``max_side``.

    The map is only a picture for people; the model itself never sees resized pixels.

    Args:
        heat: ``(H, W)`` float map in ``[0, 1]`` (image size).
        max_side: Longest side of the PNG in pixels.

    Returns:
        ``(png_bytes, width, height)`` of the PNG.
    """
    h, w = heat.shape
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = Image.fromarray(np.ascontiguousarray(heat, dtype=np.float32)).resize(size, Image.Resampling.BILINEAR)
        heat = np.asarray(small)
    rgba = colorize(heat)
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue(), int(rgba.shape[1]), int(rgba.shape[0])
