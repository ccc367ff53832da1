"""Data engine: offline real photos, procedural damage, generators, manifests, datasets.

Submodules are imported on demand (``fakedamage.data.synth``, ``.manifest``, ...);
only :mod:`.dataset` and :mod:`.generators` need torch.
"""
