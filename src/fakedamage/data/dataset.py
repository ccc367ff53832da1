"""PyTorch datasets over a manifest: native-resolution crops, never a resize."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, default_collate

from ..runtime.image_io import load_image
from .manifest import Sample
from .targets import WHOLE_IMAGE_VARIANTS, region_target

__all__ = ["CropDataset", "GroupBatchSampler", "random_crop_origin", "collate_skip_bad", "resize_pair", "group_key",
           "damage_focus"]


def group_key(sample: Sample) -> str:
    """The crop a manifest row was made from (its id without the variant): every variant of one
    crop (pristine, real_damage, the fakes) shares it."""
    return sample.id.rsplit("/", 1)[0]


def damage_focus(sample: Sample, root: str | Path, shape: tuple[int, int]) -> np.ndarray | None:
    """Where a row's painted damage is, real or fake (``(H, W)`` bool), to centre training crops on it.

    Genuine damage (``real_damage``, label 0) is focused exactly like pasted fakes; otherwise a
    crop showing damage would itself predict "fake". ``None`` for rows without a partial mask.
    """
    if not sample.mask_path or sample.variant in WHOLE_IMAGE_VARIANTS:
        return None
    try:
        with Image.open(Path(root) / sample.mask_path) as m:
            mask = np.asarray(m.convert("L")) > 127
    except OSError:
        return None
    return mask if mask.shape == tuple(shape) and mask.any() and not mask.all() else None


def resize_pair(image: np.ndarray, mask: np.ndarray | None, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Resize an image (bicubic) and its mask (nearest) to ``size`` x ``size``: the resize input
    policy of the baseline that shows what interpolation does to forensic traces."""
    out = np.array(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))
    if mask is None:
        return out, None
    m = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((size, size), Image.Resampling.NEAREST)) > 127
    return out, m


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
    """Random native-resolution crops of manifest images, with their generated-region maps.

    Images with painted damage, fake *or genuine*, are cropped so the crop contains part of
    the damage (:func:`damage_focus`): a pasted fake's crop must show the edit or its label
    would be wrong, and genuine damage gets the same treatment so that "damage in view" is no
    cue. Every variant of one source crop draws the same crop window and the same augmentation
    in an epoch (the random stream is keyed by :func:`group_key`), so a fake and its genuine
    twin differ only by generator traces. Image and map go through the same albumentations
    pipeline (geometric transforms move both; the laundering transforms touch only the image).
    An unreadable image yields ``{"error": message}``; :func:`collate_skip_bad` drops and counts it.

    Args:
        samples: Manifest rows.
        root: Folder the manifest's relative paths start from.
        crop_size: Crop side in pixels (the model's tile size).
        transform: Albumentations pipeline (same for both labels) or None.
        seed: Base seed; each (epoch, index) pair gets its own stream.

    Items are dicts: ``image`` ``(3, S, S)`` float32 in ``[0, 1]``, ``label`` float32 scalar,
    ``mask`` ``(1, S, S)`` float32 target, ``mask_valid`` float32 (0 when the map is unknown).
    """

    def __init__(self, samples: Sequence[Sample], root: str | Path, crop_size: int,
                 transform: Callable | None = None, seed: int = 0, resize_to: int | None = None) -> None:
        self.resize_to = resize_to
        self.samples = list(samples)
        self.root = Path(root)
        self.crop_size = int(crop_size)
        self.transform = transform
        self.seed = seed
        self.epoch = 0
        self._group_seeds = [int.from_bytes(hashlib.sha256(group_key(x).encode()).digest()[:8], "little")
                             for x in self.samples]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        s = self.samples[index]
        try:
            image = load_image(self.root / s.path)
        except (ValueError, OSError) as e:  # ImageDecodeError is a ValueError with a one-line message
            return {"error": str(e).splitlines()[0] if str(e) else f"{s.path}: unreadable"}
        rng = np.random.default_rng([self.seed, self.epoch, self._group_seeds[index]])
        h, w = image.shape[:2]
        target = region_target(s, self.root, (h, w))
        focus = damage_focus(s, self.root, (h, w))
        valid = target is not None
        target = np.zeros((h, w), bool) if target is None else target
        if self.resize_to:  # the resize-input baseline: what this project otherwise never does
            image, target = resize_pair(image, target, self.resize_to)
            focus = None if focus is None else resize_pair(image, focus, self.resize_to)[1]
            h, w = image.shape[:2]
        size = self.crop_size
        if h < size or w < size:
            # pad as the runtime does (the scoring spec: repeat the last row / column)
            pad = ((0, max(0, size - h)), (0, max(0, size - w)))
            image = np.pad(image, (*pad, (0, 0)), mode="edge")
            target = np.pad(target, pad, mode="edge")
            focus = None if focus is None else np.pad(focus, pad, mode="edge")
            h, w = image.shape[:2]
        if focus is None and valid and s.label == 1 and not target.all():
            focus = target  # a fake with a region map but no damage mask (imported edits)
        y, x = random_crop_origin(h, w, size, rng, focus)
        crop = np.ascontiguousarray(image[y : y + size, x : x + size])
        mcrop = np.ascontiguousarray(target[y : y + size, x : x + size]).astype(np.uint8)
        if self.transform is not None:
            if hasattr(self.transform, "set_random_seed"):  # albumentations >= 2: reproducible per item
                self.transform.set_random_seed(int(rng.integers(2**31)))
            out = self.transform(image=crop, mask=mcrop)
            crop, mcrop = out["image"], out["mask"]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float().div_(255.0),
            "label": torch.tensor(float(s.label)),
            "mask": torch.from_numpy(np.ascontiguousarray(mcrop)).float().unsqueeze(0),
            "mask_valid": torch.tensor(float(valid)),
        }


