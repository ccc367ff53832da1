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

__all__ = ["generation_tool", "check_text", "parse_a1111"]

# one "Key: value" setting of an A1111 parameters line (values may be quoted and contain commas); the
# bounded repeats keep hostile lines linear (an unbounded key or quoted value backtracks quadratically)
_A1111_SETTING = re.compile(r'\s*(\w[\w \-/]{0,63}):\s*("(?:\\.|[^\\"]){1,2000}"|[^,]*)(?:,|$)')
_A1111_FIELDS = {"steps": "Steps", "sampler": "Sampler", "cfg_scale": "CFG scale", "seed": "Seed", "size": "Size",
                 "model": "Model", "model_hash": "Model hash"}


def parse_a1111(text: str) -> dict[str, object]:
    """The main fields of AUTOMATIC1111-style parameters text (as A1111's ``parse_generation_parameters``).

    The text is the prompt, an optional ``Negative prompt: ...``, then one line of settings
    (``Steps: 30, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, Model: ...``).

    Returns:
        ``{"prompt", "negative_prompt"?, "steps"?, "sampler"?, "cfg_scale"?, "seed"?, "size"?, "model"?,
        "model_hash"?}`` (each text at most 240 characters; ``steps`` and ``seed`` as ints), or ``{}``
        when ``text`` is not in that format.
    """
    if generation_tool("parameters", text) != "an AUTOMATIC1111-style Stable Diffusion web UI":
        return {}
    *lines, last = text[:20000].strip().split("\n")
    settings = dict(m.groups() for m in _A1111_SETTING.finditer(last)) if "Steps:" in last else {}
    if len(settings) < 3:
        lines.append(last)
        settings = {}
    prompt, negative, in_negative = [], [], False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[16:].strip()
        (negative if in_negative else prompt).append(line)
    out: dict[str, object] = {"prompt": one_line("\n".join(prompt), 240)}
    if in_negative:
        out["negative_prompt"] = one_line("\n".join(negative), 240)
    for key, name in _A1111_FIELDS.items():
        value = settings.get(name)
        if value is None:
            continue
        value = value.strip().strip('"')
        out[key] = int(value) if key in ("steps", "seed") and re.fullmatch(r"-?\d{1,20}", value) else one_line(value, 240)
    return out


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
        params = parse_a1111(value)
        col.add("generation_parameters", cfg.generation_parameters_strength,
                f"The file carries the generation settings of {tool} ({where} {key!r}): it was made or edited "
                f"by an AI image generator.", tool=tool, where=where, key=key, excerpt=one_line(value, 240),
                **({"parameters": params} if params else {}))
