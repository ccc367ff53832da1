"""Procedural, seeded damage: alpha masks and painting them into a photo.

Two steps, both deterministic given the ``numpy.random.Generator`` passed in:

1. :func:`make_damage_mask` draws an ``(H, W)`` float32 alpha mask in ``[0, 1]`` for
   one of :data:`DAMAGE_TYPES`. When the image is given, the damage is anchored
   preferably on textured / object regions (anchor sampled with probability rising
   with local gradient energy) rather than on flat background.
2. :func:`paint_damage` paints the damage into the image under the mask. Pixels where
   the mask is exactly 0 are returned byte-identical.

Mask values carry structure that the painter uses:

* ``crack``: ~1 on the crack, a thin soft halo (< 1) that carries the highlight edge.
* ``stain``: interior ~0.6-0.8 (mottled), higher (up to 1) on the optional coffee ring.
* ``scratch``: 0.7-1 on the strokes (per-stroke strength).
* ``tear``: ~1 on the open gap, ~0.7 on the displaced flap next to it.
* ``chip``: ~1 on the bite.

Size targets (fraction of pixels with mask >= 0.5, enforced): stain/tear/chip 2-25 %,
crack/scratch 1-25 %. Sizes scale with ``min(H, W)``.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np

__all__ = [
    "DAMAGE_TYPES",
    "COVERAGE_BOUNDS",
    "make_damage_mask",
    "paint_damage",
    "mask_to_uint8",
    "mask_coverage",
]

DAMAGE_TYPES: tuple[str, ...] = ("crack", "stain", "scratch", "tear", "chip")

#: ``kind -> (min, max)`` fraction of pixels with mask >= 0.5 that a mask is held to.
COVERAGE_BOUNDS: dict[str, tuple[float, float]] = {
    "crack": (0.01, 0.25),
    "stain": (0.02, 0.25),
    "scratch": (0.01, 0.25),
    "tear": (0.02, 0.25),
    "chip": (0.02, 0.25),
}

_SHIFT = 4  # cv2 fixed-point fractional bits for sub-pixel drawing
_ONE = 1 << _SHIFT
_MIN_SIDE = 8


# --------------------------------------------------------------------------- helpers


def mask_to_uint8(mask: np.ndarray) -> np.ndarray:
    """Binarise an alpha mask at 0.5.

    Args:
        mask: ``(H, W)`` alpha in ``[0, 1]``.

    Returns:
        ``(H, W)`` uint8, 255 where ``mask >= 0.5`` else 0.
    """
    return np.where(np.asarray(mask) >= 0.5, 255, 0).astype(np.uint8)


def mask_coverage(mask: np.ndarray) -> float:
    """Fraction of pixels with ``mask >= 0.5``.

    Args:
        mask: ``(H, W)`` alpha in ``[0, 1]``.

    Returns:
        Coverage in ``[0, 1]``.
    """
    return float(np.mean(np.asarray(mask) >= 0.5))


def _fx(pts: np.ndarray) -> np.ndarray:
    """Float ``(N, 2)`` xy points to cv2 fixed-point int32."""
    return np.round(np.asarray(pts, dtype=np.float64) * _ONE).astype(np.int32)


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0.05:
        return a
    return cv2.GaussianBlur(a, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)


def _texture_maps(image: np.ndarray | None, h: int, w: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(region texture, fine edge energy) maps, each ``(h, w)`` float32 with mean 1; None without image."""
    if image is None:
        return None
    img = np.asarray(image)
    if img.ndim == 3:
        gray = img[..., :3].astype(np.float32).mean(axis=2)
    elif img.ndim == 2:
        gray = img.astype(np.float32)
    else:
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {img.shape}")
    if img.dtype != np.uint8 and gray.size and gray.max() <= 1.0:
        gray = gray * 255.0
    if gray.shape != (h, w):
        gray = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    mag = np.sqrt(gx * gx + gy * gy)
    s = min(h, w)
    fine = _blur(mag, max(1.0, s / 96))
    region = _blur(mag, max(2.0, s / 16))
    out = []
    for m in (region, fine):
        mean = float(m.mean())
        out.append((m / mean).astype(np.float32) if mean > 1e-6 else np.ones((h, w), np.float32))
    return out[0], out[1]


