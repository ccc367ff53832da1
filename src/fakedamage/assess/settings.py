"""Settings of claim assessment: :class:`AssessConfig` and how it is read from YAML.

Every threshold and strength the assess package uses is a field of :class:`AssessConfig`
(provenance limits, reference-matching parameters, the strengths given to each kind of
evidence and the fusion thresholds; ``configs/assess.yaml`` holds the same defaults).
:func:`load_config` reads that file (or another) and applies overrides. The meaning of the
fusion thresholds and strengths is documented with the rule in :mod:`fakedamage.assess.fusion`.

Only the standard library is imported (and PyYAML, to read a config file).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

__all__ = ["AssessConfig", "default_config_path", "load_config"]


@dataclass(frozen=True)
class AssessConfig:
    """Every threshold of claim assessment. ``configs/assess.yaml`` holds the same defaults.

    Fusion:
        ai_threshold, review_threshold, authentic_threshold: the rule of :mod:`fakedamage.assess.fusion`.

    Strengths (all in ``[0, 1]``; see the table of :mod:`fakedamage.assess.fusion`):
        label_strength, possible_label_strength, reference_match_strength, watermark_strength,
        generation_parameters_strength, ai_software_strength, detector_strength_at_threshold,
        detector_max_strength, detector_max_authentic, c2pa_invalid_strength,
        reference_copy_strength, metadata_error_strength, editing_software_strength,
        c2pa_trusted_capture_strength.

    Provenance:
        max_metadata_bytes: Largest XMP packet or text chunk parsed; larger ones become a
            ``metadata_error`` item and are not parsed.
        max_file_bytes: Largest claim file read.
        watermark_max_false_alarm: A Stable Diffusion watermark is reported when its matching
            bits would occur by chance on an unmarked photo with at most this probability.
        watermark_max_pixels: Images larger than this are not checked for the watermark
            (no SD pipeline writes such sizes; resizing destroys the watermark anyway).
        c2pa_trust_anchors: Optional PEM file of trusted C2PA root certificates; without it
            a valid signature is reported as "valid, signer not on a trust list".

    Explicit (visible) AI labels, read by OCR (:mod:`fakedamage.assess.explicit_label`):
        explicit_label: Read the text in the claim's border bands and look for a visible AI label.
        explicit_label_strength: Strength of a confident label (the phrase read exactly, OCR
            confidence at least ``explicit_label_min_confidence``); as strong as a GB 45438
            implicit label by default, so it decides ``likely_ai_edited``.
        explicit_label_weak_strength: Strength of a near match (OCR noise within the edit budget)
            or of a label read with lower confidence: a reviewer looks.
        explicit_label_min_confidence: OCR confidence a label needs for ``explicit_label_strength``.
        explicit_label_min_text_score: Lines read with a lower OCR confidence are ignored.
        explicit_label_max_edit_fraction: Edits allowed in a near match, as a fraction of the
            phrase's characters outside its exact anchor ("ai", "人工智能").
        explicit_label_band: Fraction of the height (top and bottom bands) and of the width (left
            and right strips) scanned at each edge.
        explicit_label_work_side: Shorter side of the image text is detected on (recognition reads
            each line from the full-resolution claim).
        explicit_label_max_lines: Most text lines recognised per claim (the most confident detections).

    Reference matching (pixel sizes are at the working resolution, longer side ``match_max_side``):
        match_max_side: Working resolution for features and the difference map.
        shortlist: At most this many references (closest perceptual hash first) get
            local-feature matching.
        max_features: SIFT keypoints per image.
        sift_contrast_threshold: SIFT's contrast threshold (OpenCV's default is 0.04; lower
            finds keypoints on smooth product surfaces).
        ratio_test: Lowe's ratio for nearest-neighbour matches.
        ransac_reproj_px: RANSAC (MAGSAC) reprojection threshold.
        min_inliers, min_inlier_ratio: A homography needs this many inliers and this
            fraction of the ratio-test matches.
        min_overlap: Fraction of the claim that the aligned reference must cover.
        min_unchanged_fraction: A derived copy leaves at least this fraction of the overlap
            unchanged; below it the match is a similar view (a planar object, another
            photo of the same scene) and the claim counts as independent.
        min_detail_correlation: A derived copy repeats the reference's fine detail (band-pass
            correlation over the unchanged overlap at least this); another photo of the same
            scene does not (parallax, different blur and noise).
        max_distortion: A derived copy is cropped / scaled / rotated: its homography may deviate
            from a similarity by at most this fraction of the claim diagonal; more means another
            viewpoint of a flat object.
        diff_blur_sigma: Gaussian blur before differencing (suppresses JPEG and resampling noise).
        diff_min_level: Smallest per-pixel change (``0..1`` scale) that counts.
        diff_noise_k: A change must also exceed ``diff_noise_k`` robust noise sigmas.
        diff_low_fraction: Hysteresis: a changed region grows over neighbouring pixels whose
            change exceeds this fraction of the threshold.
        region_min_area_fraction: Smallest changed region kept, as a fraction of the overlap.
        changed_min_fraction: Below this changed fraction of the overlap, the copy is "unchanged".
        video_fps: Frames sampled per second of a reference video.
        video_max_frames: Most frames taken from one video.
        max_references: Most reference images (files plus frames) per claim.
    """

    # fusion
    ai_threshold: float = 0.75
    review_threshold: float = 0.35
    authentic_threshold: float = 0.3
    # strengths
    label_strength: float = 0.95
    possible_label_strength: float = 0.75
    reference_match_strength: float = 0.95
    watermark_strength: float = 0.9
    generation_parameters_strength: float = 0.9
    ai_software_strength: float = 0.85
    detector_strength_at_threshold: float = 0.35
    detector_max_strength: float = 0.85
    detector_max_authentic: float = 0.5
    c2pa_invalid_strength: float = 0.5
    reference_copy_strength: float = 0.5
    metadata_error_strength: float = 0.4
    editing_software_strength: float = 0.35
    c2pa_trusted_capture_strength: float = 0.4
    # provenance
    max_metadata_bytes: int = 2_000_000
    max_file_bytes: int = 100_000_000
    watermark_max_false_alarm: float = 1e-6
    watermark_max_pixels: int = 16_000_000
    c2pa_trust_anchors: str | None = None
    # explicit (visible) AI labels, read by OCR
    explicit_label: bool = True
    explicit_label_strength: float = 0.95
    explicit_label_weak_strength: float = 0.6
    explicit_label_min_confidence: float = 0.8
    explicit_label_min_text_score: float = 0.5
    explicit_label_max_edit_fraction: float = 0.2
    explicit_label_band: float = 0.2
    explicit_label_work_side: int = 800
    explicit_label_max_lines: int = 24
    # reference matching
    match_max_side: int = 1024
    shortlist: int = 8
    max_features: int = 4000
    sift_contrast_threshold: float = 0.02
    ratio_test: float = 0.75
    ransac_reproj_px: float = 4.0
    min_inliers: int = 15
    min_inlier_ratio: float = 0.2
    min_overlap: float = 0.25
    min_unchanged_fraction: float = 0.6
    min_detail_correlation: float = 0.75
    max_distortion: float = 0.05
    diff_blur_sigma: float = 1.0
    diff_min_level: float = 0.06
    diff_noise_k: float = 5.0
    diff_low_fraction: float = 0.5
    region_min_area_fraction: float = 0.0003
    changed_min_fraction: float = 0.001
    video_fps: float = 2.0
    video_max_frames: int = 120
    max_references: int = 200

    def __post_init__(self) -> None:
        unit = [f.name for f in fields(self) if f.type in ("float", float) and f.name not in ("ransac_reproj_px",
                                                                                              "diff_blur_sigma",
                                                                                              "diff_noise_k",
                                                                                              "video_fps")]
        for name in unit:
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"assess config: {name} must be a number in [0, 1], got {v!r}")
        if not self.review_threshold <= self.ai_threshold:
            raise ValueError(f"assess config: review_threshold ({self.review_threshold}) must be <= "
                             f"ai_threshold ({self.ai_threshold})")
        if self.review_threshold <= 0:
            raise ValueError("assess config: review_threshold must be > 0 (strength-0 items inform only)")
        for name in ("ransac_reproj_px", "diff_blur_sigma", "diff_noise_k", "video_fps"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"assess config: {name} must be >= 0, got {getattr(self, name)!r}")
        if not isinstance(self.explicit_label, bool):
            raise ValueError(f"assess config: explicit_label must be true or false, got {self.explicit_label!r}")
        if not 0.0 < self.explicit_label_band <= 0.5:
            raise ValueError(f"assess config: explicit_label_band must be in (0, 0.5], got {self.explicit_label_band!r}")
        if isinstance(self.explicit_label_work_side, bool) or not isinstance(self.explicit_label_work_side, int) \
                or not 64 <= self.explicit_label_work_side <= 4096:
            raise ValueError(f"assess config: explicit_label_work_side must be an integer in [64, 4096], "
                             f"got {self.explicit_label_work_side!r}")
        for name in ("max_metadata_bytes", "max_file_bytes", "watermark_max_pixels", "match_max_side", "shortlist",
                     "max_features", "min_inliers", "video_max_frames", "max_references", "explicit_label_max_lines"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"assess config: {name} must be a positive integer, got {v!r}")

    def replace(self, **changes: Any) -> "AssessConfig":
        """A copy with some fields changed (validated).

        Raises:
            ValueError: Unknown field name or invalid value.
        """
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"assess config: unknown key(s) {unknown}; known keys: {sorted(known)}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "AssessConfig":
        """Build from a flat mapping (e.g. a parsed YAML file); values are coerced to the field types.

        Raises:
            ValueError: Unknown key or a value that does not fit its field.
        """
        return cls().replace(**{k: _coerce(k, v) for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        """Flat dictionary of every field."""
        return dataclasses.asdict(self)


def _coerce(name: str, value: Any) -> Any:
    types = {f.name: f.type for f in fields(AssessConfig)}
    if name not in types:
        raise ValueError(f"assess config: unknown key {name!r}; known keys: {sorted(types)}")
    t = types[name]
    if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "")):
        if "None" in str(t):
            return None
        raise ValueError(f"assess config: {name} cannot be empty")
    if t in ("bool", bool):
        if isinstance(value, bool):
            return value
        words = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
        if str(value).strip().lower() in words:
            return words[str(value).strip().lower()]
        raise ValueError(f"assess config: {name} must be true or false, got {value!r}")
    try:
        if t in ("float", float):
            return float(value)
        if t in ("int", int):
            if isinstance(value, str):
                value = value.replace("_", "")
            f = float(value)
            if f != int(f):
                raise ValueError
            return int(f)
    except (TypeError, ValueError):
        raise ValueError(f"assess config: {name} must be a {t}, got {value!r}") from None
    return str(value)


def default_config_path() -> Path | None:
    """``configs/assess.yaml``: packaged in the wheel, or the repository's in a source checkout."""
    here = Path(__file__).resolve().parent
    env = os.environ.get("FAKEDAMAGE_CONFIG_DIR")
    candidates = ([Path(env)] if env else []) + [here.parent / "configs", here.parents[2] / "configs"]
    for c in candidates:
        if (c / "assess.yaml").is_file():
            return c / "assess.yaml"
    return None


def load_config(path: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> AssessConfig:
    """Read an assess config from YAML (default: :func:`default_config_path`), then apply overrides.

    Without a file (and no ``path`` given) the dataclass defaults are used.

    Args:
        path: A flat YAML mapping of :class:`AssessConfig` fields.
        overrides: ``key -> value`` applied last (strings are coerced).

    Returns:
        The validated config.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: The file is not a flat mapping, or a key or value is invalid.
    """
    values: dict[str, Any] = {}
    p = Path(path) if path is not None else default_config_path()
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"{path}: assess config not found")
    if p is not None:
        try:
            import yaml
        except ImportError:
            if path is not None:
                raise ValueError(f"{p}: reading an assess config needs PyYAML (pip install pyyaml)") from None
            p = None  # the packaged file holds the dataclass defaults
    if p is not None:
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ValueError(f"{p}: not valid YAML ({' '.join(str(e).split())[:160]})") from None
        if data is None:
            data = {}
        if not isinstance(data, dict) or any(isinstance(v, (dict, list)) for v in data.values()):
            raise ValueError(f"{p}: expected a flat mapping of assess settings")
        values.update(data)
    values.update(overrides or {})
    return AssessConfig.from_mapping(values)
