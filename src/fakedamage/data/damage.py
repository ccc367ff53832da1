"""Procedural, seeded damage: alpha masks and painting them into a photo.

Two steps, both deterministic given the ``numpy.random.Generator`` passed in:

1. :func:`make_damage_mask` draws an ``(H, W)`` float32 alpha mask in ``[0, 1]`` for
   one of :data:`DAMAGE_TYPES`. When the image is given, the damage is anchored
   preferably on textured / object regions (anchor sampled with probability rising
   with local gradient energy) rather than on flat background.
2. :func:`paint_damage` paints the damage into the image under the mask, shaded as
   physical damage (one light direction per painting). Pixels where the mask is
   exactly 0 are returned byte-identical.

Mask values carry structure that the painter uses:

* ``crack``: ~1 on the open crack (trunk, branches, chipped widenings at a few points;
  ragged lips, width varying along the crack and tapering to the tips), below 0.5 on
  faint hairlines, and a halo of at most 0.2 around it (fading to 0 a few px out) that
  carries the lit lip, the shadowed lip and the shear of the two sides.
* ``stain``: one of three sub-types, told apart by the values (see ``_stain_subtype``):

  - coffee ring: interior 0.56-0.8 (mottled), a ring rising to ~1 just inside a sharp
    outer edge and decaying inward, an optional faint inner tide line, satellite drops
    and drips;
  - grease: ~0.95-1 deep inside, soft wide falloff to 0 at the edge, no ring;
  - water mark: flat ~0.5-0.54 interior, a thin faint ring and tide lines near the rim.

  The painter reads the sub-type from the median value deep inside the stain: >= 0.86
  grease, >= 0.585 coffee, else water.

* ``scratch``: up to 1 along the strokes (strength varies along each stroke and fades
  below 0.5 at its ends).
* ``tear``: ~1 on the open gap (ragged, fibrous lips), ~0.7 on the displaced, lifted
  flap next to it, falling softly to 0 at the flap's fold.
* ``chip``: ~1 on the bite (ragged outline).
* ``scuff``: a patch with a soft irregular outline, 0.56-0.68 inside, plus many fine,
  roughly parallel abrasion lines up to 1.

Size targets (fraction of pixels with mask >= 0.5, enforced): stain/tear/chip/scuff
2-25 %, crack/scratch 1-25 %. Sizes scale with ``min(H, W)``.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np

from ..errors import UsageError

__all__ = [
    "DAMAGE_TYPES",
    "COVERAGE_BOUNDS",
    "make_damage_mask",
    "paint_damage",
    "mask_to_uint8",
    "mask_coverage",
]

DAMAGE_TYPES: tuple[str, ...] = ("crack", "stain", "scratch", "tear", "chip", "scuff")

#: ``kind -> (min, max)`` fraction of pixels with mask >= 0.5 that a mask is held to.
COVERAGE_BOUNDS: dict[str, tuple[float, float]] = {
    "crack": (0.01, 0.25),
    "stain": (0.02, 0.25),
    "scratch": (0.01, 0.25),
    "tear": (0.02, 0.25),
    "chip": (0.02, 0.25),
    "scuff": (0.02, 0.25),
}

_SHIFT = 4  # cv2 fixed-point fractional bits for sub-pixel drawing
_ONE = 1 << _SHIFT
_MIN_SIDE = 8
_MAP_SIDE = 512  # texture maps are computed at most at this resolution (then resized)


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


def _fast_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide ones run on a downsampled copy (same look, a fraction of the time)."""
    if sigma <= 6.0:
        return _blur(a, sigma)
    h, w = a.shape[:2]
    k = sigma / 3.0
    small = cv2.resize(a, (max(1, int(round(w / k))), max(1, int(round(h / k)))), interpolation=cv2.INTER_AREA)
    return cv2.resize(_blur(small, 2.8), (w, h), interpolation=cv2.INTER_LINEAR)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _gray(f: np.ndarray) -> np.ndarray:
    """Luma of a float RGB image, ``(h, w, 1)``."""
    return (f @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]


def _dist(nonzero: np.ndarray, precise: bool = False) -> np.ndarray:
    """Distance (px) of each nonzero pixel to the nearest zero one; capped by the image diagonal."""
    d = cv2.distanceTransform(nonzero.astype(np.uint8), cv2.DIST_L2, 5 if precise else 3)
    return np.minimum(d, float(np.hypot(*nonzero.shape)))


