"""Tests for fakedamage.data.photos on the real files installed here (no mocks)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakedamage.data.photos import (
    _FINDERS,  # the finders themselves, to test the denylists before filtering
    SOURCES,
    PhotoSource,
    find_offline_photos,
    load_rgb,
    write_sources_csv,
)


@pytest.fixture(scope="module")
def photos() -> list[PhotoSource]:
    return find_offline_photos(min_side=256)


@pytest.fixture(scope="module")
def decoded(photos) -> dict[str, tuple[tuple[int, ...], np.dtype, float]]:
    """Every photo decoded once with the runtime's decoder: name -> (shape, dtype, colourfulness)."""
    out = {}
    for p in photos:
        a = load_rgb(p.path)
        b = a[::4, ::4]  # colourfulness on every 4th pixel: the full-size int arrays of 12 MP photos are slow
        out[p.name] = (a.shape, a.dtype, float(np.mean(b.max(2).astype(np.int16) - b.min(2))))
    return out


def test_catalogue(photos):
    debian = Path("/usr/share/doc/opencv-doc/examples/data").is_dir() or Path("/usr/share/backgrounds/mate/nature").is_dir()
    assert len(photos) >= (8 if debian else 5)
    names = [p.name for p in photos]
    assert names == sorted(names) and len(set(names)) == len(names)
    for p in photos:
        assert p.source in SOURCES and p.path.is_file()
        assert p.licence.strip() and p.credit.strip()
    assert {"skimage/coffee", "skimage/chelsea", "sklearn/china", "sklearn/flower"} <= set(names)
    # non-photos never listed
    assert not {"opencv/sudoku", "opencv/HappyFish", "opencv/ela_modified", "skimage/camera"} & set(names)


def test_deterministic_and_include(photos, decoded):
    assert find_offline_photos(min_side=256) == photos
    only = find_offline_photos(min_side=256, include=["scikit-learn"])
    assert [p.name for p in only] == ["sklearn/china", "sklearn/flower"]
    assert all(min(decoded[p.name][0][:2]) >= 600 for p in find_offline_photos(min_side=600))
    with pytest.raises(ValueError, match="unknown photo source"):
        find_offline_photos(include=["flickr"])


def test_load_every_photo(photos, decoded):
    for p in photos:
        shape, dtype, colour = decoded[p.name]
        assert dtype == np.uint8 and len(shape) == 3 and shape[2] == 3
        assert min(shape[:2]) >= 256
        assert colour > 5, p.name  # colour


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "CMYK"])
def test_load_modes(tmp_path, mode):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    if mode == "I;16":
        im = Image.fromarray((rng.integers(0, 65536, (20, 30))).astype(np.uint16))
    else:
        im = rgb.convert(mode)
    path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    im.save(path)
    a = load_rgb(path)
    assert a.shape == (20, 30, 3) and a.dtype == np.uint8
    if mode == "I;16":
        assert a.max() > 200  # scaled from 16 bits, not clipped to white
        assert a.min() < 60


def test_rgba_drops_alpha_like_the_runtime(tmp_path):
    im = Image.new("RGBA", (8, 6), (10, 20, 30, 0))
    im.save(tmp_path / "t.png")
    assert (load_rgb(tmp_path / "t.png") == (10, 20, 30)).all()


def test_exif_orientation(tmp_path):
    im = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    im.save(tmp_path / "o.jpg", exif=exif)
    assert load_rgb(tmp_path / "o.jpg").shape == (40, 20, 3)


def test_unreadable_raises_naming_file(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="notes.jpg"):
        load_rgb(bad)
    with pytest.raises(FileNotFoundError):
        load_rgb(tmp_path / "missing.png")


def test_write_sources_csv(tmp_path, photos):
    dest = tmp_path / "sub" / "sources.csv"
    write_sources_csv(photos[:4], dest)
    rows = list(csv.DictReader(dest.open(encoding="utf-8")))
    assert list(rows[0]) == ["name", "source", "licence", "credit", "path", "width", "height"]
    assert [r["name"] for r in rows] == [p.name for p in photos[:4]]
    for r, p in zip(rows, photos[:4]):
        h, w = load_rgb(p.path).shape[:2]
        assert (int(r["width"]), int(r["height"])) == (w, h)
    assert [f.name for f in dest.parent.iterdir()] == ["sources.csv"]  # no temp file left


# --------------------------------------------------------------------------- Debian photo packages
# One case per source added by scripts/install_offline_photos.sh: skipped (with the reason) where the
# package is not installed. Each checks what the finder lists (licence and credit on every photo) and
# that the hand-checked denylist keeps out the files that are not genuine photographs.

