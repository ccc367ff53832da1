"""Tests for fakedamage.data.damage (procedural damage masks and painting)."""

from __future__ import annotations

import numpy as np
import pytest

from fakedamage.data.damage import COVERAGE_BOUNDS, DAMAGE_TYPES, make_damage_mask, mask_to_uint8, paint_damage

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
