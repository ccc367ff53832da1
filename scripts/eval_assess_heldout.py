"""Held-out validation of the claim-assessment thresholds (``configs/assess.yaml``).

The fusion thresholds were chosen (issue 8) on claims that ``scripts/eval_assess.py`` built from
the photos of ``scikit-image``, ``scikit-learn``, ``opencv-doc`` and ``mate-backgrounds`` (the only
offline sources at the time), with the ``classical`` and ``ae`` generators and the damage types
crack, stain, scratch, tear and chip. This script builds claims from none of those:

* **photos**: the offline photos of every other Debian source of
  :func:`fakedamage.data.photos.find_offline_photos` (lxqt-themes,
  palapeli-data, forensics-samples-files, libjxl-testdata, libelementary-data, tuxtype-data,
  gnome-control-center-data, digikam-data, sddm-theme-maldives); each claim records its photo and
  source. ``lomiri-wallpapers*`` and ``plasma-workspace-wallpapers`` are never read (reserved);
* **generators**: ``taef2`` and the zoo members ``ldm-c16-nearest``, ``ldm-c16-transposed`` and
  ``inpainter`` (guided);
* **damage**: ``scuff`` (added to :data:`fakedamage.data.damage.DAMAGE_TYPES` after the tuning).

Claim kinds (:data:`CLAIM_KINDS`), each with its truth:

* genuine: ``genuine_pristine`` and ``genuine_real_damage`` (the independent-claim builder of
  ``eval_assess.py``: painted damage through :func:`~fakedamage.data.synth.simulate_capture`, then
  scale/rotate/crop/colour/JPEG); ``genuine_corner_text`` (ordinary text in a corner: a date stamp,
  "MADE IN CHINA", "AIR MAIL", a shop handle: what explicit-label OCR must not call an AI label);
  ``genuine_screenshot`` (a screenshot of the photo: scaled ~0.8, a phone status bar on top, PNG);
* AI-edited (a held-out generator redid painted damage, pasted back: the "AI app's output"):
  ``ai_no_label`` (then scale/rotate/crop/colour/JPEG, no metadata); ``ai_implicit_label`` (the
  GB 45438 ``TC260:AIGC`` XMP, ``Label=1``); ``ai_implicit_stripped`` (those pixels re-encoded, no
  metadata); ``ai_explicit_label`` (a visible label such as "豆包AI生成", "即梦AI", "AI生成", "Made
  with AI" rendered in a corner, no metadata); ``ai_explicit_cropped`` (the same with the label's band
  cropped away); ``ai_screenshot`` (a screenshot of the visibly labelled output, PNG); ``ai_stealth``
  (A1111 stealth PNG info in the alpha or RGB least significant bits, PNG).

The AI kinds share ``--n-fakes`` AI-edited images (one generator each, in turn), so the kinds are a
paired comparison of the same edits in different forms. Claims are deterministic for a seed.
No merchant references are given (provenance, explicit label and detector only).

Each claim is assessed by the real :class:`fakedamage.assess.Assessor` with ``configs/assess.yaml``
(or ``--config``). Printed and written to ``OUT/report.md`` / ``OUT/results.json``: the verdict
confusion table overall, per claim kind, per deciding evidence (the kinds of the Decision's deciding
items, or rule 4) and per generator, and how often ``likely_ai_edited`` is wrong on genuine claims,
with a one-sided 95 % Clopper-Pearson upper bound (target <= 1 %).

    python scripts/eval_assess_heldout.py --model runs/demo/model.onnx --n-per-kind 30 --n-genuine 75 \\
        --out runs/assess_eval/heldout

``make eval-assess MODEL=...`` runs it after ``eval_assess.py`` (``OUT = EVAL_OUT/heldout``;
``HELDOUT_N=`` / ``HELDOUT_GENUINE=`` set the counts; defaults 30 and 75).
``--model none`` assesses without a detector. A missing model, font or generator weights stop
with one ``error: ...`` line (exit code 2).

Caveat printed with the results: the detector named by ``--model`` may have been trained on these
photos and generators (``runs/demo`` was); the set is held out for the *thresholds*, not
necessarily for the detector. Where the model's run lists its photos (``<model dir>/data/sources.csv``)
each claim records whether its photo was among them, and the report splits the genuine claims by it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_assess import (  # noqa: E402  (the shared claim builders)
    REPO,
    UsageError,
    add_damage,
    encode_jpeg,
    make_independent_claim,
    make_listing,
    resolve_model_arg,
    transform_claim,
)

#: Photo sources behind the tuning claims (``find_offline_photos``'s sources when the thresholds were chosen).
TUNING_SOURCES: tuple[str, ...] = ("scikit-image", "scikit-learn", "opencv-doc", "mate-backgrounds")
#: Generators and damage types behind the tuning claims.
TUNING_GENERATORS: tuple[str, ...] = ("classical", "ae")
TUNING_DAMAGE: tuple[str, ...] = ("crack", "stain", "scratch", "tear", "chip")
#: Never read: reserved as an independent test source.
RESERVED_PATH_PARTS: tuple[str, ...] = ("lomiri-wallpapers", "plasma-workspace-wallpapers", "/wallpapers/lomiri",
                                        "/usr/share/wallpapers/")

#: Held-out generators: name -> (registry kind, keyword arguments).
HELDOUT_GENERATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "taef2": ("taef2", {}),
    "ldm-c16-nearest": ("ldm", {"weights": "ldm-c16-nearest"}),
    "ldm-c16-transposed": ("ldm", {"weights": "ldm-c16-transposed"}),
    "inpainter": ("inpainter", {"weights": "inpainter", "mode": "guided"}),
}

#: Claim kind -> truth (``authentic`` = genuine, ``ai_edited``).
CLAIM_KINDS: dict[str, str] = {
    "genuine_pristine": "authentic",
    "genuine_real_damage": "authentic",
    "genuine_corner_text": "authentic",
    "genuine_screenshot": "authentic",
    "ai_no_label": "ai_edited",
    "ai_implicit_label": "ai_edited",
    "ai_implicit_stripped": "ai_edited",
    "ai_explicit_label": "ai_edited",
    "ai_explicit_cropped": "ai_edited",
    "ai_screenshot": "ai_edited",
    "ai_stealth": "ai_edited",
}
TRUTH_NAMES = {"authentic": "genuine", "ai_edited": "ai_edited"}

#: Visible AI labels ``(text, script)``: generic phrases and service marks, Chinese and English.
EXPLICIT_LABELS: tuple[tuple[str, str], ...] = (
    ("豆包AI生成", "zh"), ("即梦AI", "zh"), ("AI生成", "zh"), ("人工智能生成", "zh"), ("可灵AI", "zh"),
    ("通义万相AI生成", "zh"), ("Made with AI", "en"), ("AI generated", "en"),
)
#: Ordinary corner text on genuine photos (date stamps, product text, shop handles).
ORDINARY_TEXT: tuple[tuple[str, str], ...] = (
    ("2025-03-14 18:22", "en"), ("MADE IN CHINA", "en"), ("AIR MAIL", "en"), ("Shot on iPhone 15", "en"),
    ("AIRPODS PRO", "en"), ("中国制造", "zh"), ("@好物小店", "zh"), ("净含量 500ml", "zh"),
)
#: GB 45438 content producers written in the implicit labels.
PRODUCERS: tuple[str, ...] = ("Doubao (ByteDance)", "Jimeng (ByteDance)", "Tongyi Wanxiang (Alibaba)",
                              "Kling (Kuaishou)", "Hunyuan (Tencent)")
A1111_PARAMETERS = ("a {thing} with a scuff mark on the side, product photo, detailed\n"
                    "Negative prompt: blurry, lowres\n"
                    "Steps: {steps}, Sampler: Euler a, CFG scale: 7, Seed: {seed}, Size: {w}x{h}, "
                    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.55")
THINGS = ("phone case", "ceramic mug", "leather shoe", "suitcase", "laptop lid", "wooden chair")

CJK_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
             "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
             "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
             "/usr/share/fonts/truetype/arphic/uming.ttc")
LATIN_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
               "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
               "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


@dataclass
class HeldoutClaim:
    """One held-out claim: ``data`` (encoded file), its ``ext``, truth, claim kind and how it was made."""

    id: str
    kind: str
    data: bytes
    ext: str
    truth: str
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- fonts and rendering


def find_fonts() -> tuple[str, str]:
    """``(CJK font, Latin font)`` paths.

    Raises:
        UsageError: No CJK font (the Chinese labels cannot be rendered).
    """
    cjk = next((f for f in CJK_FONTS if Path(f).is_file()), None)
    if cjk is None:
        try:  # any font fontconfig knows for Chinese
            out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20).stdout
            cjk = next((ln.split(":")[0].strip() for ln in out.splitlines() if ln.strip()), None)
        except (OSError, ValueError, subprocess.SubprocessError):
            cjk = None
    if cjk is None:
        raise UsageError("no CJK font to render Chinese AI labels; install one (make fonts, or as root: apt-get "
                         "install -y fonts-noto-cjk or fonts-wqy-zenhei)")
    latin = next((f for f in LATIN_FONTS if Path(f).is_file()), cjk)
    return cjk, latin


class Renderer:
    """Draws corner text (labels, ordinary text) and phone status bars."""

    def __init__(self, cjk: str, latin: str) -> None:
        self.cjk, self.latin = cjk, latin

    def font(self, script: str, size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(self.cjk if script == "zh" else self.latin, size)

    def corner_text(self, image: np.ndarray, text: str, script: str, corner: str, frac: float,
                    style: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """``image`` with ``text`` at ``corner``, ink height about ``frac`` of the shorter side.

        Styles: 0 white with a dark outline; 1 translucent white with a soft shadow; 2 dark text on a
        translucent light panel (the look of most app watermarks). Returns the image and the text box.
        """
        im = Image.fromarray(image).convert("RGBA")
        w, h = im.size
        f = self.font(script, max(11, round(frac * min(w, h) / 0.72)))
        layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=f)
        margin = max(4, round(0.025 * min(w, h)))
        x = margin - left if "left" in corner else w - margin - right
        y = margin - top if "top" in corner else h - margin - bottom
        box = (x + left, y + top, x + right, y + bottom)
        if style == 2:
            pad = max(3, (bottom - top) // 3)
            draw.rounded_rectangle([box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad], radius=pad,
                                   fill=(255, 255, 255, 170))
            draw.text((x, y), text, font=f, fill=(40, 40, 40, 255))
        elif style == 0:
            draw.text((x, y), text, font=f, fill=(255, 255, 255, 235), stroke_width=max(1, round(f.size / 18)),
                      stroke_fill=(30, 30, 30, 200))
        else:
            shadow = Image.new("RGBA", im.size, (0, 0, 0, 0))
            ImageDraw.Draw(shadow).text((x + 2, y + 2), text, font=f, fill=(0, 0, 0, 160))
            layer = Image.alpha_composite(layer, shadow.filter(ImageFilter.GaussianBlur(2)))
            ImageDraw.Draw(layer).text((x, y), text, font=f, fill=(255, 255, 255, 210))
        return np.asarray(Image.alpha_composite(im, layer).convert("RGB")), box

    def screenshot(self, image: np.ndarray, rng: np.random.Generator) -> tuple[bytes, dict[str, Any]]:
        """A phone screenshot of ``image``: scaled ~0.8, a flat status bar (time, network, battery) on top, PNG."""
        h, w = image.shape[:2]
        s = float(rng.uniform(0.75, 0.85))
        img = cv2.resize(image, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
        bar_h = max(20, round(0.05 * img.shape[0]))
        bg = [(0, 0, 0), (255, 255, 255), (246, 246, 246), (28, 28, 30)][int(rng.integers(4))]
        fg = (255, 255, 255) if sum(bg) < 300 else (0, 0, 0)
        bar = Image.new("RGB", (img.shape[1], bar_h), bg)
        d = ImageDraw.Draw(bar)
        f = self.font("en", max(10, round(bar_h * 0.55)))
        clock = f"{int(rng.integers(0, 24))}:{int(rng.integers(0, 60)):02d}"
        status = f"5G  {int(rng.integers(12, 100))}%"
        d.text((round(bar_h * 0.6), bar_h // 2), clock, font=f, fill=fg, anchor="lm")
        d.text((img.shape[1] - round(bar_h * 0.6), bar_h // 2), status, font=f, fill=fg, anchor="rm")
        shot = np.concatenate([np.asarray(bar), img], axis=0)
        buf = io.BytesIO()
        Image.fromarray(shot).save(buf, format="PNG")
        return buf.getvalue(), {"screenshot_scale": round(s, 3), "status_bar_px": bar_h, "status_text": [clock, status]}


# --------------------------------------------------------------------------- metadata writers


def gb45438_xmp(producer: str, label: str = "1") -> bytes:
    """An XMP packet with the GB 45438 implicit label (``TC260:AIGC`` JSON), as AI services write it."""
    from xml.sax.saxutils import escape

    from fakedamage.assess.provenance import TC260_NAMESPACE

    aigc = json.dumps({"Label": label, "ContentProducer": producer, "ProduceID": "heldout-0001",
                       "ReservedCode1": "", "ContentPropagator": "", "PropagateID": "", "ReservedCode2": ""},
                      ensure_ascii=False)
    return (f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:TC260="{TC260_NAMESPACE}"><TC260:AIGC>{escape(aigc)}</TC260:AIGC>'
            f'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode("utf-8")


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def stealth_writer() -> Callable[..., np.ndarray] | None:
    """:func:`fakedamage.assess.provenance.stealth.embed_stealth`, or ``None`` where it does not exist."""
    try:
        from fakedamage.assess.provenance.stealth import embed_stealth
    except ImportError:
        return None
    return embed_stealth


# --------------------------------------------------------------------------- claim builders


def crop_label_away(image: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Crop the band holding the label (top or bottom rows, plus a margin) and a little of the sides."""
    h, w = image.shape[:2]
    margin = max(4, round(0.02 * h))
    if (box[1] + box[3]) / 2 < h / 2:
        y0, y1 = min(h - 16, box[3] + margin), h
    else:
        y0, y1 = 0, max(16, box[1] - margin)
    x0 = int(rng.integers(0, max(1, round(0.04 * w))))
    x1 = w - int(rng.integers(0, max(1, round(0.04 * w))))
    return np.ascontiguousarray(image[y0:y1, x0:x1]), [x0, y0, x1 - x0, y1 - y0]


