"""PyTorch datasets over a manifest: native-resolution crops, never a resize."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..runtime.image_io import load_image
from .manifest import Sample

__all__ = ["CropDataset", "random_crop_origin"]


def random_crop_origin(h: int, w: int, size: int, rng: np.random.Generator,
                       mask: np.ndarray | None = None) -> tuple[int, int]:
    """Origin ``(y, x)`` of a ``size`` crop inside an ``h`` x ``w`` image.

    With a mask, a random masked pixel is placed in the central half of the crop
    (clipped at the borders), so a crop labelled fake really shows the edit.
    """
    if mask is not None and mask.any():
        ys, xs = np.nonzero(mask)
        j = int(rng.integers(len(ys)))
        q = size // 4
        y = int(ys[j]) - int(rng.integers(q, size - q))
        x = int(xs[j]) - int(rng.integers(q, size - q))
        return min(max(0, y), h - size), min(max(0, x), w - size)
    return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))


class CropDataset(Dataset):
    """Random native-resolution crops of manifest images, for training.

    Pasted fakes are cropped so the crop contains part of the edited region,
    otherwise a crop of an untouched area would carry a wrong label.

    Args:
        samples: Manifest rows.
        root: Folder the manifest's relative paths start from.
        crop_size: Crop side in pixels (the model's tile size).
        transform: Albumentations pipeline (same for both labels) or None.
        seed: Base seed; each (epoch, index) pair gets its own stream.

    Items are ``(image, label)``: ``(3, crop, crop)`` float32 in ``[0, 1]`` and a
    float32 scalar.
    """

    def __init__(self, samples: Sequence[Sample], root: str | Path, crop_size: int,
                 transform: Callable | None = None, seed: int = 0) -> None:
        self.samples = list(samples)
        self.root = Path(root)
        self.crop_size = int(crop_size)
        self.transform = transform
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.samples[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image = load_image(self.root / s.path)
        h, w = image.shape[:2]
        size = self.crop_size
        if h < size or w < size:
            image = np.pad(image, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect")
            h, w = image.shape[:2]
        mask = None
        if s.variant == "inpaint_pasted" and s.mask_path:
            mask = np.asarray(Image.open(self.root / s.mask_path).convert("L")) > 127
            if mask.shape != (h, w):
                mask = None
        y, x = random_crop_origin(h, w, size, rng, mask)
        crop = np.ascontiguousarray(image[y : y + size, x : x + size])
        if self.transform is not None:
            crop = self.transform(image=crop)["image"]
        tensor = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float().div_(255.0)
        return tensor, torch.tensor(float(s.label))
