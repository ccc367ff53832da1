"""Fake-damage generators: a registry (see :mod:`.base`).

* ``autoencoder``: learned-decoder surrogates (three decoder families), offline;
* ``taef2``: TAEF2, a real pretrained latent-diffusion autoencoder (FLUX.2 latent space), vendored;
* ``ldm``: the decoder zoo's latent-diffusion-style VAEs (4 or 16 latent channels, three upsamplers),
  trained offline with L1 + perceptual + patch-GAN + KL losses and shipped in the package;
* ``inpainter``: the zoo's LaMa-like learned inpainter (fast Fourier convolutions);
* ``classical``: OpenCV seamless cloning + inpainting, a non-AI editor;
* ``diffusers``: any diffusers inpainting pipeline (imported only when used).

Fakes made elsewhere are ingested by :mod:`fakedamage.data.ingest`.
"""

from typing import Any

from .autoencoder import DECODERS, AutoencoderGenerator, ConvAutoencoder, train_autoencoder
from .base import Generator, create_generator, list_generators, register_generator
from .classical import ClassicalGenerator
from .inpainter import InpainterGenerator, LaMaInpainter
from .ldm import LDMAutoencoder, LDMGenerator
from .taesd import TAEF2Generator
from .zoo import list_zoo, load_zoo_member


@register_generator("diffusers")
def _diffusers(**kwargs: Any) -> Generator:
    # diffusers and transformers are heavy: import them only for this generator
    from .diffusers import DiffusersInpaintGenerator

    return DiffusersInpaintGenerator(**kwargs)


__all__ = [
    "Generator",
    "create_generator",
    "list_generators",
    "register_generator",
    "AutoencoderGenerator",
    "ClassicalGenerator",
    "TAEF2Generator",
    "InpainterGenerator",
    "LaMaInpainter",
    "LDMAutoencoder",
    "LDMGenerator",
    "list_zoo",
    "load_zoo_member",
    "ConvAutoencoder",
    "DECODERS",
    "train_autoencoder",
]
