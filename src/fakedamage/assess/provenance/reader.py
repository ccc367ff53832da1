"""Read all provenance evidence of one claim file: every source reader, in order, each guarded.

Order: XMP (:mod:`.xmp`), EXIF (:mod:`.exif`), text chunks (:mod:`.png_text`), stealth PNG
info in the pixels' least significant bits (:mod:`.stealth`), the EXIF structure check,
software tags (:mod:`.software`), C2PA (:mod:`.c2pa`) and the invisible watermark
(:mod:`.sd_watermark`). Each step runs under :meth:`Collector.guard`, so that a
malformed or hostile input becomes a ``metadata_error`` item and never an exception.

Nothing here touches process-wide state (no ``warnings.catch_warnings``): concurrent calls in
threads are independent.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..evidence import Evidence
from ..settings import AssessConfig
from .c2pa import read_c2pa
from .collector import Collector, one_line
from .exif import check_exif_structure, read_exif
from .labels import LABEL_KINDS
from .png_text import read_text
from .sd_watermark import read_watermark
from .software import software_items
from .stealth import read_stealth
from .xmp import read_xmp

__all__ = ["read_provenance"]


def read_provenance(data: bytes | None, pixels: np.ndarray | None = None,
                    cfg: AssessConfig | None = None) -> list[Evidence]:
    """All provenance evidence of one claim file. Never raises for bad metadata.

    Args:
        data: The claim file's bytes, or ``None`` for in-memory pixels (metadata is then not
            checked, and reported so).
        pixels: The decoded ``(H, W, 3)`` uint8 RGB image, for the invisible watermark.
        cfg: Settings; default :class:`~fakedamage.assess.settings.AssessConfig`.

    Returns:
        Evidence items of source ``"provenance"``; exactly one ``no_provenance_label`` item
        (strength 0) when no label of :data:`~.labels.LABEL_KINDS` was found.
    """
    cfg = cfg or AssessConfig()
    col = Collector(cfg)
    if data is None:
        col.not_checked.append("file metadata (pixels given without a file)")
    else:
        col.checked += ["GB 45438 AIGC label", "IPTC digital source type", "generation parameters",
                        "EXIF/XMP software"]
        try:
            im = Image.open(io.BytesIO(data))
        except Exception as e:  # noqa: BLE001
            im = None
            col.error("file header", f"unreadable by Pillow ({type(e).__name__})")
        if im is not None:
            with im:
                col.guard("XMP metadata", lambda: read_xmp(im, data, cfg, col))
                col.guard("EXIF metadata", lambda: read_exif(im, cfg, col))
                col.guard("text metadata", lambda: read_text(im, cfg, col))
                col.guard("stealth PNG info", lambda: read_stealth(im, cfg, col))
                col.guard("EXIF metadata", lambda: check_exif_structure(im, data, col))
                mime = Image.MIME.get(im.format or "", "image/jpeg")
            col.guard("software tags", lambda: software_items(cfg, col))
            col.guard("C2PA content credential", lambda: read_c2pa(data, mime, cfg, col))
    col.guard("invisible watermark", lambda: read_watermark(pixels, cfg, col))
    if not any(e.kind in LABEL_KINDS for e in col.items):
        col.items.append(Evidence(
            "no_provenance_label", 0.0,
            "No provenance label was found; labels are easily stripped, so this says nothing about authenticity.",
            "provenance", {"checked": col.checked, "not_checked": col.not_checked,
                           "software": [one_line(s, 120) for s in col.software]}))
    return col.items