def ai_variant(kind: str, fake: np.ndarray, rng: np.random.Generator, renderer: Renderer,
               stealth: Callable[..., np.ndarray] | None) -> tuple[bytes, str, dict[str, Any]]:
    """One AI-edited claim of ``kind`` from the AI app's output ``fake``: ``(data, ext, info)``."""
    if kind == "ai_no_label":
        data, _, params = transform_claim(fake, None, rng)
        return data, "jpg", params
    if kind in ("ai_implicit_label", "ai_implicit_stripped"):
        producer = PRODUCERS[int(rng.integers(len(PRODUCERS)))]
        q = int(rng.integers(85, 96))
        buf = io.BytesIO()
        Image.fromarray(fake).save(buf, format="JPEG", quality=q, xmp=gb45438_xmp(producer))
        info: dict[str, Any] = {"producer": producer, "jpeg_quality": q}
        if kind == "ai_implicit_label":
            return buf.getvalue(), "jpg", info
        pixels = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))  # pixels only: no metadata
        q2 = int(rng.integers(70, 93))
        return encode_jpeg(pixels, q2), "jpg", {**info, "reencode_quality": q2}
    if kind in ("ai_explicit_label", "ai_explicit_cropped", "ai_screenshot"):
        text, script = EXPLICIT_LABELS[int(rng.integers(len(EXPLICIT_LABELS)))]
        corner = CORNERS[int(rng.integers(len(CORNERS)))]
        frac = float(rng.uniform(0.025, 0.05))
        style = int(rng.integers(3))
        labelled, box = renderer.corner_text(fake, text, script, corner, frac, style)
        info = {"label": text, "corner": corner, "text_height_frac": round(frac, 4), "style": style,
                "label_box": list(box)}
        if kind == "ai_explicit_label":
            q = int(rng.integers(80, 96))
            return encode_jpeg(labelled, q), "jpg", {**info, "jpeg_quality": q}
        if kind == "ai_explicit_cropped":
            cropped, crop = crop_label_away(labelled, box, rng)
            q = int(rng.integers(80, 96))
            return encode_jpeg(cropped, q), "jpg", {**info, "crop_xywh": crop, "jpeg_quality": q}
        data, shot = renderer.screenshot(labelled, rng)
        return data, "png", {**info, **shot}
    if kind == "ai_stealth":
        if stealth is None:
            raise UsageError("ai_stealth claims need fakedamage.assess.provenance.stealth.embed_stealth")
        h, w = fake.shape[:2]
        text = A1111_PARAMETERS.format(thing=THINGS[int(rng.integers(len(THINGS)))], steps=int(rng.integers(20, 41)),
                                       seed=int(rng.integers(0, 2**31 - 1)), w=w, h=h)
        mode = "alpha" if rng.random() < 0.5 else "rgb"
        compressed = bool(rng.random() < 0.5)
        return png_bytes(stealth(fake, text, mode=mode, compressed=compressed)), "png", \
            {"stealth_mode": mode, "stealth_compressed": compressed}
    raise ValueError(f"unknown AI claim kind {kind!r}")


