"""The normative scoring spec: how any client turns an image file and an exported model into the score.

:data:`SCORING_SPEC` is structured JSON, written into every exported model's metadata (the
``scoring`` field of :class:`~fakedamage.meta.ModelMeta`) and published with the JSON Schema of
the whole metadata (``schemas/model_metadata.schema.json`` in this package; every export is
validated against it). A reader can implement a client from it alone; the reference clients are
:class:`fakedamage.Detector` (Python) and ``clients/js/score.js`` (Node). A client proves itself
on the conformance vectors that ``fakedamage export`` writes beside the model
(``model.conformance.json``, see :mod:`fakedamage.conformance`) with ``fakedamage verify-client``.

Parameters named in the rules (``tile_size`` = T, ``tile_stride``, ``scan``, ``refine_top``,
``aggregation``, ``topk``, ``size_slope``, ``size_reference_pixels``, ``temperature``,
``threshold``, ``input_name``, ``output_names``) are fields of the same metadata object.

This module imports only the standard library (``jsonschema`` lazily, for validation).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Mapping

__all__ = ["SPEC_VERSION", "SCORING_SPEC", "metadata_schema", "validate_metadata"]

#: Version of the rules below; equals the metadata ``format_version`` that introduced them.
SPEC_VERSION = 3

SCORING_SPEC: dict[str, Any] = {
    "spec": "fakedamage-scoring",
    "spec_version": SPEC_VERSION,
    "compatibility": (
        "A client implements the rules of one format_version. It refuses a model whose format_version is "
        "greater than the largest it implements, and ignores metadata keys it does not know. Files of older "
        "formats are scored by these rules too. The rules are normative; the conformance vectors "
        "(model.conformance.json) are the test."
    ),
    "parameters": ["tile_size", "tile_stride", "scan", "refine_top", "aggregation", "topk", "size_slope",
                   "size_reference_pixels", "temperature", "threshold", "input_name", "output_names"],
    "decode": {
        "output": "H x W x 3 uint8 RGB at the file's native resolution; the image is never resized.",
        "formats": "PNG and JPEG are in the contract. The Python client also reads WebP, BMP, TIFF and GIF "
                   "(first frame) by the same sample rules; other clients may refuse them.",
        "grey": "Grey samples are replicated: R = G = B.",
        "bit_depth_16": "16-bit samples, grey or colour: the high byte, v >> 8.",
        "bit_depth_below_8": "1-, 2- and 4-bit grey samples are scaled to 8 bit: v * 255 / (2^depth - 1) "
                             "(x255, x85, x17). Palette indices of any depth are looked up in the palette.",
        "alpha": "Dropped: the stored colour values are used as they are, never blended with a background "
                 "(RGBA, grey+alpha, palette tRNS alpha, tRNS colour keys).",
        "palette": "Index -> the palette's RGB entry.",
        "png_interlace": "Adam7 images are de-interlaced to the same pixels.",
        "jpeg": "Baseline and progressive Huffman-coded 8-bit JPEG with 1 (grey) or 3 components, decoded bit for "
                "bit as libjpeg-turbo does by default: the integer 'islow' inverse DCT with its range-limit table; "
                "'fancy' triangular chroma upsampling for 2x1 (4:2:2), 1x2 (4:4:0) and 2x2 (4:2:0) factors, plain "
                "replication for other factors (4:1:1, 4:1:0) and for chroma planes at most 2 samples wide; "
                "libjpeg's colour-space guess (JFIF or no marker: YCbCr; Adobe transform 0 or component ids "
                "'R','G','B': RGB) and the integer JFIF YCbCr->RGB tables of jdcolor.c. Decoders that differ by "
                "even 1-3 levels move scores by up to 0.03, stock decoders without these rules by up to 0.55, so "
                "JPEG vectors carry the same tolerance as PNG ones. Of the EXIF blocks, the first JPEG APP1 "
                "'Exif' segment counts. CMYK/YCCK, arithmetic-coded, lossless and 12-bit JPEG are outside the "
                "contract; so are files whose entropy-coded data is corrupt.",
    },
    "orientation": (
        "Only the EXIF Orientation tag (0x0112, IFD0) of the file's EXIF block is read: the first JPEG APP1 "
        "segment starting 'Exif\\0\\0', or the last PNG eXIf chunk (a TIFF header follows directly). The tag "
        "counts when its type is SHORT, LONG, SSHORT or SLONG (its first value). XMP tiff:Orientation, "
        "PNG text chunks and every other source are ignored. After decoding: 1 or absent or invalid: as "
        "stored; 2 mirror left-right; 3 rotate 180; 4 mirror top-bottom; 5 transpose (mirror across the "
        "top-left to bottom-right diagonal); 6 rotate 90 clockwise; 7 transverse (mirror across the "
        "top-right to bottom-left diagonal); 8 rotate 90 counter-clockwise. H and W below are those of the "
        "upright image."
    ),
    "pad": "If H < T or W < T, pad the bottom and/or the right to T by repeating the last row / column "
           "('edge'). Otherwise no padding. Hp, Wp: the padded size.",
    "tile_origins": "Per axis of length L (Hp or Wp): 0, s, 2s, ... while origin + T <= L (s = tile_stride), "
                    "then L - T if the last origin + T < L. Tiles: every (y, x) pair, rows first (y outer).",
    "scan": {
        "dense": "Score every tile of the tile_origins grid.",
        "coarse_to_fine": "Score the grid built with stride T (same rule), then every tile of the stride grid "
                          "that is not yet scored and overlaps (|dy| < T and |dx| < T) one of the refine_top "
                          "coarse tiles with the highest logits (ties: the earlier coarse tile in row-major "
                          "order first). Pool over all scored tiles.",
    },
    "input": "Each tile: x = float32(u) / float32(255) for uint8 u (IEEE single division; equal to the double "
             "u / 255 rounded to float32), layout NCHW, channel order RGB. Batches of any size give the "
             "same logits to float32 rounding (up to ~1e-6); the reference clients use batches of 8. Normalisation "
             "(mean, std) is inside the graph: a client must not apply it.",
    "run": "Feed the tensor named input_name; output_names[0] is the per-tile logit (N, 1) float32; 'mask', "
           "when present, is the per-pixel probability (N, 1, T, T).",
    "pool": "In float64 over the scored tiles' logits: max; mean; or topk = the mean of the min(topk, N) largest.",
    "size_correction": "In float64 with H, W of the upright image before padding: adjusted = pooled - "
                       "size_slope * ln(max(H * W, T * T) / size_reference_pixels).",
    "score": "In float64: score = 1 / (1 + exp(-adjusted / temperature)) (the reference clients use the "
             "numerically stable form, exp(x) / (1 + exp(x)) for x < 0; the two agree to float64 rounding); "
             "is_fake = score >= threshold.",
    "heatmap": "Optional. Blend the scored tiles' 'mask' maps with weight W[r, c] = float32(w(r) * w(c)), "
               "w(i) = 0.5 - 0.5 * cos(2 * pi * (i + 0.5) / T), i = 0..T-1 (r, c: row, column inside the tile): "
               "heatmap = sum(W * mask) / sum(W) over the tiles covering a pixel, cropped to H x W.",
}


def metadata_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the model metadata, as shipped in the package."""
    text = resources.files("fakedamage").joinpath("schemas", "model_metadata.schema.json").read_text("utf-8")
    return json.loads(text)


def validate_metadata(meta: Mapping[str, Any]) -> None:
    """Validate a metadata dict (:meth:`ModelMeta.to_dict`) against :func:`metadata_schema`.

    Raises:
        UsageError: naming the first offending field and what the schema wants.
    """
    import jsonschema

    from .errors import UsageError

    validator = jsonschema.Draft202012Validator(metadata_schema())
    errors = sorted(validator.iter_errors(dict(meta)), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise UsageError(f"model metadata does not follow the published schema at {where}: {e.message}; "
                         "fix the exporter (fakedamage/schemas/model_metadata.schema.json)")
