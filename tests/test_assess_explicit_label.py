"""Explicit-label evidence: visible AI labels ("豆包AI生成", "Made with AI") read by OCR, on real photos.

Labels are rendered with Pillow into real photos (skimage's astronaut, coffee and chelsea, scaled
up to phone-photo sizes, and MATE's nature wallpapers where installed) in each corner, at several
sizes (text height 2 %, 3.5 % and 5 % of the shorter side; GB 45438 asks for at least 5 %), in
both scripts, in two styles (white with a dark outline; translucent white with a shadow). Each
must be found, with a box on the rendered text. The same photos without a label, and photos with
ordinary packaging text ("MADE IN CHINA", "AIR MAX", "¥ 39.90", "纯棉袜子", "净含量 500ml" ...),
also in the corners, must give no label: the false-positive rate is printed (``-s``) and must be 0.

Chinese needs a CJK font (Debian ``fonts-noto-cjk``, which ``make test`` installs); without one the
Chinese tests skip and say so. rapidocr-onnxruntime is part of ``make setup``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from fakedamage.assess import Assessor, Evidence, fuse, load_config
from fakedamage.assess.explicit_label import explicit_label_evidence, ocr_available, read_border_text
from fakedamage.assess.label_phrases import match_label, normalise
from fakedamage.assess.settings import AssessConfig

pytestmark = pytest.mark.skipif(not ocr_available(),
                                reason="rapidocr-onnxruntime is not installed (make setup installs it)")

CJK_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
             "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
             "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
LATIN_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
               "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")
MATE_PHOTOS = ("/usr/share/backgrounds/mate/nature/Garden.jpg", "/usr/share/backgrounds/mate/nature/Storm.jpg",
               "/usr/share/backgrounds/mate/nature/LadyBird.jpg", "/usr/share/backgrounds/mate/nature/Wood.jpg")
CJK = next((f for f in CJK_FONTS if Path(f).is_file()), None)
LATIN = next((f for f in LATIN_FONTS if Path(f).is_file()), None)
needs_cjk = pytest.mark.skipif(CJK is None, reason="no CJK font (apt-get install -y fonts-noto-cjk; make test does)")

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
SIZES = (0.02, 0.035, 0.05)  # text height / shorter side
LABELS = {"zh": ("豆包AI生成", "即梦AI", "AI生成", "人工智能生成合成"),
          "en": ("Made with AI", "AI generated", "Imagined with AI")}
PRODUCT_TEXT = {
    "en": ("MADE IN CHINA", "AIR MAX", "¥ 39.90", "500 ml", "AIRMAIL", "HAIR CARE", "ARMCHAIR", "PAIR OF SOCKS",
           "MAIL ORDER", "Made with love", "MADE WITH AIR-DRIED FRUIT", "AI NOISE CANCELLING", "Net Wt. 250 g",
           "Model A1-2087", "100% COTTON", "FAIRTRADE", "AIRPODS PRO", "DETAIL", "SMART AI SPEAKER", "BRAIN GAMES"),
    "zh": ("纯棉袜子", "净含量 500ml", "中国制造", "生产日期 2025-03-01", "保质期 12个月", "AI智能降噪耳机", "人工合成色素",
           "元宝造型巧克力", "海螺 500g", "小米智能音箱", "美的电饭煲", "通用型号 A1"),
}


def font(script: str, size: int) -> ImageFont.FreeTypeFont:
    path = CJK if script == "zh" else (LATIN or CJK)
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


def photos() -> list[np.ndarray]:
    """Real photos at phone-photo sizes: skimage's (scaled up) and MATE's where installed."""
    import skimage.data

    out = []
    for img, factor in ((skimage.data.astronaut(), 2.5), (skimage.data.coffee(), 2.5), (skimage.data.chelsea(), 3.5)):
        im = Image.fromarray(img)
        out.append(np.asarray(im.resize((round(im.width * factor), round(im.height * factor)), Image.Resampling.LANCZOS)))
    out += [np.asarray(Image.open(p).convert("RGB")) for p in MATE_PHOTOS if Path(p).is_file()]
    return out


def render(photo: np.ndarray, text: str, script: str, where: str, frac: float, style: int = 0,
           panel: tuple[int, int, int] | None = None) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``photo`` with ``text`` drawn at a corner (or ``"bottom"``: the bottom edge's centre), text height
    ``frac`` of the shorter side. Style 0: white with a dark outline; 1: translucent white with a soft
    shadow; with ``panel``, dark text on a coloured panel (packaging). Returns the image and the text box."""
    im = Image.fromarray(photo).convert("RGBA")
    w, h = im.size
    f = font(script, max(10, round(frac * min(w, h) / 0.72)))  # a CJK glyph is ~0.72 em of ink high
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=f)
    margin = round(0.03 * min(w, h))
    x = margin - left if "left" in where else w - margin - right if "right" in where else (w - right - left) // 2
    y = margin - top if "top" in where else h - margin - bottom
    box = (x + left, y + top, x + right, y + bottom)
    if panel is not None:
        pad = (bottom - top) // 2
        draw.rectangle([box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad], fill=(*panel, 255))
        draw.text((x, y), text, font=f, fill=(20, 20, 30, 255))
    elif style == 0:
        draw.text((x, y), text, font=f, fill=(255, 255, 255, 235), stroke_width=max(1, round(f.size / 18)),
                  stroke_fill=(30, 30, 30, 200))
    else:
        shadow = Image.new("RGBA", im.size, (0, 0, 0, 0))
        ImageDraw.Draw(shadow).text((x + 2, y + 2), text, font=f, fill=(0, 0, 0, 160))
        layer = Image.alpha_composite(layer, shadow.filter(ImageFilter.GaussianBlur(2)))
        ImageDraw.Draw(layer).text((x, y), text, font=f, fill=(255, 255, 255, 200))
    return np.asarray(Image.alpha_composite(im, layer).convert("RGB")), box


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box's area."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / max(1, smaller)


