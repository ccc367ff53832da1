"""Prompt templates for text-guided inpainting generators, one family per damage kind.

Prompts describe the damage, not the product, so they fit any photo; the material
word is drawn from a list so a dataset does not repeat one sentence.
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError

__all__ = ["PROMPTS", "NEGATIVE_PROMPT", "MATERIALS", "make_prompt"]

MATERIALS = ("ceramic", "plastic", "glass", "fabric", "wood", "metal", "cardboard", "leather", "paint")

PROMPTS: dict[str, tuple[str, ...]] = {
    "crack": (
        "a deep crack across the {material}",
        "a thin hairline crack running through the {material}",
        "a branching fracture in the {material} surface, photo",
    ),
    "stain": (
        "a brown coffee stain on the {material}",
        "a dark grease stain soaked into the {material}",
        "a dried water stain with a ring on the {material}",
    ),
    "scratch": (
        "long scratches on the {material} surface",
        "fine scuff marks and scratches on the {material}",
    ),
    "tear": (
        "a ragged tear in the {material}",
        "a ripped, torn edge in the {material}",
    ),
    "chip": (
        "a chipped corner broken off the {material}",
        "a small chip missing from the edge of the {material}",
    ),
    "scuff": (
        "a dull scuff mark rubbed into the {material}",
        "a scuffed, abraded patch with fine parallel scratches on the {material}",
        "a worn, scuffed spot where the {material} lost its gloss",
    ),
}

NEGATIVE_PROMPT = "blurry, cartoon, illustration, text, watermark"


def make_prompt(kind: str, rng: np.random.Generator) -> str:
    """A damage prompt for ``kind`` with a random material (deterministic for ``rng``)."""
    if kind not in PROMPTS:
        raise UsageError(f"no prompts for damage kind {kind!r}; known: {sorted(PROMPTS)}")
    templates = PROMPTS[kind]
    template = templates[int(rng.integers(len(templates)))]
    return template.format(material=MATERIALS[int(rng.integers(len(MATERIALS)))])
