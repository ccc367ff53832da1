"""The OCR engine of explicit-label evidence: rapidocr's PP-OCRv4 text detector and recogniser.

The models (PP-OCRv4 Chinese/English detection and recognition, ONNX) ship inside the
``rapidocr-onnxruntime`` wheel, so nothing is downloaded at run time; onnxruntime runs them on
the CPU, torch-free.

**Importing this module builds the engine** (about 0.2 s, ~60 MB). Import it lazily, inside a
function (:mod:`fakedamage.assess.explicit_label` does): Python runs a module's body once per
process, and a thread that imports it while another is running that body waits for it (the
import system's per-module lock), so the engine is built exactly once without a lock of ours,
and never when explicit labels are switched off. If rapidocr is missing the import raises
``ImportError`` (and is retried by the next import).

Each call runs on one thread (onnxruntime's ``intra_op_num_threads=1``): the OCR step costs about
0.2 s of CPU on a 12 MP photo, a thread pool would mostly spin, and the service already runs claims
in parallel worker threads. Only the stateless parts of rapidocr are called (onnxruntime sessions,
the DB box post-processor, the CTC decoder), so :func:`detect` and :func:`recognize` are safe to
call from several threads.
Image preprocessing for detection is done here, at the size the caller chooses.
"""

from __future__ import annotations

import cv2
import numpy as np
from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
from rapidocr_onnxruntime.utils import read_yaml, update_model_path

__all__ = ["detect", "recognize", "REC_HEIGHT"]

_CONFIG = update_model_path(read_yaml(DEFAULT_CFG_PATH))
for _part in ("Det", "Rec"):  # one thread per call: no spinning thread pool; a service's workers run claims in parallel
    _CONFIG[_part]["intra_op_num_threads"] = 1
    _CONFIG[_part]["inter_op_num_threads"] = 1
_DETECTOR = TextDetector(_CONFIG["Det"])
_RECOGNIZER = TextRecognizer(_CONFIG["Rec"])
#: Height in pixels of the text-line images the recogniser reads.
REC_HEIGHT: int = int(_CONFIG["Rec"]["rec_img_shape"][1])
_MEAN = np.float32(0.5)


def detect(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Text boxes in one BGR image, detected at its own size (rounded to multiples of 32).

    Args:
        bgr: ``(h, w, 3)`` uint8 BGR image, at least 16 pixels each way.

    Returns:
        ``(quads, scores)``: ``(n, 4, 2)`` float32 corners (top-left, top-right, bottom-right,
        bottom-left) in ``bgr``'s pixel coordinates, and ``(n,)`` detection scores.
    """
    h, w = bgr.shape[:2]
    h32, w32 = max(32, round(h / 32) * 32), max(32, round(w / 32) * 32)
    x = cv2.resize(bgr, (w32, h32), interpolation=cv2.INTER_LINEAR) if (h32, w32) != (h, w) else bgr
    x = (x.astype(np.float32) * np.float32(1 / 255.0) - _MEAN) / _MEAN
    pred = _DETECTOR.infer(x.transpose(2, 0, 1)[None])[0]
    boxes, scores = _DETECTOR.postprocess_op(pred, (h, w))
    if len(boxes) == 0:
        return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
    quads = np.stack([_DETECTOR.order_points_clockwise(np.asarray(b, np.float32)) for b in boxes])
    return quads.astype(np.float32), np.asarray(scores, np.float32)


def recognize(lines: list[np.ndarray]) -> list[tuple[str, float]]:
    """Read text-line images.

    Args:
        lines: ``(h, w, 3)`` uint8 BGR images of one horizontal line each (best near
            :data:`REC_HEIGHT` pixels high).

    Returns:
        ``(text, confidence)`` per line, in order; confidence in ``[0, 1]``.
    """
    if not lines:
        return []
    results, _ = _RECOGNIZER(lines)
    return [(str(r[0]), float(r[1])) for r in results]