@pytest.fixture(scope="module")
def cfg() -> AssessConfig:
    return load_config()


@pytest.fixture(scope="module")
def real_photos() -> list[np.ndarray]:
    return photos()


# --- the phrase matcher ------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["豆包AI生成", "即梦AI", "AI生成", "Al生成", "ＡＩ生成", "AI 生成", "人工智能生成合成",
                                  "本图片由AI生成", "可灵AI", "Made with AI", "MadewithAl", "Imagined with AI",
                                  "AI-generated", "Generated by AI", "Kling AI"])
def test_label_phrases_match_with_ocr_noise(text):
    assert match_label(text) is not None, normalise(text)


@pytest.mark.parametrize("text", [t for ts in PRODUCT_TEXT.values() for t in ts]
                         + ["AIR", "MAIL", "HAIR", "CHAIR", "PAIR", "即梦", "AIGC", "MADE WITH AIR", "AI GENERATOR",
                            "natural generated", "KLING AIR", "Made in China by AI-TECH Co."])
def test_label_phrases_ignore_product_text(text):
    assert match_label(text) is None, (text, match_label(text))


def test_near_match_counts_as_weak():
    m = match_label("人工智能生成合戍")  # one character misread: the exact "人工智能生成" wins
    assert m is not None and m.edits == 0 and m.phrase.text == "人工智能生成"
    m = match_label("Imagined wlth AI")  # "wlth" -> "with" after folding; "lmagined" too
    assert m is not None and m.phrase.text == "Imagined with AI"
    m = match_label("Generated bv AI")
    assert m is not None and m.edits == 1 and m.phrase.text == "Generated by AI"


# --- rendered labels on real photos -------------------------------------------------------------
def _label_grid(script: str, real_photos, cfg, styles=(0, 1)):
    """Every (size, corner): a label rendered on a photo (rotating photos, texts and styles); the results."""
    rows = []
    k = 0
    for frac in SIZES:
        for corner in CORNERS:
            photo = real_photos[k % len(real_photos)]
            text = LABELS[script][k % len(LABELS[script])]
            style = styles[k % len(styles)]
            img, box = render(photo, text, script, corner, frac, style)
            items, checked, _ = explicit_label_evidence(img, cfg)
            rows.append({"script": script, "size": frac, "corner": corner, "text": text, "style": style,
                         "box": box, "items": items, "photo": photo.shape[:2]})
            k += 1
    return rows


def _check_found(rows):
    missed = [(r["size"], r["corner"], r["text"]) for r in rows if not r["items"]]
    summary = {}
    for r in rows:
        key = (r["script"], r["size"])
        summary.setdefault(key, [0, 0])
        summary[key][0] += bool(r["items"])
        summary[key][1] += 1
    print("\nexplicit labels found (script, text height / shorter side): " +
          ", ".join(f"{s} {f:.1%}: {a}/{n}" for (s, f), (a, n) in summary.items()))
    assert not missed, f"labels not found: {missed}"
    for r in rows:
        e = r["items"][0]
        assert e.kind == "explicit_ai_label" and e.source == "provenance"
        assert e.strength == pytest.approx(0.95), (r["text"], e.details)
        assert overlap(tuple(e.details["box"]), r["box"]) >= 0.7, (r["corner"], e.details["box"], r["box"])
        assert e.details["where"] == f"{r['corner']} corner"
        assert e.details["confident"] and e.details["confidence"] >= 0.8
        assert e.mask is not None and e.mask.any() and max(e.mask.shape) <= 512
        assert f'"{e.details["text"]}"' in e.explanation and r["corner"] in e.explanation


