"""The evidence collector every provenance reader writes into, and its text helpers.

A :class:`Collector` accumulates the evidence items of one claim file, the checks done and
not done, and the software names seen (classified at the end by
:mod:`fakedamage.assess.provenance.software`). Its :meth:`Collector.guard` turns any
exception of a reader into a ``metadata_error`` item, so hostile metadata never crashes an
assessment.
"""

from __future__ import annotations

from typing import Any, Callable

from ..evidence import Evidence
from ..settings import AssessConfig

__all__ = ["Collector", "one_line", "mb"]


def one_line(text: object, limit: int = 160) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters with an ellipsis."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def mb(n: int) -> str:
    """A byte count for a reader: ``"2.0 MB"`` from 100 kB up, else ``"12.3 kB"``."""
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


class Collector:
    """Accumulates the provenance evidence of one file; ``guard`` turns any exception of a reader into a metadata_error.

    Args:
        cfg: Settings (strengths, limits).

    Attributes:
        items: Evidence found so far, in reading order.
        checked: What was checked (for the ``no_provenance_label`` item).
        not_checked: What could not be checked, and why.
        software: Software / CreatorTool names seen in any metadata.
    """

    def __init__(self, cfg: AssessConfig) -> None:
        self.cfg = cfg
        self.items: list[Evidence] = []
        self.checked: list[str] = []
        self.not_checked: list[str] = []
        self.software: list[str] = []

    def add(self, kind: str, strength: float, explanation: str, **details: Any) -> None:
        """Append one ``provenance`` evidence item."""
        self.items.append(Evidence(kind, float(strength), explanation, "provenance", details))

    def error(self, where: str, problem: str, meaning: str = "it could not be checked") -> None:
        """Append a ``metadata_error`` item: ``where`` (e.g. ``"EXIF metadata"``) is ``problem``."""
        self.add("metadata_error", self.cfg.metadata_error_strength,
                 f"The photo's {where} is {problem}: {meaning}, and genuine camera files rarely look like this.",
                 where=where, problem=problem)

    def guard(self, where: str, fn: Callable[[], None]) -> None:
        """Run a reader; any exception it raises becomes a ``metadata_error`` item about ``where``."""
        try:
            fn()
        except RecursionError:
            self.error(where, "nested too deeply to read")
        except MemoryError:
            self.error(where, "too large to read")
        except Exception as e:  # noqa: BLE001 - hostile metadata must never crash an assessment
            self.error(where, f"malformed ({type(e).__name__}: {one_line(e, 120)})")