def _sample_point(
    rng: np.random.Generator, weights: np.ndarray | None, h: int, w: int, margin: float
) -> tuple[float, float]:
    """Draw an (x, y) point at least ``margin`` px from the border, with probability ∝ weights."""
    mx = min(margin, (w - 1) / 2.0)
    my = min(margin, (h - 1) / 2.0)
    if weights is None:
        return float(rng.uniform(mx, w - 1 - mx)), float(rng.uniform(my, h - 1 - my))
    wts = weights.astype(np.float64) ** 2
    wts += 0.01 * wts.mean() + 1e-12  # flat regions remain possible, just unlikely
    x0, x1 = int(math.ceil(mx)), int(math.floor(w - 1 - mx))
    y0, y1 = int(math.ceil(my)), int(math.floor(h - 1 - my))
    sub = wts[y0 : y1 + 1, x0 : x1 + 1]
    c = np.cumsum(sub.ravel())
    idx = int(np.searchsorted(c, rng.random() * c[-1], side="right"))
    idx = min(idx, c.size - 1)
    yy, xx = divmod(idx, sub.shape[1])
    return float(x0 + xx + rng.random() - 0.5), float(y0 + yy + rng.random() - 0.5)


def _value_at(m: np.ndarray | None, x: float, y: float) -> float:
    if m is None:
        return 1.0
    h, w = m.shape
    return float(m[min(max(int(round(y)), 0), h - 1), min(max(int(round(x)), 0), w - 1)])


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Low-frequency noise in ``[0, 1]``, ``(h, w)`` float32."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    g = rng.random((gh, gw)).astype(np.float32)
    return np.clip(cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


# --------------------------------------------------------------------------- mask makers
# Each maker draws all its random numbers from its own rng (re-seeded identically for every
# size attempt), so that the size search in make_damage_mask changes the size, not the shape.



def _walk(
    rng: np.random.Generator,
    x: float,
    y: float,
    angle: float,
    length: float,
    step: float,
    jitter: float,
    tex: np.ndarray | None,
    h: int,
    w: int,
    jag: float = 0.0,
) -> np.ndarray:
    """Persistent random walk (reflecting at the border), steered toward texture when given.

    ``jag`` adds a perpendicular zig-zag of that many pixels (std) to each vertex.
    """
    n = max(2, int(length / step))
    pts = [(x, y)]
    for _ in range(n):
        cands = angle + rng.normal(0.0, jitter, 2)
        if rng.random() < 0.06:  # occasional kink
            cands = cands + rng.normal(0.0, 0.5)
        best, best_v = cands[0], -1.0
        for a in cands:
            v = _value_at(tex, x + step * math.cos(a), y + step * math.sin(a))
            if v > best_v:
                best, best_v = a, v
        angle = float(best)
        nx, ny = x + step * math.cos(angle), y + step * math.sin(angle)
        if not 1 <= nx <= w - 2:
            angle = math.pi - angle
            nx = x + step * math.cos(angle)
        if not 1 <= ny <= h - 2:
            angle = -angle
            ny = y + step * math.sin(angle)
        x, y = float(np.clip(nx, 0, w - 1)), float(np.clip(ny, 0, h - 1))
        pts.append((x, y))
    out = np.asarray(pts)
    if jag > 0 and len(out) > 2:
        d = np.gradient(out, axis=0)
        nrm = np.stack([-d[:, 1], d[:, 0]], axis=1) / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-9)
        off = rng.normal(0.0, jag, len(out))
        off[0] = 0.0
        out = out + nrm * off[:, None]
        out[:, 0] = np.clip(out[:, 0], 0, w - 1)
        out[:, 1] = np.clip(out[:, 1], 0, h - 1)
    return out