class GroupBatchSampler:
    """Batches made of whole crop groups (every variant of a source crop together), shuffled per epoch.

    A fake and its genuine twin then meet in the same optimisation step, with the same crop and
    augmentation (see :class:`CropDataset`), which is the most direct contrast the detector can
    learn traces from. Groups are packed in order until a batch reaches ``batch_size``; a group
    larger than a batch is split. Under DDP each rank takes every ``world_size``-th batch, and all
    ranks get the same number of batches.

    Args:
        samples: The dataset's rows (same order as the dataset).
        batch_size: Target images per batch.
        world_size: DDP world size.
        rank: This process's rank.
        seed: Shuffle seed; the order depends only on ``(seed, epoch)``.
    """

    def __init__(self, samples: Sequence[Sample], batch_size: int, world_size: int = 1, rank: int = 0,
                 seed: int = 0) -> None:
        groups: dict[str, list[int]] = {}
        for i, s in enumerate(samples):
            groups.setdefault(group_key(s), []).append(i)
        self.groups = list(groups.values())
        self.batch_size, self.world_size, self.rank, self.seed = int(batch_size), int(world_size), int(rank), int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.groups))
        batches, cur = [], []
        for g in order:
            for i in self.groups[g]:
                cur.append(i)
                if len(cur) == self.batch_size:
                    batches.append(cur)
                    cur = []
            if len(cur) >= self.batch_size - 1:  # nearly full: close it rather than split the next group
                batches.append(cur)
                cur = []
        if cur:
            batches.append(cur)
        usable = len(batches) - len(batches) % self.world_size if len(batches) >= self.world_size else len(batches)
        return batches[:usable][self.rank :: self.world_size]

    def __iter__(self):
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())


def collate_skip_bad(items: list[dict]) -> dict:
    """Collate dataset items, dropping unreadable ones; ``errors`` lists their messages."""
    good = [it for it in items if "error" not in it]
    batch = default_collate(good) if good else {}
    batch["errors"] = [it["error"] for it in items if "error" in it]
    return batch
