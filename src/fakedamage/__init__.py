"""fakedamage: detect product photos whose damage was painted in by AI.

Importing this package is cheap and torch-free. The runtime API
(:class:`Detector`) needs only numpy, Pillow and onnxruntime; the training stack
(``fakedamage.train``, ``fakedamage.models``, ``fakedamage.data``) imports torch
when you import it.

Example:
    >>> from fakedamage import Detector
    >>> det = Detector("runs/demo/model.onnx")
    >>> det.predict("claim.jpg").score  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .meta import ModelMeta

__version__ = "0.1.0"
__all__ = ["Detector", "Prediction", "PredictionError", "ModelMeta", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .runtime.detector import Detector, Prediction, PredictionError


def __getattr__(name: str) -> Any:
    # Lazy so that `import fakedamage` does not pull in onnxruntime.
    if name in ("Detector", "Prediction", "PredictionError"):
        from .runtime import detector

        return getattr(detector, name)
    raise AttributeError(f"module 'fakedamage' has no attribute {name!r}")
