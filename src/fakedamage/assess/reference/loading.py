"""Step 0: decode the merchant's reference photos and sample frames of packing videos.

Failures become ``reference_error`` evidence items, never exceptions; near-identical
consecutive video frames are kept once (perceptual hash, :mod:`.hashing`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ...runtime.image_io import ImageDecodeError, load_image
from ..evidence import Evidence
from ..settings import AssessConfig
from .hashing import hamming, phash
from .records import ReferenceImage

__all__ = ["sample_video_frames", "load_references"]


def _file_key(path: Path) -> str:
    """Cache key of a file: resolved path, size and modification time."""
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def sample_video_frames(path: str | os.PathLike, fps: float = 2.0, max_frames: int = 120) -> list[tuple[float, np.ndarray]]:
    """Decode frames of a video at about ``fps`` frames per second.

    Args:
        path: Any video OpenCV's FFmpeg backend reads.
        fps: Frames kept per second of video (``0``: every frame).
        max_frames: Most frames returned.

    Returns:
        ``[(time_s, (H, W, 3) uint8 RGB), ...]`` in time order.

    Raises:
        ValueError: The file cannot be opened or holds no frame.
    """
    cap = cv2.VideoCapture(os.fspath(path))
    if not cap.isOpened():
        raise ValueError(f"{path}: not a readable video")
    try:
        src_fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        if not math.isfinite(src_fps) or src_fps <= 0:
            src_fps = 25.0
        step = 1 if fps <= 0 else max(1, round(src_fps / fps))
        frames: list[tuple[float, np.ndarray]] = []
        index = 0
        while len(frames) < max_frames:
            if index % step == 0:
                ok, bgr = cap.read()
                if not ok:
                    break
                frames.append((index / src_fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
            elif not cap.grab():
                break
            index += 1
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"{path}: no frame could be decoded")
    return frames


def load_references(paths: Sequence[str | os.PathLike] = (), videos: Sequence[str | os.PathLike] = (),
                    cfg: AssessConfig | None = None) -> tuple[list[ReferenceImage], list[Evidence]]:
    """Decode reference photos and sample reference videos; failures become ``reference_error`` items.

    Near-identical consecutive video frames (pHash distance <= 4) are kept once.

    Args:
        paths: Image files (any format :func:`fakedamage.runtime.load_image` reads).
        videos: Video files; frames sampled at ``cfg.video_fps``, at most ``cfg.video_max_frames`` each.
        cfg: Settings.

    Returns:
        ``(references, errors)``; at most ``cfg.max_references`` references.
    """
    cfg = cfg or AssessConfig()
    refs: list[ReferenceImage] = []
    errors: list[Evidence] = []

    def fail(name: str, why: str) -> None:
        errors.append(Evidence("reference_error", 0.0, f"The reference {name} could not be used ({why}).",
                               "reference", {"reference": name, "error": why}))

    for p in paths:
        path = Path(p)
        try:
            refs.append(ReferenceImage(path.name, load_image(path), _file_key(path)))
        except (ImageDecodeError, OSError) as e:
            fail(path.name, " ".join(str(e).split())[:200])
    for v in videos:
        path = Path(v)
        try:
            frames = sample_video_frames(path, cfg.video_fps, cfg.video_max_frames)
        except (ValueError, OSError, cv2.error) as e:
            fail(path.name, " ".join(str(e).split())[:200])
            continue
        last: int | None = None
        base = _file_key(path) if path.exists() else None
        for t, frame in frames:
            h = phash(frame)
            if last is not None and hamming(h, last) <= 4:
                continue
            last = h
            refs.append(ReferenceImage(f"{path.name}@{t:.1f}s", frame, f"{base}@{t:.3f}" if base else None))
    if len(refs) > cfg.max_references:
        fail(f"set ({len(refs)} images)", f"only the first {cfg.max_references} are used")
        refs = refs[: cfg.max_references]
    return refs, errors