_PACKAGE_CASES = {
    # source: (file that the package installs, photo-name prefix, minimum number of usable photos,
    #          files that must never be listed, licence text every photo's licence contains)
    "lxqt-themes": (
        "/usr/share/lxqt/wallpapers/after-the-rain.jpg", "lxqt/", 8,
        ["/usr/share/lxqt/wallpapers/" + f for f in (
            "Butterfly-Kenneth-Wimer.jpg", "kde-plasma.png", "origami-dark.png", "plasma_arch.png",
            "waves-purple-logo.jpg", "triangles.png", "simple_blue_widescreen.png")],
        "CC-BY-SA-3.0",
    ),
    "palapeli-data": ("/usr/share/palapeli/collection/castle-maintenon.jpg", "palapeli/", 5, [], ""),
    "forensics-samples-files": (
        "/usr/share/forensics-samples/original-files/pic2/IMG_20200608_111614.jpg", "forensics/", 6,
        ["/usr/share/forensics-samples/original-files/" + f for f in (
            "pic1/debian_logo.jpg", "pic1/debian.png", "pic1/empty.jpg", "pic2/d-debian.jpg", "pic2/d-debian.png")],
        "CC-BY-SA-4.0",
    ),
    "libjxl-testdata": (
        "/usr/share/libjxl-testdata/jxl/flower/flower.png", "jxl/", 4,
        ["/usr/share/libjxl-testdata/" + f for f in (
            "jxl/flower/flower.png.im_q85_420.jpg", "jxl/flower/flower_cropped.jpg", "jxl/flower/flower_alpha.png",
            "jxl/hdr_room.png", "external/wesaturate/500px/cvo9xd_keong_macan_grayscale.png",
            "external/wesaturate/64px/vgqcws_vin_srgb8.png", "external/wide-gamut-tests/P3-sRGB-color-ring.png")],
        "",
    ),
    "libelementary-data": (
        "/usr/share/elementary/images/rock_01.jpg", "efl/", 10,
        ["/usr/share/elementary/images/" + f for f in (
            "insanely_huge_test_image.jpg", "space.png", "pol_sky.png", "earth_normal.png", "logo.png")],
        "BSD-2-clause",
    ),
    "tuxtype-data": (
        "/usr/share/tuxtype/images/kcas0.jpg", "tuxtype/", 10,
        ["/usr/share/tuxtype/images/backgrounds/0.jpg", "/usr/share/tuxtype/images/backgrounds/3.jpg",
         "/usr/share/tuxtype/images/main_bkg.png"],
        "unverified",
    ),
    "gnome-control-center-data": (
        "/usr/share/pixmaps/faces/tomatoes.jpg", "gnome-faces/", 10,
        ["/usr/share/pixmaps/faces/astronaut.jpg", "/usr/share/pixmaps/faces/legacy/astronaut.jpg",
         "/usr/share/pixmaps/faces/baseball.png"],
        "",
    ),
    "digikam-data": (
        "/usr/share/digikam/about/images/body-background.jpg", "digikam/", 1,
        ["/usr/share/digikam/about/images/top-left-digikam.png"], "GPL-2+",
    ),
    "sddm-theme-maldives": (
        "/usr/share/sddm/themes/maldives/background.jpg", "sddm/", 1,
        ["/usr/share/sddm/themes/maldives/maldives.jpg"], "CC-BY-3.0",
    ),
}


def test_every_source_has_a_case():
    assert set(_PACKAGE_CASES) == set(SOURCES) - {"scikit-image", "scikit-learn", "opencv-doc", "mate-backgrounds"}


@pytest.mark.parametrize("source", sorted(_PACKAGE_CASES))
def test_debian_package_source(source, photos):
    marker, prefix, minimum, denied, licence_part = _PACKAGE_CASES[source]
    if not Path(marker).is_file():
        pytest.skip(f"Debian package {source} not installed ({marker} missing); "
                    "scripts/install_offline_photos.sh installs it")
    mine = [p for p in photos if p.source == source]
    assert len(mine) >= minimum, [p.name for p in mine]
    for p in mine:
        assert p.name.startswith(prefix) and p.path.is_file()
        assert p.licence.strip() and p.credit.strip(), p.name
        assert licence_part in p.licence, (p.name, p.licence)
    # the denylist works on the finder's candidates, before the generic size and colour filter
    listed = {str(p.path) for p in _FINDERS[source]()}
    present = [d for d in denied if Path(d).exists()]
    assert present or not denied, f"none of the denylisted files of {source} exist: check the case"
    assert not set(present) & listed


def test_debian_package_details(photos):
    by_name = {p.name: p for p in photos}
    if "palapeli/castle-maintenon" in by_name:  # per-puzzle licence and author from the .desktop files
        assert by_name["palapeli/castle-maintenon"].licence == "FDL"
        assert "Eric Pouhier" in by_name["palapeli/castle-maintenon"].credit
        assert by_name["palapeli/citrus-fruits"].licence == "Public Domain"
    if "lxqt/after-the-rain" in by_name:
        assert "stefonarch" in by_name["lxqt/after-the-rain"].credit
    if "jxl/flower" in by_name:  # DEP-5: Files: * vs external/wesaturate/*
        assert by_name["jxl/flower"].licence == "BSD-3-clause-Google"
        assert by_name["jxl/wesaturate_bliznaca"].licence == "CC0"
    if "sddm/maldives" in by_name:
        assert "Nevit Dilmen" in by_name["sddm/maldives"].credit
    camera = [p for p in photos if p.source in ("forensics-samples-files", "digikam-data")]
    for p in camera:  # camera-resolution photos keep their EXIF camera make
        w, h = Image.open(p.path).size
        if w * h >= 8_000_000:
            assert Image.open(p.path).getexif().get(0x010F), p.name


def test_reserved_test_sources_never_listed(photos):
    # lomiri-wallpapers* and plasma-workspace-wallpapers are an independent test source
    for p in photos:
        assert "lomiri" not in str(p.path).lower() and not str(p.path).startswith("/usr/share/wallpapers/"), p.path