def _draw_tapered(canvas: np.ndarray, pts: np.ndarray, t0: float, t1: float) -> None:
    n = len(pts) - 1
    fp = _fx(pts)
    for i in range(n):
        t = t0 + (t1 - t0) * i / max(1, n - 1)
        thick = max(1, int(round(t)))
        val = int(round(255 * min(1.0, max(t, 0.6))))
        p, q = tuple(int(v) for v in fp[i]), tuple(int(v) for v in fp[i + 1])
        cv2.line(canvas, p, q, val, thick, cv2.LINE_AA, _SHIFT)


def _crack(rng: np.random.Generator, h: int, w: int, maps, scale: float) -> np.ndarray:
    s = min(h, w)
    region = maps[0] if maps else None
    canvas = np.zeros((h, w), np.uint8)
    x, y = _sample_point(rng, region, h, w, 0.12 * s)
    angle = rng.uniform(0, 2 * math.pi)
    length = rng.uniform(0.5, 0.85) * s
    t0 = rng.uniform(0.013, 0.02) * s * scale
    t1 = max(0.8, 0.25 * t0)
    step = max(1.5, s / 80)
    jag = 0.0035 * s
    trunk = _walk(rng, x, y, angle, length, step, 0.12, region, h, w, jag)
    _draw_tapered(canvas, trunk, t0, t1)
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(max(1, len(trunk) // 6), max(2, (3 * len(trunk)) // 4)))
        frac = i / (len(trunk) - 1)
        d = trunk[min(i + 1, len(trunk) - 1)] - trunk[i - 1]
        base = math.atan2(d[1], d[0])
        a = base + rng.choice([-1.0, 1.0]) * rng.uniform(0.35, 1.1)
        blen = rng.uniform(0.25, 0.55) * length * (1 - 0.5 * frac)
        tb = (t0 + (t1 - t0) * frac) * 0.75
        branch = _walk(rng, trunk[i][0], trunk[i][1], a, blen, step, 0.16, region, h, w, jag)
        _draw_tapered(canvas, branch, tb, max(0.7, 0.2 * tb))
        if rng.random() < 0.5 and len(branch) > 4:  # hairline off the branch
            j = int(rng.integers(1, len(branch) - 2))
            a2 = a + rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.0)
            hair = _walk(rng, branch[j][0], branch[j][1], a2, blen * 0.4, step, 0.2, region, h, w, jag)
            _draw_tapered(canvas, hair, max(0.8, tb * 0.5), 0.6)
    m = canvas.astype(np.float32) / 255.0
    return _blur(m, 0.7)


def _stain(rng: np.random.Generator, h: int, w: int, maps, scale: float) -> np.ndarray:
    s = min(h, w)
    region = maps[0] if maps else None
    r = rng.uniform(0.1, 0.19) * s * scale
    cx, cy = _sample_point(rng, region, h, w, 0.12 * s)
    theta = np.linspace(0, 2 * math.pi, 256, endpoint=False)
    rad = np.ones_like(theta)
    for k in range(2, 8):
        rad += rng.uniform(0, 0.2) / k**0.8 * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    aspect, rot = rng.uniform(0.65, 1.0), rng.uniform(0, math.pi)
    px, py = rad * np.cos(theta), aspect * rad * np.sin(theta)
    cr, sr = math.cos(rot), math.sin(rot)
    pts = np.stack([cx + r * (cr * px - sr * py), cy + r * (sr * px + cr * py)], axis=1)
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [_fx(pts)], 255, cv2.LINE_AA, _SHIFT)
    for _ in range(int(rng.integers(0, 3))):  # satellite drops
        a, dist = rng.uniform(0, 2 * math.pi), r * rng.uniform(0.95, 1.35)
        rs = r * rng.uniform(0.08, 0.22)
        c = _fx(np.array([[cx + dist * math.cos(a), cy + dist * math.sin(a)]]))[0]
        cv2.circle(canvas, (int(c[0]), int(c[1])), max(1, int(round(rs * _ONE))), 255, -1, cv2.LINE_AA, _SHIFT)
    inside = (canvas >= 128).astype(np.uint8)
    dist_in = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    ring_w = max(1.0, r * rng.uniform(0.03, 0.07))
    ring = np.exp(-(((dist_in - ring_w) / ring_w) ** 2)).astype(np.float32)
    level = rng.uniform(0.6, 0.78)
    interior = level * (0.88 + 0.12 * _smooth_noise(rng, h, w, max(4.0, r / 3)))
    ring_strength = rng.uniform(0.6, 1.0) if rng.random() < 0.7 else 0.0
    alpha = interior + (1 - interior) * ring * ring_strength
    soft = _blur(canvas.astype(np.float32) / 255.0, max(0.8, r * 0.035))
    return (alpha * soft).astype(np.float32)


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 48) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _scratch(rng: np.random.Generator, h: int, w: int, maps, scale: float) -> np.ndarray:
    s = min(h, w)
    fine = maps[1] if maps else None
    m = np.zeros((h, w), np.float32)
    base_angle = rng.uniform(0, math.pi)  # scratches of one event share a rough direction
    for _ in range(int(rng.integers(1, 5))):
        cx, cy = _sample_point(rng, fine, h, w, 0.15 * s)
        angle = base_angle + rng.normal(0, 0.35)
        length = rng.uniform(0.25, 0.6) * s * min(1.0, scale) ** 0.5
        d = np.array([math.cos(angle), math.sin(angle)])
        nrm = np.array([-d[1], d[0]])
        c = np.array([cx, cy])
        bend = length * rng.uniform(-0.15, 0.15)
        lines = max(1, int(round(rng.integers(1, 5) * max(1.0, scale))))
        spacing = max(2.0, s * rng.uniform(0.008, 0.016))
        thick = max(1, int(round(s * rng.uniform(0.006, 0.01) * min(scale, 1.6))))
        for j in range(lines):
            off = (j - (lines - 1) / 2) * spacing + rng.normal(0, 0.3)
            a0, a1 = rng.uniform(0.0, 0.15), rng.uniform(0.85, 1.0)
            p0 = c - d * length * (0.5 - a0) + nrm * off
            p2 = c + d * length * (a1 - 0.5) + nrm * off
            p1 = (p0 + p2) / 2 + nrm * bend
            pts = _bezier(p0, p1, p2)
            canvas = np.zeros((h, w), np.uint8)
            cv2.polylines(canvas, [_fx(pts)], False, 255, thick, cv2.LINE_AA, _SHIFT)
            m = np.maximum(m, canvas.astype(np.float32) / 255.0 * rng.uniform(0.75, 1.0))
    return _blur(m, 0.5)


