"""Text chunks: PNG ``tEXt`` / ``iTXt`` / ``zTXt`` and JPEG comments.

AI image tools write their generation settings here (see :mod:`.generation`), some services
the GB 45438 ``AIGC`` JSON, and editors a ``Software`` name. For a PNG the pixels are loaded
first, since text chunks after the image data are only read with them.
"""

from __future__ import annotations

from PIL import Image

from ..settings import AssessConfig
from .collector import Collector
from .generation import check_text

__all__ = ["read_text"]


def read_text(im: Image.Image, cfg: AssessConfig, col: Collector) -> None:
    """Check every text chunk (PNG) or comment / text entry of ``im.info`` (other formats)."""
    texts: dict[str, object] = {}
    if im.format == "PNG":
        im.load()  # text chunks after the image data are only read with the pixels
        texts.update(getattr(im, "text", {}) or {})
    for key, value in im.info.items():
        if isinstance(value, (str, bytes)) and key not in ("xmp", "icc_profile", "exif", "dpi"):
            texts.setdefault(key, value)
    for key, value in texts.items():
        check_text(str(key), value, "text chunk" if im.format == "PNG" else "comment", cfg, col)
