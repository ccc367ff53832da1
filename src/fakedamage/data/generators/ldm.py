"""A small latent-diffusion-style VAE (CompVis ``AutoencoderKL`` / diffusers ``AutoencoderKL``).

Real latent-diffusion editors return pixels that went through a KL autoencoder's
decoder: 8x spatial downsampling into 4 (SD 1/2, SDXL) or 16 (SD3, FLUX.1) latent
channels, ResNet blocks with GroupNorm and SiLU, trained with L1 + perceptual +
patch-GAN losses and a tiny KL weight (see :mod:`.zoo_losses`). This module rebuilds
that architecture at a size that trains on a CPU in well under an hour, so that the
data engine's fakes carry a sharp learned-decoder trace, not the blur of an MSE
autoencoder.

Differences from the original, on purpose:

* **no self-attention** in the mid block (CPU budget; at 64-256 px crops the
  receptive field of the ResNet stack already covers the latent);
* one ResNet block per level in the encoder and ``decoder_blocks`` (default 1, LDM
  uses 2) in the decoder;
* the upsampler is a choice (:data:`UPSAMPLERS`) so the zoo holds several
  decoder families: ``nearest`` (nearest-neighbour x2 + conv 3x3, as SD/SDXL/SD3/FLUX),
  ``transposed`` (``ConvTranspose2d(k=4, s=2, p=1)``), ``pixelshuffle`` (conv 3x3 to
  ``4C`` + ``PixelShuffle(2)``).

Training starts from :meth:`LDMAutoencoder.init_near_identity_` (same architecture,
structured initial weights) because from PyTorch's default initialisation the GroupNorm
in front of each ``conv_out`` keeps the network from learning colours within a CPU
budget (pilots: ~17 dB after 1000 steps, flat crops come out grey).

Images are in ``[-1, 1]`` inside the model; :class:`LDMGenerator` converts from and
to uint8 RGB. Large images are processed in tiles (GroupNorm statistics per tile, as
in tiled VAE decoding of real pipelines).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...errors import UsageError
from .base import register_generator

__all__ = [
    "UPSAMPLERS",
    "LDMConfig",
    "ResnetBlock",
    "LDMEncoder",
    "LDMDecoder",
    "LDMAutoencoder",
    "LDMGenerator",
    "run_tiled",
]

UPSAMPLERS = ("nearest", "transposed", "pixelshuffle")


@dataclass(frozen=True)
class LDMConfig:
    """Architecture of an :class:`LDMAutoencoder`.

    Attributes:
        latent_channels: Channels of the latent (4: SD 1/2/SDXL, 16: SD3/FLUX.1).
        upsampler: Decoder upsampling family, one of :data:`UPSAMPLERS`.
        channels: Width per level; ``len(channels) - 1`` stride-2 steps (4 levels: 8x).
        blocks: ResNet blocks per encoder level.
        decoder_blocks: ResNet blocks per decoder level (LDM: ``blocks + 1``).
        groups: GroupNorm groups; must divide every width.
    """

    latent_channels: int = 4
    upsampler: str = "nearest"
    channels: tuple[int, ...] = (32, 64, 128, 128)
    blocks: int = 1
    decoder_blocks: int = 1
    groups: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.upsampler not in UPSAMPLERS:
            raise UsageError(f"upsampler must be one of {UPSAMPLERS}, got {self.upsampler!r}")
        if len(self.channels) < 2:
            raise UsageError("channels needs at least two levels")
        bad = [c for c in self.channels if c % self.groups]
        if bad:
            raise UsageError(f"GroupNorm groups={self.groups} must divide every width; not {bad}")
        if self.latent_channels < 1 or self.blocks < 1 or self.decoder_blocks < 1:
            raise UsageError("latent_channels, blocks and decoder_blocks must be >= 1")

    @property
    def factor(self) -> int:
        """Spatial downsampling factor (``2 ** (levels - 1)``; 8 for four levels)."""
        return 2 ** (len(self.channels) - 1)

    def to_dict(self) -> dict[str, Any]:
        return {"latent_channels": self.latent_channels, "upsampler": self.upsampler,
                "channels": list(self.channels), "blocks": self.blocks,
                "decoder_blocks": self.decoder_blocks, "groups": self.groups}


def _norm(c: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(groups, c, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """LDM's ResNet block: GN -> SiLU -> conv3x3 -> GN -> SiLU -> conv3x3, 1x1 skip when widths differ."""

    def __init__(self, cin: int, cout: int, groups: int) -> None:
        super().__init__()
        self.norm1 = _norm(cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = _norm(cout, groups)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.nin_shortcut(x) + h


class Downsample(nn.Module):
    """Stride-2 conv 3x3 with LDM's asymmetric ``(0, 1, 0, 1)`` padding."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """x2 upsampling of one of the :data:`UPSAMPLERS` families (width kept)."""

    def __init__(self, c: int, kind: str) -> None:
        super().__init__()
        self.kind = kind
        if kind == "nearest":
            self.conv = nn.Conv2d(c, c, 3, padding=1)
        elif kind == "transposed":
            self.conv = nn.ConvTranspose2d(c, c, 4, stride=2, padding=1)
        else:
            self.conv = nn.Conv2d(c, 4 * c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "nearest":
            return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        if self.kind == "transposed":
            return self.conv(x)
        return F.pixel_shuffle(self.conv(x), 2)


class LDMEncoder(nn.Module):
    """Image ``(N, 3, H, W)`` in ``[-1, 1]`` -> ``(N, 2 * latent, H / f, W / f)`` moments."""

    def __init__(self, cfg: LDMConfig) -> None:
        super().__init__()
        ch, g = cfg.channels, cfg.groups
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        self.down = nn.ModuleList()
        cin = ch[0]
        for i, c in enumerate(ch):
            level = nn.Module()
            level.block = nn.ModuleList([ResnetBlock(cin if b == 0 else c, c, g) for b in range(cfg.blocks)])
            level.downsample = Downsample(c) if i < len(ch) - 1 else nn.Identity()
            self.down.append(level)
            cin = c
        self.mid = ResnetBlock(cin, cin, g)
        self.norm_out = _norm(cin, g)
        self.conv_out = nn.Conv2d(cin, 2 * cfg.latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            for block in level.block:
                h = block(h)
            h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class LDMDecoder(nn.Module):
    """Latent ``(N, latent, h, w)`` -> image ``(N, 3, f h, f w)`` (unbounded; ``[-1, 1]`` when trained)."""

    def __init__(self, cfg: LDMConfig) -> None:
        super().__init__()
        ch, g = cfg.channels, cfg.groups
        cin = ch[-1]
        self.conv_in = nn.Conv2d(cfg.latent_channels, cin, 3, padding=1)
        self.mid = ResnetBlock(cin, cin, g)
        self.up = nn.ModuleList()
        for i in reversed(range(len(ch))):
            c = ch[i]
            level = nn.Module()
            level.block = nn.ModuleList([ResnetBlock(cin if b == 0 else c, c, g) for b in range(cfg.decoder_blocks)])
            level.upsample = Upsample(c, cfg.upsampler) if i > 0 else nn.Identity()
            self.up.append(level)
            cin = c
        self.norm_out = _norm(cin, g)
        self.conv_out = nn.Conv2d(cin, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in self.up:
            for block in level.block:
                h = block(h)
            h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class LDMAutoencoder(nn.Module):
    """KL autoencoder: encoder -> diagonal Gaussian posterior -> decoder.

    ``quant_conv``/``post_quant_conv`` are the 1x1 convolutions CompVis puts around
    the latent. ``H`` and ``W`` must be multiples of :attr:`LDMConfig.factor`.
    """

    def __init__(self, cfg: LDMConfig = LDMConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = LDMEncoder(cfg)
        self.decoder = LDMDecoder(cfg)
        self.quant_conv = nn.Conv2d(2 * cfg.latent_channels, 2 * cfg.latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(cfg.latent_channels, cfg.latent_channels, 1)

    @property
    def last_layer(self) -> torch.Tensor:
        """Weight of the decoder's last conv (LDM's adaptive GAN weight is measured there)."""
        return self.decoder.conv_out.weight

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` in ``[-1, 1]`` -> posterior ``(mean, logvar)``, logvar clamped to ``[-30, 20]``."""
        moments = self.quant_conv(self.encoder(x))
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(z))

    def forward(self, x: torch.Tensor, sample: bool = True,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns ``(reconstruction, mean, logvar)``; ``sample=False`` decodes the posterior mode."""
        mean, logvar = self.encode(x)
        z = mean
        if sample:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * eps
        return self.decode(z), mean, logvar

    @torch.no_grad()
    def init_near_identity_(self, k: float = 8.0, noise: float = 0.005, branch: float = 0.0, logvar: float = -12.0,
                            v2: float = 0.25) -> "LDMAutoencoder":
        """Start training from an 8x box-filter / nearest-neighbour autoencoder (architecture unchanged).

        Why: trained from PyTorch's default initialisation this network spends thousands
        of steps before it reproduces even the colour of a flat crop, because the
        GroupNorm in front of each ``conv_out`` removes every sample's per-group mean
        and scale (a flat colour normalises to a sign pattern); real LDM VAEs get past
        that with 10^5 steps of GPU training. Here the main path is set so the untrained
        model already passes colour and coarse structure:

        * every stream carries, for colour ``c`` in group ``c`` of each GroupNorm, the
          channels ``(+v, -v, +k, -k)``; the constant ``+-k`` pair dominates the group's
          standard deviation, so GroupNorm acts as a fixed (linear) scale, and
          ``silu(a) - silu(-a) = a`` recovers ``v`` after the SiLU exactly;
        * downsampling convs are 2x2 box filters, upsamplers copy (nearest neighbour),
          1x1 shortcuts and ``quant_conv``/``post_quant_conv`` are identities;
        * the last conv of every ResNet block is zero (blocks start as identities), the
          posterior log-variance starts at ``logvar``;
        * ``noise`` times the default initialisation is added to every weight so no
          channel starts dead.

        Requires GroupNorm groups >= 3 with >= 4 channels each, and >= 3 latent channels.
        """
        cfg = self.cfg
        gsz = {c: c // cfg.groups for c in cfg.channels}
        if cfg.groups < 3 or min(gsz.values()) < 4 or cfg.latent_channels < 3:
            raise UsageError("near-identity init needs >= 3 GroupNorm groups of >= 4 channels and >= 3 latent channels")

        def slots(width: int) -> list[int]:  # channels of (colour c, j), j: +v, -v, +k, -k
            return [(c * gsz[width] + j) for c in range(3) for j in range(4)]

        def scaled(conv: nn.Module, w_in: int | None = None) -> None:
            conv.weight.mul_(noise)
            if w_in is not None:  # no noise reads the constant +-k channels (it would add k-sized offsets)
                ks = [c * gsz[w_in] + j for c in range(3) for j in (2, 3)]
                if isinstance(conv, nn.ConvTranspose2d):
                    conv.weight[ks] = 0.0
                else:
                    conv.weight[:, ks] = 0.0
            if conv.bias is not None:
                conv.bias.zero_()

        def conv_map(conv: nn.Conv2d, w_in: int, w_out: int, kernel: dict[tuple[int, int], float]) -> None:
            scaled(conv, w_in)
            for a, b in zip(slots(w_in), slots(w_out)):
                for (ky, kx), val in kernel.items():
                    conv.weight[b, a, ky, kx] += val

        center = {(1, 1): 1.0}
        for m in self.modules():
            if isinstance(m, ResnetBlock):
                m.conv2.weight.mul_(branch)
                m.conv2.bias.zero_()
                if isinstance(m.nin_shortcut, nn.Conv2d):
                    conv_map(m.nin_shortcut, m.conv1.in_channels, m.conv1.out_channels, {(0, 0): 1.0})
        enc, dec, ch = self.encoder, self.decoder, cfg.channels
        # encoder: RGB -> (+v, -v, +k, -k) per colour group
        scaled(enc.conv_in)
        for c in range(3):
            base = c * gsz[ch[0]]
            enc.conv_in.weight[base, c, 1, 1] += 1.0
            enc.conv_in.weight[base + 1, c, 1, 1] -= 1.0
            enc.conv_in.bias[base + 2], enc.conv_in.bias[base + 3] = k, -k
        for i, level in enumerate(enc.down):
            if isinstance(level.downsample, Downsample):
                conv_map(level.downsample.conv, ch[i], ch[i], {(0, 0): 0.25, (0, 1): 0.25, (1, 0): 0.25, (1, 1): 0.25})

        def out_scale(width: int) -> float:  # std of a (+v, -v, +k, -k, 0...) group after GroupNorm
            return math.sqrt((2 * v2 + 2 * k * k) / gsz[width])

        scaled(enc.conv_out)
        s = out_scale(ch[-1])
        for c in range(3):
            base = c * gsz[ch[-1]]
            enc.conv_out.weight[c, base, 1, 1] += s
            enc.conv_out.weight[c, base + 1, 1, 1] -= s
        enc.conv_out.bias[cfg.latent_channels:] = logvar
        for conv in (self.quant_conv, self.post_quant_conv):
            scaled(conv)
            conv.weight[:, :, 0, 0] += torch.eye(conv.out_channels)
        # decoder: latent colour channels -> (+v, -v, +k, -k)
        scaled(dec.conv_in)
        for c in range(3):
            base = c * gsz[ch[-1]]
            dec.conv_in.weight[base, c, 1, 1] += 1.0
            dec.conv_in.weight[base + 1, c, 1, 1] -= 1.0
            dec.conv_in.bias[base + 2], dec.conv_in.bias[base + 3] = k, -k
        for level, i in zip(dec.up, reversed(range(len(ch)))):
            up = level.upsample
            if not isinstance(up, Upsample):
                continue
            width = ch[i]
            if up.kind == "nearest":
                conv_map(up.conv, width, width, center)
            elif up.kind == "transposed":  # ConvTranspose2d weight is (in, out, kh, kw); taps 1, 2 = nearest
                scaled(up.conv, width)
                for a in slots(width):
                    for ky in (1, 2):
                        for kx in (1, 2):
                            up.conv.weight[a, a, ky, kx] += 1.0
            else:  # conv to 4C then PixelShuffle: out channel a*4+q -> sub-pixel q of channel a
                scaled(up.conv, width)
                for a in slots(width):
                    for q in range(4):
                        up.conv.weight[a * 4 + q, a, 1, 1] += 1.0
        scaled(dec.conv_out)
        s = out_scale(ch[0])
        for c in range(3):
            base = c * gsz[ch[0]]
            dec.conv_out.weight[c, base, 1, 1] += s
            dec.conv_out.weight[c, base + 1, 1, 1] -= s
        return self

    @staticmethod
    def kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL to ``N(0, I)`` per item, summed over latent elements (CompVis ``DiagonalGaussianDistribution.kl``)."""
        return 0.5 * torch.sum(mean.pow(2) + logvar.exp() - 1.0 - logvar, dim=(1, 2, 3))


# --------------------------------------------------------------------------- inference helpers


def _spans(n: int, tile: int, margin: int, align: int) -> list[tuple[int, int, int, int]]:
    """Split ``[0, n)`` into tiles: ``(read_start, read_end, keep_start, keep_end)``.

    Each output pixel is kept from exactly one tile (no blending, so the decoder's
    trace is not averaged away); every tile is read with up to ``margin`` pixels of
    context on both sides. Starts are multiples of ``align`` so the tiles share the
    whole image's ``align``-pixel grid.
    """
    if n <= tile:
        return [(0, n, 0, n)]
    core = max(align, (tile - 2 * margin) // align * align)
    out = []
    for k0 in range(0, n, core):
        k1 = min(n, k0 + core)
        r0 = max(0, (k0 - margin) // align * align)
        r1 = min(n, k1 + margin)
        out.append((r0, r1, k0, k1))
    return out


def run_tiled(fn, x: torch.Tensor, tile: int = 1024, margin: int = 64, align: int = 8) -> torch.Tensor:
    """Apply an image-to-image ``fn`` to ``x (1, C, H, W)`` in overlapping tiles when a side exceeds ``tile``.

    ``fn`` gets tiles whose sides are multiples of ``align`` only if ``x``'s are; pad first.
    """
    _, _, h, w = x.shape
    if h <= tile and w <= tile:
        return fn(x)
    margin = min(margin, tile // 4 // align * align)  # at least half of every tile is kept
    out = None
    for r0, r1, k0, k1 in _spans(h, tile, margin, align):
        for c0, c1, j0, j1 in _spans(w, tile, margin, align):
            y = fn(x[:, :, r0:r1, c0:c1])
            if out is None:
                out = torch.empty((x.shape[0], y.shape[1], h, w), dtype=y.dtype, device=y.device)
            out[:, :, k0:k1, j0:j1] = y[:, :, k0 - r0 : k1 - r0, j0 - c0 : j1 - c0]
    return out


def to_tensor(image: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(1, 3, H, W)`` float in ``[0, 1]``."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise UsageError(f"image must be (H, W, 3) uint8, got shape {img.shape} dtype {img.dtype}")
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float().div_(255.0).to(device)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` float in ``[0, 1]`` -> ``(H, W, 3)`` uint8 (rounded)."""
    return x[0].clamp(0, 1).mul(255.0).round().byte().permute(1, 2, 0).cpu().numpy()


def pad_to_multiple(x: torch.Tensor, m: int) -> tuple[torch.Tensor, int, int]:
    """Reflect-pad bottom/right to a multiple of ``m`` (replicate for sides too small to reflect)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w


@register_generator("ldm")
class LDMGenerator:
    """Regenerate the whole image through a zoo LDM-style VAE (encode -> decode).

    Args:
        weights: A zoo member name (``ldm-c4-nearest``; see :func:`.zoo.list_zoo`) or a
            safetensors file written by :func:`.zoo.save_zoo_weights`.
        model: An in-memory :class:`LDMAutoencoder` instead of ``weights``.
        name: Manifest name; default the zoo member name (or ``ldm-c<latent>-<upsampler>``).
        device: torch device string.
        sample: Decode a latent sampled from the posterior (seeded by ``seed``)
            instead of its mean.
        tile: Images with a side above this are processed in tiles (bounded memory).
    """

    decodes_whole_image = True
    uses_prompt = False

    def __init__(self, weights: str | os.PathLike | None = None, model: LDMAutoencoder | None = None,
                 name: str | None = None, device: str = "cpu", sample: bool = False, tile: int = 1024) -> None:
        from .zoo.weights import model_or_weights

        model, member = model_or_weights(weights, model, "ldm", LDMAutoencoder, lambda c: LDMAutoencoder(LDMConfig(**c)))
        self.model = model.to(device).eval()
        self.device = device
        self.sample = bool(sample)
        self.tile = int(tile)
        cfg = self.model.cfg
        self.name = name or member or f"ldm-c{cfg.latent_channels}-{cfg.upsampler}"

    @torch.no_grad()
    def regenerate(self, image: np.ndarray, mask: np.ndarray | None = None, prompt: str = "", seed: int = 0) -> np.ndarray:
        """Encode and decode the whole image; ``(H, W, 3)`` uint8 in, same size out."""
        x, h, w = pad_to_multiple(to_tensor(image, self.device), self.model.cfg.factor)
        gen = torch.Generator(device="cpu").manual_seed(int(seed) & 0x7FFF_FFFF_FFFF_FFFF)

        def fn(t: torch.Tensor) -> torch.Tensor:
            mean, logvar = self.model.encode(t * 2.0 - 1.0)
            z = mean
            if self.sample:
                eps = torch.randn(mean.shape, generator=gen).to(mean.device)
                z = mean + torch.exp(0.5 * logvar) * eps
            return (self.model.decode(z) + 1.0) / 2.0

        y = run_tiled(fn, x, tile=self.tile, margin=64, align=self.model.cfg.factor)
        return to_uint8(y[:, :, :h, :w])