def _tear(rng: np.random.Generator, h: int, w: int, maps, scale: float) -> np.ndarray:
    s = min(h, w)
    region = maps[0] if maps else None
    cx, cy = _sample_point(rng, region, h, w, 0.2 * s)
    angle = rng.uniform(0, math.pi)
    length = rng.uniform(0.3, 0.55) * s
    n = 48
    t = np.linspace(0, 1, n)
    d = np.array([math.cos(angle), math.sin(angle)])
    nrm = np.array([-d[1], d[0]])
    side = rng.choice([-1.0, 1.0])
    # jagged tear edge: meandering walk + high-frequency zig-zag, pinned at the ends
    walk = np.cumsum(rng.normal(0, 0.012 * s, n))
    walk -= np.linspace(walk[0], walk[-1], n)
    zig = rng.normal(0, 0.006 * s, n) + (np.arange(n) % 2 - 0.5) * 0.006 * s
    env = np.sin(math.pi * t) ** 0.5
    edge = (np.array([cx, cy]) + np.outer((t - 0.5) * length, d) + np.outer(walk + zig * env, nrm))
    gap = rng.uniform(0.012, 0.028) * s * scale * env
    flap = rng.uniform(0.06, 0.12) * s * scale * np.sin(math.pi * t) ** rng.uniform(0.6, 1.2)
    gap_far = edge + np.outer(side * gap, nrm)
    flap_far = gap_far + np.outer(side * flap, nrm) + np.outer(rng.normal(0, 0.003 * s, n) * env, nrm)
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [_fx(np.concatenate([gap_far, flap_far[::-1]]))], int(round(0.7 * 255)), cv2.LINE_AA, _SHIFT)
    gap_canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(gap_canvas, [_fx(np.concatenate([edge, gap_far[::-1]]))], 255, cv2.LINE_AA, _SHIFT)
    cv2.polylines(gap_canvas, [_fx(edge)], False, 255, 1, cv2.LINE_AA, _SHIFT)
    m = np.maximum(canvas, gap_canvas).astype(np.float32) / 255.0
    return _blur(m, 0.6)


