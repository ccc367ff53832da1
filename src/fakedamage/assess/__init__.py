"""Claim assessment: provenance labels, consistency with the merchant's photos, and the detector.

    >>> from fakedamage.assess import Assessor
    >>> a = Assessor(None).assess("claim.jpg", references=["listing.jpg"])   # doctest: +SKIP
    >>> a.verdict, a.reason                                                   # doctest: +SKIP

Modules: :mod:`.provenance` (one module per source: XMP, EXIF, text chunks, C2PA, SD
watermark, software tags), :mod:`.reference` (one module per step: loading, perceptual hash,
features and geometry, alignment and difference map, verdict), :mod:`.settings`
(:class:`AssessConfig` and :func:`load_config`), :mod:`.fusion` (the documented rule),
:mod:`.evidence`, :mod:`.watermark` (the torch-free SD watermark decoder), :mod:`.assessor`,
:mod:`.claim_report` (the reviewer's HTML page of one claim; not :mod:`fakedamage.report`)
and :mod:`.cli`.

Importing this package never imports torch.
"""

from __future__ import annotations

from .assessor import Assessment, Assessor
from .evidence import EVIDENCE_KINDS, Evidence
from .fusion import VERDICTS, fuse
from .settings import AssessConfig, load_config

__all__ = ["Assessor", "Assessment", "Evidence", "EVIDENCE_KINDS", "AssessConfig", "VERDICTS", "fuse", "load_config"]
