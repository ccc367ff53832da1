"""Catalogue of real colour photographs that ship with installed packages (no downloads).

Sources, each optional; a missing file or package is skipped, nothing is fetched:

* ``scikit-image``: the photographs in ``skimage/data`` (astronaut, cat, coffee cup,
  rocket launch, Middlebury motorcycle). Files that scikit-image fetches on demand
  with pooch are used only if already on disk.
* ``scikit-learn``: ``sklearn/datasets/images/{china,flower}.jpg`` (CC-BY-2.0, Flickr).
* ``opencv-doc``: the Debian package's ``examples/data`` folder. Only photographs: a
  hand-checked denylist removes drawings, renders, charts, text pages, logos,
  synthetic shapes, deliberately manipulated or blurred images and near-duplicates
  (stereo pairs); the generic filter below removes grayscale and small images.
* ``mate-backgrounds``: the Debian package's ``nature`` wallpapers (all photographs;
  the ``abstract`` and ``desktop`` folders are artwork and are not used). Licence and
  credit are read from the package's DEP-5 copyright file.

Every candidate must also pass a generic filter: shorter side ``>= min_side`` and
colour (mean per-pixel channel spread of a thumbnail ``>= 8`` grey levels), which
removes grayscale images even when stored as RGB.

Example:
    >>> photos = find_offline_photos(min_side=256)
    >>> image = load_rgb(photos[0].path)   # (H, W, 3) uint8 RGB
"""

from __future__ import annotations

import csv
import fnmatch
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image

from ..runtime.image_io import load_image
from ..utils.io import atomic_path

__all__ = [
    "PhotoSource",
    "SOURCES",
    "find_offline_photos",
    "load_rgb",
    "image_size",
    "write_sources_csv",
    "photos_from_dirs",
    "dhash",
    "dedupe_photos",
]

log = logging.getLogger(__name__)

#: Source names accepted by :func:`find_offline_photos` (``include``).
SOURCES: tuple[str, ...] = ("scikit-image", "scikit-learn", "opencv-doc", "mate-backgrounds")

#: Minimum mean channel spread (max - min over R, G, B, in grey levels) of a colour photo.
MIN_COLOURFULNESS = 8.0

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

OPENCV_DOC_DIR = Path("/usr/share/doc/opencv-doc")
MATE_BACKGROUNDS_DIR = Path("/usr/share/backgrounds/mate")
MATE_COPYRIGHT = Path("/usr/share/doc/mate-backgrounds/copyright")


@dataclass(frozen=True)
class PhotoSource:
    """One real photograph available offline.

    Attributes:
        path: Absolute path of the image file.
        source: Where it comes from: one of :data:`SOURCES`.
        name: Unique, stable id such as ``"skimage/coffee"``.
        licence: Short licence statement, e.g. ``"CC0"`` or ``"CC-BY-2.0"``.
        credit: Photographer / rights holder and where the statement was found.
    """

    path: Path
    source: str
    name: str
    licence: str
    credit: str


# --------------------------------------------------------------------------- scikit-image

# file -> (name, licence, credit); statements from the docstrings of skimage.data.
_SKIMAGE_PHOTOS: dict[str, tuple[str, str, str]] = {
    "astronaut.png": (
        "skimage/astronaut",
        "public domain (NASA)",
        "NASA Great Images database (Eileen Collins); 'No known copyright restrictions' per skimage.data.astronaut",
    ),
    "chelsea.png": ("skimage/chelsea", "CC0", "Stefan van der Walt (photographer), per skimage.data.chelsea"),
    "coffee.png": (
        "skimage/coffee",
        "CC0",
        "Rachel Michetti (photographer), courtesy of Pikolo Espresso Bar, per skimage.data.coffee",
    ),
    "rocket.jpg": (
        "skimage/rocket",
        "public domain (SpaceX)",
        "SpaceX Photos on Flickr (DSCOVR launch), released into the public domain, per skimage.data.rocket",
    ),
    "motorcycle_left.png": (
        "skimage/motorcycle_left",
        "unspecified; Middlebury 2014 stereo dataset, redistributed by scikit-image",
        "N. Nesic, P. Westling, X. Wang, Y. Kitajima, G. Krathwohl, D. Scharstein (Middlebury College), "
        "per skimage.data.stereo_motorcycle",
    ),
}
# Not used: motorcycle_right (near-duplicate of the left view), hubble_deep_field (space,
# nearly grayscale), retina/ihc (medical/microscopy), color/logo/horse/phantom/chessboard
# (synthetic or drawings); brick/grass/gravel/camera/coins/moon/... are grayscale.