def genuine_variant(kind: str, photo: np.ndarray, damage: str, rng: np.random.Generator,
                    renderer: Renderer) -> tuple[bytes, str, dict[str, Any]]:
    """One genuine claim of ``kind`` from a real ``photo``: ``(data, ext, info)``."""
    if kind in ("genuine_pristine", "genuine_real_damage"):
        variant = "real_damage" if kind == "genuine_real_damage" else "pristine"
        c = make_independent_claim("", photo, rng, [], variant, damage)
        return c.data, "jpg", c.info
    listing = make_listing(photo, int(rng.integers(640, 1025)))
    if kind == "genuine_corner_text":
        text, script = ORDINARY_TEXT[int(rng.integers(len(ORDINARY_TEXT)))]
        corner = CORNERS[int(rng.integers(len(CORNERS)))]
        frac = float(rng.uniform(0.025, 0.05))
        style = int(rng.integers(3))
        img, box = renderer.corner_text(listing, text, script, corner, frac, style)
        q = int(rng.integers(80, 96))
        return encode_jpeg(img, q), "jpg", {"text": text, "corner": corner, "text_height_frac": round(frac, 4),
                                            "style": style, "text_box": list(box), "jpeg_quality": q}
    if kind == "genuine_screenshot":
        data, shot = renderer.screenshot(listing, rng)
        return data, "png", shot
    raise ValueError(f"unknown genuine claim kind {kind!r}")


