"""Software names: recognise AI generators and photo editors in Software / CreatorTool tags.

The readers collect every software name they see (EXIF ``Software``, XMP ``CreatorTool`` and
``xmpMM:History`` agents, a PNG ``Software`` text chunk) into the collector;
:func:`software_items` turns them into ``editing_software`` items once, after all sources
were read, one per recognised product.
"""

from __future__ import annotations

import re

from ..settings import AssessConfig
from .collector import Collector, one_line

__all__ = ["classify_software", "software_items"]


_AI_TOOLS = [
    ("Midjourney", r"midjourney"), ("DALL-E", r"dall[\s·\-]?e"), ("OpenAI", r"openai|chatgpt|gpt-4o|gpt-image"),
    ("Adobe Firefly", r"firefly"), ("Generative Fill", r"generative fill"), ("Stable Diffusion", r"stable[\s_-]?diffusion"),
    ("NovelAI", r"novelai"), ("ComfyUI", r"comfyui"), ("AUTOMATIC1111", r"automatic1111|a1111"),
    ("InvokeAI", r"invokeai"), ("Fooocus", r"fooocus"), ("Leonardo.Ai", r"leonardo\.?ai"), ("Ideogram", r"ideogram"),
    ("FLUX", r"\bflux(\.1)?\b"), ("Google Imagen/Gemini", r"\bimagen\b|\bgemini\b"), ("Doubao", r"doubao|豆包"),
    ("Jimeng", r"jimeng|即梦"), ("Kling", r"\bkling\b|可灵"), ("Tongyi Wanxiang", r"tongyi|wanxiang|通义|万相"),
    ("Hunyuan", r"hunyuan|混元"), ("ERNIE/Wenxin", r"ernie|wenxin|文心"), ("Kolors", r"kolors|可图"),
    ("Remini", r"\bremini\b"), ("Grok/Aurora", r"\bgrok\b|\bxai\b"),
]


_EDITORS = [
    ("Adobe Photoshop", r"photoshop"), ("Adobe Lightroom", r"lightroom"), ("GIMP", r"\bgimp\b"),
    ("Affinity Photo", r"affinity photo"), ("Pixelmator", r"pixelmator"), ("Snapseed", r"snapseed"),
    ("Picsart", r"picsart"), ("Canva", r"\bcanva\b"), ("Meitu", r"meitu|美图"), ("Xingtu", r"xingtu|醒图"),
    ("FaceApp", r"faceapp"), ("Facetune", r"facetune"), ("PhotoRoom", r"photoroom"), ("Paint.NET", r"paint\.net"),
    ("Krita", r"\bkrita\b"), ("Photopea", r"photopea"), ("Fotor", r"\bfotor\b"), ("Polarr", r"polarr"),
    ("Inpaint", r"\binpaint\b"), ("Wink", r"\bwink\b"), ("BeautyPlus", r"beautyplus"),
]


def classify_software(name: str) -> tuple[str, str] | None:
    """Recognise AI generators and photo editors in a Software / CreatorTool string.

    Args:
        name: The tag value, e.g. ``"Adobe Photoshop 25.0 (Windows)"``.

    Returns:
        ``("ai" | "editor", product)`` or ``None`` for anything else (cameras, phone OS versions).
    """
    low = name.lower()
    for product, pattern in _AI_TOOLS:
        if re.search(pattern, low):
            return "ai", product
    for product, pattern in _EDITORS:
        if re.search(pattern, low):
            return "editor", product
    return None


def software_items(cfg: AssessConfig, col: Collector) -> None:
    """One ``editing_software`` item per AI generator or photo editor named in ``col.software``."""
    seen: set[str] = set()
    for name in col.software:
        hit = classify_software(name)
        if hit is None or hit[1] in seen:
            continue
        seen.add(hit[1])
        kind, product = hit
        if kind == "ai":
            col.add("editing_software", cfg.ai_software_strength,
                    f"The file names {product} as the software that produced it ({one_line(name, 60)!r}), "
                    f"an AI image generator.", software=one_line(name, 200), product=product, category="ai")
        else:
            col.add("editing_software", cfg.editing_software_strength,
                    f"The file was last saved by the photo editor {product} ({one_line(name, 60)!r}); editing is "
                    f"not proof of fraud, but the photo is not straight from a camera.",
                    software=one_line(name, 200), product=product, category="editor")
