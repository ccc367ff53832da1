"""TAEF2: a real pretrained latent-diffusion autoencoder (the FLUX.2 latent space), vendored.

The tiny autoencoders of the taesd project (madebyollin/taesd, MIT licence) are distilled
from the full latent-diffusion VAEs with adversarial training, so their decoders leave the
sharp upsampling traces of real editors, not the blur of an MSE surrogate. TAEF2 maps RGB
in ``[0, 1]`` at ``H x W`` to 32 latent channels at ``H/8 x W/8`` and back.

The architecture here is written from the tensor names and shapes of the released weights
(no code was copied):

* encoder: 3x3 conv to 64, a block, then three times [stride-2 3x3 conv, three blocks], then a
  3x3 conv to the latent; the last three blocks carry a mid-block branch;
* decoder: a soft clamp ``3 tanh(x / 3)`` on the latent, a 3x3 conv and ReLU, three mid-block
  blocks, then three times [nearest 2x upsampling, 3x3 conv, blocks], a 3x3 conv to RGB;
* a block is ``ReLU(conv3(ReLU(conv2(ReLU(conv1(x))))) + x)`` (3x3 convs), and a mid-block
  block first adds ``1x1 conv -> GroupNorm -> ReLU -> 1x1 conv`` of its input to the input.

The weights ship inside the package as safetensors (``weights/taef2.safetensors``, stored as
the released float16 values), with the MIT licence beside them (``weights/LICENSE.taesd``);
nothing is read from outside the package at run time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...errors import UsageError
from .base import register_generator

__all__ = ["TAEF2_WEIGHTS", "TAEF2_LATENT_CHANNELS", "TinyEncoder", "TinyDecoder", "TinyAutoencoder",
           "load_taef2", "TAEF2Generator", "regenerate_tiled"]

#: The vendored weights (encoder.* and decoder.* tensors) and their licence.
TAEF2_WEIGHTS = Path(__file__).with_name("weights") / "taef2.safetensors"
TAEF2_LATENT_CHANNELS = 32
_WIDTH = 64
_GN_GROUPS = 4  # groups of the mid-block GroupNorm (256 channels); not recoverable from shapes, checked by PSNR


def _conv(cin: int, cout: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)


class SoftClamp(nn.Module):
    """``3 tanh(x / 3)``: keeps latents in ``(-3, 3)`` without a hard edge."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3.0) * 3.0


class Block(nn.Module):
    """Three 3x3 convs with a residual path; optionally a mid-block GroupNorm branch first.

    Args:
        channels: Width (input = output).
        midblock: Add ``x + pool(x)`` with ``pool = 1x1 -> GroupNorm -> ReLU -> 1x1`` (4x wide).
    """

    def __init__(self, channels: int, midblock: bool = False) -> None:
        super().__init__()
        self.conv = nn.Sequential(_conv(channels, channels), nn.ReLU(), _conv(channels, channels), nn.ReLU(),
                                  _conv(channels, channels))
        self.skip = nn.Identity()
        self.fuse = nn.ReLU()
        self.pool = (nn.Sequential(nn.Conv2d(channels, 4 * channels, 1, bias=False),
                                   nn.GroupNorm(_GN_GROUPS, 4 * channels), nn.ReLU(),
                                   nn.Conv2d(4 * channels, channels, 1, bias=False)) if midblock else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + self.skip(x))


class TinyEncoder(nn.Sequential):
    """``(N, 3, H, W)`` RGB in ``[0, 1]`` -> ``(N, latent, H/8, W/8)``; ``H``, ``W`` multiples of 8."""

    def __init__(self, latent_channels: int = TAEF2_LATENT_CHANNELS, width: int = _WIDTH) -> None:
        layers: list[nn.Module] = [_conv(3, width), Block(width)]
        for stage in range(3):
            layers += [_conv(width, width, stride=2, bias=False)]
            layers += [Block(width, midblock=stage == 2) for _ in range(3)]
        layers += [_conv(width, latent_channels)]
        super().__init__(*layers)