@needs_cjk
def test_chinese_labels_found_and_boxed_in_every_corner_and_size(real_photos, cfg):
    _check_found(_label_grid("zh", real_photos, cfg))


def test_english_labels_found_and_boxed_in_every_corner_and_size(real_photos, cfg):
    _check_found(_label_grid("en", real_photos, cfg))


@needs_cjk
def test_label_at_the_bottom_edge_and_after_jpeg(real_photos, cfg):
    import io

    img, box = render(real_photos[0], "即梦AI", "zh", "bottom", 0.03)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=70)
    items, _, _ = explicit_label_evidence(np.asarray(Image.open(buf).convert("RGB")), cfg)
    assert items and items[0].details["where"] == "bottom edge" and overlap(tuple(items[0].details["box"]), box) >= 0.7
    assert items[0].details["service"] == "Jimeng (ByteDance)"


def test_photos_without_labels_have_none(real_photos, cfg):
    for photo in real_photos:
        items, checked, what = explicit_label_evidence(photo, cfg)
        assert checked and items == [], [e.details for e in items]


def test_product_text_gives_no_label_false_positive_rate(real_photos, cfg):
    """Packaging text on coloured panels and as plain overlays, in the corners and edges: no label."""
    rng = np.random.default_rng(7)
    scripts = ["en"] + (["zh"] if CJK else [])
    claims, hits, read = 0, [], 0
    for script in scripts:
        for i, text in enumerate(PRODUCT_TEXT[script]):
            photo = real_photos[i % len(real_photos)]
            where = CORNERS[i % 4] if i % 5 else "bottom"
            frac = float(rng.choice(SIZES))
            panel = tuple(int(c) for c in rng.integers(150, 255, 3)) if i % 2 else None
            img, _ = render(photo, text, script, where, frac, style=i % 2, panel=panel)
            # a second text, as on a box: brand or size in the opposite corner
            other = PRODUCT_TEXT[script][(i + 3) % len(PRODUCT_TEXT[script])]
            img, _ = render(img, other, script, CORNERS[(i + 2) % 4], 0.03, style=0)
            lines = read_border_text(img, cfg)
            read += sum(1 for ln in lines if ln.text)
            items, _, _ = explicit_label_evidence(img, cfg)
            claims += 1
            hits += [(text, other, e.details["text"]) for e in items]
    rate = len(hits) / claims
    print(f"\nproduct text: {claims} photos, {read} text lines read, {len(hits)} labels found "
          f"(false-positive rate {rate:.1%})")
    assert claims >= 30 and read >= claims  # the OCR did read the packaging text
    assert hits == [], hits


# --- the assessor, fusion and config ------------------------------------------------------------
@needs_cjk
def test_plain_pixels_with_a_label_are_likely_ai_edited(real_photos):
    img, box = render(real_photos[1], "豆包AI生成", "zh", "bottom-right", 0.03)
    a = Assessor(None).assess(img)  # pixels: no metadata at all
    kinds = [e.kind for e in a.evidence]
    assert a.verdict == "likely_ai_edited" and [a.evidence[i].kind for i in a.decided_by] == ["explicit_ai_label"]
    assert "no_provenance_label" not in kinds and "explicit_ai_label" in a.reason
    assert a.timings["explicit_label"] > 0
    d = a.to_dict(include_maps=True)
    ev = next(e for e in d["evidence"] if e["kind"] == "explicit_ai_label")
    assert ev["details"]["text"] == "豆包AI生成" and ev["details"]["service"] == "Doubao (ByteDance)"
    assert ev["mask"]["png_base64"] and overlap(tuple(ev["details"]["box"]), box) >= 0.7
    json.dumps(d)
    from fakedamage.assess.claim_report import render_html

    assert "explicit ai label: where it is" in render_html(a)

    off = Assessor(None, load_config(overrides={"explicit_label": "false"})).assess(img)
    assert off.verdict == "needs_review" and "explicit_ai_label" not in [e.kind for e in off.evidence]
    no_label = next(e for e in off.evidence if e.kind == "no_provenance_label")
    assert "visible AI label (explicit_label is off)" in no_label.details["not_checked"]


