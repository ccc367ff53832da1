"""Learned-decoder surrogates: small convolutional autoencoders trained on real photos.

A latent-diffusion editor returns pixels that went through a learned decoder; the
decoder's upsampling leaves periodic traces that detectors learn. These
autoencoders reproduce that kind of trace offline, in minutes on a CPU, with three
decoder families so that leave-one-generator-out evaluation has distinct
generators to hold out:

* ``transposed``: stride-2 transposed convolutions (checkerboard-prone);
* ``nearest``: nearest-neighbour upsampling followed by a convolution;
* ``pixelshuffle``: sub-pixel convolution (``nn.PixelShuffle``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ...errors import UsageError
from ...utils.io import atomic_path
from .base import register_generator

__all__ = ["DECODERS", "AutoencoderConfig", "ConvAutoencoder", "train_autoencoder", "save_autoencoder",
           "load_autoencoder", "AutoencoderGenerator"]

DECODERS = ("transposed", "nearest", "pixelshuffle")


@dataclass(frozen=True)
class AutoencoderConfig:
    """Architecture of a :class:`ConvAutoencoder`.

    Attributes:
        decoder: Upsampling family, one of :data:`DECODERS`.
        channels: Width of the first encoder stage (doubled per level).
        levels: Number of 2x down/upsampling stages (latent is ``1 / 2**levels`` size).
        latent_channels: Channels of the latent (SD's VAE uses 4 at 1/8 size).
    """

    decoder: str = "transposed"
    channels: int = 32
    levels: int = 2
    latent_channels: int = 8

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            raise UsageError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")


def _up(decoder: str, cin: int, cout: int) -> nn.Module:
    if decoder == "transposed":
        return nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)
    if decoder == "nearest":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1))
    return nn.Sequential(nn.Conv2d(cin, cout * 4, 3, padding=1), nn.PixelShuffle(2))


class ConvAutoencoder(nn.Module):
    """A small image autoencoder; input and output RGB in ``[0, 1]``, ``(N, 3, H, W)``.

    ``H`` and ``W`` must be multiples of ``2**levels`` (:meth:`AutoencoderGenerator.regenerate`
    pads for you).
    """

    def __init__(self, cfg: AutoencoderConfig = AutoencoderConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        enc: list[nn.Module] = [nn.Conv2d(3, c, 3, padding=1), nn.GELU()]
        for i in range(cfg.levels):
            enc += [nn.Conv2d(c * 2**i, c * 2 ** (i + 1), 3, stride=2, padding=1), nn.GELU()]
        enc += [nn.Conv2d(c * 2**cfg.levels, cfg.latent_channels, 1)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv2d(cfg.latent_channels, c * 2**cfg.levels, 3, padding=1), nn.GELU()]
        for i in reversed(range(cfg.levels)):
            dec += [_up(cfg.decoder, c * 2 ** (i + 1), c * 2**i), nn.GELU()]
        dec += [nn.Conv2d(c, 3, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.encoder(x)))


def _random_crops(images: Sequence[np.ndarray], n: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        img = images[rng.integers(len(images))]
        y = rng.integers(0, img.shape[0] - size + 1)
        x = rng.integers(0, img.shape[1] - size + 1)
        out[i] = img[y : y + size, x : x + size]
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)


def train_autoencoder(
    images: Sequence[np.ndarray],
    cfg: AutoencoderConfig = AutoencoderConfig(),
    steps: int = 800,
    batch_size: int = 16,
    crop: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    max_seconds: float | None = None,
    progress: bool = True,
) -> tuple[ConvAutoencoder, dict]:
    """Train a :class:`ConvAutoencoder` on random native-resolution crops of real photos.

    Args:
        images: ``(H, W, 3)`` uint8 RGB photos, each at least ``crop`` on both sides.
        cfg: Architecture.
        steps: Optimiser steps (stops earlier at ``max_seconds``).
        batch_size: Crops per step.
        crop: Crop side in pixels.
        lr: AdamW learning rate (cosine decay).
        seed: Seed for crops and initialisation.
        max_seconds: Wall-clock budget.
        progress: Show a tqdm bar.

    Returns:
        The model in eval mode and a stats dict (steps, seconds, final L1, PSNR in dB).
    """
    from tqdm.auto import tqdm

    images = [im for im in images if min(im.shape[:2]) >= crop]
    if not images:
        raise UsageError(f"no photo is at least {crop} px on both sides to train the autoencoder on")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ConvAutoencoder(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    t0 = time.perf_counter()
    model.train()
    loss_val = float("nan")
    done = 0
    bar = tqdm(range(steps), desc=f"autoencoder[{cfg.decoder}]", disable=None if progress else True, leave=False)
    for done in bar:  # noqa: B007  (the step count is reported after the loop)
        x = _random_crops(images, batch_size, crop, rng)
        y = model(x)
        loss = (y - x).abs().mean() + 0.5 * ((y - x) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_val = float(loss.detach())
        bar.set_postfix(loss=f"{loss_val:.4f}")
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
    model.eval()
    with torch.no_grad():
        x = _random_crops(images, 32, crop, np.random.default_rng(seed + 1))
        mse = float(((model(x) - x) ** 2).mean())
    stats = {"steps": done + 1, "seconds": round(time.perf_counter() - t0, 1), "loss": round(loss_val, 5),
             "psnr_db": round(10 * np.log10(1.0 / max(mse, 1e-12)), 2)}
    return model, stats


def save_autoencoder(model: ConvAutoencoder, path: str | os.PathLike, stats: dict | None = None) -> Path:
    """Save weights as safetensors with the architecture in the file's metadata (atomic)."""
    from safetensors.torch import save_file

    path = Path(path)
    meta = {"config": json.dumps(asdict(model.cfg)), "stats": json.dumps(stats or {})}
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp), metadata=meta)
    return path


