"""Tests for fakedamage.data.photos on the real files installed here (no mocks)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakedamage.data.photos import SOURCES, PhotoSource, find_offline_photos, load_rgb, write_sources_csv


@pytest.fixture(scope="module")
def photos() -> list[PhotoSource]:
    return find_offline_photos(min_side=256)


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


def test_deterministic_and_include(photos):
    assert find_offline_photos(min_side=256) == photos
    only = find_offline_photos(min_side=256, include=["scikit-learn"])
    assert [p.name for p in only] == ["sklearn/china", "sklearn/flower"]
    assert all(min(load_rgb(p.path).shape[:2]) >= 600 for p in find_offline_photos(min_side=600))
    with pytest.raises(ValueError, match="unknown photo source"):
        find_offline_photos(include=["flickr"])


def test_load_every_photo(photos):
    for p in photos:
        a = load_rgb(p.path)
        assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
        assert min(a.shape[:2]) >= 256
        assert float(np.mean(a.max(2).astype(int) - a.min(2))) > 5, p.name  # colour


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