def test_no_label_item_says_the_border_text_was_checked(real_photos):
    a = Assessor(None).assess(real_photos[2])
    no_label = next(e for e in a.evidence if e.kind == "no_provenance_label")
    assert "visible AI label (OCR of the border bands)" in no_label.details["checked"]


def test_fusion_explicit_label_is_decisive_like_an_implicit_label():
    cfg = load_config()
    label = Evidence("explicit_ai_label", cfg.explicit_label_strength, "x.", "provenance")
    weak = Evidence("explicit_ai_label", cfg.explicit_label_weak_strength, "x.", "provenance")
    low = Evidence("detector", -0.5, "x.", "detector")
    assert cfg.explicit_label_strength == cfg.label_strength >= cfg.ai_threshold
    d = fuse([low, label], cfg)
    assert d.verdict == "likely_ai_edited" and d.decided_by == (1,)
    assert fuse([low, weak], cfg).verdict == "needs_review"


def test_config_keys_and_one_line_errors(cfg):
    assert cfg.explicit_label is True and cfg.explicit_label_strength == 0.95
    assert AssessConfig.from_mapping({"explicit_label": "off"}).explicit_label is False
    for bad in ({"explicit_label": "maybe"}, {"explicit_label_band": 0.9}, {"explicit_label_work_side": 10},
                {"explicit_label_strength": 2}):
        with pytest.raises(ValueError) as e:
            AssessConfig.from_mapping(bad)
        assert "\n" not in str(e.value) and next(iter(bad)) in str(e.value)
    for bad_pixels in (np.zeros((40, 40), np.uint8), np.zeros((40, 40, 3), np.float32), "photo.jpg"):
        with pytest.raises(ValueError) as e:
            read_border_text(bad_pixels, cfg)
        assert "\n" not in str(e.value) and "(H, W, 3) uint8" in str(e.value)
    assert explicit_label_evidence(np.zeros((8, 8, 3), np.uint8), cfg)[0] == []  # too small to hold a label


def test_ocr_engine_is_built_once_per_process_across_threads():
    code = """
import threading
import rapidocr_onnxruntime.ch_ppocr_det as det
built = []
orig = det.TextDetector.__init__
def counting(self, *a, **k):
    built.append(1)
    orig(self, *a, **k)
det.TextDetector.__init__ = counting
from fakedamage.assess.explicit_label import ocr_available
ok = []
threads = [threading.Thread(target=lambda: ok.append(ocr_available())) for _ in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(built), ok.count(True))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "6"]


def test_service_claim_assessor_returns_the_label_with_its_box(real_photos, tmp_path):
    """The service's claim worker (what POST /v1/assess runs), without a detector: the item, its box, its mask PNG."""
    import base64
    import io

    from fakedamage.service.claims import ClaimAssessor
    from fakedamage.service.config import ServiceConfig
    from fakedamage.service.prometheus import ServiceMetrics

    img, box = render(real_photos[1], "Made with AI", "en", "top-left", 0.035)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    config = ServiceConfig(model=tmp_path / "unused.onnx", max_pixels=40_000_000, workers=1)
    worker = ClaimAssessor(None, config, load_config(), ServiceMetrics("test", "0", "test"))
    a = worker.assess(buf.getvalue(), "claim.jpg", [], include_maps=True)["assessment"]
    i = next(i for i, e in enumerate(a["evidence"]) if e["kind"] == "explicit_ai_label")
    ev = a["evidence"][i]
    assert a["verdict"] == "likely_ai_edited" and a["decided_by"] == [{"index": i, "kind": "explicit_ai_label"}]
    assert overlap(tuple(ev["details"]["box"]), box) >= 0.7 and ev["details"]["where"] == "top-left corner"
    mask = Image.open(io.BytesIO(base64.b64decode(ev["mask"]["png_base64"])))
    assert mask.size == (ev["mask"]["width"], ev["mask"]["height"]) and max(mask.size) <= 512
    m = np.asarray(mask) > 127
    ys, xs = np.nonzero(m)
    s = mask.size[0] / img.shape[1]
    assert abs(xs.min() / s - box[0]) < 0.05 * img.shape[1] and abs(ys.min() / s - box[1]) < 0.05 * img.shape[0]


def test_review_page_shows_the_label_kind_and_its_box_caption():
    """The review page's script names the new kind and captions its mask as the label's text."""
    from fakedamage.service.app import STATIC_DIR

    js = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    assert "explicit_ai_label: 'Visible AI label (read by OCR)'" in js
    assert "MASK_CAPTIONS = { explicit_ai_label: 'AI label text' }" in js