def heldout_photos(sources: Sequence[str]) -> list[Any]:
    """The offline photos of ``sources`` (never a reserved wallpaper package)."""
    from fakedamage.data.photos import find_offline_photos

    photos = [p for p in find_offline_photos(min_side=256, include=list(sources))
              if not any(part in str(p.path) for part in RESERVED_PATH_PARTS)]
    if len(photos) < 2:
        raise UsageError(f"only {len(photos)} held-out offline photo(s) from {', '.join(sources)}; install more "
                         f"(make photos, or scripts/install_offline_photos.sh as root)")
    return photos


def load_generators(names: Sequence[str], threads: int | None) -> list[Any]:
    """The held-out generators by name.

    Raises:
        UsageError: An unknown name or missing weights (one line).
    """
    import torch

    from fakedamage.data.generators import create_generator

    if threads:
        torch.set_num_threads(int(threads))
    gens = []
    for name in names:
        kind, kwargs = HELDOUT_GENERATORS[name]
        try:
            gens.append(create_generator(kind, **kwargs))
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise UsageError(f"generator {name}: its weights could not be loaded ({' '.join(str(e).split())}); "
                             f"they ship in src/fakedamage/data/generators/ (zoo/, weights/)") from None
    return gens


def build_claims(args: argparse.Namespace, renderer: Renderer) -> tuple[list[HeldoutClaim], dict[str, Any]]:
    """Build every claim (deterministic for ``args.seed``). Returns ``(claims, build facts)``."""
    from fakedamage.data.photos import load_rgb

    photos = heldout_photos(args.sources)
    cache: dict[str, np.ndarray] = {}

    def pixels(i: int) -> np.ndarray:
        p = photos[i]
        if p.name not in cache:
            cache[p.name] = make_listing(load_rgb(p.path), 1600)  # 12 MP photos: decode once, keep 1600 px
        return cache[p.name]

    order = np.random.default_rng([args.seed, 7]).permutation(len(photos))
    stealth = stealth_writer()
    kinds = [k for k in args.kinds if not (k == "ai_stealth" and stealth is None)]
    ai_kinds = [k for k in kinds if CLAIM_KINDS[k] == "ai_edited"]
    claims: list[HeldoutClaim] = []
    fakes: list[tuple[np.ndarray, dict[str, Any]]] = []
    t_gen = 0.0
    if ai_kinds:
        gens = load_generators(args.generators, args.threads)
        for b in range(args.n_fakes):
            r = np.random.default_rng([args.seed, 100, b])
            pi = int(order[b % len(order)])
            listing = make_listing(pixels(pi), int(r.integers(args.listing_side[0], args.listing_side[1] + 1)))
            gen = gens[b % len(gens)]
            damage = args.damage[b % len(args.damage)]
            t0 = time.perf_counter()
            fake, mask = add_damage(listing, gen, damage, r)
            t_gen += time.perf_counter() - t0
            fakes.append((fake, {"photo": photos[pi].name, "source": photos[pi].source,
                                 "generator": getattr(gen, "name", args.generators[b % len(gens)]),
                                 "damage": damage, "base": b, "size": list(listing.shape[:2]),
                                 "damage_fraction": round(float((mask >= 0.5).mean()), 4)}))
            print(f"  fake {b + 1}/{args.n_fakes}: {fakes[-1][1]['generator']} on {photos[pi].name}",
                  file=sys.stderr, flush=True)
    for ki, kind in enumerate(kinds):
        n = args.n_genuine if CLAIM_KINDS[kind] == "authentic" else args.n_per_kind
        for i in range(n):
            r = np.random.default_rng([args.seed, 1 + ki, i])
            if CLAIM_KINDS[kind] == "ai_edited":
                fake, base = fakes[(i + 3 * ai_kinds.index(kind)) % len(fakes)]
                data, ext, info = ai_variant(kind, fake, r, renderer, stealth)
                info = {**base, **info}
            else:
                pi = int(order[(i + 5 * ki) % len(order)])
                damage = args.damage[i % len(args.damage)]
                data, ext, info = genuine_variant(kind, pixels(pi), damage, r, renderer)
                info = {"photo": photos[pi].name, "source": photos[pi].source, **info}
            claims.append(HeldoutClaim(f"{kind}_{i:03d}", kind, data, ext, CLAIM_KINDS[kind], info))
    facts = {"photos": len(photos), "photo_sources": sorted({p.source for p in photos}),
             "generation_seconds": round(t_gen, 1), "stealth_available": stealth is not None,
             "kinds": kinds}
    return claims, facts