def _grad(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx = cv2.Sobel(a, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(a, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    return gx, gy


def _texture_maps(image: np.ndarray | None, h: int, w: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(region texture, fine edge energy) maps, each ``(h, w)`` float32 with mean 1; None without image."""
    if image is None:
        return None
    img = np.asarray(image)
    if img.ndim == 3:
        img = img[..., :3]
    elif img.ndim != 2:
        raise UsageError(f"image must be (H, W) or (H, W, C), got shape {img.shape}")
    s = min(h, w)
    f = max(1.0, s / _MAP_SIDE)  # large photos: compute on a reduced copy
    gh, gw = max(1, int(round(h / f))), max(1, int(round(w / f)))
    if img.shape[:2] != (gh, gw):  # resize first (cheap on uint8), then average the channels
        src = img if img.dtype == np.uint8 else img.astype(np.float32)
        img = cv2.resize(np.ascontiguousarray(src), (gw, gh), interpolation=cv2.INTER_AREA)
    gray = img.astype(np.float32).mean(axis=2) if img.ndim == 3 else img.astype(np.float32)
    if img.dtype != np.uint8 and gray.size and gray.max() <= 1.0:
        gray = gray * 255.0
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    mag = np.sqrt(gx * gx + gy * gy)
    fine = _blur(mag, max(1.0, s / 96 / f))
    region = _blur(mag, max(2.0, s / 16 / f))
    out = []
    for m in (region, fine):
        if m.shape != (h, w):
            m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
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


def _smooth1d(rng: np.random.Generator, n: int, knots: int) -> np.ndarray:
    """Smooth 1-D noise in ``[0, 1]`` over ``n`` samples (``knots + 1`` random values, eased)."""
    knots = max(1, int(knots))
    g = rng.random(knots + 1)
    x = np.linspace(0.0, knots, n)
    i = np.minimum(x.astype(int), knots - 1)
    t = x - i
    t = t * t * (3 - 2 * t)
    return g[i] * (1 - t) + g[i + 1] * t


def _normals(pts: np.ndarray) -> np.ndarray:
    d = np.gradient(pts, axis=0) if len(pts) > 1 else np.array([[1.0, 0.0]])
    return np.stack([-d[:, 1], d[:, 0]], axis=1) / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-9)


def _unimodal(v: np.ndarray) -> np.ndarray:
    """Rising up to the maximum, falling after it (so a threshold keeps one piece)."""
    v = v.copy()
    p = int(np.argmax(v))
    v[: p + 1] = np.maximum.accumulate(v[: p + 1])
    v[p:] = np.minimum.accumulate(v[p:])
    return v


def _draw_strokes(canvas: np.ndarray, pts: np.ndarray, widths: np.ndarray, values: np.ndarray) -> None:
    """Anti-aliased polyline with per-vertex width (px) and value (0-1); sub-pixel widths draw fainter."""
    fp = _fx(pts)
    for i in range(len(pts) - 1):
        wd = 0.5 * float(widths[i] + widths[i + 1])
        val = 0.5 * float(values[i] + values[i + 1])
        if wd < 1.0:
            val *= max(wd, 0.3) ** 0.5
        p, q = (int(fp[i, 0]), int(fp[i, 1])), (int(fp[i + 1, 0]), int(fp[i + 1, 1]))
        cv2.line(canvas, p, q, int(round(255 * min(1.0, val))), max(1, int(round(wd))), cv2.LINE_AA, _SHIFT)


def _draw_strokes_max(canvas: np.ndarray, pts: np.ndarray, widths: np.ndarray, values: np.ndarray) -> None:
    """Like :func:`_draw_strokes`, but composited with ``max`` (strokes do not erase each other)."""
    pad = float(np.max(widths)) + 3.0
    h, w = canvas.shape
    x0, y0 = max(0, int(pts[:, 0].min() - pad)), max(0, int(pts[:, 1].min() - pad))
    x1, y1 = min(w, int(pts[:, 0].max() + pad) + 1), min(h, int(pts[:, 1].max() + pad) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    tmp = np.zeros((y1 - y0, x1 - x0), np.uint8)
    _draw_strokes(tmp, pts - np.array([x0, y0]), widths, values)
    np.maximum(canvas[y0:y1, x0:x1], tmp, out=canvas[y0:y1, x0:x1])


def _poly(rng: np.random.Generator, cx: float, cy: float, r: float, nv: tuple[int, int], lo: float) -> np.ndarray:
    """Irregular convex-ish polygon (angularly sorted vertices at radius ``lo..1`` × r)."""
    k = int(rng.integers(*nv))
    ang = np.sort(rng.uniform(0, 2 * math.pi, k))
    rad = r * rng.uniform(lo, 1.0, k)
    return np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], axis=1)


def _ragged(rng: np.random.Generator, pts: np.ndarray, levels: int, rough: float) -> np.ndarray:
    """Closed polygon with each edge subdivided ``levels`` times, midpoints pushed off the edge."""
    for _ in range(levels):
        q = np.roll(pts, -1, axis=0)
        e = q - pts
        nrm = np.stack([-e[:, 1], e[:, 0]], axis=1)
        mid = (pts + q) / 2 + nrm * rng.normal(0.0, rough, (len(pts), 1))
        pts = np.stack([pts, mid], axis=1).reshape(-1, 2)
    return pts


def _blob(rng: np.random.Generator, cx: float, cy: float, r: float, amp: float,
          aspect: tuple[float, float] = (0.65, 1.0), kmax: int = 8) -> np.ndarray:
    """Irregular closed outline (sum of a few harmonics), ``(256, 2)`` xy."""
    theta = np.linspace(0, 2 * math.pi, 256, endpoint=False)
    rad = np.ones_like(theta)
    for k in range(2, kmax):
        rad += rng.uniform(0, amp) / k**0.8 * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    rad = np.maximum(rad, 0.35)
    asp, rot = rng.uniform(*aspect), rng.uniform(0, math.pi)
    px, py = rad * np.cos(theta), asp * rad * np.sin(theta)
    cr, sr = math.cos(rot), math.sin(rot)
    return np.stack([cx + r * (cr * px - sr * py), cy + r * (sr * px + cr * py)], axis=1)


def _edge_point(pts: np.ndarray, cx: float, cy: float, a: float) -> np.ndarray:
    """The outline vertex in direction ``a`` from ``(cx, cy)``."""
    v = pts - np.array([cx, cy])
    cosang = (v @ np.array([math.cos(a), math.sin(a)])) / (np.linalg.norm(v, axis=1) + 1e-9)
    return pts[int(np.argmax(cosang))]


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
        x, y = min(max(float(nx), 0.0), w - 1.0), min(max(float(ny), 0.0), h - 1.0)
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


def _crack_widths(rng: np.random.Generator, n: int, w0: float, end: float, ramp: bool) -> np.ndarray:
    """Width profile along a crack polyline: taper ``w0 -> end * w0`` with a wobble, tip fading to a hairline."""
    u = np.linspace(0.0, 1.0, n)
    wob = 0.55 + 0.9 * _smooth1d(rng, n, max(2, n // 7))
    wd = w0 * (1.0 - (1.0 - end) * u) * wob
    if ramp:  # the origin of a crack tapers too
        wd *= np.minimum(1.0, 0.4 + u / 0.08)
    tip = max(2, n // 6)
    wd[-tip:] *= np.linspace(1.0, 0.25, tip)
    return wd


def _subdivide(rng: np.random.Generator, pts: np.ndarray, widths: np.ndarray, levels: int, rough: float):
    """Open polyline with each segment halved ``levels`` times, midpoints pushed off it (fractal jag)."""
    for _ in range(levels):
        e = pts[1:] - pts[:-1]
        mid = (pts[1:] + pts[:-1]) / 2 + np.stack([-e[:, 1], e[:, 0]], 1) * rng.normal(0.0, rough, (len(e), 1))
        wm = (widths[1:] + widths[:-1]) / 2
        pts = np.concatenate([np.stack([pts[:-1], mid], 1).reshape(-1, 2), pts[-1:]])
        widths = np.concatenate([np.stack([widths[:-1], wm], 1).reshape(-1), widths[-1:]])
    return pts, widths


def _crack_stroke(canvas: np.ndarray, rng: np.random.Generator, pts: np.ndarray, widths: np.ndarray, u: float) -> None:
    """One crack polyline: crisp lips with their own roughness where wide, a fading line where thin."""
    seg = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).mean()) if len(pts) > 1 else 1.0
    levels = int(np.clip(math.ceil(math.log2(max(1.0, seg / (1.5 * u)))), 0, 4))
    pts, widths = _subdivide(rng, pts, widths, levels, 0.12)
    n = len(pts)
    half = 0.5 * widths
    lim = np.minimum(0.35 * half, 1.0 * u)
    jl = (_smooth1d(rng, n, max(2, n // 2)) - 0.5) * 2.0 * lim
    jr = (_smooth1d(rng, n, max(2, n // 2)) - 0.5) * 2.0 * lim
    nrm = _normals(pts)
    fl, fr = _fx(pts + nrm * (half + jl)[:, None]), _fx(pts - nrm * (half + jr)[:, None])
    for i in range(n - 1):
        if widths[i] + widths[i + 1] >= 2.4:
            quad = np.array([fl[i], fl[i + 1], fr[i + 1], fr[i]], np.int32)
            cv2.fillConvexPoly(canvas, quad, 255, cv2.LINE_AA, _SHIFT)
    _draw_strokes_max(canvas, pts, np.minimum(widths, 1.2), _unimodal(np.clip(widths, 0.3, 1.0)))


def _crack(rng: np.random.Generator, h: int, w: int, maps, scale: float) -> np.ndarray:
    s = min(h, w)
    u = max(1.0, s / 256)
    region = maps[0] if maps else None
    main = np.zeros((h, w), np.uint8)
    hair = np.zeros((h, w), np.uint8)
    x, y = _sample_point(rng, region, h, w, 0.12 * s)
    angle = rng.uniform(0, 2 * math.pi)
    length = rng.uniform(0.5, 0.85) * s
    t0 = rng.uniform(0.013, 0.02) * s * scale
    step = max(1.5, s / 80)
    jag = 0.0035 * s

    def hairline(p: np.ndarray, a: float, ln: float) -> None:
        pts = _walk(rng, float(p[0]), float(p[1]), a, ln, step * 0.7, 0.25, region, h, w, jag * 0.6)
        val = rng.uniform(0.55, 0.9) * np.linspace(1.0, 0.5, len(pts))
        _draw_strokes(hair, pts, np.ones(len(pts)), val * 0.49)

    trunk = _walk(rng, x, y, angle, length, step, 0.12, region, h, w, jag)
    n = len(trunk)
    wt = _crack_widths(rng, n, t0, 0.3, ramp=True)
    _crack_stroke(main, rng, trunk, wt, u)
    nrm = _normals(trunk)
    for _ in range(int(rng.integers(1, 4))):  # chipped widenings: flakes broken off one lip
        i = int(rng.integers(max(1, n // 8), max(2, (3 * n) // 4)))
        side = rng.choice([-1.0, 1.0])
        c = trunk[i] + nrm[i] * side * wt[i] * rng.uniform(0.3, 0.7)
        flake = _poly(rng, float(c[0]), float(c[1]), wt[i] * rng.uniform(0.7, 1.3) + 0.3 * u, (5, 9), 0.45)
        pts = _ragged(rng, flake, 2, 0.1)
        if wt[i] >= 1.2:
            cv2.fillPoly(main, [_fx(pts)], 255, cv2.LINE_AA, _SHIFT)
    branches = []
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(max(1, n // 6), max(2, (3 * n) // 4)))
        frac = i / (n - 1)
        d = trunk[min(i + 1, n - 1)] - trunk[i - 1]
        base = math.atan2(d[1], d[0])
        a = base + rng.choice([-1.0, 1.0]) * rng.uniform(0.35, 1.1)
        blen = rng.uniform(0.25, 0.55) * length * (1 - 0.5 * frac)
        branch = _walk(rng, trunk[i][0], trunk[i][1], a, blen, step, 0.16, region, h, w, jag)
        wb = _crack_widths(rng, len(branch), 0.75 * wt[i], 0.25, ramp=False)
        _crack_stroke(main, rng, branch, wb, u)
        branches.append((branch, a, blen))
    for branch, a, blen in branches:  # hairlines off the branches ...
        if rng.random() < 0.6 and len(branch) > 4:
            j = int(rng.integers(1, len(branch) - 2))
            hairline(branch[j], a + rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.0), blen * rng.uniform(0.3, 0.6))
    for _ in range(int(rng.integers(1, 4))):  # ... and off the trunk
        i = int(rng.integers(1, max(2, n - 1)))
        d = trunk[min(i + 1, n - 1)] - trunk[i - 1]
        a = math.atan2(d[1], d[0]) + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.3)
        hairline(trunk[i], a, length * rng.uniform(0.08, 0.22))
    core = np.maximum(_blur(main.astype(np.float32) / 255.0, max(0.5, 0.25 * u)), hair.astype(np.float32) / 255.0)
    # halo (< 0.22): room around the crack for its lit / shadowed lips and the shear of the two sides
    reach = max(2.0, 0.9 * t0 + 1.2 * u)
    d = _dist(core < 0.3)
    halo = 0.2 * np.clip(1.0 - d / reach, 0.0, 1.0)
    return np.maximum(core, halo).astype(np.float32)


_STAIN_SUBTYPES = ("coffee", "coffee", "grease", "water")  # drawn uniformly: coffee rings half the time


def _stain(rng: np.random.Generator, h: int, w: int, maps, scale: float) -> np.ndarray:
    s = min(h, w)
    region = maps[0] if maps else None
    sub = _STAIN_SUBTYPES[int(rng.integers(0, len(_STAIN_SUBTYPES)))]
    cx, cy = _sample_point(rng, region, h, w, 0.12 * s)
    r = {"coffee": rng.uniform(0.09, 0.17), "grease": rng.uniform(0.1, 0.19), "water": rng.uniform(0.11, 0.2)}[sub]
    r *= s * scale
    amp = {"coffee": 0.2, "grease": 0.35, "water": 0.28}[sub]
    pts = _blob(rng, cx, cy, r, amp, (0.55, 1.0) if sub == "water" else (0.65, 1.0))
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [_fx(pts)], 255, cv2.LINE_AA, _SHIFT)
    n_sat = int(rng.integers(0, 4)) if sub == "coffee" else int(rng.integers(0, 2))
    for _ in range(n_sat):  # satellite drops just outside the rim
        a = rng.uniform(0, 2 * math.pi)
        e = _edge_point(pts, cx, cy, a)
        c = np.array([cx, cy]) + (e - np.array([cx, cy])) * rng.uniform(1.08, 1.5)
        drop = _blob(rng, float(c[0]), float(c[1]), r * rng.uniform(0.05, 0.15), 0.15)
        cv2.fillPoly(canvas, [_fx(drop)], 255, cv2.LINE_AA, _SHIFT)
    if sub == "coffee" and rng.random() < 0.4:  # a drip run out of the rim, ending in a bead
        a = rng.uniform(0, 2 * math.pi)
        e = _edge_point(pts, cx, cy, a)
        ln = r * rng.uniform(0.3, 0.8)
        t = np.linspace(0, 1, 24)[:, None]
        wig = rng.normal(0, 0.04, 24).cumsum()[:, None] * ln
        dvec, nvec = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
        path = e - dvec * 0.15 * r + t * dvec * (ln + 0.15 * r) + wig * t * nvec
        wd = r * (0.12 - 0.08 * t[:, 0]) * rng.uniform(0.7, 1.2)
        _draw_strokes(canvas, path, wd, np.ones(24))
        b = path[-1]
        cv2.circle(canvas, (int(round(b[0] * _ONE)), int(round(b[1] * _ONE))),
                   max(1, int(round(wd[-1] * 0.9 * _ONE))), 255, -1, cv2.LINE_AA, _SHIFT)
    inside = (canvas >= 128).astype(np.uint8)
    d = _dist(inside, precise=True)
    n1 = _smooth_noise(rng, h, w, max(3.0, 0.05 * s))
    n2 = _smooth_noise(rng, h, w, max(2.0, 0.015 * s))
    edge = _blur(canvas.astype(np.float32) / 255.0, 0.6 * max(1.0, s / 512))
    if sub == "grease":  # soaked in: soft wide edge, dense and flat inside, no ring
        soft = _fast_blur(canvas.astype(np.float32) / 255.0, r * rng.uniform(0.1, 0.22))
        level = rng.uniform(0.95, 1.0) * (0.94 + 0.06 * n1)
        return (level * np.clip(soft, 0.0, 1.0)).astype(np.float32)
    dmax = float(d.max())
    if sub == "coffee":  # dried coffee: pigment carried to the rim (sharp outside, fading inward)
        rw = max(1.0, r * rng.uniform(0.02, 0.05))
        ring = np.exp(-np.clip(d - (1.5 + 0.3 * rw), 0.0, None) / rw)
        var = _smooth_noise(rng, h, w, max(4.0, 0.06 * s))
        sel = ring > 0.5
        var = np.clip(0.55 + 0.45 * var / max(1e-3, float(var[sel].max()) if sel.any() else 1.0), 0.0, 1.0)
        level = rng.uniform(0.68, 0.8)
        interior = level * (0.82 + 0.18 * (0.6 * n1 + 0.4 * n2))
        tide = 0.0
        dt, tw, ta = rng.uniform(0.25, 0.6) * dmax, max(1.0, 0.8 * rw), rng.uniform(0.05, 0.09)
        if rng.random() < 0.5:  # an inner tide line where the drop paused while drying
            tide = ta * np.exp(-(((d - dt) / tw) ** 2))
        alpha = interior + (1.0 - interior) * ring * var * rng.uniform(0.9, 1.0) + tide
    else:  # water mark: faint, nearly flat, a thin ring and a tide line or two
        rw = max(0.8, r * rng.uniform(0.01, 0.02))
        ring = np.exp(-np.clip(d - 1.5, 0.0, None) / rw)
        level = rng.uniform(0.5, 0.54) * (0.97 + 0.03 * n1)
        alpha = level + rng.uniform(0.18, 0.28) * ring * (0.6 + 0.4 * n2)
        for _ in range(2):
            dt, ta = rng.uniform(0.1, 0.35) * dmax, rng.uniform(0.04, 0.08)
            alpha = alpha + ta * np.exp(-(((d - dt) / max(0.8, rw)) ** 2))
    return (np.clip(alpha, 0.0, 1.0) * edge).astype(np.float32)


def _stain_subtype(mask: np.ndarray) -> str:
    """Which stain a mask draws: ``"grease"``, ``"coffee"`` or ``"water"``, from its deep-interior level."""
    core = (np.asarray(mask) >= 0.5).astype(np.uint8)
    if not core.any():
        return "coffee"
    d = _dist(core)
    v = float(np.median(mask[d >= 0.6 * float(d.max())]))
    return "grease" if v >= 0.86 else "coffee" if v >= 0.585 else "water"


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 48) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _scratch(rng: np.random.Generator, h: int, w: int, maps, scale: float) -> np.ndarray:
    s = min(h, w)
    fine = maps[1] if maps else None
    canvas = np.zeros((h, w), np.uint8)
    base_angle = rng.uniform(0, math.pi)  # scratches of one event share a rough direction
    t = np.linspace(0, 1, 48)
    ends = 0.45 + 0.55 * np.minimum(1.0, np.minimum(t, 1 - t) / 0.12)  # fading ends
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
            strength = rng.uniform(0.8, 1.0) * (0.7 + 0.3 * _smooth1d(rng, 48, 5))  # catches light unevenly
            _draw_strokes_max(canvas, _bezier(p0, p1, p2), np.full(48, float(thick)), _unimodal(strength * ends))
    return _blur(canvas.astype(np.float32) / 255.0, 0.5)


def _tear(rng: np.random.Generator, h: int, w: int, maps, scale: float) -> np.ndarray:
    s = min(h, w)
    region = maps[0] if maps else None
    cx, cy = _sample_point(rng, region, h, w, 0.2 * s)
    angle = rng.uniform(0, math.pi)
    length = rng.uniform(0.3, 0.55) * s
    n = int(np.clip(length / 1.5, 48, 800))
    t = np.linspace(0, 1, n)
    d = np.array([math.cos(angle), math.sin(angle)])
    nrm = np.array([-d[1], d[0]])
    side = rng.choice([-1.0, 1.0])
    env = np.sin(math.pi * t) ** 0.5
    # ragged, roughly self-similar tear line: meander + wiggle + fibrous roughness, pinned at the ends
    meander = (_smooth1d(rng, n, 5) - 0.5) * 0.06 * s
    wiggle = (_smooth1d(rng, n, 24) - 0.5) * 0.018 * s + (_smooth1d(rng, n, 90) - 0.5) * 0.005 * s
    rough = (_smooth1d(rng, n, max(4, n // 2)) - 0.5) * 3.0  # fibre-scale roughness, in px
    rough2 = (_smooth1d(rng, n, max(4, n // 2)) - 0.5) * 3.0
    line = np.array([cx, cy]) + np.outer((t - 0.5) * length, d) + np.outer((meander + wiggle) * env, nrm)
    edge = line + np.outer(rough * env, nrm)
    # the two lips fit together (same meander and wiggle) but each has its own fibrous roughness
    gap = rng.uniform(0.012, 0.028) * s * scale * env**1.5
    gap_far = line + np.outer(side * gap + rough2 * env, nrm)
    flap = rng.uniform(0.06, 0.12) * s * scale * np.sin(math.pi * t) ** rng.uniform(0.6, 1.2)
    hinge = gap_far + np.outer(side * flap + (_smooth1d(rng, n, 6) - 0.5) * 0.01 * s * env, nrm)
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [_fx(np.concatenate([gap_far, hinge[::-1]]))], int(round(0.7 * 255)), cv2.LINE_AA, _SHIFT)
    gap_canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(gap_canvas, [_fx(np.concatenate([edge, gap_far[::-1]]))], 255, cv2.LINE_AA, _SHIFT)
    cv2.polylines(gap_canvas, [_fx(edge)], False, 255, 1, cv2.LINE_AA, _SHIFT)
    soft_fold = _fast_blur(canvas.astype(np.float32) / 255.0, max(1.0, 0.15 * float(flap.mean())))
    return np.maximum(_blur(gap_canvas.astype(np.float32) / 255.0, 0.6 * max(1.0, s / 512)), soft_fold)


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
    pts = _ragged(rng, _poly(rng, cx, cy, r, (6, 11), 0.6), 3, 0.09)
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [_fx(pts)], 255, cv2.LINE_AA, _SHIFT)
    return _blur(canvas.astype(np.float32) / 255.0, 0.6)


def _scuff(rng: np.random.Generator, h: int, w: int, maps, scale: float) -> np.ndarray:
    s = min(h, w)
    region = maps[0] if maps else None
    cx, cy = _sample_point(rng, region, h, w, 0.15 * s)
    theta = rng.uniform(0, math.pi)  # rubbing direction
    r = rng.uniform(0.1, 0.17) * s * scale
    asp = rng.uniform(0.35, 0.7)  # patches are elongated along the rubbing
    base = rng.uniform(0.56, 0.68)
    wob = _smooth_noise(rng, h, w, max(3.0, 0.04 * s))
    d = np.array([math.cos(theta), math.sin(theta)])
    nrm = np.array([-d[1], d[0]])
    lines = np.zeros((h, w), np.uint8)
    thick = max(1, int(round(s / 700)))
    for _ in range(int(rng.integers(60, 140) * max(1.0, s / 256) ** 0.8)):  # many fine, nearly parallel abrasion lines
        p = np.array([cx, cy]) + d * rng.uniform(-0.9, 0.9) * r + nrm * rng.uniform(-1.1, 1.1) * r * asp
        a = theta + rng.normal(0, 0.04)
        half = 0.5 * rng.uniform(0.1, 0.6) * r * np.array([math.cos(a), math.sin(a)])
        q0, q1 = _fx(p - half), _fx(p + half)
        cv2.line(lines, (int(q0[0]), int(q0[1])), (int(q1[0]), int(q1[1])), int(255 * rng.uniform(0.2, 1.0)),
                 thick, cv2.LINE_AA, _SHIFT)
    pad = 1.8 * r
    x0, x1 = max(0, int(cx - pad)), min(w, int(cx + pad) + 2)
    y0, y1 = max(0, int(cy - pad)), min(h, int(cy + pad) + 2)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    along = (dx * d[0] + dy * d[1]) / r
    across = (dx * nrm[0] + dy * nrm[1]) / (r * asp)
    rho = np.sqrt(along**2 + across**2) * (0.75 + 0.5 * wob[y0:y1, x0:x1])  # irregular outline
    patch = _smoothstep((1.1 - rho) / 0.5)
    m = np.zeros((h, w), np.float32)
    m[y0:y1, x0:x1] = patch * (base + (1.0 - base) * lines[y0:y1, x0:x1].astype(np.float32) / 255.0)
    return m


_MAKERS: dict[str, Callable[..., np.ndarray]] = {
    "crack": _crack,
    "stain": _stain,
    "scratch": _scratch,
    "tear": _tear,
    "chip": _chip,
    "scuff": _scuff,
}


def _check_kind(kind: str) -> None:
    if kind not in DAMAGE_TYPES:
        raise UsageError(f"unknown damage kind {kind!r}; expected one of {DAMAGE_TYPES}")


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
        raise UsageError(f"mask size {h}x{w} is too small; each side must be >= {_MIN_SIDE}")
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


# Painters work on the bounding box of the mask (plus a margin): ``f`` is that crop of the image
# (float32 RGB), ``m`` the crop of the mask, ``s`` the short side of the whole image (sizes of
# shading details scale with it, as the masks do). One light direction per painting.


def _light(rng: np.random.Generator) -> tuple[float, float]:
    """Direction the light travels in the image plane (unit xy)."""
    a = rng.uniform(0, 2 * math.pi)
    return math.cos(a), math.sin(a)


def _remap(f: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``out[y, x] = f[y + dy, x + dx]`` (bilinear, reflected at the border)."""
    h, w = dx.shape
    mx = (np.arange(w, dtype=np.float32)[None, :] + dx).astype(np.float32)
    my = (np.arange(h, dtype=np.float32)[:, None] + dy).astype(np.float32)
    return cv2.remap(f, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _paint_crack(f: np.ndarray, m: np.ndarray, rng: np.random.Generator, s: int) -> np.ndarray:
    h, w = m.shape
    u = max(1.0, s / 256)
    lx, ly = _light(rng)
    depth = rng.uniform(0.8, 0.95)
    hl_amt, sh_amt = rng.uniform(0.45, 0.7), rng.uniform(0.2, 0.4)
    shear, opening = rng.uniform(0.2, 0.45), rng.uniform(0.1, 0.25)
    var = 0.55 + 0.45 * _smooth_noise(rng, h, w, max(6.0, 10.0 * u))  # depth varies along the crack
    grain = rng.normal(0.0, 1.0, (h, w)).astype(np.float32)
    dark = np.clip((m - 0.22) / 0.55, 0.0, 1.0)
    wmax = max(1.0, float(_dist(m >= 0.5).max()))
    bw = _blur(dark, 1.5)
    wf = np.clip(bw / max(1e-3, float(bw.max())) * 1.4, 0.35, 1.0)  # hairlines are shallower than open cracks
    live = _smoothstep((m - 0.03) / 0.12)  # fades out at the halo's rim
    # the two sides are sheared along the crack and pulled apart a little
    gx, gy = _grad(_fast_blur(dark, max(1.2, 0.8 * wmax + 0.6 * u)))
    mag = np.sqrt(gx * gx + gy * gy) + 1e-6
    nx, ny = gx / mag, gy / mag  # toward the crack; the tangent (-ny, nx) flips across it
    amt = wmax * live
    fd = _remap(f, amt * (-shear * ny + opening * nx), amt * (shear * nx + opening * ny))
    # lips: the one facing the light is lit, the other falls into shadow
    sr = max(0.7, 0.08 * wmax + 0.25 * u)
    rx, ry = _grad(_fast_blur(dark, sr))
    dot = np.clip((rx * lx + ry * ly) * (2.5 * sr), -1.0, 1.0)
    lit, shade = np.clip(-dot, 0.0, 1.0), np.clip(dot, 0.0, 1.0)
    bottom = 0.8 + 0.2 * _smoothstep(_dist(m >= 0.5) / (0.5 * wmax))  # wide cracks: walls, then a deep bottom
    k = dark * depth * wf * (0.65 + 0.35 * var) * bottom * (1.0 - 0.35 * lit)
    kk = k[..., None]
    out = fd * (1.0 - 0.92 * kk) + (8.0 * k + 5.0 * k * grain)[..., None]
    # on dark surfaces the broken faces scatter light: the crack reads lighter (stress whitening)
    dim = _smoothstep((70.0 - _gray(fd)) / 50.0)
    if dim.any():
        out = out * (1.0 - dim) + (fd + (np.float32(105.0) - fd) * (0.7 * kk) + 5.0 * kk * grain[..., None]) * dim
    out = out * (1.0 - sh_amt * shade * live * (1.0 - 0.5 * dark))[..., None]
    return out + (255.0 - out) * (hl_amt * lit * live * (1.0 - dark) * (0.5 + 0.5 * wf))[..., None]


_STAIN_TINTS = np.array(
    [
        [0.78, 0.60, 0.40],  # coffee
        [0.72, 0.52, 0.34],  # strong coffee
        [0.90, 0.78, 0.52],  # tea / yellowing
        [0.80, 0.55, 0.35],  # rust
        [0.70, 0.62, 0.50],  # grime
    ],
    np.float32,
)


def _paint_stain(f: np.ndarray, m: np.ndarray, rng: np.random.Generator, s: int) -> np.ndarray:
    sub = _stain_subtype(m)
    gray = _gray(f)
    mm = m[..., None]
    if sub == "grease":  # darker and more saturated where it soaked in
        dk, sat = rng.uniform(0.45, 0.65), rng.uniform(0.3, 0.6)
        warm = np.array([1.0, 0.97, 0.88], np.float32) ** np.float32(rng.uniform(0.0, 1.0))
        out = gray + (f - gray) * (1.0 + sat * mm)
        return out * (1.0 - (1.0 - dk) * mm) * (1.0 - (1.0 - warm) * mm)
    if sub == "water":  # faint mineral haze, a tide line at the rim
        lift, ring_amt = rng.uniform(0.05, 0.1), rng.uniform(0.12, 0.22)
        whitish = rng.random() < (0.7 if float(gray[..., 0][m >= 0.5].mean()) < 130 else 0.15)
        inner = np.clip(m / 0.5, 0.0, 1.0)[..., None]
        ring = np.clip((m - 0.58) / 0.2, 0.0, 1.0)[..., None]
        out = f + (gray - f) * (0.12 * inner)
        out = out + (238.0 - out) * (lift * inner)
        if whitish:
            return out + (245.0 - out) * (1.5 * ring_amt * ring)
        return out * (1.0 - ring_amt * ring)
    tint = _STAIN_TINTS[int(rng.integers(0, len(_STAIN_TINTS)))] * rng.uniform(0.95, 1.03, 3).astype(np.float32)
    strength = rng.uniform(0.85, 1.0)
    k = (strength * m**3.2)[..., None]  # the ring (m ~ 1) much darker than the interior
    out = f * (1.0 - (1.0 - np.clip(tint, 0, 1)) * k)  # multiplicative: the texture shows through
    # very dark pixels cannot be multiplied visibly: a faint tinted deposit
    return out + (tint * 90.0 - out) * (0.4 * mm**2 * np.clip((60.0 - gray) / 40.0, 0.0, 1.0))


def _paint_scratch(f: np.ndarray, m: np.ndarray, rng: np.random.Generator, s: int) -> np.ndarray:
    h, w = m.shape
    u = max(1.0, s / 256)
    amount = rng.uniform(0.35, 0.65)
    lx, ly = _light(rng)
    glint = 0.45 + 0.55 * _smooth_noise(rng, h, w, max(4.0, 8.0 * u))  # catches the light unevenly
    light = np.array([240.0, 240.0, 236.0], np.float32)
    core = np.clip((m - _fast_blur(m, max(1.0, 0.8 * u))) / 0.25, 0.0, 1.0)  # brightest along the groove
    sr = 0.7 * u
    gx, gy = _grad(_fast_blur(m, sr))
    shade = np.clip((gx * lx + gy * ly) * (2.5 * sr), 0.0, 1.0) * (1.0 - m)  # the groove's shadowed lip
    on = np.nonzero(m > 0)  # thin strokes over a wide box: colour math on the stroke pixels only
    fo, mo = f[on], m[on]
    k = (mo * amount * glint[on] + 0.3 * core[on] * mo)[:, None]
    bright = _smoothstep((_gray(fo) - 200.0) / 30.0)  # on near-white surfaces a scratch reads as a grey line
    out = f.copy()
    lit = (fo + (light - fo) * k) * (1.0 - bright) + fo * (1.0 - 0.3 * k) * bright
    out[on] = lit * (1.0 - 0.3 * shade[on])[:, None]
    return out


_PAPER = np.array([236.0, 233.0, 226.0], np.float32)


def _paint_tear(f: np.ndarray, m: np.ndarray, rng: np.random.Generator, s: int) -> np.ndarray:
    h, w = m.shape
    u = max(1.0, s / 256)
    lift = rng.uniform(0.008, 0.02) * s
    tilt = rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.25)
    white_amt = rng.uniform(0.7, 0.95)
    paper = _PAPER * np.float32(rng.uniform(0.9, 1.02))
    gap_col = np.array([30.0, 24.0, 20.0], np.float32) * np.float32(rng.uniform(0.6, 1.4))
    fw = rng.uniform(1.2, 2.4) * u
    mott = 0.75 + 0.5 * _smooth_noise(rng, h, w, max(2.0, 3.0 * u))
    fibtex = np.clip((_blur(rng.random((h, w)).astype(np.float32), 0.5 * u) - 0.5) * 5.0 + 0.5, 0.0, 1.0)
    gap = np.clip((m - 0.8) / 0.15, 0.0, 1.0)
    gap_bin = (m >= 0.88).astype(np.uint8)
    flap_bin = ((m > 0.3) & (gap_bin == 0)).astype(np.uint8)
    dg = _dist(1 - gap_bin)  # px from the gap
    gi = _dist(gap_bin)  # px inside the gap from its edge
    dh = _dist(m > 0.02)  # px from the damage's rim
    prox = np.clip(dh / (dg + dh + 1e-6), 0.0, 1.0)  # across the flap: 1 at the torn lip, 0 at the hinge
    width = float(np.percentile(dg[flap_bin > 0], 95)) if flap_bin.any() else 4.0 * u
    gx, gy = _grad(_fast_blur(gap, max(1.5, 0.5 * width)))
    mag = np.sqrt(gx * gx + gy * gy) + 1e-6
    nx, ny = -gx / mag, -gy / mag  # away from the gap
    # lifted flap: surface pulled away from the gap, tilted toward or away from the light
    amt = lift * prox * (1.0 - gap)
    hinge = _smoothstep((m - 0.05) / 0.6) * (1.0 - gap)  # the flap is a tilted plate, soft at its fold
    flap = _remap(f, -amt * nx, -amt * ny)
    tl = (abs(tilt) * hinge * (0.5 + 0.5 * prox))[..., None]
    flap = flap + (255.0 - flap) * tl if tilt > 0 else flap * (1.0 - tl)
    # the gap: dark underside, deepest in the shadow of the lifted flap
    d_flap = _dist(1 - flap_bin)
    shadow = np.exp(-d_flap / (2.0 * u))
    under = (_fast_blur(f, 3.0 * u) * 0.12 + gap_col) * (mott * (1.0 - 0.5 * shadow))[..., None]
    target = flap * (1.0 - gap)[..., None] + under * gap[..., None]
    # torn lips: white fibrous cross-section of the material, fibres sticking into the gap
    band = np.clip(1.0 - dg / (fw * (0.3 + 0.8 * mott - 0.4)), 0.0, 1.0) * flap_bin * (0.4 + 0.6 * fibtex)
    strands = np.zeros((h, w), np.uint8)
    edge_idx = np.flatnonzero((gi > 0) & (gi <= 1.0))
    if edge_idx.size:
        pick = rng.choice(edge_idx, size=max(1, edge_idx.size // 10), replace=False)
        ys, xs = np.divmod(pick, w)
        lens = rng.uniform(0.8, 2.5, pick.size) * u
        angs = np.arctan2(-ny[ys, xs], -nx[ys, xs]) + rng.normal(0.0, 0.5, pick.size)
        vals = rng.uniform(0.4, 1.0, pick.size)
        for x, y, ln, a, v in zip(xs, ys, lens, angs, vals):
            ca, sa = math.cos(a), math.sin(a)
            p = _fx([[x - 0.5 * u * ca, y - 0.5 * u * sa], [x + ln * ca, y + ln * sa]])
            q0, q1 = (int(p[0, 0]), int(p[0, 1])), (int(p[1, 0]), int(p[1, 1]))
            cv2.line(strands, q0, q1, int(255 * v), 1, cv2.LINE_AA, _SHIFT)
    white = np.maximum(band, strands.astype(np.float32) / 255.0) * white_amt
    target = target + (paper - target) * white[..., None]
    lip = np.clip(1.0 - dg / (1.5 * u), 0.0, 1.0) * flap_bin  # the lifted lip catches the light
    target = target + (255.0 - target) * (0.3 * lip)[..., None]
    return f + (target - f) * np.clip(m / 0.3, 0.0, 1.0)[..., None]


def _paint_chip(f: np.ndarray, m: np.ndarray, rng: np.random.Generator, s: int) -> np.ndarray:
    h, w = m.shape
    u = max(1.0, s / 256)
    lx, ly = _light(rng)
    period = rng.uniform(2.5, 5.0) * u
    wob = _smooth_noise(rng, h, w, max(3.0, 6.0 * u))
    grain = (rng.random((h, w)).astype(np.float32) - 0.5) * 14.0
    substrate = rng.random() < 0.5
    sub_col = np.array([225.0, 218.0, 205.0], np.float32) * np.float32(rng.uniform(0.85, 1.05))
    pit = np.float32(rng.uniform(0.3, 0.5))
    d = _dist(m >= 0.5)
    dmax = max(1.0, float(d.max()))
    depth = _blur(np.sqrt(d / dmax), max(1.0, 0.05 * dmax))  # a shallow bowl, steepest at the rim
    gx, gy = _grad(depth)
    slope = np.clip((gx * lx + gy * ly) * dmax * 0.8, -1.0, 1.0)  # > 0: wall facing away from the light
    local = _fast_blur(f, max(2.0, dmax * 0.8))
    base = local * 0.35 + sub_col * 0.65 if substrate else local * pit  # exposed body, or a dark pit
    ripple = 1.0 + 0.025 * np.sin(2 * math.pi * d / period + 8.0 * wob)  # faint conchoidal fracture rings
    out = base * (ripple * (1.0 - 0.35 * slope))[..., None] + grain[..., None]
    rim = np.clip(1.0 - np.abs(d - 1.0) / (1.5 * u), 0.0, 1.0)  # the broken edge: lit or shadowed lip
    out = out + (255.0 - out) * (0.45 * rim * np.clip(-slope, 0.0, 1.0))[..., None]
    out = out * (1.0 - 0.35 * rim * np.clip(slope, 0.0, 1.0))[..., None]
    return f + (out - f) * m[..., None]


def _paint_scuff(f: np.ndarray, m: np.ndarray, rng: np.random.Generator, s: int) -> np.ndarray:
    h, w = m.shape
    u = max(1.0, s / 256)
    desat, lift, line_amt = rng.uniform(0.35, 0.6), rng.uniform(0.15, 0.3), rng.uniform(0.2, 0.4)
    grain = rng.normal(0.0, 1.0, (h, w)).astype(np.float32)
    gray = _gray(f)
    mm = m[..., None]
    lines = np.clip((m - _fast_blur(m, max(1.2, u))) / 0.3, 0.0, 1.0)[..., None]  # the abrasion lines
    bright = _smoothstep((gray - 190.0) / 40.0)  # on near-white, a scuff is a grey mark
    out = f + (gray - f) * (desat * mm)  # lost gloss: less colour ...
    out = (out + (228.0 - out) * (lift * mm)) * (1.0 - bright) + out * (1.0 - 0.12 * mm) * bright  # ... milkier
    out = (out + (250.0 - out) * (line_amt * lines)) * (1.0 - bright) + out * (1.0 - 0.25 * line_amt * lines) * bright
    return out + (3.0 * grain)[..., None] * mm


_PAINTERS: dict[str, Callable[[np.ndarray, np.ndarray, np.random.Generator, int], np.ndarray]] = {
    "crack": _paint_crack,
    "stain": _paint_stain,
    "scratch": _paint_scratch,
    "tear": _paint_tear,
    "chip": _paint_chip,
    "scuff": _paint_scuff,
}


def paint_damage(image: np.ndarray, mask: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Paint damage of ``kind`` into ``image`` under ``mask``, shaded under one light direction.

    Looks: crack = dark core whose depth varies along it, a lit lip on the side facing the
    light and a shadowed one opposite, the two sides slightly sheared; stain = coffee ring
    (multiplicative brown tint, dark sharp rim, mottled interior), grease (darker, more
    saturated, soft edge) or water mark (faint lightening, tide line) - told apart by the
    mask; scratch = lighter strokes (grey on near-white) with a shadowed lip; tear = dark
    gap under a displaced, tilted flap, white fibres along the torn lips and a lit lip on
    the flap; chip = lighter substrate or dark pit with directional shading and a lit rim;
    scuff = desaturated, milkier patch streaked with fine bright abrasion lines.

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
        raise UsageError(f"image must be (H, W, 3) uint8, got shape {img.shape} dtype {img.dtype}")
    m = np.asarray(mask, dtype=np.float32)
    if m.shape != img.shape[:2]:
        raise UsageError(f"mask shape {m.shape} does not match image {img.shape[:2]}")
    m = np.clip(np.nan_to_num(m), 0.0, 1.0)
    out = img.copy()
    on = m > 0
    rows = np.flatnonzero(on.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(on.any(axis=0))
    hh, ww = m.shape
    s = min(hh, ww)
    pad = 4 + s // 32  # context for the painters' blurs
    y0, y1 = max(0, int(rows[0]) - pad), min(hh, int(rows[-1]) + pad + 1)
    x0, x1 = max(0, int(cols[0]) - pad), min(ww, int(cols[-1]) + pad + 1)
    sm = np.ascontiguousarray(m[y0:y1, x0:x1])
    painted = _PAINTERS[kind](img[y0:y1, x0:x1].astype(np.float32), sm, rng, s)
    sub = np.clip(np.round(painted), 0, 255).astype(np.uint8)
    out[y0:y1, x0:x1] = np.where((sm > 0)[..., None], sub, img[y0:y1, x0:x1])
    return out
