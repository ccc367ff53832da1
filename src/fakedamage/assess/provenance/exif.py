"""EXIF: software, description and user comment, and an explicit check of the EXIF structure.

Read through Pillow's :meth:`PIL.Image.Image.getexif` (under the caller's guard, so an
exception becomes a ``metadata_error`` item): ``Software`` (collected for :mod:`.software`),
``ImageDescription`` and the Exif IFD's ``UserComment`` (checked for generation parameters,
see :mod:`.generation`).

Corrupt EXIF is detected explicitly by :func:`exif_problems`, which walks the same structure
Pillow reads (the TIFF header, IFD0 and the Exif sub-IFD) and reports what Pillow's reader
would warn about, worded as Pillow words it: a directory cut short, tag data past the end of
the block, more tag data than the block holds. Pillow's own warnings are not recorded:
``warnings.catch_warnings`` swaps process-wide state, and assessments run concurrently.
"""

from __future__ import annotations

import re
import struct

from PIL import Image

from ..settings import AssessConfig
from .collector import Collector, one_line
from .generation import check_text

__all__ = ["read_exif", "check_exif_structure", "exif_problems", "raw_exif", "user_comment"]


#: Bytes per value of each TIFF field type Pillow reads (other types are skipped, as Pillow does).
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8}
#: Integer field types: the ``struct`` code of one value (an IFD pointer must be one of these).
_INT_CODES = {1: "B", 3: "H", 4: "L", 6: "b", 8: "h", 9: "l", 13: "L", 16: "Q"}
#: Header prefixes Pillow accepts for an EXIF block or a TIFF file.
_PREFIXES = (b"MM\x00\x2a", b"II\x2a\x00", b"MM\x2a\x00", b"II\x00\x2a", b"MM\x00\x2b", b"II\x2b\x00")
#: Types whose values Pillow keeps as one item (bytes or text), so a long count is no error.
_UNSPLIT_TYPES = frozenset({1, 2, 7})
_EXIF_IFD = 0x8769


class _Truncated(Exception):
    """A directory could not be read to its end (the rest of it is lost)."""


class _Stream:
    """Reads from ``data`` like a file: reads past the end return fewer bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n] if self.pos < len(self.data) else b""
        self.pos += len(chunk)
        return chunk

    def ensure(self, n: int) -> bytes:
        """Exactly ``n`` bytes, else :class:`_Truncated` worded as Pillow's reader words it."""
        chunk = self.read(n)
        if len(chunk) != n:
            raise _Truncated(f"Corrupt EXIF data.  Expecting to read {n} bytes but only got {len(chunk)}. ")
        return chunk


def _read_ifd(data: bytes, offset: int, endian: str, bigtiff: bool,
              problems: list[str]) -> dict[int, tuple[int, int, bytes]]:
    """Walk one image file directory as Pillow's ``ImageFileDirectory_v2.load`` does.

    Args:
        data: The TIFF structure (EXIF block without its ``Exif\\0\\0`` prefix, or a TIFF file).
        offset: Where the directory starts.
        endian: ``"<"`` or ``">"``.
        bigtiff: 8-byte counts, offsets and entries of 20 bytes.
        problems: Appended to: what is wrong with the directory.

    Returns:
        ``tag -> (type, count, value bytes)`` of the entries that could be read (a directory
        cut short keeps the entries before the cut, as Pillow does).
    """
    stream = _Stream(data)
    stream.pos = offset
    count_code, entry, entry_code, inline = ("Q", 20, "HHQ8s", 8) if bigtiff else ("H", 12, "HHL4s", 4)
    pointer = "Q" if bigtiff else "L"
    tags: dict[int, tuple[int, int, bytes]] = {}
    total = 0
    try:
        (n,) = struct.unpack(endian + count_code, stream.ensure(struct.calcsize(endian + count_code)))
        for _ in range(n):
            tag, typ, count, value = struct.unpack(endian + entry_code, stream.ensure(entry))
            if tag in tags or typ not in _TYPE_SIZES:
                continue
            size = count * _TYPE_SIZES[typ]
            if size > inline:
                (at,) = struct.unpack(endian + pointer, value)
                if at >= 2**63:
                    problems.append("Tag offset too large")
                    continue
                total += size
                if total > len(data):
                    problems.append(f"Tag data larger than file. Skipping tag {tag}")
                    continue
                if at + size > len(data):
                    raise _Truncated("Truncated File Read")
                value = data[at : at + size]
            else:
                value = value[:size]
            if value:
                tags[tag] = (typ, count, value)
        stream.ensure(struct.calcsize(endian + pointer))  # the next directory's offset
    except _Truncated as e:
        problems.append(str(e))
    return tags


def _first_int(typ: int, value: bytes, endian: str) -> int | None:
    """The first value of an integer-typed entry (an IFD pointer), or ``None`` for other types."""
    code = _INT_CODES.get(typ)
    if code is None or len(value) < struct.calcsize(endian + code):
        return None
    return int(struct.unpack_from(endian + code, value)[0])


