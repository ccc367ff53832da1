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

import math
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .data.whole import jpeg_roundtrip, resample, whole_photo_claim
from .errors import UsageError
from .runtime.image_io import DEFAULT_MAX_PIXELS

__all__ = ["SIZE_BANDS", "size_band", "resample", "jpeg_roundtrip", "whole_photo_claim", "WholeScore",
           "score_claims", "fit_size_correction", "corrected_probability", "band_report",
           "evaluate_whole_rows", "calibrate_size"]

#: ``(label, lower, upper)`` in pixels (lower exclusive except the first).
SIZE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<=2MP", 0.0, 2e6), ("2-8MP", 2e6, 8e6), ("8-20MP", 8e6, 20e6), (">20MP", 20e6, math.inf))


def size_band(pixels: int) -> str:
    """The :data:`SIZE_BANDS` label of an image of ``pixels`` pixels."""
    for label, lo, hi in SIZE_BANDS:
        if lo < pixels <= hi or (lo == 0 and pixels <= hi):
            return label
    raise ValueError(pixels)


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
        raise UsageError("tile grid incomplete: tile_size must be a multiple of tile_stride")
    return grid


def score_claims(scan: Callable[..., Any], photos: Iterable[tuple[str, np.ndarray]], factors: Sequence[float],
                 generator: Any | None, tile_size: int, max_pixels: int = DEFAULT_MAX_PIXELS, seed: int = 0,
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


def evaluate_whole_rows(scan: Callable[..., Any], samples: Sequence[Any], root: Any, tile_size: int, slope: float,
                        reference_pixels: int, temperature: float, threshold: float, progress: bool = False,
                        resampled: Sequence[float] = (0.5, 2.0), max_pixels: int = DEFAULT_MAX_PIXELS) -> dict[str, Any]:
    """Score manifest rows of a ``*_whole`` split (one photo decoded at a time) and report them per size band.

    Every genuine (``pristine``) photo is also scored resampled by each factor of ``resampled``
    (area down, bicubic up; skipped above ``max_pixels``): resized photos are genuine too, and
    they fill the size bands. Returns ``{"bands": band_report(...), "failed": [one-line errors]}``;
    an unreadable photo is counted in ``failed``, never silently dropped.
    """
    from pathlib import Path

    from tqdm.auto import tqdm

    from .runtime.image_io import load_image

    rows, failed = [], []
    for s in tqdm(samples, desc="whole photos", disable=None if progress else True, leave=False):
        try:
            image = load_image(Path(root) / s.path, max_pixels=DEFAULT_MAX_PIXELS)
        except (ValueError, OSError) as e:
            failed.append(str(e).splitlines()[0] if str(e) else s.path)
            continue
        factors = [1.0] + (list(resampled) if s.variant == "pristine" else [])
        h0, w0 = image.shape[:2]
        for f in factors:
            if f != 1.0 and (round(h0 * f) * round(w0 * f) > max_pixels or min(h0, w0) * f < tile_size):
                continue
            img = resample(image, f)
            res = scan(img, size_slope=0.0)
            rows.append(WholeScore(s.source_id, float(f), s.variant, s.generator, img.shape[0], img.shape[1],
                                   float(res.pooled), None))
            del img
        del image
    bands = band_report(rows, slope, tile_size, reference_pixels, temperature, threshold) if rows else []
    return {"bands": bands, "failed": failed, "resampled": [float(f) for f in resampled]}


def calibrate_size(scan: Callable[..., Any], photos: Iterable[tuple[str, np.ndarray]], meta: Any,
                   factors: Sequence[float], target_fpr: float = 0.01, max_pixels: int = DEFAULT_MAX_PIXELS,
                   seed: int = 0, fit_slope: bool = True,
                   progress: Callable[[str], None] | None = None) -> tuple[Any, dict[str, Any]]:
    """Fit ``size_slope`` and the threshold of ``meta`` on genuine whole photos.

    Args:
        scan: ``scan(image, **overrides) -> ScanResult`` of the model (PyTorch or ONNX).
        photos: ``(name, image)`` genuine photos, decoded lazily (one held at a time).
        meta: The model's :class:`~fakedamage.meta.ModelMeta` (crop-calibrated threshold and temperature).
        factors: Resampling factors; every resampled copy is a genuine photo too.
        target_fpr: FPR the threshold must meet on these photos; it never goes below ``meta.threshold``.

    Returns:
        ``(new meta, summary)``; the summary is JSON-ready (slope, both thresholds, counts, the 95 %
        upper bound of the FPR these photos can show).
    """
    from .calibration import fpr_upper_bound, threshold_at_fpr

    tile, ref = meta.tile_size, meta.size_reference_pixels
    rows = score_claims(scan, photos, factors, None, tile, max_pixels, seed, progress)
    if not rows:
        raise UsageError("no genuine photo was large enough to score (need at least one tile a side)")
    slope = fit_size_correction(rows, tile) if fit_slope else meta.size_slope
    probs = [corrected_probability(r, slope, tile, ref, meta.temperature) for r in rows]
    thr_photos = threshold_at_fpr(probs, target_fpr)
    threshold = max(thr_photos, meta.threshold)
    fp = int(sum(p >= threshold for p in probs))
    summary = {"size_slope": slope, "size_reference_pixels": ref, "threshold": threshold,
               "threshold_whole_photos": thr_photos, "threshold_crops": meta.threshold,
               "target_fpr": float(target_fpr), "factors": [float(f) for f in factors],
               "calibration": {"photos": len({r.photo for r in rows}), "images": len(rows), "false_positives": fp,
                               "fpr": fp / len(rows), "fpr_upper_95": fpr_upper_bound(len(rows), fp),
                               "megapixels": [round(min(r.pixels for r in rows) / 1e6, 2),
                                              round(max(r.pixels for r in rows) / 1e6, 2)]}}
    new = meta.replace(size_slope=float(slope), threshold=float(threshold),
                       export_checks={**dict(meta.export_checks), "whole_photos": summary})
    return new, summary
