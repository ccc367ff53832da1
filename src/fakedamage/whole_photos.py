"""Whole-photo claims: genuine photos at native size (and resampled), damage pasted into them,
the size correction fitted on them, and figures per size band.

Refund claims are 1-50 MP phone photos, not 256 px crops. The score is a maximum over tiles,
and a maximum grows with the number of tiles, so a threshold set on crops does not keep its
false-positive rate on whole photos. This module

* builds **whole-photo claims** (:func:`whole_photo_claim`): a genuine photo at its native
  size (or resampled by a factor: 0.5x and 2x photos are genuine too), and the same photo
  with damage painted into a window and pasted back either directly (``real_damage``) or
  after a generator (``inpaint_pasted``), content-aligned exactly as :mod:`fakedamage.data.synth`
  does for crops. Every variant goes through the same JPEG re-encoding, so both classes share
  their file history;
* fits the **size correction** (:func:`fakedamage.calibration.fit_size_slope`) on genuine
  photos: how much the max tile logit grows per natural-log unit of area, within a photo;
* sets the **threshold** on genuine whole photos of realistic sizes, after that correction;
* reports FPR, TPR and trace AUC per size band (:data:`SIZE_BANDS`).

Scoring goes through any ``scan(image, **overrides) -> ScanResult`` (the torch-free
:meth:`fakedamage.Detector.scan`), so the figures are those of the shipped runtime.
"""

from __future__ import annotations

import io
import math
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

__all__ = ["SIZE_BANDS", "size_band", "resample", "jpeg_roundtrip", "whole_photo_claim", "WholeScore",
           "score_claims", "fit_size_correction", "corrected_probability", "band_report"]

#: ``(label, lower, upper)`` in pixels (lower exclusive except the first).
SIZE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<=2MP", 0.0, 2e6), ("2-8MP", 2e6, 8e6), ("8-20MP", 8e6, 20e6), (">20MP", 20e6, math.inf))


def size_band(pixels: int) -> str:
    """The :data:`SIZE_BANDS` label of an image of ``pixels`` pixels."""
    for label, lo, hi in SIZE_BANDS:
        if lo < pixels <= hi or (lo == 0 and pixels <= hi):
            return label
    raise ValueError(pixels)


def resample(image: np.ndarray, factor: float) -> np.ndarray:
    """Resize by ``factor`` (area averaging down, bicubic up), as apps and phones resample photos."""
    import cv2

    if factor == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


