"""Decoder zoo: LDM-style VAE, LaMa-like inpainter, zoo losses, generators, packaged weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fakedamage.data.generators.base import create_generator, list_generators
from fakedamage.data.generators.inpainter import (
    InpainterConfig,
    InpainterGenerator,
    LaMaInpainter,
    degrade_guide,
    inpainter_input,
)
from fakedamage.data.generators.ldm import UPSAMPLERS, LDMAutoencoder, LDMConfig, LDMGenerator, _spans, run_tiled
from fakedamage.data.generators.zoo import (
    MEMBERS,
    list_zoo,
    load_zoo_member,
    member_path,
    read_zoo_metadata,
    save_zoo_weights,
)
from fakedamage.data.generators.zoo_losses import NLayerDiscriminator, PerceptualLoss, adaptive_weight, hinge_d_loss

TINY = dict(channels=(8, 8, 16, 16), groups=4)


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 60 * np.sin(xx / 7.0), 128 + 60 * np.cos(yy / 5.0), 100 + 0.2 * (xx + yy)], axis=-1)
    return np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("upsampler", UPSAMPLERS)
@pytest.mark.parametrize("latent", [4, 16])
def test_ldm_shapes_and_8x_latent(upsampler, latent):
    torch.manual_seed(0)
    m = LDMAutoencoder(LDMConfig(latent_channels=latent, upsampler=upsampler, **TINY))
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        mean, logvar = m.encode(x)
    assert mean.shape == logvar.shape == (2, latent, 4, 6)
    assert m.cfg.factor == 8
    assert float(logvar.min()) >= -30 and float(logvar.max()) <= 20
    with torch.no_grad():
        y, mu, lv = m(x, sample=True)
        y0, _, _ = m(x, sample=False)
    assert y.shape == x.shape and mu.shape == mean.shape
    assert torch.allclose(y0, m.decode(mean).detach(), atol=1e-6)
    assert m.kl(mean, logvar).shape == (2,)


@pytest.mark.parametrize("upsampler", UPSAMPLERS)
def test_ldm_near_identity_init_is_a_box_autoencoder(upsampler):
    """The untrained model reproduces an image that is constant on the 8x8 latent grid, colour included."""
    torch.manual_seed(0)
    m = LDMAutoencoder(LDMConfig(latent_channels=4, upsampler=upsampler, channels=(12, 12, 24, 24), groups=3))
    m.init_near_identity_(noise=0.0)
    x = torch.nn.functional.interpolate(torch.rand(2, 3, 3, 5) * 2 - 1, scale_factor=8, mode="nearest")
    with torch.no_grad():
        y, _, logvar = m(x, sample=True)
    assert float((y - x).abs().max()) < 0.02
    assert float(logvar.max()) < -10
    with pytest.raises(ValueError, match="near-identity"):
        LDMAutoencoder(LDMConfig(channels=(8, 8, 16, 16), groups=4)).init_near_identity_()


def test_ldm_config_validation():
    with pytest.raises(ValueError, match="upsampler"):
        LDMConfig(upsampler="bicubic")
    with pytest.raises(ValueError, match="groups"):
        LDMConfig(channels=(12, 16, 16, 16), groups=8)
    assert LDMConfig(channels=[8, 8, 16, 16], groups=4).channels == (8, 8, 16, 16)


def test_inpainter_shapes_and_composite_outside_hole():
    torch.manual_seed(0)
    m = LaMaInpainter(InpainterConfig(channels=8, blocks=2)).eval()
    img = torch.rand(2, 3, 32, 40)
    hole = torch.zeros(2, 1, 32, 40)
    hole[:, :, 8:20, 10:30] = 1
    assert inpainter_input(img, hole, None).shape == (2, 8, 32, 40)
    with torch.no_grad():
        out = m.inpaint(img, hole, img * hole, torch.tensor([1.0, 0.0]))
    assert out.shape == img.shape
    assert torch.equal(out[hole.expand_as(out) == 0], img[hole.expand_as(img) == 0])


def test_inpainter_near_identity_init_follows_the_guide():
    torch.manual_seed(0)
    m = LaMaInpainter(InpainterConfig(channels=8, blocks=1)).init_near_identity_(noise=0.0).train()  # batch statistics
    img = torch.nn.functional.interpolate(torch.rand(2, 3, 4, 5) * 0.6 + 0.2, scale_factor=8, mode="nearest")
    hole = torch.zeros(2, 1, 32, 40)
    hole[:, :, 8:24, 8:32] = 1
    with torch.no_grad():
        guided = m.inpaint(img, hole, img * hole, 1.0)
        erased = m.inpaint(img, hole, None)
    err_g = float(((guided - img) ** 2 * hole).sum() / hole.sum())
    err_e = float(((erased - img) ** 2 * hole).sum() / hole.sum())
    assert err_g < 0.25 * err_e


def _tiny_losses():
    torch.manual_seed(0)
    return PerceptualLoss(None, stages=(0, 1)), NLayerDiscriminator(ndf=8, n_layers=3)


def test_ldm_loss_runs_and_decreases():
    perc, disc = _tiny_losses()
    torch.manual_seed(0)
    m = LDMAutoencoder(LDMConfig(latent_channels=16, **TINY))
    opt = torch.optim.Adam(m.parameters(), lr=2e-3, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.5, 0.9))
    x = torch.from_numpy(_image(32, 32)).permute(2, 0, 1)[None].float().div(127.5).sub(1).repeat(2, 1, 1, 1)
    losses = []
    for step in range(25):
        rec, mean, logvar = m(x, sample=True)
        rec_loss = (rec - x).abs().mean() + perc((x + 1) / 2, (rec + 1) / 2)
        loss = rec_loss + 1e-6 * (m.kl(mean, logvar) / (3 * 32 * 32)).mean()
        if step >= 20:  # the GAN term, with LDM's adaptive weight
            g = -disc(rec).mean()
            w = adaptive_weight(rec_loss, g, m.last_layer)
            assert torch.isfinite(w) and float(w) >= 0
            loss = loss + w * g
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= 20:
            d = hinge_d_loss(disc(x), disc(rec.detach()))
            opt_d.zero_grad()
            d.backward()
            opt_d.step()
            assert torch.isfinite(d)
        losses.append(float(rec_loss.detach()))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])


def test_inpainter_loss_step_decreases():
    from fakedamage.data.generators.zoo_train import TrainSettings, _loss_step, inpaint_batch

    perc, disc = _tiny_losses()
    torch.manual_seed(0)
    m = LaMaInpainter(InpainterConfig(channels=8, blocks=1))
    crops = np.stack([_image(32, 32, s) for s in range(2)])
    batch = inpaint_batch(crops, np.random.default_rng(0))
    assert set(batch) == {"target", "hole", "guide", "guide_on"} and batch["hole"].sum() > 0
    s = TrainSettings(name="inpainter")
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = last = None
    for step in range(12):
        loss, logs, _ = _loss_step(m, disc, perc, "inpainter", batch, s, use_disc=step >= 10)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else logs["l1"]
        last = logs["l1"]
    assert last < first


def test_ldm_generator_any_size_deterministic_and_tiled():
    torch.manual_seed(0)
    m = LDMAutoencoder(LDMConfig(latent_channels=4, **TINY))
    gen = LDMGenerator(model=m, sample=True, tile=48)
    assert gen.decodes_whole_image and gen.name == "ldm-c4-nearest"
    img = _image(37, 101)
    mask = np.zeros(img.shape[:2], np.float32)
    a = gen.regenerate(img, mask, seed=3)
    assert a.shape == img.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, gen.regenerate(img, mask, seed=3))
    assert not np.array_equal(a, gen.regenerate(img, mask, seed=4))  # the posterior sample follows the seed
    mode = LDMGenerator(model=m, sample=False)
    np.testing.assert_array_equal(mode.regenerate(img, mask, seed=1), mode.regenerate(img, mask, seed=2))
    tiny = _image(5, 9)
    assert mode.regenerate(tiny, np.zeros((5, 9), np.float32)).shape == (5, 9, 3)


def test_tiling_covers_every_pixel_once():
    for n in (7, 64, 100, 1000, 2050):
        spans = _spans(n, 256, 32, 8)
        kept = np.zeros(n, int)
        for r0, r1, k0, k1 in spans:
            assert r0 <= k0 < k1 <= r1 and r0 % 8 == 0
            kept[k0:k1] += 1
        assert (kept == 1).all()
    x = torch.rand(1, 3, 80, 72)
    np.testing.assert_array_equal(run_tiled(lambda t: t * 2, x, tile=32, margin=8).numpy(), (x * 2).numpy())


@pytest.mark.parametrize("mode", ["guided", "erase", "mixed"])
def test_inpainter_changes_only_hole_pixels(mode):
    from fakedamage.data.damage import make_damage_mask, paint_damage

    torch.manual_seed(0)
    m = LaMaInpainter(InpainterConfig(channels=8, blocks=1))
    gen = InpainterGenerator(model=m, mode=mode, margin=16, tile=64)
    assert not gen.decodes_whole_image and gen.name == f"inpainter-{mode}"
    img = _image(83, 130)
    rng = np.random.default_rng(1)
    mask = make_damage_mask("scratch", 83, 130, rng, image=img)
    painted = paint_damage(img, mask, "scratch", rng)
    out = gen.regenerate(painted, mask, seed=5)
    assert out.shape == painted.shape and out.dtype == np.uint8
    outside = mask <= 0
    np.testing.assert_array_equal(out[outside], painted[outside])  # byte-identical outside the hole
    assert not np.array_equal(out[~outside], painted[~outside])
    np.testing.assert_array_equal(out, gen.regenerate(painted, mask, seed=5))
    np.testing.assert_array_equal(gen.regenerate(painted, np.zeros_like(mask)), painted)


def test_degrade_guide_is_zero_outside_hole():
    img = _image(40, 40)
    hole = np.zeros((40, 40), np.float32)
    hole[10:20, 5:30] = 1
    for seed in range(4):
        g = degrade_guide(img, hole, np.random.default_rng(seed))
        assert g.dtype == np.float32 and g.shape == (40, 40, 3)
        assert (g[hole == 0] == 0).all() and g[hole == 1].max() <= 1.0


def test_registered_and_weights_roundtrip(tmp_path):
    assert {"ldm", "inpainter"} <= set(list_generators())
    torch.manual_seed(0)
    m = LDMAutoencoder(LDMConfig(latent_channels=16, upsampler="pixelshuffle", **TINY))
    path = save_zoo_weights(m, tmp_path / "ldm-x.safetensors", "ldm", "ldm-x", {"gates": {"passed": False}})
    meta = read_zoo_metadata(path)
    assert meta["kind"] == "ldm" and meta["config"]["upsampler"] == "pixelshuffle"
    assert json.loads((tmp_path / "ldm-x.json").read_text())["name"] == "ldm-x"
    gen = create_generator("ldm", weights=str(path))
    img = _image(24, 40)
    np.testing.assert_array_equal(gen.regenerate(img, None), LDMGenerator(model=m).regenerate(img, None))
    with pytest.raises(ValueError, match="expected 'inpainter'"):
        create_generator("inpainter", weights=str(path))
    with pytest.raises(FileNotFoundError, match="train_zoo.py"):
        create_generator("ldm", weights="no-such-member")


def test_list_zoo_names_every_member():
    rows = list_zoo()
    assert [r["name"] for r in rows] == list(MEMBERS)
    assert {r["kind"] for r in rows} == {"ldm", "inpainter"}


SHIPPED = [n for n in MEMBERS if member_path(n).is_file()]


def test_zoo_readme_tells_which_members_ship_and_pass():
    """The packaged README lists every member; untrained ones are marked so, gate failures say FAIL."""
    from fakedamage.data.generators.zoo_train import gates

    readme = (member_path(next(iter(MEMBERS))).parent / "README.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in readme.splitlines() if line.startswith("| ") and "---" not in line}
    for name in MEMBERS:
        assert name in rows, f"{name} missing from the zoo README"
        if name not in SHIPPED:
            assert "not trained" in rows[name]
            continue
        rec = read_zoo_metadata(member_path(name))["record"]
        g = gates({k: v["value"] for k, v in rec["gates"].items() if k != "passed"})
        assert g["passed"] == rec["gates"]["passed"]
        assert ("pass" if g["passed"] else "FAIL") in rows[name]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_and_keep_their_record(name):
    path = member_path(name)
    meta = read_zoo_metadata(path)
    rec = meta["record"]
    assert meta["name"] == name and meta["kind"] == MEMBERS[name].kind
    assert set(rec["gates"]) >= {"passed"}
    assert not set(rec["train_photos"]) & set(rec["heldout_photos"])
    gen = load_zoo_member(name)
    img = _image(45, 70)
    mask = np.zeros(img.shape[:2], np.float32)
    mask[10:20, 10:40] = 1
    out = gen.regenerate(img, mask, seed=0)
    assert out.shape == img.shape and out.dtype == np.uint8


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_member_gates_remeasure_close_to_the_record(name):
    """The stored gate figures are what the shipped weights give: re-measured on real photo crops
    (scikit-image photos, 256 px, native resolution) they land near the record, and the gate
    verdicts the README prints follow from them."""
    import skimage.data

    from fakedamage.data.generators.zoo_train import gates, measure_inpainter, measure_ldm

    gen = load_zoo_member(name)
    crops = [(n, getattr(skimage.data, n)()[:256, :256]) for n in ("astronaut", "coffee", "chelsea", "rocket")]
    measured = (measure_ldm if MEMBERS[name].kind == "ldm" else measure_inpainter)(gen.model, crops)
    rec = read_zoo_metadata(member_path(name))["record"]["gates"]
    m = measured["metrics"]
    assert measured["gates"] == gates(m)
    assert abs(m["psnr_db"] - rec["psnr_db"]["value"]) < 5.0, (m, rec)
    assert abs(m["hf_ratio"] - rec["hf_ratio"]["value"]) < 0.35, (m, rec)


def test_zoo_generators_take_exactly_one_of_weights_or_model():
    ldm = LDMAutoencoder(LDMConfig(channels=(8, 8, 8, 8), latent_channels=4, groups=4))
    with pytest.raises(ValueError, match="exactly one of weights= or model="):
        LDMGenerator()
    with pytest.raises(ValueError, match="not a LDMAutoencoder"):
        LDMGenerator(model=torch.nn.Identity())
    with pytest.raises(ValueError, match="not a LaMaInpainter"):
        InpainterGenerator(model=ldm)
    assert LDMGenerator(model=ldm).model is ldm


def test_band_energy_loss_is_zero_on_the_reference_and_pushes_blur_towards_detail():
    import cv2
    from skimage import data

    from fakedamage.data.generators.zoo_losses import band_energy_loss

    img = data.astronaut()[:128, :128]
    ref = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    blurred = torch.from_numpy(cv2.GaussianBlur(img, (0, 0), 1.2)).permute(2, 0, 1)[None].float() / 255
    assert float(band_energy_loss(ref, ref)) == pytest.approx(0.0, abs=1e-6)
    out = blurred.clone().requires_grad_(True)
    loss = band_energy_loss(out, ref)
    assert float(loss) > 0.3  # a 1.2 px blur loses most of the finest band
    loss.backward()
    stepped = (out - 0.5 * out.grad / out.grad.abs().max()).detach()  # one step down the gradient
    assert float(band_energy_loss(stepped, ref)) < float(loss)
    hole = torch.zeros(1, 1, 128, 128)
    hole[..., 32:96, 32:96] = 1
    assert float(band_energy_loss(blurred, ref, hole)) > 0.3  # weighted by the hole only
