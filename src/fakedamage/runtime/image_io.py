"""Decode any photo a user may hand us into an ``(H, W, 3)`` uint8 RGB array.

Images are never resized here (forensic traces die in interpolation); this module
only decodes, applies the EXIF orientation and maps every Pillow mode to 8-bit RGB.
Every failure becomes one :class:`ImageDecodeError` whose message is a single line
naming the file, what is wrong and how to fix it.

Mode policy:

* ``RGB``: unchanged.
* ``L``, ``1``, ``P``, ``CMYK``, ``YCbCr`` and other colour modes: Pillow's ``convert("RGB")``.
* Modes with alpha (``RGBA``, ``LA``, ``PA``, ``P`` with transparency): the alpha
  channel is **dropped**, not composited. The stored colour values reach the model
  unchanged, so no blending arithmetic alters the pixel statistics the detector reads.
* 16-bit samples, grey (``I;16*``) or colour: the high byte, ``v >> 8`` (Pillow already keeps
  the high byte of 16-bit colour PNGs, so grey and colour follow one rule).
* 32-bit integer (``I``): treated as 16-bit data when any value exceeds 255
  (clipped to ``[0, 65535]``, then ``>> 8``), otherwise taken as 8-bit values.
* Float (``F``): values in ``[0, 1]`` are scaled by 255, otherwise clipped to ``[0, 255]``.
* Animated images (GIF, APNG, WebP, multi-page TIFF): the first frame.

Safety: the pixel count is checked from the header before any pixel is decoded
(``max_pixels``), Pillow's own ``DecompressionBombError`` is caught, and truncated
files raise instead of being silently padded (``ImageFile.LOAD_TRUNCATED_IMAGES``
is never touched).

Only numpy and Pillow are imported.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import UsageError

__all__ = ["ImageDecodeError", "ImageSource", "load_image", "DEFAULT_MAX_PIXELS"]

#: Default limit on ``width * height``; a 50 MP photo is far beyond any product shot.
DEFAULT_MAX_PIXELS = 50_000_000

#: Anything :func:`load_image` accepts.
ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray]

_REUPLOAD = "re-export or re-upload the full file"


class ImageDecodeError(UsageError):
    """An input could not be decoded into an RGB image.

    The message is one line: ``"<name>: <what is wrong>; <how to fix it>"``.
    """


def _source_name(src: object) -> str:
    """Human-readable name of an input for error messages."""
    if isinstance(src, (str, os.PathLike)):
        return os.fsdecode(src)
    if isinstance(src, Image.Image):
        return getattr(src, "filename", "") or "<PIL image>"
    if isinstance(src, np.ndarray):
        return "<array>"
    return "<bytes>"


def _to_uint8_rgb(img: Image.Image) -> np.ndarray:
    """Map a loaded Pillow image of any mode to an ``(H, W, 3)`` uint8 RGB array."""
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    if mode.startswith("I;16"):
        a = np.asarray(img).astype(np.uint32)
        return _gray_to_rgb(a >> 8)
    if mode == "I":
        a = np.asarray(img).astype(np.int64)
        if a.size and a.max() > 255:
            a = np.clip(a, 0, 65535) >> 8
        return _gray_to_rgb(np.clip(a, 0, 255))
    if mode == "F":
        a = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if a.size and a.min() >= 0.0 and a.max() <= 1.0:
            a = a * 255.0
        return _gray_to_rgb(np.round(np.clip(a, 0, 255)))
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and "transparency" in img.info):
        # Drop alpha (see module docstring); going through RGBA keeps palette transparency warnings away.
        return np.asarray(img.convert("RGBA"), dtype=np.uint8)[:, :, :3].copy()
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _gray_to_rgb(a: np.ndarray) -> np.ndarray:
    """``(H, W)`` values already in ``[0, 255]`` -> ``(H, W, 3)`` uint8."""
    g = a.astype(np.uint8)
    return np.repeat(g[:, :, None], 3, axis=2)


def _from_array(arr: np.ndarray, name: str, max_pixels: int) -> np.ndarray:
    """Validate a user array: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` uint8."""
    if arr.dtype != np.uint8:
        raise ImageDecodeError(
            f"{name}: array dtype is {arr.dtype}, expected uint8; "
            "convert with (a * 255).round().clip(0, 255).astype(np.uint8) for [0, 1] floats"
        )
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ImageDecodeError(f"{name}: array shape {arr.shape} is not (H, W), (H, W, 3) or (H, W, 4); pass an RGB image")
    h, w = arr.shape[:2]
    if h == 0 or w == 0:
        raise ImageDecodeError(f"{name}: array is empty ({h}x{w}); pass a non-empty image")
    _check_pixels(name, w, h, max_pixels)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]  # drop alpha, as for decoded images
    return np.ascontiguousarray(arr)


def _check_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"{name}: image is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,}; "
            "downscale it or raise max_pixels if the file is trusted"
        )


def _decode(img: Image.Image, name: str, max_pixels: int) -> np.ndarray:
    """Check size, load pixels, orient and convert an opened (lazy) Pillow image."""
    fmt = img.format or "image"
    w, h = img.size
    if w == 0 or h == 0:
        raise ImageDecodeError(f"{name}: {fmt} has zero size ({w}x{h}); re-export the image")
    _check_pixels(name, w, h, max_pixels)
    try:
        if getattr(img, "is_animated", False):
            img.seek(0)
        img.load()
    except Image.DecompressionBombError as e:
        raise ImageDecodeError(f"{name}: rejected as a decompression bomb ({e}); do not process untrusted files this large") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        if "truncated" in detail.lower() or isinstance(e, EOFError):
            raise ImageDecodeError(f"{name}: truncated {fmt} (file ends early); {_REUPLOAD}") from None
        raise ImageDecodeError(f"{name}: corrupt {fmt} data ({detail}); {_REUPLOAD}") from None
    orientation = exif_orientation(img)
    try:
        rgb = _to_uint8_rgb(img)
    except (ValueError, OSError) as e:
        raise ImageDecodeError(f"{name}: unsupported image mode {img.mode!r} ({e}); convert it to RGB JPEG or PNG") from None
    return orient(rgb, orientation)


#: EXIF Orientation value -> numpy operations on an (H, W, C) array (the scoring spec's ``orientation``).
_ORIENT = {
    2: lambda a: a[:, ::-1],                    # mirror left-right
    3: lambda a: a[::-1, ::-1],                 # rotate 180
    4: lambda a: a[::-1, :],                    # mirror top-bottom
    5: lambda a: a.transpose(1, 0, 2),          # transpose
    6: lambda a: np.rot90(a, k=-1),             # rotate 90 clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # transverse (anti-diagonal mirror)
    8: lambda a: np.rot90(a, k=1),              # rotate 90 counter-clockwise
}


def exif_orientation(img: Image.Image) -> int:
    """The EXIF Orientation (1-8) of an opened image, from its EXIF block only (JPEG APP1 ``Exif``,
    PNG ``eXIf``, WebP ``EXIF``); 1 when absent or unreadable. XMP and PNG text chunks are ignored,
    as the scoring spec says (Pillow's ``exif_transpose`` also reads those)."""
    raw = img.info.get("exif")
    if not raw:
        return 1
    try:
        value = Image.Exif()
        value.load(raw)
        o = int(value.get(0x0112, 1))
    except Exception:  # noqa: BLE001 - hostile or broken EXIF: keep the stored orientation
        return 1
    return o if o in _ORIENT else 1


def orient(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an ``(H, W, 3)`` array (C-contiguous result)."""
    op = _ORIENT.get(int(orientation))
    return rgb if op is None else np.ascontiguousarray(op(rgb))


def _open_and_decode(fp: object, name: str, max_pixels: int) -> np.ndarray:
    """Open a path or file object with Pillow and decode it."""
    try:
        with Image.open(fp) as img:  # type: ignore[arg-type]
            return _decode(img, name, max_pixels)
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"{name}: not a recognised image format; pass a JPEG, PNG, WebP, BMP, TIFF or GIF file"
        ) from None
    except Image.DecompressionBombError as e:
        raise ImageDecodeError(
            f"{name}: rejected as a decompression bomb ({e}); do not process untrusted files this large"
        ) from None
    except (SyntaxError, EOFError, struct.error) as e:  # header parsing errors of some plugins
        raise ImageDecodeError(f"{name}: corrupt image header ({e}); {_REUPLOAD}") from None
    except OSError as e:  # e.g. a JPEG cut off inside its header: "Truncated File Read"
        detail = " ".join(str(e).split()) or type(e).__name__
        raise ImageDecodeError(f"{name}: unreadable or truncated image ({detail}); {_REUPLOAD}") from None


def load_image(src: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image into an RGB array at its native resolution.

    Args:
        src: A file path (``str`` / ``os.PathLike``), the encoded file as ``bytes``,
            a ``PIL.Image.Image`` (possibly still lazy), or a uint8 numpy array of
            shape ``(H, W)``, ``(H, W, 3)`` (RGB) or ``(H, W, 4)`` (RGBA).
        max_pixels: Largest accepted ``width * height``; checked from the header
            before decoding.

    Returns:
        ``(H, W, 3)`` uint8 C-contiguous RGB array, EXIF orientation applied (so
        ``H``/``W`` are those of the upright image).

    Raises:
        ImageDecodeError: On a missing, empty, unreadable, truncated, corrupt,
            oversized or unsupported input. The message is one line naming the input.
    """
    name = _source_name(src)
    if isinstance(src, np.ndarray):
        return _from_array(src, name, max_pixels)
    if isinstance(src, Image.Image):
        return _decode(src, name, max_pixels)
    if isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise ImageDecodeError(f"{name}: empty input (0 bytes); pass the encoded image file contents")
        return _open_and_decode(io.BytesIO(bytes(src)), name, max_pixels)
    if isinstance(src, (str, os.PathLike)):
        path = Path(os.fspath(src))
        if not path.exists():
            raise ImageDecodeError(f"{name}: file not found; check the path")
        if path.is_dir():
            raise ImageDecodeError(f"{name}: is a directory, not an image file; pass the image files inside it")
        try:
            size = path.stat().st_size
            if size == 0:
                raise ImageDecodeError(f"{name}: empty file (0 bytes); {_REUPLOAD}")
            with open(path, "rb") as f:
                return _open_and_decode(f, name, max_pixels)
        except PermissionError:
            raise ImageDecodeError(f"{name}: permission denied; make the file readable") from None
        except ImageDecodeError:
            raise
        except OSError as e:
            raise ImageDecodeError(f"{name}: cannot read file ({e.strerror or e}); check the path and disk") from None
    raise ImageDecodeError(
        f"{name}: unsupported input type {type(src).__name__}; pass a path, bytes, PIL image or uint8 numpy array"
    )
