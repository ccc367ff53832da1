"""Tests for fakedamage.data.damage (procedural damage masks and painting)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fakedamage.data.damage import (
    COVERAGE_BOUNDS,
    DAMAGE_TYPES,
    _stain_subtype,
    make_damage_mask,
    mask_to_uint8,
    paint_damage,
)
from fakedamage.data.prompts import PROMPTS

H = W = 256


@pytest.fixture(scope="module")
def textured() -> np.ndarray:
    rng = np.random.default_rng(123)
    return rng.integers(40, 216, (H, W, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def half() -> np.ndarray:
    """Left half flat grey, right half textured noise."""
    img = np.full((H, W, 3), 128, np.uint8)
    img[:, W // 2 :] = np.random.default_rng(7).integers(0, 256, (H, W // 2, 3), dtype=np.uint8)
    return img


@pytest.mark.parametrize("kind", DAMAGE_TYPES)
def test_deterministic(kind, textured):
    a = make_damage_mask(kind, H, W, np.random.default_rng(5), image=textured)
    b = make_damage_mask(kind, H, W, np.random.default_rng(5), image=textured)
    c = make_damage_mask(kind, H, W, np.random.default_rng(6), image=textured)
    assert a.dtype == np.float32 and a.shape == (H, W)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    pa = paint_damage(textured, a, kind, np.random.default_rng(1))
    assert np.array_equal(pa, paint_damage(textured, a, kind, np.random.default_rng(1)))


@pytest.mark.parametrize("kind", DAMAGE_TYPES)
@pytest.mark.parametrize("with_image", [True, False])
def test_coverage_bounds(kind, with_image, textured):
    lo, hi = COVERAGE_BOUNDS[kind]
    for seed in range(8):
        m = make_damage_mask(kind, H, W, np.random.default_rng(seed), image=textured if with_image else None)
        assert 0.0 <= m.min() and m.max() <= 1.0
        cov = float((m >= 0.5).mean())
        assert lo <= cov <= hi, (kind, seed, cov)
    assert lo >= 0.01 and hi <= 0.25


@pytest.mark.parametrize("kind", DAMAGE_TYPES)
def test_other_sizes(kind):
    for h, w in [(64, 96), (300, 180), (512, 512)]:
        m = make_damage_mask(kind, h, w, np.random.default_rng(0))
        assert m.shape == (h, w) and (m >= 0.5).any()


@pytest.mark.parametrize("kind", DAMAGE_TYPES)
def test_paint_changes_only_masked(kind, textured):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        m = make_damage_mask(kind, H, W, rng, image=textured)
        out = paint_damage(textured, m, kind, rng)
        assert out.dtype == np.uint8 and out.shape == textured.shape
        assert np.array_equal(out[m == 0], textured[m == 0])
        core = m >= 0.5
        changed = np.any(out != textured, axis=2)
        assert changed[core].mean() > 0.9, (kind, seed, changed[core].mean())
        diff = np.abs(out.astype(int) - textured.astype(int)).sum(axis=2)
        assert diff[core].mean() > 15, (kind, seed, diff[core].mean())


@pytest.mark.parametrize("kind", DAMAGE_TYPES)
def test_placement_prefers_texture(kind, half):
    fracs = []
    for seed in range(8):
        m = make_damage_mask(kind, H, W, np.random.default_rng(seed), image=half)
        fracs.append(m[:, W // 2 :].sum() / m.sum())
    assert np.mean(fracs) > 0.7, (kind, fracs)


def test_mask_to_uint8_and_errors(textured):
    m = np.array([[0.0, 0.49], [0.5, 1.0]], np.float32)
    assert mask_to_uint8(m).tolist() == [[0, 0], [255, 255]]
    with pytest.raises(ValueError):
        make_damage_mask("dent", H, W, np.random.default_rng(0))
    with pytest.raises(ValueError):
        paint_damage(textured, np.zeros((10, 10), np.float32), "crack", np.random.default_rng(0))


def _luma(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


@pytest.fixture(scope="module")
def flat() -> np.ndarray:
    """Mid-grey with faint sensor-like noise."""
    return np.clip(140 + np.random.default_rng(3).normal(0, 2, (H, W, 3)), 0, 255).astype(np.uint8)


def test_scuff_and_every_kind_have_prompts():
    assert "scuff" in DAMAGE_TYPES and "scuff" in COVERAGE_BOUNDS
    assert set(DAMAGE_TYPES) <= set(PROMPTS)


def test_crack_has_dark_core_and_lit_edge(flat):
    for seed in range(4):
        rng = np.random.default_rng(seed)
        m = make_damage_mask("crack", H, W, rng, image=flat)
        out = paint_damage(flat, m, "crack", rng)
        d = _luma(out) - _luma(flat)
        core, halo = m >= 0.5, (m > 0) & (m < 0.22)
        assert d[core].mean() < -40, (seed, d[core].mean())  # darkened core
        assert halo.sum() > core.sum() * 0.5  # room around the crack for its lips
        assert (d[halo] > 15).sum() >= 20 and d[halo].max() > 30, seed  # a lit lip along the crack ...
        assert (d[halo] < -10).sum() >= 20, seed  # ... and a shadowed one


def test_coffee_ring_darker_than_its_interior(flat):
    found = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        m = make_damage_mask("stain", H, W, rng, image=flat)
        if _stain_subtype(m) != "coffee":
            continue
        out = paint_damage(flat, m, "stain", rng)
        lum = _luma(out)
        core = (m >= 0.5).astype(np.uint8)
        dist = cv2.distanceTransform(core, cv2.DIST_L2, 3)
        interior = dist >= 0.5 * dist.max()
        ring = (core > 0) & (dist <= 3)  # the outer band of the stain
        assert ring.sum() > 20 and interior.sum() > 20, seed
        assert lum[ring].mean() < lum[interior].mean() - 4, (seed, lum[ring].mean(), lum[interior].mean())
        assert np.percentile(lum[ring], 10) < lum[interior].mean() - 8, seed
        assert lum[interior].mean() < _luma(flat)[interior].mean() - 3, seed  # the interior is tinted too
        found += 1
    assert found >= 3


def test_stain_subtypes_and_texture_shows_through(textured):
    seen = set()
    for seed in range(40):
        rng = np.random.default_rng(seed)
        m = make_damage_mask("stain", H, W, rng, image=textured)
        sub = _stain_subtype(m)
        seen.add(sub)
        if sub == "coffee":  # multiplicative tint: the surface texture stays visible inside the stain
            out = paint_damage(textured, m, "stain", rng)
            inside = m >= 0.5
            r = np.corrcoef(_luma(out)[inside], _luma(textured)[inside])[0, 1]
            assert r > 0.8, (seed, r)
    assert seen == {"coffee", "grease", "water"}, seen


def test_scuff_lightens_and_desaturates():
    img = np.zeros((H, W, 3), np.uint8)
    img[...] = (170, 60, 40)  # saturated, glossy-red-like
    img = np.clip(img + np.random.default_rng(0).normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        m = make_damage_mask("scuff", H, W, rng, image=img)
        out = paint_damage(img, m, "scuff", rng).astype(np.float64)
        core = m >= 0.5
        sat_in = (img.max(axis=2) - img.min(axis=2))[core].mean()
        sat_out = (out.max(axis=2) - out.min(axis=2))[core].mean()
        assert sat_out < 0.85 * sat_in, (seed, sat_in, sat_out)
        assert _luma(out)[core].mean() > _luma(img)[core].mean() + 5, seed
