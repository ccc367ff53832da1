"""Provenance evidence: what the file says about where it came from.

Read, in this order, each step guarded so that a malformed or hostile input becomes a
``metadata_error`` item and never an exception (:func:`read_provenance`, in :mod:`.reader`):

* **XMP** (:mod:`.xmp`): Pillow's ``info["xmp"]`` / PNG ``XML:com.adobe.xmp`` / TIFF tag 700,
  else a bounded raw scan for ``<x:xmpmeta``, parsed with ``defusedxml`` (DTDs, entities and
  external references forbidden) after a size check (``max_metadata_bytes``):

  - the **GB 45438-2025** implicit label: property ``AIGC`` (namespace
    ``http://www.tc260.org.cn/ns/AIGC/1.0/``, prefix ``TC260``) holding JSON with ``Label``
    (``1`` AI-generated, ``2`` possibly, ``3`` suspected), ``ContentProducer``, ``ProduceID``,
    ``ReservedCode1``, ``ContentPropagator``, ``PropagateID``, ``ReservedCode2``; the same
    JSON in a PNG text chunk ``AIGC`` (as some services write it) is read too (:mod:`.labels`);
  - the **IPTC** ``DigitalSourceType`` (and the 2025.1 ``AISystemUsed``);
  - ``xmp:CreatorTool`` and the ``xmpMM:History`` software agents.
* **EXIF** (:mod:`.exif`): ``Software``, ``ImageDescription`` and ``UserComment`` (generation
  parameters), and an explicit check of the EXIF structure (corrupt EXIF is evidence).
* **Text chunks** (:mod:`.png_text`; PNG ``tEXt``/``iTXt``/``zTXt``, JPEG comment): generation
  parameters written by AUTOMATIC1111-style web UIs, ComfyUI, InvokeAI, NovelAI, Fooocus
  (recognised by :mod:`.generation`).
* **Stealth PNG info** (:mod:`.stealth`): A1111 / Forge / NovelAI generation parameters hidden in
  the least significant bits of a PNG's alpha (or RGB) channels (``stealth_pnginfo``,
  ``stealth_pngcomp``, ``stealth_rgbinfo``, ``stealth_rgbcomp``), read with size caps.
* **Software tags** (:mod:`.software`): AI generators and photo editors named by any of the above.
* **C2PA** content credentials with ``c2pa-python`` (:mod:`.c2pa`): digital source types of every
  action (e.g. generative fill's ``compositeWithTrainedAlgorithmicMedia``), the signer, and the
  validation state (``Invalid`` / ``Valid`` / ``Trusted`` with ``c2pa_trust_anchors``).
* The **Stable Diffusion invisible watermark** (:mod:`.sd_watermark`, decoded by
  :mod:`fakedamage.assess.watermark`).

When no label is found the result holds one ``no_provenance_label`` item of strength 0:
labels are easy to strip, so their absence is never evidence of authenticity.

Thread-safe: nothing touches process-wide state. torch is never imported (see
:mod:`fakedamage.assess.watermark` for invisible-watermark).
"""

from __future__ import annotations

from .labels import IPTC_SOURCE_TYPES, LABEL_KINDS, TC260_NAMESPACE
from .reader import read_provenance
from .software import classify_software

__all__ = ["read_provenance", "LABEL_KINDS", "IPTC_SOURCE_TYPES", "classify_software", "TC260_NAMESPACE"]
