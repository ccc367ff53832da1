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

More Debian packages (``scripts/install_offline_photos.sh`` installs them, about 170 MB
of downloads in all). Each was inspected by eye in its Debian 12 version; a denylist
(or, for test-data packages, a list of the originals) keeps out everything that is not
a genuine photograph: artwork, screenshots, logos, re-encodes and crops of the same
photo, composites, tone-mapped HDR, space-probe imagery.

* ``lxqt-themes``: ``/usr/share/lxqt/wallpapers`` photos (2-6 MP, most with camera
  EXIF; CC-BY-SA-3.0 per the folder's ``License`` file).
* ``palapeli-data``: KDE Palapeli's puzzle photos (Wikimedia Commons, 1-2 MP); licence,
  author and source page from each puzzle's ``.desktop`` file.
* ``forensics-samples-files``: phone and compact-camera photos, four of them straight
  from a phone at 12 MP (4000x3000) with EXIF and real sensor noise (CC-BY-SA-4.0, DEP-5).
* ``libjxl-testdata``: the JPEG XL test photo ``flower.png`` (3.4 MP, Pixel 6) and three
  CC0 wesaturate.com photos (500x500); its many re-encodes and variants are not used.
* ``libelementary-data``: EFL's test photos (JPEGs, 640 px crops; BSD-2-clause, DEP-5).
* ``tuxtype-data``: Tux Typing's landscape photos ``kcas*.jpg`` (1280x1024). Licence
  unverified: Debian's copyright file gives GPL-2/public domain for the game's images
  without itemising these photos.
* ``gnome-control-center-data``: GNOME Settings' 512x512 avatar photos (objects,
  animals, scenery); licence from the package-wide DEP-5 statement.
* ``digikam-data``: the 12 MP iPhone 7 photo behind digiKam's about page (GPL-2+,
  package-wide).
* ``sddm-theme-maldives``: the theme's background photo (4.5 MP, CC-BY-3.0, Nevit Dilmen).

Not used, on purpose: ``lomiri-wallpapers*`` and ``plasma-workspace-wallpapers`` (and
any file copied from them) are reserved as an independent test source.

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

from ..errors import UsageError
from ..runtime.image_io import DEFAULT_MAX_PIXELS, load_image
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
SOURCES: tuple[str, ...] = (
    "scikit-image",
    "scikit-learn",
    "opencv-doc",
    "mate-backgrounds",
    "lxqt-themes",
    "palapeli-data",
    "forensics-samples-files",
    "libjxl-testdata",
    "libelementary-data",
    "tuxtype-data",
    "gnome-control-center-data",
    "digikam-data",
    "sddm-theme-maldives",
)

#: Minimum mean channel spread (max - min over R, G, B, in grey levels) of a colour photo.
MIN_COLOURFULNESS = 8.0

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

OPENCV_DOC_DIR = Path("/usr/share/doc/opencv-doc")
MATE_BACKGROUNDS_DIR = Path("/usr/share/backgrounds/mate")
MATE_COPYRIGHT = Path("/usr/share/doc/mate-backgrounds/copyright")
DEBIAN_DOC_DIR = Path("/usr/share/doc")


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


# --------------------------------------------------------------------------- shared helpers (Debian packages)


def _doc_copyright(package: str) -> Path:
    return DEBIAN_DOC_DIR / package / "copyright"


def _read_dep5(package: str) -> list[dict[str, str]]:
    """Stanzas of a package's DEP-5 copyright file (empty if missing or unreadable)."""
    try:
        return _parse_dep5(_doc_copyright(package).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


def _dep5_statement(
    stanzas: list[dict[str, str]], rel: str, default_licence: str, default_holder: str
) -> tuple[str, str]:
    """(licence, holders) for ``rel`` (a path as the upstream source tree names it), with fallbacks."""
    hit = _dep5_lookup(stanzas, rel)
    licence = hit[0] if hit and hit[0] else default_licence
    holders = hit[1] if hit and hit[1] and hit[1].lower() != "none" else default_holder
    return licence, holders


def _image_files(folder: Path, suffixes: Sequence[str] = _IMAGE_SUFFIXES) -> list[Path]:
    """Regular image files (not symlinks) directly in ``folder``, sorted; empty if it is missing."""
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.iterdir()) if p.suffix.lower() in suffixes and p.is_file() and not p.is_symlink()]


# --------------------------------------------------------------------------- lxqt-themes