def load_autoencoder(path: str | os.PathLike) -> ConvAutoencoder:
    """Load a model written by :func:`save_autoencoder` (safetensors: no pickle)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: autoencoder weights not found; train them with `fakedamage synth` first")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise UsageError(f"{path}: not a fakedamage autoencoder (no 'config' metadata)")
    model = ConvAutoencoder(AutoencoderConfig(**json.loads(meta["config"])))
    model.load_state_dict(load_file(str(path)))
    return model.eval()


@register_generator("autoencoder")
class AutoencoderGenerator:
    """Generator that regenerates the image through a learned autoencoder.

    Args:
        weights: safetensors file from :func:`save_autoencoder`, or
        model: an in-memory :class:`ConvAutoencoder`.
        name: Manifest name; default ``ae-<decoder>``.
        device: torch device string.
    """

    decodes_whole_image = True
    uses_prompt = False

    def __init__(self, weights: str | os.PathLike | None = None, model: ConvAutoencoder | None = None,
                 name: str | None = None, device: str = "cpu") -> None:
        if (weights is None) == (model is None):
            raise UsageError("give exactly one of weights= or model=")
        self.model = (model if model is not None else load_autoencoder(weights)).to(device).eval()
        self.device = device
        self.name = name or f"ae-{self.model.cfg.decoder}"

    @torch.no_grad()
    def regenerate(self, image: np.ndarray, mask: np.ndarray | None = None, prompt: str = "", seed: int = 0) -> np.ndarray:
        """Encode and decode the whole image; ``(H, W, 3)`` uint8 in, same out."""
        h, w = image.shape[:2]
        m = 2**self.model.cfg.levels
        ph, pw = (-h) % m, (-w) % m
        x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None].float().div_(255.0).to(self.device)
        if ph or pw:
            x = nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
        y = self.model(x)[0, :, :h, :w]
        return (y.clamp_(0, 1).mul_(255.0).round_().byte().permute(1, 2, 0).cpu().numpy())
