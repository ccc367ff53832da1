"""Write a detector's :class:`~fakedamage.meta.ModelMeta` into an ONNX file (onnx only, no torch)."""

from __future__ import annotations

from pathlib import Path

from ..meta import META_KEY, ModelMeta

__all__ = ["write_model_metadata"]


def write_model_metadata(path: str | Path, meta: ModelMeta) -> None:
    """Replace the ``metadata_props`` of the ONNX file at ``path`` by ``meta`` (in place, checked)."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {META_KEY: meta.to_json()})
    proto.producer_name = "fakedamage"
    proto.doc_string = "fakedamage detector; see metadata_props['fakedamage'] for the input policy and scoring recipe"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
