"""XMP: the GB 45438 label, IPTC digital source type and creator tools written in XMP packets.

Packets come from Pillow (``info["xmp"]``, PNG ``XML:com.adobe.xmp``, TIFF tag 700), else
from a bounded raw scan of the file for ``<x:xmpmeta``. Each is parsed with ``defusedxml``
(DTDs, entities and external references forbidden) after a size check
(``max_metadata_bytes``), and every property is read regardless of how it is written
(element, attribute shorthand, ``rdf:resource``, Alt/Seq/Bag items):

* ``AIGC`` (GB 45438, see :mod:`.labels`);
* the IPTC ``DigitalSourceType`` and the 2025.1 ``AISystemUsed``;
* ``xmp:CreatorTool`` and the ``xmpMM:History`` software agents (collected for :mod:`.software`).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from ..settings import AssessConfig
from .collector import Collector, mb, one_line
from .labels import TC260_NAMESPACE, gb45438, iptc_source_type

__all__ = ["xmp_packets", "parse_xmp", "read_xmp"]


def xmp_packets(im: Image.Image, data: bytes) -> list[bytes]:
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


def parse_xmp(packet: bytes, cfg: AssessConfig, col: Collector) -> None:
    """Parse one XMP packet safely and report what it declares."""
    if len(packet) > cfg.max_metadata_bytes:
        col.error("XMP metadata", f"{mb(len(packet))}, over the {mb(cfg.max_metadata_bytes)} limit",
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
        col.error("XMP metadata", f"broken XML ({one_line(e, 100)})", "it could not be read")
        return
    props = _xmp_properties(root)
    for ns, value in props.get("AIGC", []):
        gb45438(value, f"XMP {'TC260:' if ns == TC260_NAMESPACE else ''}AIGC", cfg, col)
    for _, value in props.get("DigitalSourceType", []):
        iptc_source_type(value, cfg, col)
    for _, value in props.get("AISystemUsed", []):
        col.add("iptc_digital_source_type", cfg.label_strength,
                f"The photo's IPTC metadata names the AI system used to make it ({one_line(value, 60)}).",
                ai_system_used=one_line(value, 200))
    for key in ("CreatorTool", "softwareAgent"):
        for _, value in props.get(key, []):
            col.software.append(value)


def read_xmp(im: Image.Image, data: bytes, cfg: AssessConfig, col: Collector) -> None:
    """Every XMP packet of the file, each parsed under its own guard."""
    for packet in xmp_packets(im, data):
        col.guard("XMP metadata", lambda p=packet: parse_xmp(p, cfg, col))