def _chip(rng: np.random.Generator, h: int, w: int, maps, scale: float) -> np.ndarray:
    s = min(h, w)
    at_border = rng.random() < 0.5
    if at_border:
        r = rng.uniform(0.14, 0.22) * s * scale
        if maps is not None:  # a textured stretch of a textured border
            strips = [maps[1][:3, :], maps[1][-3:, :], maps[1][:, :3].T, maps[1][:, -3:].T]
            pw = np.array([float(st.mean()) ** 2 for st in strips]) + 1e-3
            side = int(np.searchsorted(np.cumsum(pw), rng.random() * pw.sum(), side="right").clip(0, 3))
        else:
            side = int(rng.integers(0, 4))
        along = (w if side in (0, 1) else h) - 1
        if maps is not None:
            strip = strips[side]
            prof = strip.mean(axis=0).astype(np.float64) ** 2
            lo, hi = int(0.12 * along), int(0.88 * along)
            prof = prof[lo : hi + 1] + 0.01 * prof.mean() + 1e-12
            c = np.cumsum(prof)
            pos = lo + int(np.searchsorted(c, rng.random() * c[-1], side="right")) + rng.random() - 0.5
        else:
            pos = rng.uniform(0.12 * along, 0.88 * along)
        inset = rng.uniform(0.0, 0.3) * r
        cx, cy = {0: (pos, inset), 1: (pos, h - 1 - inset), 2: (inset, pos), 3: (w - 1 - inset, pos)}[side]
    else:
        r = rng.uniform(0.09, 0.15) * s * scale
        cx, cy = _sample_point(rng, maps[1] if maps else None, h, w, 0.15 * s)
    nv = int(rng.integers(6, 11))
    ang = np.sort(rng.uniform(0, 2 * math.pi, nv))
    rad = r * rng.uniform(0.6, 1.0, nv)
    pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], axis=1)
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [_fx(pts)], 255, cv2.LINE_AA, _SHIFT)
    return _blur(canvas.astype(np.float32) / 255.0, 0.6)


_MAKERS: dict[str, Callable[..., np.ndarray]] = {
    "crack": _crack,
    "stain": _stain,
    "scratch": _scratch,
    "tear": _tear,
    "chip": _chip,
}


def _check_kind(kind: str) -> None:
    if kind not in DAMAGE_TYPES:
        raise ValueError(f"unknown damage kind {kind!r}; expected one of {DAMAGE_TYPES}")


