"""Claim assessment time with and without the explicit-label (OCR) step, side by side.

    python scripts/benchmark_explicit_label.py [PHOTO] [--runs 7]

PHOTO defaults to a 12 MP phone photo of Debian's forensics samples. The photo is assessed as
it is and as a copy with a visible "豆包AI生成" label (or "Made with AI" without a CJK font)
rendered in its bottom-right corner, each with ``explicit_label`` off and on (no detector, no
references: what is left is decoding, metadata and the OCR step). Runs alternate off/on so that
load from other processes hits both alike. Prints the median (p50) wall and CPU time of each, their
difference and ratio, the OCR step's own time (``Assessment.timings["explicit_label"]``, and its
CPU time: the step runs on the calling thread), and the verdict of the labelled copy. On a machine
shared with other work, the CPU columns are the better measure of the cost.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fakedamage.assess import Assessor, load_config
from fakedamage.assess.explicit_label import explicit_label_evidence
from fakedamage.runtime import load_image

DEFAULT_PHOTO = "/usr/share/forensics-samples/original-files/pic1/IMG_20200827_231612.jpg"
CJK_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


def labelled_copy(data: bytes) -> tuple[bytes, str]:
    """The photo with a visible AI label (text 3 % of the shorter side) in its bottom-right corner, as JPEG."""
    im = Image.open(io.BytesIO(data)).convert("RGB")
    font_path = next((f for f in CJK_FONTS if Path(f).is_file()), None)
    text = "豆包AI生成" if font_path else "Made with AI"
    size = max(12, round(0.03 * min(im.size)))
    font = ImageFont.truetype(font_path, size) if font_path else ImageFont.load_default(size)
    draw = ImageDraw.Draw(im)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    margin = round(0.02 * min(im.size))
    draw.text((im.width - margin - right, im.height - margin - bottom), text, font=font, fill=(255, 255, 255),
              stroke_width=max(1, size // 16), stroke_fill=(40, 40, 40))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=92)
    return buf.getvalue(), text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo", nargs="?", default=DEFAULT_PHOTO)
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    data = Path(a.photo).read_bytes()
    h, w = np.asarray(Image.open(io.BytesIO(data))).shape[:2]
    label_data, label_text = labelled_copy(data)
    off = Assessor(None, load_config(overrides={"explicit_label": False}))
    on = Assessor(None, load_config(overrides={"explicit_label": True}))
    t = time.perf_counter()
    on.assess(data)  # loads the OCR models (once per process)
    print(f"{Path(a.photo).name}: {w}x{h} ({w * h / 1e6:.1f} MP); cores available: {len(os.sched_getaffinity(0))}; "
          f"OCR models loaded with the first claim ({time.perf_counter() - t:.2f} s, once per process)")
    for name, claim in (("photo", data), (f'copy with "{label_text}"', label_data)):
        times: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
        verdict = ""
        for _ in range(a.runs):
            for key, assessor in (("off", off), ("on", on)):
                w0, c0 = time.perf_counter(), time.process_time()
                result = assessor.assess(claim)
                times[key].append((time.perf_counter() - w0, time.process_time() - c0))
                if key == "on":
                    verdict = f"{result.verdict} ({', '.join(e.kind for e in result.deciding) or 'nothing decisive'})"
            pixels = load_image(claim)
            w0, c0 = time.perf_counter(), time.thread_time()
            explicit_label_evidence(pixels, on.config)
            times.setdefault("step", []).append((time.perf_counter() - w0, time.thread_time() - c0))
            times.setdefault("in_assess", []).append((result.timings["explicit_label"] / 1e3, float("nan")))
        p50 = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in times.items()}
        extra_wall, extra_cpu = p50["on"][0] - p50["off"][0], p50["on"][1] - p50["off"][1]
        print(f"\n{name}, p50 of {a.runs} runs:     wall s   cpu s")
        print(f"  assess, explicit_label off   {p50['off'][0]:7.3f} {p50['off'][1]:7.3f}")
        print(f"  assess, explicit_label on    {p50['on'][0]:7.3f} {p50['on'][1]:7.3f}")
        print(f"  extra for the OCR step       {extra_wall:7.3f} {extra_cpu:7.3f}   (ratio on/off, wall: "
              f"{p50['on'][0] / p50['off'][0]:.2f})")
        print(f"  OCR step inside assess       {p50['in_assess'][0]:7.3f}")
        print(f"  OCR step alone               {p50['step'][0]:7.3f} {p50['step'][1]:7.3f}   (CPU of the calling thread)")
        print(f"  verdict with the OCR step: {verdict}")


if __name__ == "__main__":
    main()
