"""A1111 "stealth PNG info": generation settings hidden in the pixels' least significant bits.

The stealth-pnginfo extensions of AUTOMATIC1111 / Forge (``sd-webui-stealth-pnginfo``) and
NovelAI write the generation parameters into the pixels as well as (or instead of) a text
chunk, so that they survive tools that strip metadata but keep the pixels of a PNG.

Format (as the extension writes it):

* **Bit order.** Pixels are visited column by column (``for x in range(width): for y in
  range(height)``). Mode ``alpha`` takes one bit per pixel, the least significant bit of
  the alpha channel; mode ``rgb`` takes three, the least significant bits of R, G and B
  in that order. The bits form one continuous big-endian stream (most significant bit
  of each byte first).
* **Signature** (15 bytes, 120 bits): ``stealth_pnginfo`` (plain UTF-8) or
  ``stealth_pngcomp`` (gzip) in alpha mode; ``stealth_rgbinfo`` / ``stealth_rgbcomp`` in
  rgb mode.
* **Length**: 32 bits, big-endian, the payload's length **in bits**.
* **Payload**: the parameter text as UTF-8, or gzip-compressed UTF-8.

Reading is cheap and bounded against hostile files:

* only the pixels needed are touched: the first 152 bits (signature and length, one or
  two columns of a photo), then, after the declared length has been checked, just the
  columns holding the payload, in chunks of :data:`CHUNK_PIXELS`;
* the declared length is checked before anything is allocated from it: it must be a
  positive multiple of 8, at most ``8 * max_payload_bytes`` bits (``cfg.max_metadata_bytes``,
  the limit every text chunk has) and fit in the image, so at most
  ``152 + 8 * max_metadata_bytes`` bits (16 M pixels in alpha mode) are ever scanned;
* gzip payloads are inflated with an incremental :func:`zlib.decompressobj` and
  ``max_length``, so a decompression bomb stops at ``cfg.max_metadata_bytes`` of output;
* a valid signature whose length or payload is wrong (over a limit, truncated, not gzip)
  is a ``metadata_error`` naming the problem; a photo without a signature gives nothing.

:func:`embed_stealth` is the writer (used by the tests and to build evaluation claims).
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import numpy as np
from PIL import Image

from ..settings import AssessConfig
from .collector import Collector, mb, one_line
from .generation import generation_tool, parse_a1111

__all__ = ["SIGNATURES", "StealthError", "read_stealth", "extract_stealth", "embed_stealth", "stealth_bits"]

#: Signature -> (channel mode, gzip-compressed).
SIGNATURES: dict[bytes, tuple[str, bool]] = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
SIG_BITS = 15 * 8
LEN_BITS = 32
HEADER_BITS = SIG_BITS + LEN_BITS
#: Pixels converted to numpy at a time while reading a payload.
CHUNK_PIXELS = 1 << 20


class StealthError(ValueError):
    """A stealth signature was found but what follows it is unusable (over a limit, truncated, malformed)."""


def _bands(im: Image.Image, mode: str) -> list[int] | None:
    """Indices of the bands that carry the bits of ``mode`` in ``im``, or ``None`` when it has none."""
    bands = im.getbands()
    if mode == "alpha":
        return [bands.index("A")] if im.mode in ("RGBA", "LA") else None
    return [bands.index(b) for b in "RGB"] if im.mode in ("RGB", "RGBA") else None


def _lsb(im: Image.Image, bands: list[int], start_bit: int, n_bits: int) -> np.ndarray:
    """``n_bits`` bits (uint8 0/1) of the column-major LSB stream from bit ``start_bit`` (fewer at the image end)."""
    w, h = im.size
    bpp = len(bands)
    total = w * h * bpp
    stop_bit = min(start_bit + n_bits, total)
    if stop_bit <= start_bit:
        return np.zeros(0, np.uint8)
    first_px, last_px = start_bit // bpp, (stop_bit - 1) // bpp
    x0, x1 = first_px // h, last_px // h + 1
    step = max(1, CHUNK_PIXELS // h)
    parts = []
    for xa in range(x0, x1, step):
        xb = min(x1, xa + step)
        cols = np.asarray(im.crop((xa, 0, xb, h)))  # (h, xb - xa, C), only these columns
        if cols.ndim == 2:
            cols = cols[:, :, None]
        parts.append((cols[:, :, bands] & 1).transpose(1, 0, 2).reshape(-1))  # x, then y, then band
    bits = np.concatenate(parts) if len(parts) > 1 else parts[0]
    offset = start_bit - x0 * h * bpp
    return bits[offset : offset + (stop_bit - start_bit)]


def _bytes(bits: np.ndarray) -> bytes:
    return np.packbits(bits.astype(np.uint8, copy=False)).tobytes()


def _inflate(data: bytes, limit: int) -> bytes:
    """gzip-decompress ``data`` to at most ``limit`` bytes; :class:`StealthError` when larger or malformed."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise StealthError(f"its gzip payload is malformed ({one_line(e, 80)})") from None
    if len(out) > limit or d.unconsumed_tail:
        raise StealthError(f"its gzip payload inflates to more than {mb(limit)}, a decompression bomb")
    if not d.eof:
        raise StealthError("its gzip payload is truncated")
    return out