# --------------------------------------------------------------------------- statistics and tables


def clopper_pearson_upper(k: int, n: int, alpha: float = 0.05) -> float:
    """One-sided ``1 - alpha`` Clopper-Pearson upper bound of a binomial rate (``k=0``: ``1 - alpha**(1/n)``)."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0

    def cdf(p: float) -> float:  # P(X <= k), X ~ Bin(n, p)
        return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k + 1))

    lo, hi = k / n, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if cdf(mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


def claims_needed(target: float, alpha: float = 0.05) -> int:
    """Genuine claims needed, with no false flag, for the upper bound to reach ``target``."""
    return math.ceil(math.log(alpha) / math.log(1 - target))


def verdict_counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    from fakedamage.assess import VERDICTS

    counts = {v: 0 for v in VERDICTS}
    for r in rows:
        counts[r["verdict"]] += 1
    return counts


def table(groups: dict[tuple[str, ...], list[dict[str, Any]]], headers: Sequence[str]) -> str:
    """Markdown table: one row per group key, verdict counts, total."""
    from fakedamage.assess import VERDICTS

    lines = ["| " + " | ".join(headers) + " | " + " | ".join(VERDICTS) + " | total |",
             "|" + "---|" * len(headers) + "---:|" * (len(VERDICTS) + 1)]
    for key, rows in groups.items():
        c = verdict_counts(rows)
        lines.append("| " + " | ".join(key) + " | " + " | ".join(str(c[v]) for v in VERDICTS) + f" | {len(rows)} |")
    return "\n".join(lines)


def grouped(rows: Sequence[dict[str, Any]], key: Callable[[dict[str, Any]], tuple[str, ...]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    out: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(key(r), []).append(r)
    return out


def decider(row: dict[str, Any]) -> str:
    """The Decision's deciding evidence kinds (strongest first), or ``none (rule 4)``."""
    if not row["decided_by"]:
        return f"none (rule {row['rule']})"
    return " + ".join(dict.fromkeys(row["decided_by"]))