def _skimage_photos() -> list[PhotoSource]:
    try:
        import skimage.data
    except Exception:  # pragma: no cover - scikit-image is a dependency
        return []
    folder = Path(os.path.dirname(skimage.data.__file__))
    out = []
    for fname, (name, licence, credit) in _SKIMAGE_PHOTOS.items():
        path = folder / fname
        if path.is_file():
            out.append(PhotoSource(path, "scikit-image", name, licence, credit))
    return out


# --------------------------------------------------------------------------- scikit-learn

# Statements from sklearn/datasets/images/README.txt; flower.jpg's README line names
# danielbuechele but its Flickr URL (and the photo) belong to user vultilion.
_SKLEARN_PHOTOS: dict[str, tuple[str, str, str]] = {
    "china.jpg": (
        "sklearn/china",
        "CC-BY-2.0 (danielbuechele, Flickr)",
        "danielbuechele, https://www.flickr.com/photos/danielbuechele/6061409035/ ; "
        "per sklearn/datasets/images/README.txt",
    ),
    "flower.jpg": (
        "sklearn/flower",
        "CC-BY-2.0 (vultilion, Flickr)",
        "vultilion, https://www.flickr.com/photos/vultilion/6056698931/ ; "
        "per sklearn/datasets/images/README.txt (its attribution line says danielbuechele, the URL vultilion)",
    ),
}


def _sklearn_photos() -> list[PhotoSource]:
    try:
        import sklearn
    except Exception:
        return []
    folder = Path(os.path.dirname(sklearn.__file__)) / "datasets" / "images"
    out = []
    for fname, (name, licence, credit) in _SKLEARN_PHOTOS.items():
        path = folder / fname
        if path.is_file():
            out.append(PhotoSource(path, "scikit-learn", name, licence, credit))
    return out


# --------------------------------------------------------------------------- opencv-doc

# Stems in examples/data that are not usable photographs (inspected by eye, OpenCV 4.6).
_OPENCV_DENY = frozenset(
    {
        # drawings, renders, paintings, charts, synthetic shapes
        "HappyFish", "Blender_Suzanne1", "Blender_Suzanne2", "starry_night", "ml", "cards",
        "detect_blob", "pic1", "pic2", "pic3", "pic4", "pic5", "pic6", "pca_test1", "gradient",
        "ellipses", "blox", "chessboard", "digits", "mask", "templ", "tmpl", "aloeGT",
        # logos and text
        "LinuxLogo", "WindowsLogo", "opencv-logo", "opencv-logo-white", "sudoku", "notes",
        "imageTextN", "imageTextR", "text_defocus", "text_motion",
        # manipulated or synthetically degraded (would be label noise for a forgery detector)
        "ela_modified", "licenseplate_motion",
        # near-duplicates: second view of a stereo/optical-flow/homography pair
        "aloeR", "right", "leuvenB", "rubberwhale2", "graf3", "basketball2",
        # press photo of an identifiable person, provenance unclear
        "messi5",
    }
)
_OPENCV_DENY_PATTERNS = (re.compile(r"^(left|right)\d+$"), re.compile(r"logo|text|chess|digit|mask|templ", re.I))

_OPENCV_LICENCE = "Apache-2.0 AND BSD-3-Clause (OpenCV, per Debian copyright 'Files: *')"
_OPENCV_CREDIT = (
    "OpenCV samples/data (Intel, Willow Garage, OpenCV Foundation and contributors); photographers "
    "not recorded; see /usr/share/doc/opencv-doc/copyright"
)


def _opencv_photos() -> list[PhotoSource]:
    folder = OPENCV_DOC_DIR / "examples" / "data"
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir()):
        # Compressed (.gz) samples are skipped: decoding them needs a temporary copy.
        if path.suffix.lower() not in _IMAGE_SUFFIXES or not path.is_file():
            continue
        stem = path.stem
        if stem in _OPENCV_DENY or any(p.search(stem) for p in _OPENCV_DENY_PATTERNS):
            continue
        out.append(PhotoSource(path, "opencv-doc", f"opencv/{stem}", _OPENCV_LICENCE, _OPENCV_CREDIT))
    return out


# --------------------------------------------------------------------------- mate-backgrounds