LXQT_WALLPAPERS_DIR = Path("/usr/share/lxqt/wallpapers")

# Stems in /usr/share/lxqt/wallpapers that are not usable photographs (inspected by eye, lxqt-themes 1.2.0).
_LXQT_DENY = frozenset(
    {
        # artwork: origami, triangles, waves, logos, gradients
        "kde-plasma", "lxqt-origami-green", "origami-bright-logo", "origami-dark", "origami-light",
        "plasma-logo-bright", "plasma-logo-dark", "plasma_arch", "simple_blue_widescreen",
        "triangles", "triangles-logo", "waves-logo", "waves-purple-logo",
        # a KDE wallpaper by Kenneth Wimer, heavily compressed (95 kB at 1920 px); KDE wallpaper sets are
        # kept out of the catalogue so that they can serve as an independent test source
        "Butterfly-Kenneth-Wimer",
    }
)
_LXQT_DENY_PATTERNS = (re.compile(r"logo|origami|triangle|waves|plasma|kde|gradient|simple_", re.I),)

# Credits from wallpapers/License (upstream): "stefonarch (standreas@riseup.net): beam, flowers, butterfly,
# fog, not-windows, appleflowers, after-the-rain, drop". The other photos are credited to the LXQt team.
_LXQT_STEFONARCH = frozenset(
    {"beam", "flowers", "butterfly", "fog", "this-is-not-windows", "appleflower", "after-the-rain", "drop"}
)
_LXQT_LICENCE = (
    "CC-BY-SA-3.0 (per /usr/share/lxqt/wallpapers/License; Debian copyright 'Files: *' says LGPL-2.1+)"
)


def _lxqt_photos() -> list[PhotoSource]:
    out = []
    for path in _image_files(LXQT_WALLPAPERS_DIR):
        stem = path.stem
        if stem in _LXQT_DENY or any(p.search(stem) for p in _LXQT_DENY_PATTERNS):
            continue
        if stem in _LXQT_STEFONARCH:
            who = "stefonarch (standreas@riseup.net)"
        else:
            who = "LXQt Project Team (photographer not named)"
        credit = f"{who}; LXQt wallpapers, see {LXQT_WALLPAPERS_DIR / 'License'}"
        out.append(PhotoSource(path, "lxqt-themes", f"lxqt/{stem}", _LXQT_LICENCE, credit))
    return out


# --------------------------------------------------------------------------- palapeli-data

PALAPELI_COLLECTION_DIR = Path("/usr/share/palapeli/collection")


def _desktop_fields(path: Path) -> dict[str, str]:
    """Unlocalised ``key=value`` fields of a .desktop file (all sections merged, first value wins)."""
    fields: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return fields
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key = key.strip()
        if sep and key and "[" not in key and not key.startswith("#"):
            fields.setdefault(key, value.strip())
    return fields


def _palapeli_photos() -> list[PhotoSource]:
    """The puzzle photos of KDE's Palapeli; licence, author and source page from each puzzle's .desktop file."""
    if not PALAPELI_COLLECTION_DIR.is_dir():
        return []
    out = []
    for desktop in sorted(PALAPELI_COLLECTION_DIR.glob("*.desktop")):
        f = _desktop_fields(desktop)
        image = f.get("Image") or f.get("Icon") or ""
        path = PALAPELI_COLLECTION_DIR / image
        if not image or path.suffix.lower() not in _IMAGE_SUFFIXES or not path.is_file():
            continue
        licence = f.get("X-KDE-PluginInfo-License") or "GPL-2+ (palapeli-data, per Debian copyright)"
        author = f.get("X-KDE-PluginInfo-Author") or "author not recorded"
        site = f.get("X-KDE-PluginInfo-Website", "")
        credit = f"{author}" + (f", {site}" if site else "") + f"; per {desktop}"
        out.append(PhotoSource(path, "palapeli-data", f"palapeli/{path.stem}", licence, credit))
    return out


# --------------------------------------------------------------------------- forensics-samples-files

FORENSICS_DIR = Path("/usr/share/forensics-samples/original-files")

# Not photographs: the Debian logo in several formats and an empty file.
_FORENSICS_DENY_PATTERNS = (re.compile(r"debian", re.I), re.compile(r"^empty$", re.I))