# --------------------------------------------------------------------------- evaluation


def detector_photos(model: str | None) -> set[str] | None:
    """Photo names of the model's training run (``<model dir>/data/sources.csv``), if listed."""
    if not model:
        return None
    src = Path(model).resolve().parent / "data" / "sources.csv"
    if not src.is_file():
        return None
    with open(src, newline="", encoding="utf-8") as f:
        return {r["name"] for r in csv.DictReader(f) if r.get("name")}


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from fakedamage.assess import Assessor, load_config
    from fakedamage.assess.explicit_label import ocr_available
    from fakedamage.runtime import Detector
    from fakedamage.runtime.detector import ModelLoadError

    cfg = load_config(args.config)
    try:  # before the slow part: a bad model stops the run at once
        detector = Detector(args.model, threads=args.threads) if args.model else None
    except (ModelLoadError, ValueError) as e:
        raise UsageError(" ".join(str(e).split())) from None
    renderer = Renderer(*find_fonts())
    ocr_active = bool(getattr(cfg, "explicit_label", False)) and ocr_available()
    out = Path(args.out)
    t0 = time.perf_counter()
    claims, facts = build_claims(args, renderer)
    t_build = time.perf_counter() - t0
    (out / "claims").mkdir(parents=True, exist_ok=True)
    rows_csv = ["id,claim,refs,truth"]
    for c in claims:
        (out / "claims" / f"{c.id}.{c.ext}").write_bytes(c.data)
        rows_csv.append(f"{c.id},claims/{c.id}.{c.ext},,{c.truth}")
    (out / "claims.csv").write_text("\n".join(rows_csv) + "\n")
    seen = detector_photos(args.model)

    assessor = Assessor(detector, cfg)
    per_claim: list[dict[str, Any]] = []
    t1 = time.perf_counter()
    for k, c in enumerate(claims):
        a = assessor.assess(out / "claims" / f"{c.id}.{c.ext}")
        label = next((e for e in a.evidence if e.kind == "explicit_ai_label"), None)
        per_claim.append({
            "id": c.id, "claim_kind": c.kind, "truth": c.truth, "verdict": a.verdict, "score": round(a.score, 4),
            "rule": a.rule, "decided_by": [a.evidence[i].kind for i in a.decided_by], "reason": a.reason,
            "evidence": [{"kind": e.kind, "source": e.source, "strength": round(e.strength, 3)} for e in a.evidence],
            "detector_score": next((e.details.get("score") for e in a.evidence if e.kind == "detector"), None),
            "explicit_label_read": (label.details.get("text") if label is not None else None),
            "photo_in_detector_data": (c.info.get("photo") in seen) if seen is not None else None,
            "ms": {k2: round(v, 1) for k2, v in a.timings.items()}, "info": c.info,
        })
        if (k + 1) % 25 == 0:
            print(f"  {k + 1}/{len(claims)} assessed", file=sys.stderr, flush=True)
    t_assess = time.perf_counter() - t1
    return summarise(per_claim, args, facts, ocr_active, t_build, t_assess, out, seen is not None)