class TinyDecoder(nn.Sequential):
    """``(N, latent, h, w)`` -> ``(N, 3, 8h, 8w)`` RGB (unclamped; clamp to ``[0, 1]``)."""

    def __init__(self, latent_channels: int = TAEF2_LATENT_CHANNELS, width: int = _WIDTH) -> None:
        layers: list[nn.Module] = [SoftClamp(), _conv(latent_channels, width), nn.ReLU()]
        layers += [Block(width, midblock=True) for _ in range(3)]
        for stage in range(3):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), _conv(width, width, bias=False)]
            layers += [Block(width) for _ in range(3 if stage < 2 else 1)]
        layers += [_conv(width, 3)]
        super().__init__(*layers)


class TinyAutoencoder(nn.Module):
    """Encoder + decoder; ``forward`` reconstructs RGB in ``[0, 1]``."""

    def __init__(self, latent_channels: int = TAEF2_LATENT_CHANNELS) -> None:
        super().__init__()
        self.encoder = TinyEncoder(latent_channels)
        self.decoder = TinyDecoder(latent_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` in ``[0, 1]`` (``H``, ``W`` multiples of 8) -> same shape in ``[0, 1]``."""
        return self.decoder(self.encoder(x)).clamp(0.0, 1.0)


def load_taef2(path: str | os.PathLike | None = None, dtype: torch.dtype = torch.float32) -> TinyAutoencoder:
    """Build TAEF2 and load the vendored weights (safetensors: no pickle), in eval mode.

    Raises:
        FileNotFoundError: The weights file is missing (a broken install).
        ValueError: The file's tensors do not match the architecture.
    """
    from safetensors.torch import load_file

    path = Path(path) if path is not None else TAEF2_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: TAEF2 weights not found; reinstall fakedamage (they ship in the package)")
    model = TinyAutoencoder()
    state = {k: v.to(dtype) for k, v in load_file(str(path)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise UsageError(f"{path}: not TAEF2 weights (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.to(dtype).eval()


@torch.no_grad()
def regenerate_tiled(fn, image: np.ndarray, multiple: int = 8, tile: int = 1024, overlap: int = 64) -> np.ndarray:
    """Run an image-to-image network ``fn`` on a uint8 image of any size, in bounded memory.

    The image is reflect-padded to a multiple of ``multiple``; images whose side exceeds ``tile``
    are processed in overlapping tiles (each a multiple of ``multiple``), and each output pixel
    is taken from the tile where it lies farthest from a tile edge.

    Args:
        fn: ``(1, 3, h, w)`` float32 in ``[0, 1]`` -> same shape in ``[0, 1]``.
        image: ``(H, W, 3)`` uint8 RGB.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    h, w = image.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div_(255.0)
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = nn.functional.pad(x, (0, pw, 0, ph), mode=mode)
    H, W = x.shape[-2:]
    if max(H, W) <= tile:
        y = fn(x)
    else:
        y = torch.empty_like(x)
        step = tile - 2 * overlap
        for y0 in range(0, H, step):
            for x0 in range(0, W, step):
                ty0, tx0 = max(0, min(y0 - overlap, H - tile)), max(0, min(x0 - overlap, W - tile))
                ty1, tx1 = min(H, ty0 + tile), min(W, tx0 + tile)
                out = fn(x[..., ty0:ty1, tx0:tx1])
                oy0, ox0 = y0, x0
                oy1, ox1 = min(H, y0 + step), min(W, x0 + step)
                y[..., oy0:oy1, ox0:ox1] = out[..., oy0 - ty0 : oy1 - ty0, ox0 - tx0 : ox1 - tx0]
    y = y[0, :, :h, :w].clamp_(0.0, 1.0)
    return y.mul_(255.0).round_().byte().permute(1, 2, 0).numpy()


@register_generator("taef2")
class TAEF2Generator:
    """The whole image through TAEF2's encoder and decoder (the FLUX.2 latent space).

    Args:
        name: Manifest name.
        weights: Another copy of the weights (default: the vendored file).
    """

    decodes_whole_image = True
    uses_prompt = False

    def __init__(self, name: str = "taef2", weights: str | os.PathLike | None = None) -> None:
        self.name = name
        self.model = load_taef2(weights)

    def regenerate(self, image: np.ndarray, mask: np.ndarray | None = None, prompt: str = "", seed: int = 0) -> np.ndarray:
        """``(H, W, 3)`` uint8 -> the decoder's ``(H, W, 3)`` uint8 reconstruction (deterministic)."""
        return regenerate_tiled(self.model, image)
