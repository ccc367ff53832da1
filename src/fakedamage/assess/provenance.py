"""Provenance evidence: what the file says about where it came from.

Read, in this order, each step guarded so that a malformed or hostile input becomes a
``metadata_error`` item and never an exception:

* **XMP** (Pillow's ``info["xmp"]`` / PNG ``XML:com.adobe.xmp`` / TIFF tag 700, else a
  bounded raw scan for ``<x:xmpmeta``), parsed with ``defusedxml`` (DTDs, entities and
  external references forbidden) after a size check (``max_metadata_bytes``):

  - the **GB 45438-2025** implicit label: property ``AIGC`` (namespace
    ``http://www.tc260.org.cn/ns/AIGC/1.0/``, prefix ``TC260``) holding JSON with ``Label``
    (``1`` AI-generated, ``2`` possibly, ``3`` suspected), ``ContentProducer``, ``ProduceID``,
    ``ReservedCode1``, ``ContentPropagator``, ``PropagateID``, ``ReservedCode2``; the same
    JSON in a PNG text chunk ``AIGC`` (as some services write it) is read too;
  - the **IPTC** ``DigitalSourceType`` (and the 2025.1 ``AISystemUsed``);
  - ``xmp:CreatorTool`` and the ``xmpMM:History`` software agents.
* **EXIF**: ``Software``, ``ImageDescription`` and ``UserComment`` (generation parameters).
* **Text chunks** (PNG ``tEXt``/``iTXt``/``zTXt``, JPEG comment): generation parameters
  written by AUTOMATIC1111-style web UIs, ComfyUI, InvokeAI, NovelAI, Fooocus.
* **C2PA** content credentials with ``c2pa-python``: digital source types of every action
  (e.g. generative fill's ``compositeWithTrainedAlgorithmicMedia``), the signer, and the
  validation state (``Invalid`` / ``Valid`` / ``Trusted`` with ``c2pa_trust_anchors``).
* The **Stable Diffusion invisible watermark** (:mod:`.watermark`).

When no label is found the result holds one ``no_provenance_label`` item of strength 0:
labels are easy to strip, so their absence is never evidence of authenticity.

torch is never imported (see :mod:`.watermark` for invisible-watermark).
"""

from __future__ import annotations

import io
import json
import re
import warnings
from typing import Any, Callable, Iterable

import numpy as np
from PIL import Image

from .evidence import WARNINGS_LOCK, Evidence
from .fusion import AssessConfig

__all__ = ["read_provenance", "LABEL_KINDS", "IPTC_SOURCE_TYPES", "classify_software", "TC260_NAMESPACE"]

TC260_NAMESPACE = "http://www.tc260.org.cn/ns/AIGC/1.0/"

#: Evidence kinds that count as a provenance label having been found.
LABEL_KINDS = frozenset({"gb45438_label", "c2pa_manifest", "iptc_digital_source_type", "sd_watermark",
                         "generation_parameters"})

#: IPTC digital source type code -> (category, plain meaning). Categories: ``ai`` (generative AI),
#: ``synthetic`` (made by a computer, not a camera), ``edited``, ``capture``, ``other``.
IPTC_SOURCE_TYPES: dict[str, tuple[str, str]] = {
    "trainedAlgorithmicMedia": ("ai", "created by generative AI"),
    "compositeWithTrainedAlgorithmicMedia": ("ai", "a photo combined with generative-AI content"),
    "algorithmicMedia": ("synthetic", "created by a computer algorithm, not a camera"),
    "compositeSynthetic": ("synthetic", "a composite that includes synthetic elements"),
    "digitalCreation": ("synthetic", "created digitally, not photographed"),
    "digitalArt": ("synthetic", "digital art, not a photograph"),
    "trainedAlgorithmicData": ("synthetic", "data produced by a trained algorithm"),
    "algorithmicallyEnhanced": ("edited", "a photo enhanced by an algorithm"),
    "composite": ("edited", "a composite of several images"),
    "compositeCapture": ("edited", "a composite of several captures"),
    "humanEdits": ("edited", "a photo edited by a person"),
    "minorHumanEdits": ("capture", "a photo with minor edits"),
    "digitalCapture": ("capture", "a digital camera capture"),
    "computationalCapture": ("capture", "a computational (smartphone) camera capture"),
    "negativeFilm": ("capture", "a scan of a film negative"),
    "positiveFilm": ("capture", "a scan of a film positive"),
    "print": ("capture", "a scan of a print"),
    "screenCapture": ("capture", "a screenshot"),
    "dataDrivenMedia": ("other", "media generated from data"),
    "virtualRecording": ("other", "a recording of a virtual scene"),
}

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


