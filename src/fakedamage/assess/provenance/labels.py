"""Provenance label vocabularies: the GB 45438-2025 ``AIGC`` label and IPTC digital source types.

Both appear in more than one place of a file (the GB 45438 JSON in XMP and in PNG text
chunks; IPTC source types in XMP and in C2PA actions), so their interpretation lives here
and the source readers (:mod:`.xmp`, :mod:`.generation`, :mod:`.c2pa`) call it:

* the **GB 45438-2025** implicit label: property ``AIGC`` (namespace
  ``http://www.tc260.org.cn/ns/AIGC/1.0/``, prefix ``TC260``) holding JSON with ``Label``
  (``1`` AI-generated, ``2`` possibly, ``3`` suspected), ``ContentProducer``, ``ProduceID``,
  ``ReservedCode1``, ``ContentPropagator``, ``PropagateID``, ``ReservedCode2``;
* the **IPTC** ``DigitalSourceType`` vocabulary, with a category (``ai``, ``synthetic``,
  ``edited``, ``capture``, ``other``) that decides the strength.
"""

from __future__ import annotations

import json

from ..settings import AssessConfig
from .collector import Collector, one_line

__all__ = ["TC260_NAMESPACE", "LABEL_KINDS", "IPTC_SOURCE_TYPES", "gb45438", "iptc_source_type"]

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


_GB_LABELS = {
    "1": ("AI-generation", "the provider declares it AI-generated", "label_strength"),
    "2": ("possibly-AI-generated", "the provider declares it possibly AI-generated", "possible_label_strength"),
    "3": ("suspected-AI-generated", "a platform flags it as suspected AI-generated", "possible_label_strength"),
}
_GB_FIELDS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator", "PropagateID",
              "ReservedCode2")


def gb45438(value: str, where: str, cfg: AssessConfig, col: Collector) -> None:
    """Report a GB 45438 ``AIGC`` JSON value."""
    try:
        data = json.loads(value)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        col.add("gb45438_label", cfg.possible_label_strength,
                "The photo carries a GB 45438 AI-content label that is not valid JSON: an AI service marked it, "
                "but the details are unreadable.", where=where, raw=one_line(value, 200))
        return
    lower = {str(k).lower(): v for k, v in data.items()}
    fields = {f: one_line(lower.get(f.lower(), ""), 120) for f in _GB_FIELDS}
    label = fields["Label"].strip()
    producer = fields["ContentProducer"] or "an unnamed provider"
    words, meaning, strength_key = _GB_LABELS.get(
        label, ("AI-content", f"its Label value {label or '(empty)'!r} is not one of 1, 2, 3", "possible_label_strength"))
    extra = f", passed on by {fields['ContentPropagator']}" if fields["ContentPropagator"] else ""
    col.add("gb45438_label", getattr(cfg, strength_key),
            f"The photo carries a GB 45438 {words} label written by {producer}{extra}: {meaning}.",
            where=where, **fields)


def iptc_source_type(value: str, cfg: AssessConfig, col: Collector) -> None:
    """Report an IPTC ``DigitalSourceType`` value (a code or its full vocabulary URI)."""
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
            digital_source_type=one_line(value, 200), code=code, category=category)