def _forensics_photos() -> list[PhotoSource]:
    """Phone and compact-camera photos of forensics-samples (four straight-from-phone 4000x3000, EXIF kept)."""
    stanzas = _read_dep5("forensics-samples-files")
    out = []
    for sub in ("pic1", "pic2"):
        for path in _image_files(FORENSICS_DIR / sub):
            if any(p.search(path.stem) for p in _FORENSICS_DENY_PATTERNS):
                continue
            licence, holders = _dep5_statement(
                stanzas, f"original-files/{sub}/{path.name}", "CC-BY-SA-4.0", "Joao Eriberto Mota Filho"
            )
            credit = f"(c) {holders}; forensics-samples, see {_doc_copyright('forensics-samples-files')}"
            out.append(PhotoSource(path, "forensics-samples-files", f"forensics/{path.stem}", licence, credit))
    return out


# --------------------------------------------------------------------------- libjxl-testdata

LIBJXL_TESTDATA_DIR = Path("/usr/share/libjxl-testdata")

# The package is codec test data: almost every file is a re-encode, crop, bit-depth/alpha/grey variant or
# synthetic chart. Only these originals are photographs; everything else is left out on purpose
# (flower.png.im_q85_*.jpg, flower_small.*, flower_alpha, flower_cropped, the 64 px crops and the grey/
# alpha variants of the wesaturate photos, raw.pixls 64 px crops, wide-gamut-tests, pngsuite, and
# hdr_room.png, a tone-mapped HDR rendering).
_LIBJXL_PHOTOS: dict[str, tuple[str, str]] = {
    "jxl/flower/flower.png": ("jxl/flower", "JPEG XL project test image (Google Pixel 6 photo)"),
    "external/wesaturate/500px/cvo9xd_keong_macan_srgb8.png": (
        "jxl/wesaturate_keong_macan", "wesaturate.com photographer 'keong_macan' (Nikon D7100)",
    ),
    "external/wesaturate/500px/tmshre_riaphotographs_srgb8.png": (
        "jxl/wesaturate_riaphotographs", "wesaturate.com photographer 'riaphotographs' (Nikon D700)",
    ),
    "external/wesaturate/500px/u76c0g_bliznaca_srgb8.png": (
        "jxl/wesaturate_bliznaca", "wesaturate.com photographer 'bliznaca' (Nikon D700)",
    ),
}


def _libjxl_photos() -> list[PhotoSource]:
    stanzas = _read_dep5("libjxl-testdata")
    out = []
    for rel, (name, who) in _LIBJXL_PHOTOS.items():
        path = LIBJXL_TESTDATA_DIR / rel
        if not path.is_file():
            continue
        licence, holders = _dep5_statement(stanzas, rel, "BSD-3-clause-Google", "no copyright holder stated")
        credit = f"{who}; copyright: {holders}; see {_doc_copyright('libjxl-testdata')}"
        out.append(PhotoSource(path, "libjxl-testdata", name, licence, credit))
    return out


# --------------------------------------------------------------------------- libelementary-data

ELEMENTARY_IMAGES_DIR = Path("/usr/share/elementary/images")

# Only the JPEGs of EFL's test images are photographs (the PNGs are icons, a normal map, polaroid-framed
# composites and a synthetic star field). Of the JPEGs, this one is left out: a snapshot of two public
# figures whose photographer and provenance are not recorded.
_ELEMENTARY_DENY = frozenset({"insanely_huge_test_image"})


def _elementary_photos() -> list[PhotoSource]:
    stanzas = _read_dep5("libelementary-data")
    out = []
    for path in _image_files(ELEMENTARY_IMAGES_DIR, (".jpg", ".jpeg")):
        if path.stem in _ELEMENTARY_DENY:
            continue
        licence, holders = _dep5_statement(
            stanzas, f"data/elementary/images/{path.name}", "BSD-2-clause", "Enlightenment Developers"
        )
        credit = f"(c) {holders}; EFL elementary test images, see {_doc_copyright('libelementary-data')}"
        out.append(PhotoSource(path, "libelementary-data", f"efl/{path.stem}", licence, credit))
    return out


# --------------------------------------------------------------------------- tuxtype-data

TUXTYPE_IMAGES_DIR = Path("/usr/share/tuxtype/images")

# kcas*.jpg: landscape photographs (1280x1024). The backgrounds/ folder (space-telescope and probe images)
# and the drawn game graphics are not used.
_TUXTYPE_LICENCE = (
    "GPL-2 (Tux Typing's licence per Debian copyright, which says its images are GPL or public domain; "
    "these JPEGs are not itemised there: unverified)"
)
_TUXTYPE_CREDIT = "Tux4Kids (Tux Typing game backgrounds); photographers not recorded; see {}"