def extract_stealth(im: Image.Image, max_payload_bytes: int) -> dict[str, Any] | None:
    """The stealth info of ``im``, or ``None`` when no signature is present.

    Args:
        im: A decoded image (modes ``RGBA`` and ``RGB`` can carry stealth info).
        max_payload_bytes: Largest payload read, and largest text a gzip payload may inflate to.

    Returns:
        ``{"signature", "mode", "compressed", "payload_bytes", "text"}``, or ``None``.

    Raises:
        StealthError: A signature is present but the length or payload is unusable.
    """
    w, h = im.size
    for mode in ("alpha", "rgb"):
        bands = _bands(im, mode)
        if bands is None or w * h * len(bands) < HEADER_BITS:
            continue
        head = _lsb(im, bands, 0, HEADER_BITS)
        sig = _bytes(head[:SIG_BITS])
        if sig not in SIGNATURES or SIGNATURES[sig][0] != mode:
            continue
        compressed = SIGNATURES[sig][1]
        n = int.from_bytes(_bytes(head[SIG_BITS:]), "big")
        name = sig.decode()
        if n == 0 or n % 8:
            raise StealthError(f"its {name} header declares a payload of {n} bits (not a whole number of bytes)")
        if n > 8 * max_payload_bytes:
            raise StealthError(f"its {name} header declares a {mb(n // 8)} payload, over the "
                               f"{mb(max_payload_bytes)} limit")
        capacity = w * h * len(bands) - HEADER_BITS
        if n > capacity:
            raise StealthError(f"its {name} payload is truncated: the header declares {n // 8} bytes but the "
                               f"image holds only {capacity // 8}")
        payload = _bytes(_lsb(im, bands, HEADER_BITS, n))
        raw = _inflate(payload, max_payload_bytes) if compressed else payload
        return {"signature": name, "mode": mode, "compressed": compressed, "payload_bytes": len(payload),
                "text": raw.decode("utf-8", "replace")}
    return None


def _tool(text: str) -> str:
    tool = generation_tool("parameters", text)
    if tool is not None:
        return tool
    low = text[:20000].lower()
    if "novelai" in low:
        return "NovelAI"
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and ("class_type" in text or '"nodes"' in text):
            return "ComfyUI"
    return "a Stable Diffusion web UI (stealth PNG info extension)"