def jpeg_roundtrip(image: np.ndarray, quality: int = 92) -> np.ndarray:
    """Encode as a baseline JPEG (4:2:0) and decode, through Pillow, as a phone or app saves a photo."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        return np.asarray(im.convert("RGB"))


def whole_photo_claim(image: np.ndarray, generator: Any, seed: int, window: int = 256,
                      feather: float = 1.5, quality: int = 92) -> Iterator[tuple[str, np.ndarray]]:
    """``("pristine" | "real_damage" | "inpaint_pasted", image)`` of one whole photo, one at a time.

    Damage of a random kind is painted into a random ``window`` px square (the generator sees
    that window, as an AI editor's brush region) and pasted back into the full-resolution photo.
    Every yielded image has been through :func:`jpeg_roundtrip` at ``quality``. With
    ``generator=None`` only ``pristine`` is yielded. At most two full-size images are alive.
    """
    from .data.damage import DAMAGE_TYPES, make_damage_mask, paint_damage
    from .data.synth import content_aligned_pair, simulate_capture

    yield "pristine", jpeg_roundtrip(image, quality)
    if generator is None:
        return
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    win = min(window, h, w)
    y, x = int(rng.integers(0, h - win + 1)), int(rng.integers(0, w - win + 1))
    crop = np.ascontiguousarray(image[y : y + win, x : x + win])
    kind = DAMAGE_TYPES[int(rng.integers(len(DAMAGE_TYPES)))]
    mask = make_damage_mask(kind, win, win, rng, image=crop)
    damaged = simulate_capture(paint_damage(crop, mask, kind, rng), mask, rng)
    regenerated = generator.regenerate(damaged, mask, prompt="", seed=seed % 2**31)
    real_damage, pasted = content_aligned_pair(crop, damaged, regenerated, mask, feather)
    for variant, window_pixels in (("real_damage", real_damage), ("inpaint_pasted", pasted)):
        out = image.copy()
        out[y : y + win, x : x + win] = window_pixels
        yield variant, jpeg_roundtrip(out, quality)
        del out


@dataclass(frozen=True)
class WholeScore:
    """One scored whole photo."""

    photo: str
    factor: float
    variant: str
    generator: str
    height: int
    width: int
    pooled: float  # raw pooled logit, no size correction
    grid: np.ndarray | None  # (rows, cols) logits of the non-overlapping tiles (genuine photos only)

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def label(self) -> int:
        return int(self.variant == "inpaint_pasted")


def _coarse_grid(res: Any, height: int, width: int, tile: int) -> np.ndarray:
    """The non-overlapping tiles' logits as a ``(rows, cols)`` grid (edge-aligned last tiles dropped)."""
    rows, cols = max(1, height // tile), max(1, width // tile)
    grid = np.full((rows, cols), np.nan)
    for (y, x), v in zip(res.origins, res.logits):
        if y % tile == 0 and x % tile == 0 and y // tile < rows and x // tile < cols:
            grid[y // tile, x // tile] = v
    if np.isnan(grid).any():
        raise ValueError("tile grid incomplete: tile_size must be a multiple of tile_stride")
    return grid


def score_claims(scan: Callable[..., Any], photos: Iterable[tuple[str, np.ndarray]], factors: Sequence[float],
                 generator: Any | None, tile_size: int, max_pixels: int = 50_000_000, seed: int = 0,
                 progress: Callable[[str], None] | None = None) -> list[WholeScore]:
    """Score every photo at every resampling factor (genuine, and with ``generator`` the two damaged twins).

    ``photos`` may be a generator that decodes one photo at a time: only one is held at once.

    ``scan`` is called as ``scan(image, size_slope=0.0)`` (the model's own tile choice): raw pooled
    logits, and, for genuine photos, the grid of the tiles at multiples of the tile size (scored by
    both scans) for the size fit. Resampled images over ``max_pixels`` are skipped.
    """
    rows: list[WholeScore] = []
    for name, image in photos:
        for factor in factors:
            h, w = (round(image.shape[0] * factor), round(image.shape[1] * factor))
            if h * w > max_pixels or min(h, w) < tile_size:
                continue
            img = resample(image, factor)
            item_seed = zlib.crc32(f"{seed}/{name}/{factor}".encode())
            for variant, pixels in whole_photo_claim(img, generator, item_seed):
                res = scan(pixels, size_slope=0.0)
                grid = _coarse_grid(res, h, w, tile_size) if variant == "pristine" else None
                rows.append(WholeScore(name, float(factor), variant, getattr(generator, "name", "") if
                                       variant == "inpaint_pasted" else "", h, w, float(res.pooled), grid))
                del pixels
            del img
            if progress is not None:
                progress(f"{name} x{factor:g} ({h * w / 1e6:.1f} MP)")
    return rows


def fit_size_correction(genuine: Sequence[WholeScore], tile_size: int) -> float:
    """The size slope fitted on genuine whole photos (:func:`fakedamage.calibration.fit_size_slope`)."""
    from .calibration import fit_size_slope, window_maxima

    return fit_size_slope([window_maxima(r.grid, tile_size) for r in genuine if r.grid is not None])


def corrected_probability(r: WholeScore, slope: float, tile_size: int, reference_pixels: int,
                          temperature: float) -> float:
    """The runtime's score of ``r`` under a size slope: ``sigmoid((pooled - correction) / temperature)``."""
    from .runtime.tiling import sigmoid, size_correction

    corr = size_correction(r.height, r.width, tile_size, slope, reference_pixels)
    return float(sigmoid((r.pooled - corr) / temperature))


def band_report(rows: Sequence[WholeScore], slope: float, tile_size: int, reference_pixels: int,
                temperature: float, threshold: float) -> list[dict[str, Any]]:
    """Per :data:`SIZE_BANDS` band (and ``all``): genuine count, FPR, TPR, trace AUC (real_damage vs pasted)."""
    from sklearn.metrics import roc_auc_score

    def prob(r: WholeScore) -> float:
        return corrected_probability(r, slope, tile_size, reference_pixels, temperature)

    out = []
    for label in [b[0] for b in SIZE_BANDS] + ["all"]:
        sel = [r for r in rows if label == "all" or size_band(r.pixels) == label]
        gen = [prob(r) for r in sel if r.variant == "pristine"]
        rd = [prob(r) for r in sel if r.variant == "real_damage"]
        fake = [prob(r) for r in sel if r.variant == "inpaint_pasted"]
        row: dict[str, Any] = {"band": label, "genuine": len(gen), "fakes": len(fake),
                               "photos": len({r.photo for r in sel}),
                               "fpr": float(np.mean([p >= threshold for p in gen])) if gen else None,
                               "fpr_real_damage": float(np.mean([p >= threshold for p in rd])) if rd else None,
                               "tpr": float(np.mean([p >= threshold for p in fake])) if fake else None,
                               "trace_auc": None}
        if rd and fake:
            row["trace_auc"] = float(roc_auc_score([0] * len(rd) + [1] * len(fake), rd + fake))
        out.append(row)
    return out
