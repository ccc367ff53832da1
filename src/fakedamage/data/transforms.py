"""Training augmentation (albumentations): geometry plus laundering.

Real and fake images see the same pipeline, so augmentation cannot become a
label cue. Laundering (JPEG, WEBP, blur, down/up-scaling, noise, colour jitter)
teaches the detector to survive what platforms and fraudsters do to photos.
No transform resizes the model input: crops are cut at native resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import albumentations as A

__all__ = ["AugmentConfig", "build_train_transform"]


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation (0 disables it)."""

    hflip: float = 0.5
    vflip: float = 0.0
    jpeg_p: float = 0.3
    jpeg_quality: tuple[int, int] = (30, 100)
    webp_p: float = 0.1
    webp_quality: tuple[int, int] = (50, 100)
    blur_p: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 1.5)
    rescale_p: float = 0.1
    rescale_range: tuple[float, float] = (0.5, 0.9)
    noise_p: float = 0.1
    noise_std: tuple[float, float] = (0.01, 0.04)
    color_p: float = 0.2


def build_train_transform(cfg: AugmentConfig = AugmentConfig()) -> A.Compose:
    """Albumentations pipeline applied to ``(H, W, 3)`` uint8 crops (and masks)."""
    t: list[A.BasicTransform] = []
    if cfg.hflip:
        t.append(A.HorizontalFlip(p=cfg.hflip))
    if cfg.vflip:
        t.append(A.VerticalFlip(p=cfg.vflip))
    if cfg.color_p:
        t.append(A.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.02, p=cfg.color_p))
    if cfg.blur_p:
        t.append(A.GaussianBlur(sigma_limit=tuple(cfg.blur_sigma), blur_limit=0, p=cfg.blur_p))
    if cfg.rescale_p:
        # Down then back up to the same size: laundering, not a change of input size.
        t.append(A.Downscale(scale_range=tuple(cfg.rescale_range), p=cfg.rescale_p))
    if cfg.noise_p:
        t.append(A.GaussNoise(std_range=tuple(cfg.noise_std), p=cfg.noise_p))
    if cfg.jpeg_p:
        t.append(A.ImageCompression(compression_type="jpeg", quality_range=tuple(cfg.jpeg_quality), p=cfg.jpeg_p))
    if cfg.webp_p:
        t.append(A.ImageCompression(compression_type="webp", quality_range=tuple(cfg.webp_quality), p=cfg.webp_p))
    return A.Compose(t)
