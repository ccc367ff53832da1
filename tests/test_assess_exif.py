"""The explicit EXIF structure check finds exactly what Pillow's EXIF reader warns about.

:func:`fakedamage.assess.provenance.exif.exif_problems` replaced recording Pillow's warnings
(which needed a process-wide lock). Here, single-threaded, Pillow's warnings are recorded on
the same EXIF blocks (hand-built with real bytes, and seeded mutations of a real camera-like
block) and must equal the check's findings; and corrupt EXIF in JPEG, PNG and WebP claims is
reported as a ``metadata_error`` item.
"""

from __future__ import annotations

import io
import random
import struct
import warnings

import numpy as np
import pytest
from PIL import Image

from fakedamage.assess.provenance import read_provenance
from fakedamage.assess.provenance.exif import exif_problems


def _blob(entries: list[tuple[int, int, int, bytes]], tail: bytes = b"", next_pointer: bool = True,
          ifd0: int = 8, count: int | None = None) -> bytes:
    """A big-endian EXIF block: header, IFD0 with ``entries`` (value fields of 4 bytes), then ``tail``."""
    body = struct.pack(">H", len(entries) if count is None else count)
    body += b"".join(struct.pack(">HHL", tag, typ, n) + value for tag, typ, n, value in entries)
    return b"Exif\x00\x00MM\x00*" + struct.pack(">L", ifd0) + body + (struct.pack(">L", 0) if next_pointer else b"") + tail


def _pointer(at: int) -> bytes:
    return struct.pack(">L", at)


_SUB_IFD_AT = 26  # right after an IFD0 of one entry
HANDMADE = {
    "sound": _blob([(0x0131, 2, 4, b"GIM\x00")]),
    "ifd0_cut_short": b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x00" * 20,
    "ifd0_past_the_end": _blob([], ifd0=4000, next_pointer=False),
    "no_next_pointer": _blob([(0x0131, 2, 4, b"GIM\x00")], next_pointer=False),
    "software_past_the_end": _blob([(0x0131, 2, 21, _pointer(5000))]),
    "software_cut_short": _blob([(0x0131, 2, 21, _pointer(26))], tail=b"Photoshop"),
    "more_data_than_the_block": _blob([(0x0131, 2, 0x7FFFFFFF, _pointer(26))]),
    "exif_ifd_past_the_end": _blob([(0x8769, 4, 1, _pointer(9000))]),
    "exif_ifd_cut_short": _blob([(0x8769, 4, 1, _pointer(_SUB_IFD_AT))],
                                tail=struct.pack(">HHHL", 5, 0x9286, 7, 4) + b"abcd"),
    "user_comment_past_the_end": _blob([(0x8769, 4, 1, _pointer(_SUB_IFD_AT))],
                                       tail=struct.pack(">HHHL", 1, 0x9286, 7, 40) + _pointer(7000) + _pointer(0)),
    "exif_pointer_with_two_values": _blob([(0x8769, 3, 2, b"\x00\x1a\x00\x00")],
                                          tail=struct.pack(">H", 0) + _pointer(0)),
    "unknown_type": _blob([(0x0131, 99, 4, b"GIM\x00")]),
    "not_tiff": b"Exif\x00\x00XX\x00*\x00\x00\x00\x08" + b"\x00" * 10,
}


def _camera_block() -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "Canon EOS R6", "Adobe Photoshop 25.0"
    exif[0x011A], exif[0x0128] = 72.0, 2
    sub = exif.get_ifd(0x8769)
    sub[0x9003], sub[0x829A], sub[0x9286] = "2024:05:01 10:00:00", 0.01, b"ASCII\x00\x00\x00a note"
    return exif.tobytes()


def _mutations(n: int, seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    base = _camera_block()
    out = {}
    for i in range(n):
        b = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            j = rng.randrange(6, len(b))
            if rng.random() < 0.7:
                b[j] = rng.randrange(256)
            else:
                del b[j:]
            if len(b) < 12:
                break
        out[f"mutation_{i}"] = bytes(b)
    return out


def _pillow_warnings(blob: bytes) -> list[str] | None:
    """Pillow's warnings while reading IFD0 and the Exif IFD, as the assessment reads them (None: it raises)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exif = Image.Exif()
            exif.load(blob)
            if exif and 0x8769 in exif:
                exif.get_ifd(0x8769)
        except Exception:  # noqa: BLE001 - Pillow refuses the block: the assessment's guard reports that
            return None
    return list(dict.fromkeys(str(w.message) for w in caught))


@pytest.mark.parametrize("name", sorted(HANDMADE))
def test_exif_check_matches_pillow_on_handmade_blocks(name):
    expected = _pillow_warnings(HANDMADE[name])
    assert exif_problems(HANDMADE[name]) == ([] if expected is None else expected)


def test_exif_check_matches_pillow_on_mutated_blocks():
    compared = corrupt = 0
    for name, blob in _mutations(400, 1).items():
        expected = _pillow_warnings(blob)
        if expected is None:
            continue
        compared += 1
        corrupt += bool(expected)
        assert exif_problems(blob) == expected, name
    assert compared >= 300 and corrupt >= 100  # the mutations really exercise the check


def test_handmade_blocks_are_what_they_say():
    found = {name: exif_problems(blob) for name, blob in HANDMADE.items()}
    assert found["sound"] == [] and found["unknown_type"] == [] and found["not_tiff"] == []
    assert all(found[name] for name in HANDMADE if name not in ("sound", "unknown_type", "not_tiff"))
    assert found["exif_ifd_past_the_end"] == ["Corrupt EXIF data.  Expecting to read 2 bytes but only got 0. "]
    assert found["software_past_the_end"] == ["Truncated File Read"]


@pytest.mark.filterwarnings("ignore::UserWarning:PIL")
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_corrupt_exif_is_reported_in_every_container(fmt):
    import skimage.data

    photo = np.ascontiguousarray(skimage.data.coffee()[50:350, 100:500])
    for name in ("ifd0_cut_short", "exif_ifd_past_the_end", "software_past_the_end"):
        blob = HANDMADE[name]
        buf = io.BytesIO()
        Image.fromarray(photo).save(buf, format=fmt, exif=blob[6:] if fmt == "PNG" else blob)
        errors = [e for e in read_provenance(buf.getvalue(), None) if e.kind == "metadata_error"]
        assert [e.details["where"] for e in errors] == ["EXIF metadata"], (fmt, name)
        assert errors[0].details["problem"] == f"corrupt ({' '.join(exif_problems(blob)[0].split())})"
        assert "EXIF metadata is corrupt" in errors[0].explanation and errors[0].strength == pytest.approx(0.4)
