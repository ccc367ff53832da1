"""Training augmentation (albumentations): geometry, phone-style processing and laundering.

Real and fake images see the same pipeline, so augmentation cannot become a
label cue. Phone-style processing (denoising, sharpening, tone curves) makes smooth,
denoised or sharpened *genuine* photos common among the negatives, so "smooth means
fake" or "sharp means fake" cannot be learned. Laundering (JPEG, WEBP, blur, down/up-
scaling, noise, colour jitter) teaches the detector to survive what platforms and
fraudsters do to photos. No transform resizes the model input: crops are cut at
native resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import albumentations as A
import cv2
import numpy as np

__all__ = ["AugmentConfig", "PhoneDenoise", "build_train_transform"]


class PhoneDenoise(A.ImageOnlyTransform):
    """Edge-preserving smoothing as phone cameras and beauty filters apply it (bilateral filter).

    Args:
        sigma_color: Range of the filter's colour sigma (grey levels).
        sigma_space: Range of its spatial sigma (pixels).
        p: Probability.
    """

    def __init__(self, sigma_color: tuple[float, float] = (15.0, 45.0), sigma_space: tuple[float, float] = (2.0, 5.0),
                 p: float = 0.5) -> None:
        super().__init__(p=p)
        self.sigma_color = tuple(sigma_color)
        self.sigma_space = tuple(sigma_space)

    def get_params(self) -> dict:
        return {"sc": self.py_random.uniform(*self.sigma_color), "ss": self.py_random.uniform(*self.sigma_space)}

    def apply(self, img: np.ndarray, sc: float = 30.0, ss: float = 3.0, **params) -> np.ndarray:
        return cv2.bilateralFilter(np.ascontiguousarray(img), d=-1, sigmaColor=sc, sigmaSpace=ss)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("sigma_color", "sigma_space")


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
    denoise_p: float = 0.1
    sharpen_p: float = 0.1
    tone_p: float = 0.1


def build_train_transform(cfg: AugmentConfig = AugmentConfig()) -> A.Compose:
    """Albumentations pipeline applied to ``(H, W, 3)`` uint8 crops (and masks)."""
    t: list[A.BasicTransform] = []
    if cfg.hflip:
        t.append(A.HorizontalFlip(p=cfg.hflip))
    if cfg.vflip:
        t.append(A.VerticalFlip(p=cfg.vflip))
    if cfg.color_p:
        t.append(A.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.02, p=cfg.color_p))
    if cfg.tone_p:
        t.append(A.RandomToneCurve(scale=0.15, p=cfg.tone_p))
    if cfg.denoise_p:
        t.append(PhoneDenoise(p=cfg.denoise_p))
    if cfg.sharpen_p:
        t.append(A.Sharpen(alpha=(0.1, 0.4), lightness=(0.9, 1.1), p=cfg.sharpen_p))
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
