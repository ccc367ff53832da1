"""A small LaMa-like learned inpainter: the "AI eraser" family of the decoder zoo.

LaMa (Suvorov et al., WACV 2022; advimman/lama) fills holes with a ResNet of **Fast
Fourier Convolutions**: every block has a local 3x3 branch and a global branch that
convolves in the frequency domain (``rfft2`` -> 1x1 conv on stacked real/imaginary
parts -> ``irfft2``), so a single layer sees the whole image. Tools such as IOPaint,
Inpaint-Anything and commercial clean-up apps use LaMa-family models; their traces
(texture synthesised from global context, periodic spectral artefacts) differ from
a diffusion VAE decoder's, so the zoo holds one.

Architecture (:class:`LaMaInpainter`), as LaMa's ``FFCResNetGenerator`` but small:
reflect-padded conv 7x7 in, three stride-2 conv 3x3 downsamplings (BatchNorm, ReLU),
``blocks`` FFC residual blocks at 1/8 size (``ratio_gin = ratio_gout = 0.75``; no
LFU), three ``ConvTranspose2d(k=3, s=2, p=1, output_padding=1)`` upsamplings, conv
7x7 out and a sigmoid.

Input (8 channels, ``[0, 1]``): ``image * (1 - hole)``, ``hole``, ``guide`` (3) and
``guide_mask = hole * has_guide`` (1). The guide is the hole's content *degraded*
(:func:`degrade_guide`: downsampled 2-4x and upsampled, or Gaussian-blurred with sigma
1-2; zero outside the hole). With a guide the network re-renders painted damage at
full resolution (``guided``); with none it fills the hole from context (``erase``).
The extra ``guide_mask`` channel tells "no guide" from "a black guide". The output
is composited: ``hole * pred + (1 - hole) * image``, so pixels outside the hole are
byte-identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...errors import UsageError
from .base import register_generator
from .ldm import run_tiled, to_tensor, to_uint8

__all__ = ["InpainterConfig", "LaMaInpainter", "FFC", "FFCResnetBlock", "degrade_guide", "inpainter_input",
           "InpainterGenerator", "INPAINTER_MODES"]

INPAINTER_MODES = ("guided", "erase", "mixed")
IN_CHANNELS = 8


@dataclass(frozen=True)
class InpainterConfig:
    """Architecture of a :class:`LaMaInpainter`.

    Attributes:
        channels: Width after the 7x7 input conv; doubled at each of the 3 downsamplings.
        blocks: FFC residual blocks at 1/8 resolution.
        ratio: Share of global (spectral) channels, LaMa's ``ratio_gin``/``ratio_gout``.
    """

    channels: int = 32
    blocks: int = 4
    ratio: float = 0.75

    def __post_init__(self) -> None:
        if self.channels < 4 or self.blocks < 1 or not 0.0 < self.ratio < 1.0:
            raise UsageError(f"bad InpainterConfig {self}")

    @property
    def factor(self) -> int:
        return 8

    def to_dict(self) -> dict[str, Any]:
        return {"channels": self.channels, "blocks": self.blocks, "ratio": self.ratio}


class FourierUnit(nn.Module):
    """rfft2 -> 1x1 conv on stacked (real, imag) -> BN -> ReLU -> irfft2 (LaMa's ``FourierUnit``)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2 * cin, 2 * cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(2 * cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        f = torch.fft.rfft2(x, norm="ortho")  # (n, c, h, w//2+1) complex
        f = torch.stack((f.real, f.imag), dim=2).reshape(n, 2 * c, h, -1)
        f = F.relu(self.bn(self.conv(f)))
        f = f.reshape(n, -1, 2, h, f.shape[-1])
        return torch.fft.irfft2(torch.complex(f[:, :, 0], f[:, :, 1]), s=(h, w), norm="ortho")


class SpectralTransform(nn.Module):
    """LaMa's global branch: 1x1 conv to half width, FourierUnit, residual, 1x1 conv out."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = max(1, cout // 2)
        self.conv1 = nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True))
        self.fu = FourierUnit(mid, mid)
        self.conv2 = nn.Conv2d(mid, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(x + self.fu(x))


class FFC(nn.Module):
    """Fast Fourier Convolution on a (local, global) channel split, with BN + ReLU.

    ``y_l = l2l(x_l) + g2l(x_g)``, ``y_g = l2g(x_l) + spectral(x_g)``; l2l, g2l and l2g are
    reflect-padded 3x3 convolutions.
    """

    def __init__(self, c: int, ratio: float) -> None:
        super().__init__()
        self.cg = int(round(c * ratio))
        self.cl = c - self.cg
        cl, cg = self.cl, self.cg
        conv = lambda a, b: nn.Conv2d(a, b, 3, padding=1, padding_mode="reflect", bias=False)  # noqa: E731
        self.l2l, self.l2g, self.g2l = conv(cl, cl), conv(cl, cg), conv(cg, cl)
        self.g2g = SpectralTransform(cg, cg)
        self.bn_l, self.bn_g = nn.BatchNorm2d(cl), nn.BatchNorm2d(cg)

    def forward(self, xl: torch.Tensor, xg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        yl = self.l2l(xl) + self.g2l(xg)
        yg = self.l2g(xl) + self.g2g(xg)
        return F.relu(self.bn_l(yl)), F.relu(self.bn_g(yg))


class FFCResnetBlock(nn.Module):
    """Two :class:`FFC` layers with a residual connection on both branches (LaMa's ``FFCResnetBlock``)."""

    def __init__(self, c: int, ratio: float) -> None:
        super().__init__()
        self.conv1 = FFC(c, ratio)
        self.conv2 = FFC(c, ratio)

    def forward(self, xl: torch.Tensor, xg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        yl, yg = self.conv2(*self.conv1(xl, xg))
        return xl + yl, xg + yg


class LaMaInpainter(nn.Module):
    """``(N, 8, H, W)`` input (see :func:`inpainter_input`) -> ``(N, 3, H, W)`` prediction in ``[0, 1]``.

    ``H`` and ``W`` must be multiples of 8. The prediction is not yet composited; use
    :meth:`inpaint`.
    """

    def __init__(self, cfg: InpainterConfig = InpainterConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels

        def cbr(a: int, b: int, k: int, s: int = 1) -> list[nn.Module]:
            pad = k // 2
            return [nn.Conv2d(a, b, k, stride=s, padding=pad, padding_mode="reflect", bias=False),
                    nn.BatchNorm2d(b), nn.ReLU(inplace=True)]

        self.head = nn.Sequential(*cbr(IN_CHANNELS, c, 7), *cbr(c, 2 * c, 3, 2), *cbr(2 * c, 4 * c, 3, 2),
                                  *cbr(4 * c, 8 * c, 3, 2))
        width = 8 * c
        self.cg = int(round(width * cfg.ratio))
        self.blocks = nn.ModuleList([FFCResnetBlock(width, cfg.ratio) for _ in range(cfg.blocks)])
        up: list[nn.Module] = []
        for a, b in ((8 * c, 4 * c), (4 * c, 2 * c), (2 * c, c)):
            up += [nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1), nn.BatchNorm2d(b),
                   nn.ReLU(inplace=True)]
        self.up = nn.Sequential(*up)
        self.conv_out = nn.Conv2d(c, 3, 7, padding=3, padding_mode="reflect")

    @property
    def last_layer(self) -> torch.Tensor:
        return self.conv_out.weight

    @torch.no_grad()
    def init_near_identity_(self, noise: float = 0.3, mean: float = 0.45, std: float = 0.25) -> "LaMaInpainter":
        """Start from a network that returns a low-pass copy of ``image * (1 - hole) + guide`` (architecture unchanged).

        Trained from PyTorch's default initialisation the network needs thousands of
        steps before hole colours are right (see :meth:`.ldm.LDMAutoencoder.init_near_identity_`).
        Here channels ``2c, 2c + 1`` of every stage carry ``+u_c, -u_c`` for colour ``c``
        (``u`` = the known image with the guide in the hole): BatchNorm maps the pair to
        ``+-(u - mu) / sigma`` and ``relu(a) - relu(-a) = a`` recovers it after each ReLU;
        the stride-2 convolutions are 2x2 box filters, the transposed ones copy (nearest
        neighbour), every FFC residual block starts as an identity (its last BatchNorm
        scale is zero), and ``conv_out`` maps back to logits assuming ``u`` has ``mean``
        and ``std``. ``noise`` times the default initialisation is added everywhere.
        """
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.mul_(noise)
                if m.bias is not None:
                    m.bias.zero_()
        for block in self.blocks:
            block.conv2.bn_l.weight.zero_()
            block.conv2.bn_g.weight.zero_()
        pairs = [(2 * c, 2 * c + 1) for c in range(3)]

        def pair_map(w: torch.Tensor, taps: list[tuple[int, int]], val: float, transposed: bool) -> None:
            for p_in, m_in in pairs:
                for (o, i, sgn) in ((p_in, p_in, 1), (p_in, m_in, -1), (m_in, p_in, -1), (m_in, m_in, 1)):
                    for ky, kx in taps:
                        if transposed:
                            w[i, o, ky, kx] += sgn * val
                        else:
                            w[o, i, ky, kx] += sgn * val

        conv7 = self.head[0]
        for c, (p, m) in enumerate(pairs):
            for src in (c, 4 + c):  # the known image and the guide
                conv7.weight[p, src, 3, 3] += 1.0
                conv7.weight[m, src, 3, 3] -= 1.0
        for idx in (3, 6, 9):  # stride-2 convs (k3, p1): taps 1, 2 read rows 2i, 2i + 1
            pair_map(self.head[idx].weight, [(1, 1), (1, 2), (2, 1), (2, 2)], 0.25, False)
        for idx in (0, 3, 6):  # ConvTranspose2d(k3, s2, p1, op1): taps 1, 2 copy
            pair_map(self.up[idx].weight, [(1, 1), (1, 2), (2, 1), (2, 2)], 1.0, True)
        a = 4.0 * std  # sigmoid(4 (u - 0.5)) ~ u near the middle of the range
        for c, (p, m) in enumerate(pairs):
            self.conv_out.weight[c, p, 3, 3] += a
            self.conv_out.weight[c, m, 3, 3] -= a
            self.conv_out.bias[c] = 4.0 * (mean - 0.5)
        return self

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        h = self.head(inp)
        cl = h.shape[1] - self.cg
        xl, xg = h[:, :cl], h[:, cl:]
        for block in self.blocks:
            xl, xg = block(xl, xg)
        return torch.sigmoid(self.conv_out(self.up(torch.cat((xl, xg), dim=1))))

    def inpaint(self, image: torch.Tensor, hole: torch.Tensor, guide: torch.Tensor | None,
                guide_on: torch.Tensor | float = 1.0) -> torch.Tensor:
        """Composited output ``hole * pred + (1 - hole) * image`` (all in ``[0, 1]``, ``hole`` binary)."""
        pred = self(inpainter_input(image, hole, guide, guide_on))
        return hole * pred + (1.0 - hole) * image


def inpainter_input(image: torch.Tensor, hole: torch.Tensor, guide: torch.Tensor | None,
                    guide_on: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Stack the 8 input channels; ``guide_on`` (scalar or ``(N,)``) switches the guide off per item."""
    if guide is None:
        guide = torch.zeros_like(image)
        guide_on = 0.0
    on = torch.as_tensor(guide_on, dtype=image.dtype, device=image.device).reshape(-1, 1, 1, 1)
    gmask = hole * on
    return torch.cat((image * (1.0 - hole), hole, guide * gmask, gmask), dim=1)


def degrade_guide(image: np.ndarray, hole: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The hole's content, degraded: the input of ``guided`` mode.

    With probability 1/2 the image is downsampled by a factor in ``[2, 4]`` (area) and
    upsampled back (bilinear); otherwise Gaussian-blurred with sigma in ``[1, 2]``.
    Zero outside the hole.

    Args:
        image: ``(H, W, 3)`` uint8 (the painted image).
        hole: ``(H, W)`` binary (0/1) float32.
        rng: Draws the degradation.

    Returns:
        ``(H, W, 3)`` float32 in ``[0, 1]``.
    """
    h, w = image.shape[:2]
    img = image.astype(np.float32) / 255.0
    if rng.random() < 0.5:
        f = float(rng.uniform(2.0, 4.0))
        sw, sh = max(1, int(round(w / f))), max(1, int(round(h / f)))
        small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        s = float(rng.uniform(1.0, 2.0))
        out = cv2.GaussianBlur(img, (0, 0), s, borderType=cv2.BORDER_REFLECT)
    return out * hole[..., None]


@register_generator("inpainter")
class InpainterGenerator:
    """Regenerate the masked region with the zoo's LaMa-like inpainter (only hole pixels change).

    Args:
        weights: A zoo member name (``inpainter``) or a safetensors file.
        model: An in-memory :class:`LaMaInpainter` instead of ``weights``.
        name: Manifest name; default ``<member>-<mode>``.
        mode: ``guided`` (re-render the painted damage from a degraded guide),
            ``erase`` (no guide: fill from context, an AI eraser; the painted damage
            disappears), or ``mixed`` (one of the two per item, drawn from the seed).
        device: torch device string.
        threshold: Mask values above it form the hole.
        margin: Context (px) kept around the hole's bounding box; the rest of the
            image is not processed.
        tile: Regions with a side above this are processed in tiles.
    """

    decodes_whole_image = False
    uses_prompt = False

    def __init__(self, weights: str | os.PathLike | None = None, model: LaMaInpainter | None = None,
                 name: str | None = None, mode: str = "guided", device: str = "cpu", threshold: float = 0.0,
                 margin: int = 96, tile: int = 1024) -> None:
        from .zoo.weights import model_or_weights

        if mode not in INPAINTER_MODES:
            raise UsageError(f"mode must be one of {INPAINTER_MODES}, got {mode!r}")
        model, member = model_or_weights(weights, model, "inpainter", LaMaInpainter, lambda c: LaMaInpainter(InpainterConfig(**c)))
        self.model = model.to(device).eval()
        self.mode = mode
        self.device = device
        self.threshold = float(threshold)
        self.margin = int(margin)
        self.tile = int(tile)
        self.name = name or f"{member or 'inpainter'}-{mode}"

    @torch.no_grad()
    def regenerate(self, image: np.ndarray, mask: np.ndarray | None = None, prompt: str = "", seed: int = 0) -> np.ndarray:
        """Inpaint ``mask > threshold``; ``(H, W, 3)`` uint8 in, same out, identical outside the hole."""
        img = np.asarray(image)
        out = np.array(img, dtype=np.uint8, copy=True)
        if mask is None:
            return out
        m = np.asarray(mask, dtype=np.float32)
        if m.shape != img.shape[:2]:
            raise UsageError(f"mask shape {m.shape} does not match image {img.shape[:2]}")
        hole = (m > self.threshold).astype(np.float32)
        if not hole.any():
            return out
        rng = np.random.default_rng([int(seed) & 0xFFFF_FFFF_FFFF_FFFF, 0x1A3A])
        guided = self.mode == "guided" or (self.mode == "mixed" and rng.random() < 0.5)
        h, w = hole.shape
        ys, xs = np.nonzero(hole)
        y0, y1 = max(0, ys.min() - self.margin), min(h, ys.max() + 1 + self.margin)
        x0, x1 = max(0, xs.min() - self.margin), min(w, xs.max() + 1 + self.margin)
        crop, hcrop = img[y0:y1, x0:x1], hole[y0:y1, x0:x1]
        guide = degrade_guide(crop, hcrop, rng) if guided else None
        x = to_tensor(crop, self.device)
        hh = torch.from_numpy(hcrop)[None, None].to(self.device)
        g = torch.from_numpy(guide).permute(2, 0, 1)[None].to(self.device) if guide is not None else None
        ch, cw = hcrop.shape
        ph, pw = (-ch) % 8, (-cw) % 8
        if ph or pw:
            mode = "reflect" if ph < ch and pw < cw else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
            hh = F.pad(hh, (0, pw, 0, ph))
            g = F.pad(g, (0, pw, 0, ph)) if g is not None else None
        stack = torch.cat((x, hh, g if g is not None else torch.zeros_like(x)), dim=1)
        on = 1.0 if g is not None else 0.0

        def fn(t: torch.Tensor) -> torch.Tensor:
            return self.model.inpaint(t[:, :3], t[:, 3:4], t[:, 4:7], on)

        y = run_tiled(fn, stack, tile=self.tile, margin=64, align=8)[:, :, :ch, :cw]
        pred = to_uint8(y)
        region = out[y0:y1, x0:x1]
        sel = hcrop > 0
        region[sel] = pred[sel]
        return out