def make_damage_mask(
    kind: str,
    height: int,
    width: int,
    rng: np.random.Generator,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """Draw a seeded damage alpha mask.

    The shape is drawn once from ``rng``; its size is then adjusted (same shape,
    scaled) until the coverage (pixels >= 0.5) lies in :data:`COVERAGE_BOUNDS`.
    Exactly one draw is taken from ``rng``, so later draws from it do not depend on
    the size search.

    Args:
        kind: One of :data:`DAMAGE_TYPES`.
        height: Mask height ``H`` (>= 8).
        width: Mask width ``W`` (>= 8).
        rng: Source of randomness; the result is a pure function of its state.
        image: Optional ``(H, W, 3)`` (or ``(H, W)``) image the damage is meant for;
            anchors are then sampled preferring textured regions. Resized to
            ``(H, W)`` if its size differs.

    Returns:
        ``(H, W)`` float32 alpha in ``[0, 1]``, never empty; values below 1/255 are 0.

    Raises:
        ValueError: Unknown ``kind`` or a side below 8 px.
    """
    _check_kind(kind)
    h, w = int(height), int(width)
    if h < _MIN_SIDE or w < _MIN_SIDE:
        raise ValueError(f"mask size {h}x{w} is too small; each side must be >= {_MIN_SIDE}")
    maps = _texture_maps(image, h, w)
    seed = int(rng.integers(0, 2**63 - 1))
    lo, hi = COVERAGE_BOUNDS[kind]
    scale, best, best_err = 1.0, None, math.inf
    for _ in range(10):
        m = _MAKERS[kind](np.random.default_rng(seed), h, w, maps, scale)
        cov = mask_coverage(m)
        err = 0.0 if lo <= cov <= hi else (lo - cov if cov < lo else cov - hi)
        if err < best_err:
            best, best_err = m, err
        if err == 0.0:
            break
        scale *= 1.3 if cov < lo else 0.75
    m = np.clip(best, 0.0, 1.0).astype(np.float32)
    m = _force_coverage(m, lo, hi, np.random.default_rng(seed))
    m[m < 1.0 / 255.0] = 0.0
    return m


def _force_coverage(m: np.ndarray, lo: float, hi: float, rng: np.random.Generator) -> np.ndarray:
    """Last resort: dilate (or erode) until coverage is within bounds; never return an empty mask."""
    h, w = m.shape
    if not (m >= 0.5).any():
        x, y = int(rng.integers(w // 4, 3 * w // 4)), int(rng.integers(h // 4, 3 * h // 4))
        cv2.circle(m, (x, y), max(2, min(h, w) // 12), 1.0, -1, cv2.LINE_AA)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(64):
        cov = mask_coverage(m)
        if cov < lo:
            m = cv2.dilate(m, kernel)
        elif cov > hi:
            e = cv2.erode(m, kernel)
            if not (e >= 0.5).any():
                break
            m = e
        else:
            break
    return m


# --------------------------------------------------------------------------- painting


def _shift(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``out[y, x] = a[y - dy, x - dx]`` with edge replication."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(a, m, (a.shape[1], a.shape[0]), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)


def _paint_crack(f: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    depth = rng.uniform(0.6, 0.85)
    a = rng.uniform(0, 2 * math.pi)
    dx, dy = int(round(math.cos(a) * 1.4)), int(round(math.sin(a) * 1.4))
    if dx == 0 and dy == 0:
        dx = 1
    core = np.clip((m - 0.25) / 0.75, 0, 1) ** 0.8
    # highlight on the side facing the light: where the shifted crack has more mask than here
    hl = np.clip(_shift(m, dx, dy) - m, 0, 1) * (m > 0)
    shadow_col = np.array([25.0, 20.0, 18.0], np.float32) * rng.uniform(0.5, 1.5)
    dark = f * (1 - depth) + shadow_col * depth
    out = f + (dark - f) * core[..., None]
    out = out + (255.0 - out) * (rng.uniform(0.3, 0.5) * hl)[..., None]
    return out


_STAIN_TINTS = np.array(
    [
        [0.78, 0.60, 0.40],  # coffee
        [0.90, 0.78, 0.52],  # tea / yellowing
        [0.80, 0.55, 0.35],  # rust
        [0.85, 0.80, 0.70],  # dirty water
        [0.70, 0.62, 0.50],  # grime
    ],
    np.float32,
)


def _paint_stain(f: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    tint = _STAIN_TINTS[int(rng.integers(0, len(_STAIN_TINTS)))] * rng.uniform(0.95, 1.03, 3).astype(np.float32)
    strength = rng.uniform(0.6, 0.95)
    k = (strength * m * (0.55 + 0.65 * m))[..., None]  # ring (high m) darker than the interior
    mult = 1.0 - (1.0 - np.clip(tint, 0, 1)) * k
    out = f * mult
    # very dark pixels cannot be multiplied visibly: add a faint tinted deposit
    out = out + (tint * 60.0 - out) * (0.15 * m * (f.mean(axis=2) < 40))[..., None]
    return out


def _paint_scratch(f: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    amount = rng.uniform(0.45, 0.8)
    light = np.array([240.0, 240.0, 236.0], np.float32)
    lum = f.mean(axis=2, keepdims=True)
    lighter = f + (light - f) * amount
    darker = f * (1 - 0.25 * amount)  # on near-white surfaces a scratch reads as a grey scuff
    target = np.where(lum > 215, darker, lighter)
    return f + (target - f) * m[..., None]


def _paint_tear(f: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    s = min(m.shape)
    mag = max(2, int(round(s * rng.uniform(0.008, 0.02))))
    a = rng.uniform(0, 2 * math.pi)
    dx, dy = int(round(mag * math.cos(a))), int(round(mag * math.sin(a)))
    shifted = _shift(f, dx, dy) * rng.uniform(0.85, 1.0)  # displaced flap, slightly shaded
    gapness = np.clip((m - 0.7) / 0.3, 0, 1)[..., None]
    gap_col = np.array([30.0, 24.0, 20.0], np.float32) * rng.uniform(0.6, 1.4)
    fibres = (0.75 + 0.5 * rng.random(m.shape).astype(np.float32))[..., None]
    gap = f * 0.12 + gap_col * fibres
    target = shifted * (1 - gapness) + gap * gapness
    return f + (target - f) * np.clip(m / 0.7, 0, 1)[..., None]


def _paint_chip(f: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = m.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    tot = float(m.sum()) + 1e-6
    cx, cy = float((xs * m).sum() / tot), float((ys * m).sum() / tot)
    r = math.sqrt(tot / math.pi) + 1.0
    a = rng.uniform(0, 2 * math.pi)
    shade = ((xs - cx) * math.cos(a) + (ys - cy) * math.sin(a)) / r  # ~[-1, 1] across the bite
    local = _blur(f, max(2.0, r * 0.6))
    grain = (rng.random((h, w)).astype(np.float32) - 0.5) * 18.0
    if rng.random() < 0.5:  # exposed lighter substrate (primer, ceramic body, wood)
        sub = np.array([225.0, 218.0, 205.0], np.float32) * rng.uniform(0.85, 1.05)
        base = local * 0.35 + sub * 0.65
    else:  # dark pit
        base = local * rng.uniform(0.3, 0.5)
    inner = (0.5 * m) ** 2 * 4  # 1 on the bite
    out = base * (1.0 + 0.22 * shade[..., None] * inner[..., None]) + grain[..., None]
    rim = np.clip(m * (1 - m) * 4, 0, 1) * np.clip(shade, 0, 1)  # lit broken edge
    out = out + (255.0 - out) * (0.35 * rim)[..., None]
    return f + (out - f) * m[..., None]


_PAINTERS: dict[str, Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]] = {
    "crack": _paint_crack,
    "stain": _paint_stain,
    "scratch": _paint_scratch,
    "tear": _paint_tear,
    "chip": _paint_chip,
}


def paint_damage(image: np.ndarray, mask: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Paint damage of ``kind`` into ``image`` under ``mask``.

    Looks: crack = dark shadowed line with a thin highlight on one side; stain =
    brownish/yellowish multiplicative tint, darker on the ring; scratch = lighter
    strokes (grey scuffs on near-white); tear = dark gap beside a shifted flap of
    pixels; chip = lighter substrate or dark pit with directional shading and a lit rim.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        mask: ``(H, W)`` alpha in ``[0, 1]`` from :func:`make_damage_mask`.
        kind: One of :data:`DAMAGE_TYPES`.
        rng: Source of the painting's random parameters (colour, depth, light direction).

    Returns:
        ``(H, W, 3)`` uint8 RGB, a new array; pixels where ``mask == 0`` are
        byte-identical to ``image``.

    Raises:
        ValueError: Unknown ``kind``, or shapes/dtypes that do not match.
    """
    _check_kind(kind)
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got shape {img.shape} dtype {img.dtype}")
    m = np.asarray(mask, dtype=np.float32)
    if m.shape != img.shape[:2]:
        raise ValueError(f"mask shape {m.shape} does not match image {img.shape[:2]}")
    m = np.clip(np.nan_to_num(m), 0.0, 1.0)
    painted = _PAINTERS[kind](img.astype(np.float32), m, rng)
    out = np.clip(np.round(painted), 0, 255).astype(np.uint8)
    return np.where((m > 0)[..., None], out, img)