def summarise(per_claim: list[dict[str, Any]], args: argparse.Namespace, facts: dict[str, Any], ocr_active: bool,
              t_build: float, t_assess: float, out: Path, have_seen: bool) -> dict[str, Any]:
    genuine = [p for p in per_claim if p["truth"] == "authentic"]
    ai = [p for p in per_claim if p["truth"] == "ai_edited"]
    fp = sum(p["verdict"] == "likely_ai_edited" for p in genuine)
    n = len(genuine)
    upper = clopper_pearson_upper(fp, n)
    order = {k: i for i, k in enumerate(CLAIM_KINDS)}
    overall = grouped(sorted(per_claim, key=lambda p: p["truth"]), lambda p: (TRUTH_NAMES[p["truth"]],))
    by_kind = grouped(sorted(per_claim, key=lambda p: order[p["claim_kind"]]),
                      lambda p: (p["claim_kind"], TRUTH_NAMES[p["truth"]]))
    by_decider = dict(sorted(grouped(per_claim, lambda p: (decider(p), TRUTH_NAMES[p["truth"]])).items()))
    by_generator = dict(sorted(grouped(ai, lambda p: (p["info"].get("generator", "?"),)).items()))
    fp_claims = [p["id"] for p in genuine if p["verdict"] == "likely_ai_edited"]
    res: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "model": args.model, "config": args.config or "configs/assess.yaml", "seed": args.seed,
        "explicit_label_ocr_active": ocr_active,
        "n_claims": len(per_claim), "n_genuine": n, "n_ai_edited": len(ai),
        "held_out": {"photo_sources": facts["photo_sources"], "n_photos": facts["photos"],
                     "generators": list(args.generators), "damage": list(args.damage),
                     "tuning_sources": list(TUNING_SOURCES), "tuning_generators": list(TUNING_GENERATORS),
                     "tuning_damage": list(TUNING_DAMAGE)},
        "kinds": facts["kinds"], "stealth_available": facts["stealth_available"],
        "genuine_false_likely_ai_edited": {"count": fp, "n": n, "rate": (fp / n) if n else None,
                                           "upper95_one_sided_clopper_pearson": upper, "target": 0.01,
                                           "target_met": bool(n and upper <= 0.01),
                                           "genuine_needed_for_target_with_no_error": claims_needed(0.01),
                                           "claims": fp_claims},
        "confusion_overall": {k[0]: verdict_counts(v) for k, v in overall.items()},
        "confusion_by_claim_kind": {k[0]: verdict_counts(v) for k, v in by_kind.items()},
        "confusion_by_deciding_evidence": {f"{k[0]} | {k[1]}": verdict_counts(v) for k, v in by_decider.items()},
        "confusion_by_generator": {k[0]: verdict_counts(v) for k, v in by_generator.items()},
        "build_seconds": round(t_build, 1), "generation_seconds": facts["generation_seconds"],
        "assess_seconds": round(t_assess, 1),
        "assess_ms_per_claim_mean": round(1e3 * t_assess / max(1, len(per_claim)), 1),
        "explicit_label_ms_mean": round(float(np.mean([p["ms"].get("explicit_label", 0.0) for p in per_claim])), 1)
        if per_claim else None,
        "per_claim": per_claim,
    }
    rate = f"{100 * fp / n:.2f} %" if n else "n/a"
    fp_line = (f"likely_ai_edited on genuine claims: {fp}/{n} = {rate}; one-sided 95 % upper bound "
               f"(Clopper-Pearson) {100 * upper:.2f} % (target <= 1 %: "
               f"{'met' if res['genuine_false_likely_ai_edited']['target_met'] else 'not shown'}"
               f"{'' if res['genuine_false_likely_ai_edited']['target_met'] else f'; {claims_needed(0.01)} genuine claims without a false flag would show it'})"
               + (f"; wrong on: {', '.join(fp_claims)}" if fp_claims else ""))
    md = [
        f"# held-out assess validation ({len(per_claim)} claims: {n} genuine, {len(ai)} AI-edited)",
        "",
        f"command: `{res['command']}`",
        "",
        f"- model: {args.model or 'none (no detector)'}; config: {res['config']}; explicit-label OCR: "
        f"{'active' if ocr_active else 'NOT active'}",
        f"- held-out photos: {facts['photos']} from {', '.join(facts['photo_sources'])} (thresholds were tuned on "
        f"{', '.join(TUNING_SOURCES)})",
        f"- held-out generators: {', '.join(args.generators)} (tuned on {', '.join(TUNING_GENERATORS)}); damage: "
        f"{', '.join(args.damage)} (tuned on {', '.join(TUNING_DAMAGE)})",
        "- no merchant references: provenance, explicit label and detector evidence only",
    ]
    if have_seen:
        seen_n = sum(bool(p["photo_in_detector_data"]) for p in per_claim)
        md.append(f"- caveat: {seen_n}/{len(per_claim)} claims use a photo listed in the detector's own training "
                  f"run (<model dir>/data/sources.csv); held out for the thresholds, not for the detector")
    md += [
        "",
        "## Verdicts overall", "", table(overall, ["truth"]), "",
        f"**{fp_line}**", "",
        "## Verdicts per claim kind", "", table(by_kind, ["claim kind", "truth"]), "",
        "## Verdicts per deciding evidence (the Decision's deciding items; rule 4: none)", "",
        table(by_decider, ["deciding evidence", "truth"]), "",
    ]
    if by_generator:
        md += ["## AI-edited claims per generator", "", table(by_generator, ["generator"]), ""]
    if have_seen:
        split = grouped(genuine, lambda p: ("yes" if p["photo_in_detector_data"] else "no",))
        md += ["## Genuine claims by whether the detector's run listed the photo", "",
               table(dict(sorted(split.items())), ["photo in detector data"]), ""]
    md += [f"- time: building {res['build_seconds']} s (generators {res['generation_seconds']} s), assessing "
           f"{res['assess_seconds']} s ({res['assess_ms_per_claim_mean']} ms per claim; explicit-label OCR "
           f"{res['explicit_label_ms_mean']} ms mean)"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2, ensure_ascii=False, default=str) + "\n")
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md), flush=True)
    return res


