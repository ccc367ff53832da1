"""TAEF2, the vendored pretrained latent decoder: architecture, weights, reconstruction quality."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from fakedamage.data.generators import create_generator, list_generators
from fakedamage.data.generators.taesd import TAEF2_WEIGHTS, load_taef2, regenerate_tiled


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(scope="module")
def model():
    return load_taef2()


def test_weights_ship_inside_the_package_with_their_licence():
    import fakedamage

    pkg = TAEF2_WEIGHTS.resolve().parents[3]
    assert pkg == __import__("pathlib").Path(fakedamage.__file__).resolve().parent
    assert TAEF2_WEIGHTS.is_file() and (TAEF2_WEIGHTS.parent / "LICENSE.taesd").is_file()
    assert "MIT License" in (TAEF2_WEIGHTS.parent / "LICENSE.taesd").read_text()


def test_latent_is_32_channels_at_one_eighth(model):
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        z = model.encoder(x)
        y = model.decoder(z)
    assert z.shape == (1, 32, 8, 12)
    assert y.shape == x.shape


def test_reconstructs_a_real_photo_above_25_db(model):
    photo = skimage.data.astronaut()  # 512 x 512 real photograph (NASA, public domain)
    out = regenerate_tiled(model, photo)
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert psnr(out, photo) >= 25.0
    assert not np.array_equal(out, photo)


def test_generator_is_registered_deterministic_and_takes_any_size():
    assert "taef2" in list_generators()
    gen = create_generator("taef2")
    assert gen.decodes_whole_image and gen.name == "taef2"
    img = np.ascontiguousarray(skimage.data.coffee()[:101, :75])  # not multiples of 8
    a = gen.regenerate(img, np.zeros(img.shape[:2], np.float32))
    b = gen.regenerate(img, np.zeros(img.shape[:2], np.float32))
    assert a.shape == img.shape and np.array_equal(a, b)
    assert psnr(a, img) > 22.0


def test_tiled_regeneration_matches_one_pass_away_from_seams(model):
    img = np.ascontiguousarray(skimage.data.astronaut()[:256, :256])
    whole = regenerate_tiled(model, img)
    tiled = regenerate_tiled(model, img, tile=128, overlap=32)
    # same network, receptive field clipped near tile edges only: nearly identical
    assert psnr(tiled, whole) > 35.0


def test_wrong_file_is_one_clear_error(tmp_path):
    from safetensors.torch import save_file

    bad = tmp_path / "bad.safetensors"
    save_file({"x": torch.zeros(1)}, str(bad))
    with pytest.raises(ValueError, match="not TAEF2 weights"):
        load_taef2(bad)
    with pytest.raises(FileNotFoundError, match="reinstall"):
        load_taef2(tmp_path / "missing.safetensors")