# --------------------------------------------------------------------------- helpers


def _one_line(text: object, limit: int = 160) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


class _Collector:
    """Accumulates evidence; ``guard`` turns any exception of a reader into a metadata_error."""

    def __init__(self, cfg: AssessConfig) -> None:
        self.cfg = cfg
        self.items: list[Evidence] = []
        self.checked: list[str] = []
        self.not_checked: list[str] = []
        self.software: list[str] = []

    def add(self, kind: str, strength: float, explanation: str, **details: Any) -> None:
        self.items.append(Evidence(kind, float(strength), explanation, "provenance", details))

    def error(self, where: str, problem: str, meaning: str = "it could not be checked") -> None:
        self.add("metadata_error", self.cfg.metadata_error_strength,
                 f"The photo's {where} is {problem}: {meaning}, and genuine camera files rarely look like this.",
                 where=where, problem=problem)

    def guard(self, where: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except RecursionError:
            self.error(where, "nested too deeply to read")
        except MemoryError:
            self.error(where, "too large to read")
        except Exception as e:  # noqa: BLE001 - hostile metadata must never crash an assessment
            self.error(where, f"malformed ({type(e).__name__}: {_one_line(e, 120)})")


# --------------------------------------------------------------------------- XMP


def _xmp_packets(im: Image.Image, data: bytes) -> list[bytes]:
    """Raw XMP packets from Pillow, else from a raw scan of the file bytes."""
    found: list[bytes] = []
    for key in ("xmp", "XML:com.adobe.xmp"):
        v = im.info.get(key)
        if isinstance(v, str):
            v = v.encode("utf-8", "surrogatepass")
        if isinstance(v, (bytes, bytearray)) and v:
            found.append(bytes(v))
    tag = getattr(im, "tag_v2", None)
    if tag is not None and 700 in tag:
        v = tag[700]
        found.append(v if isinstance(v, bytes) else str(v).encode("utf-8"))
    if not found:
        start = data.find(b"<x:xmpmeta")
        if start >= 0:
            end = data.find(b"</x:xmpmeta>", start)
            found.append(data[start:] if end < 0 else data[start : end + len(b"</x:xmpmeta>")])
    unique: list[bytes] = []
    for p in found:
        if p not in unique:
            unique.append(p)
    return unique


def _local(tag: str) -> tuple[str, str]:
    """``"{ns}name"`` -> ``(ns, name)``."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag.split(":")[-1]


_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def _element_values(elem: Any) -> list[str]:
    """Text of an XMP property element: simple text, ``rdf:resource``, or the items of Alt/Seq/Bag."""
    out: list[str] = []
    res = elem.get(f"{{{_RDF}}}resource")
    if res:
        out.append(res)
    if elem.text and elem.text.strip():
        out.append(elem.text.strip())
    for li in elem.iter(f"{{{_RDF}}}li"):
        if li.text and li.text.strip():
            out.append(li.text.strip())
        r = li.get(f"{{{_RDF}}}resource")
        if r:
            out.append(r)
    return out


def _xmp_properties(root: Any) -> dict[str, list[tuple[str, str]]]:
    """Every property (element or attribute shorthand) as ``local name -> [(namespace, value)]``."""
    props: dict[str, list[tuple[str, str]]] = {}
    for elem in root.iter():
        if not isinstance(elem.tag, str):
            continue
        ns, name = _local(elem.tag)
        if ns not in (_RDF, "adobe:ns:meta/"):
            for v in _element_values(elem):
                props.setdefault(name, []).append((ns, v))
        for attr, v in elem.attrib.items():
            ans, aname = _local(attr)
            if ans and ans != _RDF:
                props.setdefault(aname, []).append((ans, v))
    return props


def _parse_xmp(packet: bytes, cfg: AssessConfig, col: _Collector) -> None:
    if len(packet) > cfg.max_metadata_bytes:
        col.error("XMP metadata", f"{_mb(len(packet))}, over the {_mb(cfg.max_metadata_bytes)} limit",
                  "it was not parsed")
        return
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    text = packet.rstrip(b"\x00")
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        col.error("XMP metadata", f"hostile XML ({type(e).__name__}: a DTD, entity or external reference)",
                  "it was not parsed")
        return
    except (ParseError, ValueError, UnicodeError) as e:
        col.error("XMP metadata", f"broken XML ({_one_line(e, 100)})", "it could not be read")
        return
    props = _xmp_properties(root)
    for ns, value in props.get("AIGC", []):
        _gb45438(value, f"XMP {'TC260:' if ns == TC260_NAMESPACE else ''}AIGC", cfg, col)
    for _, value in props.get("DigitalSourceType", []):
        _iptc_source_type(value, cfg, col)
    for _, value in props.get("AISystemUsed", []):
        col.add("iptc_digital_source_type", cfg.label_strength,
                f"The photo's IPTC metadata names the AI system used to make it ({_one_line(value, 60)}).",
                ai_system_used=_one_line(value, 200))
    for key in ("CreatorTool", "softwareAgent"):
        for _, value in props.get(key, []):
            col.software.append(value)


# --------------------------------------------------------------------------- GB 45438


_GB_LABELS = {
    "1": ("AI-generation", "the provider declares it AI-generated", "label_strength"),
    "2": ("possibly-AI-generated", "the provider declares it possibly AI-generated", "possible_label_strength"),
    "3": ("suspected-AI-generated", "a platform flags it as suspected AI-generated", "possible_label_strength"),
}
_GB_FIELDS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator", "PropagateID",
              "ReservedCode2")


def _gb45438(value: str, where: str, cfg: AssessConfig, col: _Collector) -> None:
    """Report a GB 45438 ``AIGC`` JSON value."""
    try:
        data = json.loads(value)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        col.add("gb45438_label", cfg.possible_label_strength,
                "The photo carries a GB 45438 AI-content label that is not valid JSON: an AI service marked it, "
                "but the details are unreadable.", where=where, raw=_one_line(value, 200))
        return
    lower = {str(k).lower(): v for k, v in data.items()}
    fields = {f: _one_line(lower.get(f.lower(), ""), 120) for f in _GB_FIELDS}
    label = fields["Label"].strip()
    producer = fields["ContentProducer"] or "an unnamed provider"
    words, meaning, strength_key = _GB_LABELS.get(
        label, ("AI-content", f"its Label value {label or '(empty)'!r} is not one of 1, 2, 3", "possible_label_strength"))
    extra = f", passed on by {fields['ContentPropagator']}" if fields["ContentPropagator"] else ""
    col.add("gb45438_label", getattr(cfg, strength_key),
            f"The photo carries a GB 45438 {words} label written by {producer}{extra}: {meaning}.",
            where=where, **fields)


def _iptc_source_type(value: str, cfg: AssessConfig, col: _Collector) -> None:
    code = value.rstrip("/").rsplit("/", 1)[-1]
    category, meaning = IPTC_SOURCE_TYPES.get(code, ("other", f"an unrecognised source type {code!r}"))
    strength = {"ai": cfg.label_strength, "synthetic": cfg.possible_label_strength,
                "edited": cfg.editing_software_strength}.get(category, 0.0)
    tail = {"ai": "the file declares AI generation",
            "synthetic": "the file declares it is not a camera photo",
            "edited": "the file declares an edited image",
            "capture": "this unsigned declaration proves nothing on its own",
            "other": "this says nothing about AI editing"}[category]
    col.add("iptc_digital_source_type", strength,
            f"The photo's IPTC metadata gives its digital source type as {code} ({meaning}): {tail}.",
            digital_source_type=_one_line(value, 200), code=code, category=category)


# --------------------------------------------------------------------------- generation parameters


def _generation_tool(key: str, value: str) -> str | None:
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


def _check_text(key: str, value: object, where: str, cfg: AssessConfig, col: _Collector) -> None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return
    if len(value) > cfg.max_metadata_bytes:
        col.error(f"{where} {key!r}", f"{_mb(len(value))}, over the {_mb(cfg.max_metadata_bytes)} limit",
                  "it was not parsed")
        return
    if key == "AIGC" and "label" in value.lower():
        _gb45438(value, f"{where} AIGC", cfg, col)
        return
    if key == "XML:com.adobe.xmp":
        return  # parsed as XMP
    if key.lower() == "software":
        col.software.append(value)
    tool = _generation_tool(key, value)
    if tool is not None:
        col.add("generation_parameters", cfg.generation_parameters_strength,
                f"The file carries the generation settings of {tool} ({where} {key!r}): it was made or edited "
                f"by an AI image generator.", tool=tool, where=where, key=key, excerpt=_one_line(value, 240))


def _user_comment(raw: object) -> str:
    """Decode an EXIF UserComment (8-byte character-code prefix)."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, (bytes, bytearray)):
        return ""
    b = bytes(raw)
    head, body = b[:8], b[8:]
    if head.startswith(b"UNICODE"):
        for enc in ("utf-16-be", "utf-16-le"):
            try:
                text = body.decode(enc)
                if text.isprintable() or "\n" in text:
                    return text
            except UnicodeDecodeError:
                continue
        return body.decode("utf-16-be", "replace")
    if head.startswith(b"ASCII") or head == b"\x00" * 8:
        return body.decode("utf-8", "replace")
    return b.decode("utf-8", "replace")


def _read_exif(im: Image.Image, cfg: AssessConfig, col: _Collector) -> None:
    exif = im.getexif()
    ifd = exif.get_ifd(0x8769) if exif and 0x8769 in exif else {}
    if not exif:
        return
    software = exif.get(0x0131)
    if software:
        col.software.append(str(software))
    description = exif.get(0x010E)
    if description:
        _check_text("ImageDescription", str(description), "EXIF", cfg, col)
    comment = _user_comment(ifd.get(0x9286)) if ifd else ""
    if comment:
        _check_text("UserComment", comment, "EXIF", cfg, col)


def _read_text(im: Image.Image, cfg: AssessConfig, col: _Collector) -> None:
    texts: dict[str, object] = {}
    if im.format == "PNG":
        im.load()  # text chunks after the image data are only read with the pixels
        texts.update(getattr(im, "text", {}) or {})
    for key, value in im.info.items():
        if isinstance(value, (str, bytes)) and key not in ("xmp", "icc_profile", "exif", "dpi"):
            texts.setdefault(key, value)
    for key, value in texts.items():
        _check_text(str(key), value, "text chunk" if im.format == "PNG" else "comment", cfg, col)


def _software_items(cfg: AssessConfig, col: _Collector) -> None:
    seen: set[str] = set()
    for name in col.software:
        hit = classify_software(name)
        if hit is None or hit[1] in seen:
            continue
        seen.add(hit[1])
        kind, product = hit
        if kind == "ai":
            col.add("editing_software", cfg.ai_software_strength,
                    f"The file names {product} as the software that produced it ({_one_line(name, 60)!r}), "
                    f"an AI image generator.", software=_one_line(name, 200), product=product, category="ai")
        else:
            col.add("editing_software", cfg.editing_software_strength,
                    f"The file was last saved by the photo editor {product} ({_one_line(name, 60)!r}); editing is "
                    f"not proof of fraud, but the photo is not straight from a camera.",
                    software=_one_line(name, 200), product=product, category="editor")


# --------------------------------------------------------------------------- C2PA


def _c2pa_manifest_store(data: bytes, mime: str, cfg: AssessConfig) -> dict[str, Any] | None:
    import c2pa

    context = None
    if cfg.c2pa_trust_anchors:
        with open(cfg.c2pa_trust_anchors, encoding="utf-8") as f:
            pem = f.read()
        context = c2pa.Context(settings=c2pa.Settings.from_dict({"trust": {"user_anchors": pem}}))
    reader = (c2pa.Reader.try_create(mime, io.BytesIO(data), None, context) if context is not None
              else c2pa.Reader.try_create(mime, io.BytesIO(data)))
    if reader is None:
        return None
    try:
        store = json.loads(reader.json())
        state = reader.get_validation_state()
    finally:
        reader.close()
    store["_state"] = state
    return store


def _walk_actions(store: dict[str, Any]) -> Iterable[tuple[bool, dict[str, Any]]]:
    """``(is_active_manifest, action)`` for every action of every manifest in the store."""
    active = store.get("active_manifest")
    for label, manifest in (store.get("manifests") or {}).items():
        for assertion in manifest.get("assertions") or []:
            if str(assertion.get("label", "")).startswith("c2pa.actions"):
                for action in (assertion.get("data") or {}).get("actions") or []:
                    if isinstance(action, dict):
                        yield label == active, action


def _agent(action: dict[str, Any]) -> str:
    agent = action.get("softwareAgent")
    if isinstance(agent, dict):
        agent = agent.get("name", "")
    return _one_line(agent or "", 60)


def _read_c2pa(data: bytes, mime: str, cfg: AssessConfig, col: _Collector) -> None:
    try:
        import c2pa
    except ImportError:
        col.not_checked.append("C2PA (c2pa-python not installed)")
        return
    col.checked.append("C2PA")
    if b"c2pa" not in data:  # every C2PA manifest store carries the JUMBF label 'c2pa'
        return
    try:
        store = _c2pa_manifest_store(data, mime, cfg)
    except c2pa.C2paError as e:
        col.error("C2PA content credential", f"invalid ({_one_line(e, 100)})",
                  "it is damaged or forged and proves nothing")
        return
    if store is None:
        return
    state = store.get("_state") or "Unknown"
    statuses = [s.get("code", "") for s in store.get("validation_status") or [] if isinstance(s, dict)]
    failures = [c for c in statuses if c and c != "signingCredential.untrusted"]
    active = (store.get("manifests") or {}).get(store.get("active_manifest"), {})
    sig = active.get("signature_info") or {}
    issuer = _one_line(sig.get("issuer") or sig.get("common_name") or "an unknown signer", 60)
    gens = [g.get("name", "") for g in active.get("claim_generator_info") or [] if isinstance(g, dict)]
    generator = _one_line(gens[0] if gens else active.get("claim_generator", "") or "", 60)
    actions = list(_walk_actions(store))
    sources = []
    for is_active, a in actions:
        dst = a.get("digitalSourceType")
        if dst:
            code = str(dst).rstrip("/").rsplit("/", 1)[-1]
            sources.append((code, IPTC_SOURCE_TYPES.get(code, ("other", code))[0], str(a.get("action", "")),
                            _agent(a), is_active))
    details = {"validation_state": state, "validation_codes": statuses, "issuer": issuer, "claim_generator": generator,
               "actions": [str(a.get("action", "")) for _, a in actions],
               "digital_source_types": [s[0] for s in sources], "active_manifest": store.get("active_manifest")}
    signed = {"Trusted": "signature valid and trusted", "Valid": "signature valid, signer not on a trust list",
              "Invalid": "validation failed"}.get(state, f"validation state {state}")
    ai = [s for s in sources if s[1] == "ai"] or [s for s in sources if s[1] == "synthetic"]
    if ai:
        code, category, action, agent, _ = ai[0]
        by = f" by {agent}" if agent else ""
        strength = cfg.label_strength if state != "Invalid" and category == "ai" else cfg.possible_label_strength
        what = "part or all of it was made by generative AI" if category == "ai" else "it is not a camera photo"
        col.add("c2pa_manifest", strength,
                f"The photo's C2PA content credential (from {issuer}, {signed}) records {action or 'an action'}{by} "
                f"with digital source type {code}: {what}.", **details)
    elif state == "Invalid" or failures:
        col.add("c2pa_manifest", cfg.c2pa_invalid_strength,
                f"The photo's C2PA content credential (from {issuer}) fails validation "
                f"({', '.join(failures[:3]) or state}): the file was changed after it was signed.", **details)
    elif state == "Trusted" and sources and all(s[1] == "capture" for s in sources) and not any(
            str(a.get("action", "")) in ("c2pa.edited", "c2pa.placed", "c2pa.removed") for _, a in actions):
        col.add("c2pa_manifest", -cfg.c2pa_trusted_capture_strength,
                f"The photo carries a valid, trusted C2PA content credential from {issuer} declaring an unedited "
                f"camera capture.", **details)
    else:
        col.add("c2pa_manifest", 0.0,
                f"The photo carries a C2PA content credential from {issuer} ({signed}) that declares no AI "
                f"generation.", **details)


# --------------------------------------------------------------------------- watermark


def _read_watermark(pixels: np.ndarray | None, cfg: AssessConfig, col: _Collector) -> None:
    from .watermark import detect_sd_watermarks, watermark_available

    if pixels is None:
        col.not_checked.append("SD watermark (no pixels)")
        return
    if not watermark_available():
        col.not_checked.append("SD watermark (invisible-watermark not installed)")
        return
    h, w = pixels.shape[:2]
    if h * w < 256 * 256 or h * w > cfg.watermark_max_pixels:
        col.not_checked.append(f"SD watermark (image size {w}x{h} outside what SD pipelines write)")
        return
    col.checked.append("SD/SDXL invisible watermark")
    hits, _ = detect_sd_watermarks(pixels, cfg.watermark_max_false_alarm)
    if hits:
        hit = hits[0]
        col.add("sd_watermark", cfg.watermark_strength,
                f"The pixels carry the invisible watermark that {hit.name} writes into every image it generates "
                f"({hit.bit_accuracy:.0%} of {hit.n_bits} bits match; chance match {hit.false_alarm:.0e}).",
                **hit.to_dict(),
                all_hits=[h.to_dict() for h in hits])


# --------------------------------------------------------------------------- entry point


def read_provenance(data: bytes | None, pixels: np.ndarray | None = None,
                    cfg: AssessConfig | None = None) -> list[Evidence]:
    """All provenance evidence of one claim file. Never raises for bad metadata.

    Args:
        data: The claim file's bytes, or ``None`` for in-memory pixels (metadata is then not
            checked, and reported so).
        pixels: The decoded ``(H, W, 3)`` uint8 RGB image, for the invisible watermark.
        cfg: Settings; default :class:`AssessConfig`.

    Returns:
        Evidence items of source ``"provenance"``; exactly one ``no_provenance_label`` item
        (strength 0) when no label of :data:`LABEL_KINDS` was found.
    """
    cfg = cfg or AssessConfig()
    col = _Collector(cfg)
    if data is None:
        col.not_checked.append("file metadata (pixels given without a file)")
    else:
        col.checked += ["GB 45438 AIGC label", "IPTC digital source type", "generation parameters",
                        "EXIF/XMP software"]
        with WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:  # Pillow warns on corrupt EXIF
            warnings.simplefilter("always")
            try:
                im = Image.open(io.BytesIO(data))
            except Exception as e:  # noqa: BLE001
                im = None
                col.error("file header", f"unreadable by Pillow ({type(e).__name__})")
            if im is not None:
                with im:
                    def xmp() -> None:
                        for packet in _xmp_packets(im, data):
                            col.guard("XMP metadata", lambda p=packet: _parse_xmp(p, cfg, col))

                    col.guard("XMP metadata", xmp)
                    col.guard("EXIF metadata", lambda: _read_exif(im, cfg, col))
                    col.guard("text metadata", lambda: _read_text(im, cfg, col))
                    mime = Image.MIME.get(im.format or "", "image/jpeg")
        for message in dict.fromkeys(_one_line(w.message, 100) for w in caught):
            col.error("EXIF metadata" if "EXIF" in message else "file metadata", f"corrupt ({message})",
                      "it could not be fully read")
        if im is not None:
            col.guard("software tags", lambda: _software_items(cfg, col))
            col.guard("C2PA content credential", lambda: _read_c2pa(data, mime, cfg, col))
    col.guard("invisible watermark", lambda: _read_watermark(pixels, cfg, col))
    if not any(e.kind in LABEL_KINDS for e in col.items):
        col.items.append(Evidence(
            "no_provenance_label", 0.0,
            "No provenance label was found; labels are easily stripped, so this says nothing about authenticity.",
            "provenance", {"checked": col.checked, "not_checked": col.not_checked,
                           "software": [_one_line(s, 120) for s in col.software]}))
    return col.items
