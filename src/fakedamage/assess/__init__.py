"""Claim assessment: provenance labels, consistency with the merchant's photos, and the detector.

    >>> from fakedamage.assess import Assessor
    >>> a = Assessor(None).assess("claim.jpg", references=["listing.jpg"])   # doctest: +SKIP
    >>> a.verdict, a.reason                                                   # doctest: +SKIP

Modules: :mod:`.provenance` (GB 45438, C2PA, IPTC, SD watermark, generation parameters,
software tags), :mod:`.reference` (near-duplicate matching, alignment, difference map,
changed regions, video frames), :mod:`.fusion` (the documented rule and
:class:`AssessConfig`), :mod:`.assessor`, :mod:`.report` (HTML) and :mod:`.cli`.

Importing this package never imports torch.
"""

from __future__ import annotations

from .assessor import Assessment, Assessor
from .evidence import EVIDENCE_KINDS, Evidence
from .fusion import VERDICTS, AssessConfig, fuse, load_config

__all__ = ["Assessor", "Assessment", "Evidence", "EVIDENCE_KINDS", "AssessConfig", "VERDICTS", "fuse", "load_config"]