def _tuxtype_photos() -> list[PhotoSource]:
    out = []
    for path in _image_files(TUXTYPE_IMAGES_DIR, (".jpg", ".jpeg")):
        if not re.fullmatch(r"kcas\d+", path.stem):
            continue
        credit = _TUXTYPE_CREDIT.format(_doc_copyright("tuxtype-data"))
        out.append(PhotoSource(path, "tuxtype-data", f"tuxtype/{path.stem}", _TUXTYPE_LICENCE, credit))
    return out


# --------------------------------------------------------------------------- gnome-control-center-data

GNOME_FACES_DIR = Path("/usr/share/pixmaps/faces")


def _gnome_faces_photos() -> list[PhotoSource]:
    """GNOME Settings' 512x512 avatar photos (objects, animals, scenery); the 96 px legacy/ set is not used."""
    stanzas = _read_dep5("gnome-control-center-data")
    out = []
    for path in _image_files(GNOME_FACES_DIR, (".jpg", ".jpeg")):  # symlinks into legacy/ are skipped
        licence, _ = _dep5_statement(stanzas, f"panels/user-accounts/data/faces/{path.name}", "GPL-2+", "")
        licence = f"{licence} (package-wide statement; the avatar photos are not itemised)"
        credit = (
            "GNOME Settings (gnome-control-center) avatar set; photographers not recorded; "
            f"see {_doc_copyright('gnome-control-center-data')}"
        )
        out.append(PhotoSource(path, "gnome-control-center-data", f"gnome-faces/{path.stem}", licence, credit))
    return out


# --------------------------------------------------------------------------- digikam-data

DIGIKAM_PHOTO = Path("/usr/share/digikam/about/images/body-background.jpg")


def _digikam_photos() -> list[PhotoSource]:
    """The background of digiKam's about page: a straight-from-phone 12 MP iPhone 7 photo (EXIF kept)."""
    if not DIGIKAM_PHOTO.is_file():
        return []
    licence = "GPL-2+ (digiKam's licence per Debian copyright; the file is not itemised)"
    credit = f"digiKam developers (photographer not recorded); see {_doc_copyright('digikam-data')}"
    return [PhotoSource(DIGIKAM_PHOTO, "digikam-data", "digikam/body-background", licence, credit)]


# --------------------------------------------------------------------------- sddm-theme-maldives

SDDM_MALDIVES_DIR = Path("/usr/share/sddm/themes/maldives")


def _sddm_maldives_photos() -> list[PhotoSource]:
    """The Maldives theme's background photo (Samsung camera, 2592x1754); maldives.jpg is a screenshot."""
    path = SDDM_MALDIVES_DIR / "background.jpg"
    if not path.is_file():
        return []
    licence, holders = _dep5_statement(
        _read_dep5("sddm-theme-maldives"), "data/themes/maldives/background.jpg", "CC-BY-3.0", "Nevit Dilmen"
    )
    credit = f"(c) {holders}; see {_doc_copyright('sddm-theme-maldives')}"
    return [PhotoSource(path, "sddm-theme-maldives", "sddm/maldives", licence, credit)]


_FINDERS: dict[str, Callable[[], list[PhotoSource]]] = {
    "scikit-image": _skimage_photos,
    "scikit-learn": _sklearn_photos,
    "opencv-doc": _opencv_photos,
    "mate-backgrounds": _mate_photos,
    "lxqt-themes": _lxqt_photos,
    "palapeli-data": _palapeli_photos,
    "forensics-samples-files": _forensics_photos,
    "libjxl-testdata": _libjxl_photos,
    "libelementary-data": _elementary_photos,
    "tuxtype-data": _tuxtype_photos,
    "gnome-control-center-data": _gnome_faces_photos,
    "digikam-data": _digikam_photos,
    "sddm-theme-maldives": _sddm_maldives_photos,
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
        raise UsageError(f"{path}: cannot read image ({e})") from None


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
        raise UsageError(f"unknown photo source(s) {unknown}; known: {list(SOURCES)}")
    photos: dict[str, PhotoSource] = {}
    for source in SOURCES:
        if source not in wanted:
            continue
        for photo in _FINDERS[source]():
            if photo.name not in photos and _is_usable(photo, min_side):
                photos[photo.name] = photo
    return [photos[n] for n in sorted(photos)]


# --------------------------------------------------------------------------- loading


def load_rgb(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
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
