"""The errors a user can fix, as opposed to bugs.

Every command-line verb prints a :class:`FakedamageError` as one line (naming the file or
setting and the fix) and exits 1; anything else is a bug and keeps its traceback.

===========================  =========================================================
:class:`FakedamageError`     base class
:class:`UsageError`          a bad value in a config, argument, manifest or input file
                             (also a :class:`ValueError`, so ``except ValueError`` still works)
===========================  =========================================================

Subclasses elsewhere: ``ConfigError`` (:mod:`fakedamage.config`), ``ImageDecodeError`` and
``ModelLoadError`` (:mod:`fakedamage.runtime`), ``ParityError`` and ``GateError``
(:mod:`fakedamage.export`), ``PretrainedLoadError`` (:mod:`fakedamage.models.factory`).
This module imports nothing from the package, so the torch-free runtime can use it.
"""

from __future__ import annotations

__all__ = ["FakedamageError", "UsageError"]


class FakedamageError(Exception):
    """An error the user can fix; its message is one line that names the file or setting and the fix."""


class UsageError(FakedamageError, ValueError):
    """A bad value in a config, an argument, a manifest or an input file."""