# --------------------------------------------------------------------------- command line


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def check_args(args: argparse.Namespace) -> None:
    """Validate the command line in place (one-line :class:`UsageError` on a problem)."""
    from fakedamage.data.damage import DAMAGE_TYPES
    from fakedamage.data.photos import SOURCES

    resolve_model_arg(args)
    args.generators = _csv(args.generators)
    bad = [g for g in args.generators if g not in HELDOUT_GENERATORS]
    if not args.generators or bad:
        used = [g for g in bad if g in TUNING_GENERATORS]
        why = f" ({', '.join(used)} chose the thresholds)" if used else ""
        raise UsageError(f"--generators: {', '.join(bad) or 'empty'}{why}; use a comma list of "
                         f"{', '.join(HELDOUT_GENERATORS)}")
    args.damage = _csv(args.damage)
    bad = [d for d in args.damage if d not in DAMAGE_TYPES]
    if not args.damage or bad:
        raise UsageError(f"--damage: {', '.join(bad) or 'empty'}; use a comma list of {', '.join(DAMAGE_TYPES)}")
    args.sources = _csv(args.sources) or [s for s in SOURCES if s not in TUNING_SOURCES]
    bad = [s for s in args.sources if s not in SOURCES or s in TUNING_SOURCES]
    if not args.sources or bad:
        raise UsageError(f"--sources: {', '.join(bad) or 'empty'}; use held-out sources among "
                         f"{', '.join(s for s in SOURCES if s not in TUNING_SOURCES)}")
    args.kinds = _csv(args.kinds) if args.kinds else list(CLAIM_KINDS)
    bad = [k for k in args.kinds if k not in CLAIM_KINDS]
    if bad:
        raise UsageError(f"--kinds: unknown {', '.join(bad)}; use a comma list of {', '.join(CLAIM_KINDS)}")
    if args.n_per_kind < 0 or args.n_genuine < 0:
        raise UsageError("--n-per-kind and --n-genuine must be >= 0")
    args.n_fakes = args.n_fakes or max(1, args.n_per_kind)
    lo, _, hi = args.listing_side.partition(",")
    try:
        args.listing_side = (int(lo), int(hi or lo))
    except ValueError:
        raise UsageError(f"--listing-side {args.listing_side!r}: give MIN,MAX pixels, e.g. 640,800") from None
    if not 64 <= args.listing_side[0] <= args.listing_side[1]:
        raise UsageError("--listing-side: need 64 <= MIN <= MAX")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True,
                   help="exported ONNX detector, e.g. runs/demo/model.onnx; 'none' assesses without a detector")
    p.add_argument("--n-per-kind", type=int, default=30, help="claims per AI-edited kind")
    p.add_argument("--n-genuine", type=int, default=75,
                   help="claims per genuine kind (cheap: no generator). 4 kinds x 75 = 300 genuine claims: with no "
                        "false flag the 95 %% upper bound is then below the 1 %% target (299 needed)")
    p.add_argument("--n-fakes", type=int, default=None,
                   help="AI-edited images the AI kinds share (default: --n-per-kind; generators in turn)")
    p.add_argument("--generators", default=",".join(HELDOUT_GENERATORS),
                   help=f"comma list of held-out generators ({', '.join(HELDOUT_GENERATORS)})")
    p.add_argument("--damage", default="scuff", help="comma list of damage types (default: scuff, held out)")
    p.add_argument("--sources", default="",
                   help="comma list of photo sources (default: every offline source but the tuning ones)")
    p.add_argument("--kinds", default="", help=f"comma list of claim kinds (default all: {', '.join(CLAIM_KINDS)})")
    p.add_argument("--listing-side", default="640,800", help="longer side MIN,MAX of the AI app's output (px)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", default=None, help="assess config YAML (default configs/assess.yaml)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=str(REPO / "runs" / "assess_eval" / "heldout"))
    args = p.parse_args(argv)
    try:
        check_args(args)
        evaluate(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