def _parse_dep5(text: str) -> list[dict[str, str]]:
    """Split a DEP-5 (machine-readable debian/copyright) file into stanzas of fields."""
    stanzas: list[dict[str, str]] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if not line.strip():
                continue
            if line[0] in " \t" and key is not None:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip()
                fields[key] = value.strip()
        if fields:
            stanzas.append(fields)
    return stanzas


def _dep5_lookup(stanzas: list[dict[str, str]], rel: str) -> tuple[str, str] | None:
    """(licence, copyright) of the last stanza whose ``Files`` globs match ``rel``."""
    found = None
    for st in stanzas:
        if "Files" not in st:
            continue
        if any(fnmatch.fnmatchcase(rel, pat) for pat in st["Files"].split()):
            found = st
    if found is None:
        return None
    licence = found.get("License", "").splitlines()[0].strip() if found.get("License") else ""
    holders = []
    for line in found.get("Copyright", "").splitlines():
        line = re.sub(r"<[^>]*>", "", line).replace('"', "").strip().strip("´'` ").strip()
        if line:
            holders.append(re.sub(r"\s+", " ", line))
    return licence, "; ".join(holders)


def _mate_photos() -> list[PhotoSource]:
    folder = MATE_BACKGROUNDS_DIR / "nature"
    if not folder.is_dir():
        return []
    try:
        stanzas = _parse_dep5(MATE_COPYRIGHT.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        stanzas = []
    out = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in _IMAGE_SUFFIXES or not path.is_file():
            continue
        rel = f"nature/{path.name}"
        hit = _dep5_lookup(stanzas, rel)
        licence = hit[0] if hit and hit[0] else "GPL-2+"
        holders = hit[1] if hit and hit[1] else "MATE Backgrounds authors"
        credit = f"(c) {holders}; MATE Backgrounds, see {MATE_COPYRIGHT}"
        out.append(PhotoSource(path, "mate-backgrounds", f"mate/{path.stem}", licence, credit))
    return out


_FINDERS: dict[str, Callable[[], list[PhotoSource]]] = {
    "scikit-image": _skimage_photos,
    "scikit-learn": _sklearn_photos,
    "opencv-doc": _opencv_photos,
    "mate-backgrounds": _mate_photos,
}


# --------------------------------------------------------------------------- filtering


def _oriented_size(im: Image.Image) -> tuple[int, int]:
    w, h = im.size
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """Width and height of an image after EXIF orientation, read from the header only.

    Args:
        path: Image file.

    Returns:
        ``(width, height)`` in pixels.

    Raises:
        ValueError: The file is not a readable image.
    """
    try:
        with Image.open(path) as im:
            return _oriented_size(im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: cannot read image ({e})") from None


def _colourfulness(path: Path) -> float:
    """Mean per-pixel channel spread (grey levels) of a small thumbnail; 0 for grayscale."""
    with Image.open(path) as im:
        if im.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"):
            return 0.0
        im.draft("RGB", (256, 256))  # fast JPEG decode at reduced scale
        thumb = im.convert("RGB").resize((96, 96), Image.Resampling.BILINEAR)
    a = np.asarray(thumb, dtype=np.int16)
    return float(np.mean(a.max(axis=2) - a.min(axis=2)))


def _is_usable(photo: PhotoSource, min_side: int) -> bool:
    try:
        w, h = image_size(photo.path)
        if min(w, h) < min_side:
            return False
        return _colourfulness(photo.path) >= MIN_COLOURFULNESS
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        # unreadable file in a system folder: skip, do not fail the catalogue
        log.warning("skipping %s: %s", photo.path, e)
        return False


def find_offline_photos(min_side: int = 256, include: Sequence[str] | None = None) -> list[PhotoSource]:
    """Real colour photographs already on disk, sorted by name.

    Nothing is downloaded; sources whose package is not installed contribute nothing.

    Args:
        min_side: Minimum shorter side in pixels (after EXIF orientation).
        include: Source names to use (see :data:`SOURCES`); ``None`` means all.

    Returns:
        The photos, sorted by :attr:`PhotoSource.name` (unique), deterministic for a
        given set of installed files.

    Raises:
        ValueError: ``include`` names an unknown source.
    """
    wanted: Iterable[str] = SOURCES if include is None else list(include)
    unknown = [s for s in wanted if s not in _FINDERS]
    if unknown:
        raise ValueError(f"unknown photo source(s) {unknown}; known: {list(SOURCES)}")
    photos: dict[str, PhotoSource] = {}
    for source in SOURCES:
        if source not in wanted:
            continue
        for photo in _FINDERS[source]():
            if photo.name not in photos and _is_usable(photo, min_side):
                photos[photo.name] = photo
    return [photos[n] for n in sorted(photos)]


# --------------------------------------------------------------------------- loading


def load_rgb(path: str | os.PathLike, max_pixels: int = 200_000_000) -> np.ndarray:
    """Decode a photo to ``(H, W, 3)`` uint8 RGB with the runtime's decoder.

    Training data and the deployed :class:`~fakedamage.Detector` decode through the
    same function (:func:`fakedamage.runtime.image_io.load_image`: EXIF orientation,
    every mode converted, alpha dropped, first frame of animations), so the model
    is trained on the pixels it will see.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: The file is not a decodable image (message names it).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such image file")
    return load_image(p, max_pixels=max_pixels)


def photos_from_dirs(dirs: Sequence[str | os.PathLike], min_side: int = 256) -> tuple[list[PhotoSource], list[str]]:
    """Your own real photos: every image file under ``dirs`` (recursive, hidden entries skipped).

    Unreadable files and photos whose shorter side is below ``min_side`` are skipped
    and reported. A ``LICENSE``/``LICENCE`` file in a folder is recorded as the
    licence of its photos; otherwise the licence is ``unknown (user folder)``.

    Returns:
        The photos (named ``user/<folder>/<relative path>``) and one line per skipped file.
    """
    photos: list[PhotoSource] = []
    skipped: list[str] = []
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: photo folder not found; fix data.photos.dirs")
        lic = next((f for f in (root / "LICENSE", root / "LICENCE", root / "LICENSE.txt") if f.is_file()), None)
        licence = f"see {lic}" if lic else "unknown (user folder)"
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if path.suffix.lower() not in _IMAGE_SUFFIXES or any(p.startswith(".") for p in rel.parts):
                continue
            try:
                w, h = image_size(path)
            except ValueError as e:
                skipped.append(str(e))
                continue
            if min(w, h) < min_side:
                skipped.append(f"{path}: {w}x{h} is smaller than min_side={min_side}")
                continue
            photos.append(PhotoSource(path=path.resolve(), source=f"folder:{root}", name=f"user/{root.name}/{rel.as_posix()}",
                                      licence=licence, credit=str(root)))
    return photos, skipped


def dhash(path: str | os.PathLike, size: int = 8) -> int:
    """64-bit difference hash of a photo (robust to resizing and re-encoding)."""
    with Image.open(path) as im:
        im.draft("L", (size * 8, size * 8))
        g = np.asarray(im.convert("L").resize((size + 1, size), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (g[:, 1:] > g[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def dedupe_photos(photos: Sequence[PhotoSource], max_distance: int = 4) -> tuple[list[PhotoSource], list[str]]:
    """Drop near-duplicate photos (dHash Hamming distance <= ``max_distance``), keeping the first by name.

    Returns:
        The kept photos and one line per dropped photo naming what it duplicates.
    """
    kept: list[PhotoSource] = []
    hashes: list[int] = []
    dropped: list[str] = []
    for p in sorted(photos, key=lambda p: p.name):
        h = dhash(p.path)
        twin = next((k for k, hk in zip(kept, hashes) if bin(h ^ hk).count("1") <= max_distance), None)
        if twin is not None:
            dropped.append(f"{p.name} (near-duplicate of {twin.name})")
            continue
        kept.append(p)
        hashes.append(h)
    return kept, dropped


# --------------------------------------------------------------------------- csv

CSV_COLUMNS = ("name", "source", "licence", "credit", "path", "width", "height")


def write_sources_csv(photos: Sequence[PhotoSource], path: str | os.PathLike) -> Path:
    """Write the photo catalogue as CSV, atomically (temp file in the same folder, then ``os.replace``).

    Columns: ``name,source,licence,credit,path,width,height`` (size after EXIF orientation).

    Args:
        photos: Photos to list, written in the given order.
        path: Destination ``.csv``; its folder is created if missing.

    Returns:
        The destination path.

    Raises:
        ValueError: A photo's file is not a readable image.
    """
    dest = Path(path)
    with atomic_path(dest, suffix=".tmp") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for ph in photos:
                w, h = image_size(ph.path)
                writer.writerow([ph.name, ph.source, ph.licence, ph.credit, str(ph.path), w, h])
    return dest
