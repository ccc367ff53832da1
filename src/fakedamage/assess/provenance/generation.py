"""Generation parameters: the settings AI image tools write into text metadata.

Recognised: AUTOMATIC1111-style web UIs (``Steps: ...``), ComfyUI (``prompt`` / ``workflow``
JSON), InvokeAI, NovelAI, Fooocus and generic generation keys. :func:`check_text` interprets one
text value wherever it was found (a PNG text chunk, a JPEG comment, EXIF ``ImageDescription`` or
``UserComment``): a GB 45438 ``AIGC`` label, a software name, or generation settings.
"""

from __future__ import annotations

import re

from ..settings import AssessConfig
from .collector import Collector, mb, one_line
from .labels import gb45438

__all__ = ["generation_tool", "check_text"]


def generation_tool(key: str, value: str) -> str | None:
    """Name of the AI tool whose generation settings ``value`` (under text key ``key``) are, or ``None``."""
    k = key.lower()
    v = value[:20000]
    if re.search(r"\bSteps:\s*\d+", v) and re.search(r"\b(Sampler|CFG scale|Seed|Model hash|Size):", v):
        return "an AUTOMATIC1111-style Stable Diffusion web UI"
    if k in ("invokeai_metadata", "invokeai_graph", "sd-metadata", "dream"):
        return "InvokeAI"
    if k in ("fooocus_scheme",) or (k == "parameters" and "fooocus" in v.lower()):
        return "Fooocus"
    if k in ("prompt", "workflow") and v.lstrip().startswith("{") and ("class_type" in v or '"nodes"' in v):
        return "ComfyUI"
    if k == "comment" and v.lstrip().startswith("{") and re.search(r'"(steps|sampler|n_samples|scale)"', v):
        return "NovelAI"
    if k in ("generation_data", "generation_parameters", "negative_prompt"):
        return "an AI image generator"
    return None


def check_text(key: str, value: object, where: str, cfg: AssessConfig, col: Collector) -> None:
    """Interpret one text value ``key`` found in ``where`` (e.g. ``"text chunk"``, ``"EXIF"``)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return
    if len(value) > cfg.max_metadata_bytes:
        col.error(f"{where} {key!r}", f"{mb(len(value))}, over the {mb(cfg.max_metadata_bytes)} limit",
                  "it was not parsed")
        return
    if key == "AIGC" and "label" in value.lower():
        gb45438(value, f"{where} AIGC", cfg, col)
        return
    if key == "XML:com.adobe.xmp":
        return  # parsed as XMP
    if key.lower() == "software":
        col.software.append(value)
    tool = generation_tool(key, value)
    if tool is not None:
        col.add("generation_parameters", cfg.generation_parameters_strength,
                f"The file carries the generation settings of {tool} ({where} {key!r}): it was made or edited "
                f"by an AI image generator.", tool=tool, where=where, key=key, excerpt=one_line(value, 240))