def read_stealth(im: Image.Image, cfg: AssessConfig, col: Collector) -> None:
    """Report stealth PNG info in ``im`` (a PNG) as ``generation_parameters``; other formats are skipped."""
    if im.format != "PNG":
        return
    if im.mode not in ("RGB", "RGBA"):
        col.not_checked.append(f"stealth PNG info (pixel mode {im.mode})")
        return
    col.checked.append("stealth PNG info")
    try:
        found = extract_stealth(im, cfg.max_metadata_bytes)
    except StealthError as e:
        col.error("stealth PNG info", f"unreadable: {e}",
                  "the generation settings an AI web UI hid in its pixels could not be read")
        return
    if found is None:
        return
    text = found["text"]
    tool = _tool(text)
    channel = "alpha channel" if found["mode"] == "alpha" else "red, green and blue channels"
    packed = ", gzip-compressed" if found["compressed"] else ""
    details: dict[str, Any] = {
        "tool": tool, "where": "stealth PNG info", "key": "parameters", "signature": found["signature"],
        "channel": found["mode"], "compressed": found["compressed"], "payload_bytes": found["payload_bytes"],
        "text_chars": len(text), "excerpt": one_line(text, 240)}
    params = parse_a1111(text)
    if params:
        details["parameters"] = params
    seen = ", ".join(f"{k} {one_line(params[k], 40)}" for k in ("steps", "sampler", "seed", "model") if k in params)
    col.add("generation_parameters", cfg.generation_parameters_strength,
            f"The pixels hide the generation settings of {tool} ({found['signature']}: least significant bits of "
            f"the {channel}{packed}{'; ' + seen if seen else ''}): it was made or edited by an AI image generator.",
            **details)


# --------------------------------------------------------------------------- writer


def stealth_bits(payload: bytes, signature: str, declared_bits: int | None = None) -> np.ndarray:
    """The bit stream (uint8 0/1) of signature, 32-bit length and ``payload`` (already compressed if wanted).

    ``declared_bits`` overrides the length field (to build hostile files in tests).
    """
    n = 8 * len(payload) if declared_bits is None else int(declared_bits)
    head = signature.encode("utf-8") + (n & 0xFFFFFFFF).to_bytes(4, "big")
    return np.unpackbits(np.frombuffer(head + payload, np.uint8))


def embed_stealth(pixels: np.ndarray, text: str | None = None, mode: str = "alpha", compressed: bool = False,
                  bits: np.ndarray | None = None) -> np.ndarray:
    """Write stealth info into a copy of ``pixels`` the way the sd-webui stealth-pnginfo extension does.

    Args:
        pixels: ``(H, W, 3)`` or ``(H, W, 4)`` uint8.
        text: The parameter text (ignored when ``bits`` is given).
        mode: ``"alpha"`` (an opaque alpha channel is added when missing; 1 bit per pixel) or
            ``"rgb"`` (3 bits per pixel, R then G then B).
        compressed: gzip the text (signature ``stealth_pngcomp`` / ``stealth_rgbcomp``).
        bits: A ready bit stream from :func:`stealth_bits` instead of ``text``.

    Returns:
        ``(H, W, 4)`` uint8 for ``alpha``; ``(H, W, C)`` like the input for ``rgb``.
    """
    if mode not in ("alpha", "rgb"):
        raise ValueError(f"mode must be 'alpha' or 'rgb', got {mode!r}")
    if bits is None:
        if text is None:
            raise ValueError("give text or bits")
        raw = text.encode("utf-8")
        payload = gzip.compress(raw) if compressed else raw
        sig = f"stealth_{'png' if mode == 'alpha' else 'rgb'}{'comp' if compressed else 'info'}"
        bits = stealth_bits(payload, sig)
    out = np.array(pixels, dtype=np.uint8, copy=True)
    if mode == "alpha" and out.shape[2] == 3:
        out = np.concatenate([out, np.full(out.shape[:2] + (1,), 255, np.uint8)], axis=2)
    h, w = out.shape[:2]
    chans = [3] if mode == "alpha" else [0, 1, 2]
    view = out[:, :, chans].transpose(1, 0, 2).reshape(-1)  # column-major, bands innermost (a copy)
    if len(bits) > view.size:
        raise ValueError(f"{len(bits)} bits do not fit in a {w}x{h} image in {mode} mode")
    view[: len(bits)] = (view[: len(bits)] & 0xFE) | bits.astype(np.uint8)
    out[:, :, chans] = view.reshape(w, h, len(chans)).transpose(1, 0, 2)
    return out

