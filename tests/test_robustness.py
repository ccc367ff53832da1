"""Each laundering condition changes the image as its name says (and the mask with it)."""

import io

import numpy as np
import pytest
import skimage.data
from PIL import Image

from fakedamage.robustness import CONDITIONS, get_condition


@pytest.fixture(scope="module")
def photo():
    return skimage.data.astronaut()[:256, :256].copy()


def _mask():
    m = np.zeros((256, 256), bool)
    m[100:140, 60:120] = True
    return m


def test_jpeg_and_webp_are_lossy_and_stronger_at_lower_quality(photo):
    err = {q: np.abs(get_condition(f"jpeg{q}").image(photo).astype(int) - photo).mean() for q in (95, 75, 50)}
    assert 0 < err[95] < err[75] < err[50]
    w = get_condition("webp80").image(photo)
    assert w.shape == photo.shape and np.abs(w.astype(int) - photo).mean() > 0


@pytest.mark.parametrize("name,factor", [("rescale0.5", 0.5), ("rescale0.75", 0.75), ("rescale1.5", 1.5),
                                         ("screenshot", 0.8), ("crop0.75", 0.75)])
def test_geometric_conditions_change_size_and_move_the_mask(photo, name, factor):
    img, mask = get_condition(name).apply(photo, _mask())
    assert img.shape[:2] == (round(256 * factor), round(256 * factor)) == mask.shape
    assert mask.dtype == bool and mask.any()
    # the region keeps its share of the image (nearest resampling / same crop)
    if name.startswith(("rescale", "screenshot")):
        assert mask.mean() == pytest.approx(_mask().mean(), rel=0.1)


def test_blur_removes_high_frequencies_and_noise_adds_them(photo):
    def hf(im):
        g = im.astype(float).mean(axis=2)
        return np.abs(np.diff(g, axis=1)).mean()

    assert hf(get_condition("blur1.0").image(photo)) < 0.8 * hf(photo)
    noisy = get_condition("noise0.02").image(photo)
    assert hf(noisy) > hf(photo)
    assert np.array_equal(noisy, get_condition("noise0.02").image(photo))  # deterministic


def test_screenshot_is_lossless_after_its_resampling(photo):
    out = get_condition("screenshot").image(photo)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="PNG")
    assert np.array_equal(np.asarray(Image.open(buf)), out)


def test_none_is_identity_and_unknown_names_are_refused(photo):
    assert np.array_equal(CONDITIONS["none"].image(photo), photo)
    with pytest.raises(ValueError, match="did you mean .*jpeg75"):
        get_condition("jpeg57")