def exif_problems(raw: bytes, tiff_file: bool = False) -> list[str]:
    """What is wrong with the structure of an EXIF block: its header, IFD0 and the Exif IFD.

    Walks what Pillow reads when it loads EXIF (IFD0, and the Exif sub-IFD when IFD0 points to
    one) and reports, once each, the problems Pillow's reader warns about, in its words (a
    directory cut short, tag data past the end, more tag data than the block holds, an Exif IFD
    pointer with several values). A
    header that is not TIFF at all is not reported here: Pillow refuses it with an exception,
    which the caller's guard reports where it surfaces.

    Args:
        raw: The EXIF block (with or without the ``Exif\\0\\0`` prefix), or a whole TIFF file.
        tiff_file: ``raw`` is a TIFF file: BigTIFF headers are read too.

    Returns:
        Problem descriptions (empty for a sound structure).
    """
    data = raw if tiff_file else re.sub(b"^(Exif\x00\x00){1,2}", b"", bytes(raw))
    if len(data) < 8 or not data.startswith(_PREFIXES):
        return []
    endian = "<" if data[:2] == b"II" else ">"
    bigtiff = data[2] == 43
    if bigtiff and (not tiff_file or len(data) < 16):
        return []  # Pillow cannot read a BigTIFF header inside an EXIF block; it raises instead
    (ifd0,) = struct.unpack_from(endian + ("Q" if bigtiff else "L"), data, 8 if bigtiff else 4)
    problems: list[str] = []
    tags = _read_ifd(data, ifd0, endian, bigtiff, problems)
    if _EXIF_IFD in tags:
        typ, count, value = tags[_EXIF_IFD]
        if count > 1 and typ not in _UNSPLIT_TYPES:  # a pointer is one value; Pillow takes the first
            problems.append(f"Metadata Warning, tag {_EXIF_IFD} had too many entries: {count}, expected 1")
        at = _first_int(typ, value, endian)
        if at is not None and at >= 0:
            _read_ifd(data, at, endian, bigtiff, problems)
    return list(dict.fromkeys(problems))


def raw_exif(im: Image.Image, data: bytes) -> tuple[bytes, bool] | None:
    """The EXIF structure Pillow reads for ``im``: ``(bytes, is a whole TIFF file)``, or ``None``.

    Args:
        im: The opened claim (for a PNG, after its text chunks were loaded).
        data: The claim file's bytes.
    """
    exif = im.info.get("exif")
    if isinstance(exif, (bytes, bytearray)):
        return bytes(exif), False
    profile = im.info.get("Raw profile type exif")
    if isinstance(profile, str):
        try:
            return bytes.fromhex("".join(profile.split("\n")[3:])), False
        except ValueError:
            return None  # Pillow's getexif raises on it; the guard of read_exif reports that
    if hasattr(im, "tag_v2"):
        return data, True  # a TIFF file: its own directories hold the EXIF tags
    return None


def check_exif_structure(im: Image.Image, data: bytes, col: Collector) -> None:
    """Add one ``metadata_error`` item per problem :func:`exif_problems` finds in the file's EXIF."""
    found = raw_exif(im, data)
    if found is None:
        return
    for problem in dict.fromkeys(one_line(p, 100) for p in exif_problems(*found)):
        col.error("EXIF metadata", f"corrupt ({problem})", "it could not be fully read")


def user_comment(raw: object) -> str:
    """Decode an EXIF UserComment (8-byte character-code prefix)."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, (bytes, bytearray)):
        return ""
    b = bytes(raw)
    head, body = b[:8], b[8:]
    if head.startswith(b"UNICODE"):
        for enc in ("utf-16-be", "utf-16-le"):
            try:
                text = body.decode(enc)
                if text.isprintable() or "\n" in text:
                    return text
            except UnicodeDecodeError:
                continue
        return body.decode("utf-16-be", "replace")
    if head.startswith(b"ASCII") or head == b"\x00" * 8:
        return body.decode("utf-8", "replace")
    return b.decode("utf-8", "replace")


def read_exif(im: Image.Image, cfg: AssessConfig, col: Collector) -> None:
    """Collect EXIF ``Software`` and check ``ImageDescription`` and ``UserComment`` for generation settings."""
    exif = im.getexif()
    ifd = exif.get_ifd(_EXIF_IFD) if exif and _EXIF_IFD in exif else {}
    if not exif:
        return
    software = exif.get(0x0131)
    if software:
        col.software.append(str(software))
    description = exif.get(0x010E)
    if description:
        check_text("ImageDescription", str(description), "EXIF", cfg, col)
    comment = user_comment(ifd.get(0x9286)) if ifd else ""
    if comment:
        check_text("UserComment", comment, "EXIF", cfg, col)
