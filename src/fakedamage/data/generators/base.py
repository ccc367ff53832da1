"""Generator registry: every way of making fake damage is one small class.

A generator turns a real RGB image with painted damage into what an AI editing
tool would return for it: the whole image passed through the generator's decoder.
:func:`fakedamage.data.synth` derives the content-aligned variants from that
(``inpaint_full``: the decoded image; ``inpaint_pasted``: decoded pixels inside
the mask only, the rest of the real photo untouched).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from ...errors import UsageError

__all__ = ["Generator", "register_generator", "create_generator", "list_generators"]


@runtime_checkable
class Generator(Protocol):
    """What a fake-damage generator provides."""

    #: Name written to the manifest's ``generator`` column.
    name: str
    #: True when every output pixel passes the generator (a decoder): such generators
    #: also make ``inpaint_full`` and ``reconstruction`` variants.
    decodes_whole_image: bool
    #: True for text-guided generators; the prompt is recorded in the manifest.
    uses_prompt: bool

    def regenerate(self, image: np.ndarray, mask: np.ndarray, prompt: str = "", seed: int = 0) -> np.ndarray:
        """Pass an image through the generator.

        Args:
            image: ``(H, W, 3)`` uint8 RGB, damage already painted where ``mask > 0``.
            mask: ``(H, W)`` float32 in ``[0, 1]``, the edited region (all zero: no edit).
            prompt: Damage prompt for text-guided generators.
            seed: Per-item seed for stochastic generators.

        Returns:
            ``(H, W, 3)`` uint8 RGB, the generator's output for the whole image.
        """
        ...


_REGISTRY: dict[str, Callable[..., Generator]] = {}


def register_generator(kind: str) -> Callable[[Callable[..., Generator]], Callable[..., Generator]]:
    """Class decorator adding a generator factory under ``kind``."""

    def wrap(factory: Callable[..., Generator]) -> Callable[..., Generator]:
        _REGISTRY[kind] = factory
        return factory

    return wrap


def list_generators() -> list[str]:
    return sorted(_REGISTRY)


def create_generator(kind: str, **kwargs: Any) -> Generator:
    """Instantiate a registered generator, e.g. ``create_generator("autoencoder", weights=...)``."""
    if kind not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(kind, _REGISTRY, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown generator {kind!r}{hint} (available: {', '.join(list_generators())})")
    return _REGISTRY[kind](**kwargs)
