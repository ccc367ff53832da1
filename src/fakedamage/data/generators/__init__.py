"""Fake-damage generators (a registry; see :mod:`.base`)."""

from .base import Generator, create_generator, list_generators, register_generator
from .autoencoder import AutoencoderGenerator, ConvAutoencoder, DECODERS, train_autoencoder

__all__ = [
    "Generator",
    "create_generator",
    "list_generators",
    "register_generator",
    "AutoencoderGenerator",
    "ConvAutoencoder",
    "DECODERS",
    "train_autoencoder",
]
