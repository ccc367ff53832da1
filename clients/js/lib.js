'use strict';
/**
 * fakedamage reference client for Node.js (>= 18).
 *
 * Scores an image with an exported fakedamage ONNX model exactly as the Python runtime
 * (`fakedamage.Detector`) does, following the normative scoring spec (`fakedamage.scoring_spec`,
 * spec_version 3; metadata format_version 1 to 3 are read, newer ones refused):
 *
 *   const { loadModel } = require('./lib');
 *   const model = await loadModel('model.onnx');          // one ONNX session: reuse it
 *   const r = await model.score('claim.jpg');              // a path, the file's bytes, or a decoded image
 *   // r = { score, isFake, threshold, logit, pooled, adjusted, nTiles, height, width }
 *
 * Dependencies (npm registry only, no native build step): onnxruntime-node (inference, CPU binaries
 * bundled), pngjs (PNG), jpeg-js (JPEG entropy decoding; the rest of JPEG decoding is done here as
 * libjpeg-turbo does it, see decodeJpeg).
 */
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { PNG } = require('pngjs');

/** Version of the scoring spec implemented; also the largest metadata format_version read. */
const SPEC_VERSION = 3;
const MAX_FORMAT_VERSION = 3;
/** Key of the JSON metadata entry in the ONNX file's metadata_props. */
const META_KEY = 'fakedamage';
/** Largest accepted width * height (Python's DEFAULT_MAX_PIXELS). */
const DEFAULT_MAX_PIXELS = 50000000;
/** Tiles per model run (Python's Detector default; the same batches give bit-identical logits). */
const DEFAULT_BATCH_SIZE = 8;
const REUPLOAD = 're-export or re-upload the full file';

/** An input could not be decoded; the message is one line naming the input. */
class ImageDecodeError extends Error {
  constructor(message) { super(message); this.name = 'ImageDecodeError'; }
}

/** The model file is missing, not ONNX, or not a usable fakedamage model; one-line message. */
class ModelLoadError extends Error {
  constructor(message) { super(message); this.name = 'ModelLoadError'; }
}

const oneLine = (s) => String(s).split(/\s+/).filter(Boolean).join(' ');

// ================================================================== ONNX metadata (protobuf)
// onnxruntime-node does not expose custom metadata, so the ModelProto is walked here: only its
// top-level fields, skipping everything but field 14 (metadata_props, repeated
// StringStringEntryProto {1: key, 2: value}); the graph is never turned into JS objects.

function readVarint(buf, pos) {
  let result = 0; let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('truncated protobuf varint');
    const b = buf[pos++];
    result += (b & 0x7f) * mul; // exact up to 2^53: enough for lengths and field keys
    if (!(b & 0x80)) return [result, pos];
    mul *= 128;
  }
  throw new Error('protobuf varint longer than 10 bytes');
}

/** Fields of one protobuf message as [fieldNumber, wireType, payload (Buffer for wire type 2)]. */
function* protoFields(buf, start = 0, end = buf.length) {
  let pos = start;
  while (pos < end) {
    let key; [key, pos] = readVarint(buf, pos);
    const field = Math.floor(key / 8); const wire = key % 8;
    if (wire === 0) { let v; [v, pos] = readVarint(buf, pos); yield [field, wire, v]; continue; }
    let len;
    if (wire === 1) len = 8;
    else if (wire === 5) len = 4;
    else if (wire === 2) [len, pos] = readVarint(buf, pos);
    else throw new Error(`unsupported protobuf wire type ${wire}`);
    if (pos + len > end) throw new Error('truncated protobuf field');
    yield [field, wire, wire === 2 ? buf.subarray(pos, pos + len) : null];
    pos += len;
  }
}

/** metadata_props of a serialized ONNX ModelProto as {key: value} (later duplicates win). */
function onnxMetadata(buf) {
  const out = {};
  for (const [field, wire, value] of protoFields(buf)) {
    if (field !== 14 || wire !== 2) continue;
    let key = ''; let val = '';
    for (const [f, w, v] of protoFields(value)) {
      if (w !== 2) continue;
      if (f === 1) key = v.toString('utf8'); else if (f === 2) val = v.toString('utf8');
    }
    out[key] = val;
  }
  return out;
}

// Defaults of fakedamage.meta.ModelMeta for keys an older file may lack.
const META_DEFAULTS = {
  tile_size: 128, tile_stride: 128, aggregation: 'max', topk: 2, scan: 'dense', refine_top: 8,
  size_slope: 0.0, size_reference_pixels: 65536, threshold: 0.5, temperature: 1.0, input_name: 'image',
  output_names: ['logit', 'prob', 'mask'], format_version: MAX_FORMAT_VERSION, input_layout: 'NCHW',
  input_dtype: 'float32', color_order: 'RGB',
};

/**
 * Check a metadata object (ModelMeta.to_dict()) and return the scoring parameters.
 * Unknown keys are ignored (the spec's compatibility rule); a format_version newer than
 * MAX_FORMAT_VERSION is refused.
 */
function parseMeta(raw, source = 'model') {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelLoadError(`${source}: '${META_KEY}' metadata is not a JSON object; re-export the model`);
  const m = { ...META_DEFAULTS, ...raw };
  const bad = (what) => new ModelLoadError(`${source}: invalid '${META_KEY}' metadata (${what}); re-export the model`);
  const fv = m.format_version;
  if (!Number.isInteger(fv) || fv < 1) throw bad(`format_version ${JSON.stringify(fv)}`);
  if (fv > MAX_FORMAT_VERSION) {
    throw new ModelLoadError(`${source}: model metadata format ${fv} is newer than this client implements (${MAX_FORMAT_VERSION}); upgrade the fakedamage JS client`);
  }
  const int = (k, min) => { if (!Number.isInteger(m[k]) || m[k] < min) throw bad(`${k} must be an integer >= ${min}, got ${JSON.stringify(m[k])}`); return m[k]; };
  const num = (k) => { if (typeof m[k] !== 'number' || !Number.isFinite(m[k])) throw bad(`${k} must be a number, got ${JSON.stringify(m[k])}`); return m[k]; };
  const tile = int('tile_size', 1); const stride = int('tile_stride', 1);
  if (stride > tile) throw bad(`tile_stride ${stride} > tile_size ${tile}`);
  if (!['max', 'mean', 'topk'].includes(m.aggregation)) throw bad(`unknown aggregation ${JSON.stringify(m.aggregation)}`);
  if (!['dense', 'coarse_to_fine'].includes(m.scan)) throw bad(`unknown scan ${JSON.stringify(m.scan)}`);
  const topk = int('topk', 1); const refineTop = int('refine_top', 0); const sizeRef = int('size_reference_pixels', 1);
  const sizeSlope = num('size_slope'); const threshold = num('threshold'); const temperature = num('temperature');
  if (sizeSlope < 0) throw bad('size_slope < 0');
  if (threshold < 0 || threshold > 1) throw bad(`threshold ${threshold} outside [0, 1]`);
  if (!(temperature > 0)) throw bad(`temperature ${temperature} <= 0`);
  if (m.input_layout !== 'NCHW' || m.input_dtype !== 'float32' || m.color_order !== 'RGB') {
    throw bad(`input ${m.input_layout}/${m.input_dtype}/${m.color_order}; this client reads NCHW float32 RGB`);
  }
  if (typeof m.input_name !== 'string' || !Array.isArray(m.output_names) || typeof m.output_names[0] !== 'string') throw bad('input_name / output_names');
  return {
    formatVersion: fv, tileSize: tile, tileStride: stride, scan: m.scan, refineTop, aggregation: m.aggregation, topk,
    sizeSlope, sizeReferencePixels: sizeRef, threshold, temperature, inputName: m.input_name,
    logitName: m.output_names[0], raw,
  };
}

/**
 * The fakedamage metadata of a model file: the ONNX metadata_props entry "fakedamage", or, only
 * when that is missing, the JSON sidecar beside the model (`model.onnx` -> `model.json`).
 */
function readModelMetadata(modelPath, modelBytes) {
  const bytes = modelBytes || fs.readFileSync(modelPath);
  let props;
  try {
    props = onnxMetadata(bytes);
  } catch (e) {
    throw new ModelLoadError(`${modelPath}: not an ONNX model (${e.message}); pass the .onnx written by \`fakedamage export\``);
  }
  let text = props[META_KEY]; let source = modelPath;
  if (!text) {
    const side = path.join(path.dirname(modelPath), `${path.basename(modelPath, path.extname(modelPath))}.json`);
    if (!fs.existsSync(side)) {
      throw new ModelLoadError(`${modelPath} is not a fakedamage model (no '${META_KEY}' metadata and no ${path.basename(side)} beside it); export it with \`fakedamage export\``);
    }
    text = fs.readFileSync(side, 'utf8'); source = side;
  }
  let raw;
  try { raw = JSON.parse(text); } catch (e) { throw new ModelLoadError(`${source}: '${META_KEY}' metadata is not JSON (${oneLine(e.message)}); re-export the model`); }
  return parseMeta(raw, source);
}

// ================================================================== EXIF orientation (spec: orientation)

/**
 * EXIF Orientation (tag 0x0112 in IFD0) of a TIFF block ('II' or 'MM' header); 1 when absent,
 * unreadable or not 1..8. Like Pillow (the Python client) it takes the first value of a SHORT, LONG,
 * SSHORT or SLONG entry (a count above 1 included) and treats other types as unreadable.
 */
function tiffOrientation(t) {
  if (!t || t.length < 8) return 1;
  const le = t[0] === 0x49 && t[1] === 0x49; const be = t[0] === 0x4d && t[1] === 0x4d;
  if (!le && !be) return 1;
  const u16 = (o) => (le ? t.readUInt16LE(o) : t.readUInt16BE(o));
  const u32 = (o) => (le ? t.readUInt32LE(o) : t.readUInt32BE(o));
  if (u16(2) !== 42) return 1;
  const ifd = u32(4);
  if (ifd < 8 || ifd + 2 > t.length) return 1;
  const n = u16(ifd);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > t.length) return 1;
    if (u16(e) !== 0x0112) continue;
    const type = u16(e + 2); const count = u32(e + 4);
    const size = { 3: 2, 4: 4, 8: 2, 9: 4 }[type];
    if (!size || count < 1) return 1;
    const at = count * size <= 4 ? e + 8 : u32(e + 8); // inline value, or an offset to the values
    if (at + size > t.length) return 1;
    let v;
    if (type === 3) v = u16(at);
    else if (type === 4) v = u32(at);
    else if (type === 8) v = le ? t.readInt16LE(at) : t.readInt16BE(at);
    else v = le ? t.readInt32LE(at) : t.readInt32BE(at);
    return v >= 1 && v <= 8 ? v : 1;
  }
  return 1;
}

// ================================================================== orientation, padding

/** Apply an EXIF orientation (2..8) to {width, height, data: HxWx3 RGB}. */
function orient(img, o) {
  if (!(o >= 2 && o <= 8)) return img;
  const { width: w, height: h, data } = img;
  const W = o >= 5 ? h : w; const H = o >= 5 ? w : h;
  const out = new Uint8Array(W * H * 3);
  // source pixel (sy, sx) of output pixel (y, x) = (a0 + ay*y + ax*x, b0 + by*y + bx*x)
  const maps = {
    2: [0, 1, 0, w - 1, 0, -1],           // mirror left-right
    3: [h - 1, -1, 0, w - 1, 0, -1],      // rotate 180
    4: [h - 1, -1, 0, 0, 0, 1],           // mirror top-bottom
    5: [0, 0, 1, 0, 1, 0],                // transpose
    6: [h - 1, 0, -1, 0, 1, 0],           // rotate 90 clockwise
    7: [h - 1, 0, -1, w - 1, -1, 0],      // transverse
    8: [0, 0, 1, w - 1, -1, 0],           // rotate 90 counter-clockwise
  };
  const [a0, ay, ax, b0, by, bx] = maps[o];
  let d = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const s = ((a0 + ay * y + ax * x) * w + (b0 + by * y + bx * x)) * 3;
      out[d++] = data[s]; out[d++] = data[s + 1]; out[d++] = data[s + 2];
    }
  }
  return { width: W, height: H, data: out };
}

/** Spec 'pad': bottom/right to T by repeating the last row/column ('edge') when H < T or W < T. */
function padToTile(img, T) {
  const { width: w, height: h, data } = img;
  if (w >= T && h >= T) return img;
  const W = Math.max(w, T); const H = Math.max(h, T);
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(y, h - 1);
    out.set(data.subarray(sy * w * 3, (sy + 1) * w * 3), y * W * 3);
    const last = (sy * w + w - 1) * 3;
    for (let x = w; x < W; x++) {
      const d = (y * W + x) * 3;
      out[d] = data[last]; out[d + 1] = data[last + 1]; out[d + 2] = data[last + 2];
    }
  }
  return { width: W, height: H, data: out };
}

// ================================================================== PNG (pngjs)

const PNG_SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Walk the chunks of a PNG: IHDR fields, the eXIf payload, and whether tRNS chunks are present. */
function pngChunks(buf) {
  const info = { width: 0, height: 0, depth: 0, colorType: -1, exif: null, hasTRNS: false, ended: true };
  let pos = 8;
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32BE(pos); const type = buf.toString('latin1', pos + 4, pos + 8);
    const body = buf.subarray(pos + 8, Math.min(buf.length, pos + 8 + len));
    if (type === 'IHDR' && body.length >= 13) {
      info.width = body.readUInt32BE(0); info.height = body.readUInt32BE(4);
      info.depth = body[8]; info.colorType = body[9];
    } else if (type === 'eXIf') {
      info.exif = body; // Pillow keeps the last eXIf chunk, before or after IDAT
    } else if (type === 'tRNS') {
      info.hasTRNS = true;
    } else if (type === 'IEND') {
      info.ended = false;
      break;
    }
    pos += 12 + len;
  }
  return info;
}

/** The PNG without its tRNS chunks (whole chunks removed, so every CRC stays valid). */
function withoutTRNS(buf) {
  const parts = [buf.subarray(0, 8)];
  let pos = 8;
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32BE(pos); const type = buf.toString('latin1', pos + 4, pos + 8);
    const end = Math.min(buf.length, pos + 12 + len);
    if (type !== 'tRNS') parts.push(buf.subarray(pos, end));
    pos = end;
    if (type === 'IEND') break;
  }
  if (pos < buf.length) parts.push(buf.subarray(pos));
  return Buffer.concat(parts);
}

function decodePng(buf, name, maxPixels) {
  const info = pngChunks(buf);
  if (!info.width && info.ended) throw new ImageDecodeError(`${name}: truncated PNG (file ends early); ${REUPLOAD}`);
  checkSize(name, 'PNG', info.width, info.height, maxPixels);
  // tRNS only carries alpha, which the spec drops; pngjs would zero the colour of pixels matching a
  // tRNS colour key (grey / RGB images), so the chunk is removed before decoding.
  const src = info.hasTRNS ? withoutTRNS(buf) : buf;
  let png;
  try {
    png = PNG.sync.read(src, { skipRescale: true });
  } catch (e) {
    const detail = oneLine(e.message || e);
    if (/end of input|unexpected end|truncat|premature|invalid inflate|unexpected eof|read requests waiting|finished stream/i.test(detail)) {
      throw new ImageDecodeError(`${name}: truncated PNG (file ends early); ${REUPLOAD}`);
    }
    throw new ImageDecodeError(`${name}: corrupt PNG data (${detail}); ${REUPLOAD}`);
  }
  // pngjs gives RGBA samples (grey replicated, palette looked up); with skipRescale 16-bit samples
  // arrive raw (Uint16Array) and 1/2/4-bit grey as 0..2^d-1.
  const { width, height, data, depth, colorType } = png;
  const n = width * height; const rgb = new Uint8Array(n * 3);
  const grey = colorType === 0 || colorType === 4;
  if (depth === 16) {
    for (let i = 0; i < n; i++) { // the high byte, v >> 8
      rgb[i * 3] = data[i * 4] >> 8; rgb[i * 3 + 1] = data[i * 4 + 1] >> 8; rgb[i * 3 + 2] = data[i * 4 + 2] >> 8;
    }
  } else if (grey && depth < 8) {
    const scale = 255 / ((1 << depth) - 1); // 255, 85, 17: exact
    for (let i = 0; i < n; i++) {
      const v = data[i * 4] * scale; rgb[i * 3] = v; rgb[i * 3 + 1] = v; rgb[i * 3 + 2] = v;
    }
  } else {
    for (let i = 0; i < n; i++) { // alpha (i * 4 + 3) dropped, never blended
      rgb[i * 3] = data[i * 4]; rgb[i * 3 + 1] = data[i * 4 + 1]; rgb[i * 3 + 2] = data[i * 4 + 2];
    }
  }
  return { width, height, data: rgb, orientation: tiffOrientation(info.exif) };
}

// ================================================================== JPEG (jpeg-js + libjpeg-turbo's rules)
// jpeg-js parses the file and entropy-decodes the DCT coefficients. Everything after that is done
// here exactly as libjpeg-turbo does it by default (the spec's JPEG rule, what Pillow gives Python):
// the integer 'islow' inverse DCT (jidctint.c, with its range-limit table), 'fancy' chroma
// upsampling (jdsample.c: h2v1, h1v2, h2v2 triangular filters; replication for other integral
// factors) and the integer JFIF YCbCr->RGB tables (jdcolor.c). jpeg-js does not export its decoder
// class, so it is built from the package source with three small edits (jpegImageClass: the plane
// builder swapped for islowPlane, frame fields exposed, a restart-interval bug fixed); the jpeg-js
// version is pinned in package-lock.json and a changed source is refused.

const CONST_BITS = 13; const PASS1_BITS = 2;
const F0298 = 2446; const F0390 = 3196; const F0541 = 4433; const F0765 = 6270; const F0899 = 7373;
const F1175 = 9633; const F1501 = 12299; const F1847 = 15137; const F1961 = 16069; const F2053 = 16819;
const F2562 = 20995; const F3072 = 25172;
// DESCALE of jidctint.c, on 64-bit integers (JLONG) there: a 32-bit shift when the sum fits (always,
// for real files), else an exact division in doubles, so nothing wraps around.
const descale = (x, n) => {
  const y = x + (1 << (n - 1));
  return y >= -2147483648 && y <= 2147483647 ? y >> n : Math.floor(y / 2 ** n);
};
// libjpeg's post-IDCT range limit: sample = table[(x + CENTERJSAMPLE) & 1023] (jdmaster.c prepare_range_limit_table)
const RANGE = new Uint8Array(1024);
for (let i = 0; i < 1024; i++) {
  const x = i < 512 ? i : i - 1024; // x = value - CENTERJSAMPLE, wrapped to 10 bits
  RANGE[(i + 128) & 1023] = x < -128 ? 0 : x > 127 ? 255 : x + 128;
}

/** Pass-2 output: descale by CONST_BITS + PASS1_BITS + 3 and range-limit. */
const rangeLimit = (x) => RANGE[(descale(x, CONST_BITS + PASS1_BITS + 3) + 128) & 1023];

/** jpeg_idct_islow: one 8x8 block (natural-order coefficients, quantisation table) -> 64 samples. */
function idctIslow(coef, qt, out, ws) {
  for (let c = 0; c < 8; c++) { // pass 1: columns; results scaled up by 2^PASS1_BITS
    if (!coef[8 + c] && !coef[16 + c] && !coef[24 + c] && !coef[32 + c] && !coef[40 + c] && !coef[48 + c] && !coef[56 + c]) {
      const dc = (coef[c] * qt[c]) * (1 << PASS1_BITS);
      for (let r = 0; r < 8; r++) ws[r * 8 + c] = dc;
      continue;
    }
    let z2 = coef[16 + c] * qt[16 + c]; let z3 = coef[48 + c] * qt[48 + c];
    let z1 = (z2 + z3) * F0541;
    let tmp2 = z1 + z3 * -F1847; let tmp3 = z1 + z2 * F0765;
    z2 = coef[c] * qt[c]; z3 = coef[32 + c] * qt[32 + c];
    let tmp0 = (z2 + z3) * (1 << CONST_BITS); let tmp1 = (z2 - z3) * (1 << CONST_BITS);
    const tmp10 = tmp0 + tmp3; const tmp13 = tmp0 - tmp3; const tmp11 = tmp1 + tmp2; const tmp12 = tmp1 - tmp2;
    tmp0 = coef[56 + c] * qt[56 + c]; tmp1 = coef[40 + c] * qt[40 + c];
    tmp2 = coef[24 + c] * qt[24 + c]; tmp3 = coef[8 + c] * qt[8 + c];
    z1 = tmp0 + tmp3; z2 = tmp1 + tmp2; z3 = tmp0 + tmp2; let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * F1175;
    tmp0 *= F0298; tmp1 *= F2053; tmp2 *= F3072; tmp3 *= F1501;
    z1 *= -F0899; z2 *= -F2562; z3 *= -F1961; z4 *= -F0390;
    z3 += z5; z4 += z5;
    tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4;
    const n = CONST_BITS - PASS1_BITS;
    ws[c] = descale(tmp10 + tmp3, n); ws[56 + c] = descale(tmp10 - tmp3, n);
    ws[8 + c] = descale(tmp11 + tmp2, n); ws[48 + c] = descale(tmp11 - tmp2, n);
    ws[16 + c] = descale(tmp12 + tmp1, n); ws[40 + c] = descale(tmp12 - tmp1, n);
    ws[24 + c] = descale(tmp13 + tmp0, n); ws[32 + c] = descale(tmp13 - tmp0, n);
  }
  for (let r = 0; r < 8; r++) { // pass 2: rows
    const o = r * 8;
    if (!ws[o + 1] && !ws[o + 2] && !ws[o + 3] && !ws[o + 4] && !ws[o + 5] && !ws[o + 6] && !ws[o + 7]) {
      const v = RANGE[(descale(ws[o], PASS1_BITS + 3) + 128) & 1023];
      for (let k = 0; k < 8; k++) out[o + k] = v;
      continue;
    }
    let z2 = ws[o + 2]; let z3 = ws[o + 6];
    let z1 = (z2 + z3) * F0541;
    let tmp2 = z1 + z3 * -F1847; let tmp3 = z1 + z2 * F0765;
    let tmp0 = (ws[o] + ws[o + 4]) * (1 << CONST_BITS); let tmp1 = (ws[o] - ws[o + 4]) * (1 << CONST_BITS);
    const tmp10 = tmp0 + tmp3; const tmp13 = tmp0 - tmp3; const tmp11 = tmp1 + tmp2; const tmp12 = tmp1 - tmp2;
    tmp0 = ws[o + 7]; tmp1 = ws[o + 5]; tmp2 = ws[o + 3]; tmp3 = ws[o + 1];
    z1 = tmp0 + tmp3; z2 = tmp1 + tmp2; z3 = tmp0 + tmp2; let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * F1175;
    tmp0 *= F0298; tmp1 *= F2053; tmp2 *= F3072; tmp3 *= F1501;
    z1 *= -F0899; z2 *= -F2562; z3 *= -F1961; z4 *= -F0390;
    z3 += z5; z4 += z5;
    tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4;
    out[o] = rangeLimit(tmp10 + tmp3); out[o + 7] = rangeLimit(tmp10 - tmp3);
    out[o + 1] = rangeLimit(tmp11 + tmp2); out[o + 6] = rangeLimit(tmp11 - tmp2);
    out[o + 2] = rangeLimit(tmp12 + tmp1); out[o + 5] = rangeLimit(tmp12 - tmp1);
    out[o + 3] = rangeLimit(tmp13 + tmp0); out[o + 4] = rangeLimit(tmp13 - tmp0);
  }
}

/** A component's samples as one plane {stride, rows, data}, the blocks run through idctIslow. */
function islowPlane(frame, component) {
  const bpl = component.blocksPerLine; const bpc = component.blocksPerColumn; const stride = bpl * 8;
  const qt = component.quantizationTable;
  if (!qt) throw new Error('a component has no quantisation table');
  const data = new Uint8Array(stride * bpc * 8); const out = new Uint8Array(64); const ws = new Int32Array(64);
  for (let br = 0; br < bpc; br++) {
    const row = component.blocks[br];
    for (let bc = 0; bc < bpl; bc++) {
      idctIslow(row[bc], qt, out, ws);
      for (let j = 0; j < 8; j++) data.set(out.subarray(j * 8, j * 8 + 8), (br * 8 + j) * stride + bc * 8);
    }
  }
  component.blocks = null; // the coefficients are no longer needed: free them early
  return { stride, rows: bpc * 8, data };
}

let JpegImageClass = null;
function jpegImageClass() {
  if (JpegImageClass) return JpegImageClass;
  const file = require.resolve('jpeg-js/lib/decoder.js');
  const src = fs.readFileSync(file, 'utf8');
  const hooks = [
    ['lines: buildComponentData(frame, component),',
      'plane: islowPlane(frame, component), h: component.h, v: component.v, id: frame.componentsOrder[i],'],
    ['this.adobe = adobe;', 'this.adobe = adobe; this.precision = frame.precision; this.maxH = frame.maxH; this.maxV = frame.maxV;'],
    // a non-interleaved scan whose restart interval does not divide its block count (e.g. progressive
    // JPEG with restarts every N rows): stop at the last block, as the interleaved loop already does
    ['          decodeBlock(component, decodeFn, mcu);\n          mcu++;\n',
      '          decodeBlock(component, decodeFn, mcu);\n          mcu++;\n          if (mcu === mcuExpected) break;\n'],
  ];
  let patched = src;
  for (const [from, to] of hooks) {
    if (patched.split(from).length !== 2) throw new Error(`unexpected jpeg-js source in ${file}; reinstall the pinned version (npm ci)`);
    patched = patched.replace(from, to);
  }
  const mod = { exports: {} };
  // eslint-disable-next-line no-new-func
  JpegImageClass = new Function('module', 'exports', 'require', 'Buffer', 'islowPlane', `${patched}\nreturn JpegImage;`)(
    mod, mod.exports, require, Buffer, islowPlane);
  return JpegImageClass;
}

// jdcolor.c: JFIF YCbCr -> RGB with 16-bit fixed-point tables.
const SCALEBITS = 16; const ONE_HALF = 1 << (SCALEBITS - 1);
const FIX = (x) => Math.floor(x * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256); const CB_B = new Int32Array(256); const CR_G = new Int32Array(256); const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (FIX(1.40200) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (FIX(1.77200) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -FIX(0.71414) * x;
  CB_G[i] = -FIX(0.34414) * x + ONE_HALF;
}
const clamp8 = (v) => (v < 0 ? 0 : v > 255 ? 255 : v);

/**
 * One component upsampled to the image size W x H as libjpeg-turbo's jdsample.c does with its
 * default do_fancy_upsampling: h2v1 / h2v2 triangular filters when the component is more than 2
 * samples wide (else replication), h1v2 triangular filter, replication for other integral factors.
 * Rows above the first / below the last are the first / last real rows (jdmainct.c context rows).
 */
function upsample(comp, W, H, maxH, maxV) {
  const { stride, data } = comp.plane;
  const cw = Math.ceil((W * comp.h) / maxH); const ch = Math.ceil((H * comp.v) / maxV); // downsampled size
  const out = new Uint8Array(W * H);
  if (maxH % comp.h || maxV % comp.v) throw new Error('fractional chroma sampling is not supported');
  const fx = maxH / comp.h; const fy = maxV / comp.v;
  const at = (r, c) => data[r * stride + c];
  if (fx === 1 && fy === 1) {
    for (let y = 0; y < H; y++) out.set(data.subarray(y * stride, y * stride + W), y * W);
  } else if (fx === 2 && fy === 1 && cw > 2) { // h2v1_fancy_upsample
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const ix = x >> 1; const v3 = 3 * at(y, ix);
        if (x & 1) out[y * W + x] = ix + 1 < cw ? (v3 + at(y, ix + 1) + 2) >> 2 : at(y, ix);
        else out[y * W + x] = ix > 0 ? (v3 + at(y, ix - 1) + 1) >> 2 : at(y, ix);
      }
    }
  } else if (fx === 1 && fy === 2) { // h1v2_fancy_upsample
    for (let y = 0; y < H; y++) {
      const iy = y >> 1; const ny = (y & 1) ? Math.min(iy + 1, ch - 1) : Math.max(iy - 1, 0); const bias = (y & 1) ? 2 : 1;
      for (let x = 0; x < W; x++) out[y * W + x] = (3 * at(iy, x) + at(ny, x) + bias) >> 2;
    }
  } else if (fx === 2 && fy === 2 && cw > 2) { // h2v2_fancy_upsample
    const colsum = new Int32Array(cw);
    for (let y = 0; y < H; y++) {
      const iy = y >> 1; const ny = (y & 1) ? Math.min(iy + 1, ch - 1) : Math.max(iy - 1, 0);
      for (let c = 0; c < cw; c++) colsum[c] = 3 * at(iy, c) + at(ny, c);
      for (let x = 0; x < W; x++) {
        const ix = x >> 1; const t3 = 3 * colsum[ix];
        if (x & 1) out[y * W + x] = ix + 1 < cw ? (t3 + colsum[ix + 1] + 7) >> 4 : (colsum[ix] * 4 + 7) >> 4;
        else out[y * W + x] = ix > 0 ? (t3 + colsum[ix - 1] + 8) >> 4 : (colsum[ix] * 4 + 8) >> 4;
      }
    }
  } else { // int_upsample / h2v1_upsample / h2v2_upsample: replication
    for (let y = 0; y < H; y++) {
      const r = Math.floor(y / fy) * stride;
      for (let x = 0; x < W; x++) out[y * W + x] = data[r + Math.floor(x / fx)];
    }
  }
  return out;
}

/** Markers before the first scan: frame size, JFIF / Adobe markers (as libjpeg reads them), EXIF. */
function jpegHeader(buf) {
  const info = { width: 0, height: 0, components: 0, sof: 0, jfif: false, adobe: -1, exif: null, ended: true };
  let pos = 2;
  while (pos + 4 <= buf.length) {
    if (buf[pos] !== 0xff) { pos++; continue; } // garbage between markers (libjpeg skips it with a warning)
    const marker = buf[pos + 1];
    if (marker === 0xff) { pos++; continue; } // fill byte
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { pos += 2; continue; }
    if (marker === 0xda || marker === 0xd9) { info.ended = false; break; } // start of scan / end of image
    const len = buf.readUInt16BE(pos + 2);
    const seg = buf.subarray(pos + 4, Math.min(buf.length, pos + 2 + len)); // segment data after the length
    if (marker === 0xe0 && seg.length >= 14 && seg.toString('latin1', 0, 5) === 'JFIF\0') info.jfif = true;
    else if (marker === 0xee && seg.length >= 12 && seg.toString('latin1', 0, 5) === 'Adobe') info.adobe = seg[11];
    else if (marker === 0xe1 && info.exif === null && seg.length >= 6 && seg.toString('latin1', 0, 6) === 'Exif\0\0') {
      info.exif = seg.subarray(6); // the first APP1 'Exif' segment's TIFF block (Pillow appends later ones to it)
    } else if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc && seg.length >= 6) {
      info.sof = marker; info.height = seg.readUInt16BE(1); info.width = seg.readUInt16BE(3); info.components = seg[5];
    }
    pos += 2 + len;
  }
  return info;
}

function decodeJpeg(buf, name, maxPixels) {
  const hdr = jpegHeader(buf);
  if (!hdr.sof && hdr.ended) throw new ImageDecodeError(`${name}: truncated JPEG (file ends early); ${REUPLOAD}`);
  if (!hdr.sof) throw new ImageDecodeError(`${name}: corrupt JPEG (no frame header before the image data); ${REUPLOAD}`);
  if (hdr.sof !== 0xc0 && hdr.sof !== 0xc1 && hdr.sof !== 0xc2) {
    const kind = { 0xc3: 'lossless', 0xc9: 'arithmetic-coded', 0xca: 'arithmetic-coded progressive', 0xcb: 'arithmetic-coded lossless' }[hdr.sof] || 'hierarchical or lossless';
    throw new ImageDecodeError(`${name}: ${kind} JPEG is outside the scoring spec's contract (baseline and progressive Huffman JPEG); convert it to PNG`);
  }
  checkSize(name, 'JPEG', hdr.width, hdr.height, maxPixels);
  if (hdr.components !== 1 && hdr.components !== 3) {
    throw new ImageDecodeError(`${name}: ${hdr.components}-component (CMYK / YCCK) JPEG is outside the scoring spec's contract; convert it to RGB`);
  }
  const JpegImage = jpegImageClass();
  const d = new JpegImage();
  d.opts = { colorTransform: undefined, useTArray: true, formatAsRGBA: false, tolerantDecoding: false,
    maxResolutionInMP: Math.ceil(maxPixels / 1e6) + 1, maxMemoryUsageInMB: 8192 };
  JpegImage.resetMaxMemoryUsage(8192 * 1024 * 1024);
  try {
    d.parse(new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
  } catch (e) {
    if (buf[buf.length - 2] !== 0xff || buf[buf.length - 1] !== 0xd9) { // no end-of-image marker
      throw new ImageDecodeError(`${name}: truncated JPEG (file ends early); ${REUPLOAD}`);
    }
    const detail = oneLine(e.message || e).replace(/\bat\b/g, 'near');
    throw new ImageDecodeError(`${name}: corrupt JPEG data (${detail}); ${REUPLOAD}`);
  }
  if (d.precision !== 8) throw new ImageDecodeError(`${name}: ${d.precision}-bit JPEG is outside the scoring spec's contract (8-bit samples); convert it to PNG`);
  const W = d.width; const H = d.height; const comps = d.components;
  const rgb = new Uint8Array(W * H * 3);
  try {
    if (comps.length === 1) {
      const g = upsample(comps[0], W, H, d.maxH, d.maxV);
      for (let i = 0; i < W * H; i++) { rgb[i * 3] = g[i]; rgb[i * 3 + 1] = g[i]; rgb[i * 3 + 2] = g[i]; }
    } else {
      // libjpeg's colour space guess (jdapimin.c default_decompress_parms): JFIF -> YCbCr; else Adobe
      // transform 0 -> RGB, other -> YCbCr; else component ids 'R','G','B' -> RGB, anything else YCbCr.
      let ycc = true;
      if (!hdr.jfif) {
        if (hdr.adobe >= 0) ycc = hdr.adobe !== 0;
        else ycc = !(comps[0].id === 0x52 && comps[1].id === 0x47 && comps[2].id === 0x42);
      }
      const [c0, c1, c2] = comps.map((c) => upsample(c, W, H, d.maxH, d.maxV));
      for (let i = 0, o = 0; i < W * H; i++, o += 3) {
        if (!ycc) { rgb[o] = c0[i]; rgb[o + 1] = c1[i]; rgb[o + 2] = c2[i]; continue; }
        const y = c0[i]; const cb = c1[i]; const cr = c2[i];
        rgb[o] = clamp8(y + CR_R[cr]);
        rgb[o + 1] = clamp8(y + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS));
        rgb[o + 2] = clamp8(y + CB_B[cb]);
      }
    }
  } catch (e) {
    throw new ImageDecodeError(`${name}: unsupported JPEG (${oneLine(e.message || e)}); convert it to PNG`);
  }
  return { width: W, height: H, data: rgb, orientation: tiffOrientation(hdr.exif) };
}

// ================================================================== decode (spec: decode, orientation)

function checkSize(name, fmt, w, h, maxPixels) {
  if (!(w > 0 && h > 0)) throw new ImageDecodeError(`${name}: ${fmt} has zero size (${w}x${h}) or a broken header; re-export the image`);
  if (w * h > maxPixels) {
    throw new ImageDecodeError(`${name}: image is ${w}x${h} = ${(w * h).toLocaleString('en-US')} pixels, over the limit of ${maxPixels.toLocaleString('en-US')}; downscale it or raise maxPixels if the file is trusted`);
  }
}

/**
 * Decode PNG or JPEG bytes into the upright image {width, height, data: Uint8Array H x W x 3 RGB,
 * orientation (the EXIF value applied)}. Throws ImageDecodeError (one line naming the input).
 */
function decodeImage(buf, { name = '<bytes>', maxPixels = DEFAULT_MAX_PIXELS } = {}) {
  if (!buf || buf.length === 0) throw new ImageDecodeError(`${name}: empty input (0 bytes); ${REUPLOAD}`);
  if (!Buffer.isBuffer(buf)) buf = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let img;
  if (buf.length >= 8 && buf.subarray(0, 8).equals(PNG_SIG)) img = decodePng(buf, name, maxPixels);
  else if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) img = decodeJpeg(buf, name, maxPixels);
  else throw new ImageDecodeError(`${name}: not a PNG or JPEG file (this client reads the two formats of the scoring spec's contract); convert it to PNG or JPEG`);
  const up = orient(img, img.orientation);
  return { width: up.width, height: up.height, data: up.data, orientation: img.orientation };
}

/** SHA-256 (hex) of the H x W x 3 RGB bytes, as the conformance vectors' decoded.rgb_sha256. */
function rgbSha256(img) {
  return crypto.createHash('sha256').update(img.data).digest('hex');
}

// ================================================================== tiles, scan, pool (spec: tile_origins .. score)

/** Tile starts along one axis of length L: 0, s, 2s, ... while start + T <= L, then L - T. */
function axisOrigins(L, T, s) {
  if (L <= T) return [0];
  const o = [];
  for (let v = 0; v + T <= L; v += s) o.push(v);
  if (o[o.length - 1] !== L - T) o.push(L - T);
  return o;
}

/** Row-major [y, x] tile origins of a (padded) Hp x Wp image. */
function tileOrigins(H, W, T, s) {
  const out = [];
  for (const y of axisOrigins(H, T, s)) for (const x of axisOrigins(W, T, s)) out.push([y, x]);
  return out;
}

/**
 * coarse_to_fine: stride-grid origins overlapping one of the `top` highest coarse tiles (stable sort
 * of the coarse logits, descending; ties: the earlier coarse tile first; NaN last, as numpy) that are
 * not coarse tiles themselves, in row-major order.
 */
function refineOrigins(coarse, coarseLogits, H, W, T, s, top) {
  if (top <= 0 || coarse.length === 0) return [];
  const key = (v) => (Number.isNaN(v) ? -Infinity : v);
  const order = coarse.map((_, i) => i).sort((a, b) => {
    const na = Number.isNaN(coarseLogits[a]); const nb = Number.isNaN(coarseLogits[b]);
    if (na !== nb) return na ? 1 : -1;
    return (key(coarseLogits[b]) - key(coarseLogits[a])) || (a - b);
  }).slice(0, top);
  const ys = axisOrigins(H, T, s); const xs = axisOrigins(W, T, s);
  const key1 = (y, x) => y * (W + 1) + x;
  const done = new Set(coarse.map(([y, x]) => key1(y, x)));
  const wanted = new Map();
  for (const i of order) {
    const [by, bx] = coarse[i];
    for (const y of ys) {
      if (Math.abs(y - by) >= T) continue;
      for (const x of xs) {
        const k = key1(y, x);
        if (Math.abs(x - bx) < T && !done.has(k)) wanted.set(k, [y, x]);
      }
    }
  }
  return [...wanted.values()].sort((a, b) => (a[0] - b[0]) || (a[1] - b[1]));
}

/** numpy's pairwise summation of float64 (np.add.reduce / mean), for bit-identical means. */
function pairwiseSum(a, lo = 0, n = a.length) {
  if (n < 8) {
    let res = 0;
    for (let i = lo; i < lo + n; i++) res += a[i];
    return res;
  }
  if (n <= 128) {
    const r = a.slice(lo, lo + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[lo + i + j];
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[lo + i];
    return res;
  }
  let n2 = Math.floor(n / 2); n2 -= n2 % 8;
  return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
}

/** Spec 'pool' in float64: max; mean; topk = mean of the min(topk, N) largest. */
function poolLogits(logits, aggregation, topk) {
  if (logits.length === 0) throw new Error('no tile logits to pool');
  if (aggregation === 'max') {
    let m = -Infinity;
    for (const v of logits) { if (Number.isNaN(v)) return NaN; if (v > m) m = v; }
    return m;
  }
  if (aggregation === 'mean') return pairwiseSum(logits) / logits.length;
  if (aggregation === 'topk') {
    const k = Math.min(Math.max(1, topk), logits.length);
    const top = Float64Array.from(logits).sort().slice(logits.length - k); // ascending, as np.sort(x)[-k:]
    return pairwiseSum(top) / k;
  }
  throw new Error(`unknown aggregation ${aggregation}`);
}

/** Spec 'size_correction': size_slope * ln(max(H * W, T * T) / size_reference_pixels), 0 for slope 0. */
function sizeCorrection(H, W, T, slope, reference) {
  if (!slope) return 0;
  return slope * Math.log(Math.max(H * W, T * T) / reference);
}

/** Logistic function in float64, in the numerically stable form of the Python runtime. */
function sigmoid(x) {
  const e = Math.exp(-Math.abs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

// ================================================================== the model

class Model {
  constructor(session, meta, ort, { batchSize = DEFAULT_BATCH_SIZE, maxPixels = DEFAULT_MAX_PIXELS, threshold } = {}) {
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`batchSize must be an integer >= 1, got ${batchSize}`);
    if (threshold !== undefined && threshold !== null && !(threshold >= 0 && threshold <= 1)) throw new Error(`threshold must be in [0, 1], got ${threshold}`);
    this.session = session; this.meta = meta; this.ort = ort;
    this.batchSize = batchSize; this.maxPixels = maxPixels;
    this.threshold = threshold === undefined || threshold === null ? meta.threshold : threshold;
  }

  /** Raw tile logits (float64 numbers) of `origins` in a padded image, batchSize tiles per run. */
  async runTiles(img, origins) {
    const T = this.meta.tileSize; const { width: W, data } = img; const TT = T * T;
    const logits = [];
    for (let b = 0; b < origins.length; b += this.batchSize) {
      const batch = origins.slice(b, b + this.batchSize);
      const x = new Float32Array(batch.length * 3 * TT);
      for (let n = 0; n < batch.length; n++) {
        const [oy, ox] = batch[n];
        for (let c = 0; c < 3; c++) {
          const base = (n * 3 + c) * TT;
          for (let y = 0; y < T; y++) {
            const row = ((oy + y) * W + ox) * 3 + c; const o = base + y * T;
            for (let xx = 0; xx < T; xx++) x[o + xx] = data[row + xx * 3] / 255; // float32(u / 255): the spec's input
          }
        }
      }
      const feeds = { [this.meta.inputName]: new this.ort.Tensor('float32', x, [batch.length, 3, T, T]) };
      const out = await this.session.run(feeds, [this.meta.logitName]);
      const got = out[this.meta.logitName].data;
      if (got.length !== batch.length) throw new Error(`model output '${this.meta.logitName}' has ${got.length} values for ${batch.length} tiles; expected one logit per tile`);
      for (const v of got) logits.push(v);
    }
    return logits;
  }

  /** Scan a decoded upright image: {logits, origins, pooled, adjusted} (no temperature, no verdict). */
  async scan(img) {
    const m = this.meta; const T = m.tileSize;
    const padded = padToTile(img, T);
    const Hp = padded.height; const Wp = padded.width;
    let logits; let origins;
    if (m.scan === 'coarse_to_fine') {
      const coarse = tileOrigins(Hp, Wp, T, T);
      const cl = await this.runTiles(padded, coarse);
      const fine = refineOrigins(coarse, cl, Hp, Wp, T, m.tileStride, m.refineTop);
      logits = cl.concat(await this.runTiles(padded, fine));
      origins = coarse.concat(fine);
    } else {
      origins = tileOrigins(Hp, Wp, T, m.tileStride);
      logits = await this.runTiles(padded, origins);
    }
    const pooled = poolLogits(logits, m.aggregation, m.topk);
    const adjusted = pooled - sizeCorrection(img.height, img.width, T, m.sizeSlope, m.sizeReferencePixels);
    return { logits, origins, pooled, adjusted };
  }

  /**
   * Score one image: a path (string), the encoded file (Buffer / Uint8Array), or a decoded upright
   * image {width, height, data: H x W x 3 RGB Uint8Array}. Returns
   * {score, isFake, threshold, logit, pooled, adjusted, nTiles, height, width}; throws
   * ImageDecodeError for an input that cannot be decoded.
   */
  async score(input, name) {
    let img;
    if (typeof input === 'string') {
      name = name || input;
      let bytes;
      try { bytes = fs.readFileSync(input); } catch (e) {
        const why = e.code === 'ENOENT' ? 'file not found; check the path' : e.code === 'EISDIR' ? 'is a directory, not an image file' : e.code === 'EACCES' ? 'permission denied; make the file readable' : `cannot read file (${e.code || oneLine(e.message)})`;
        throw new ImageDecodeError(`${input}: ${why}`);
      }
      img = decodeImage(bytes, { name, maxPixels: this.maxPixels });
    } else if (Buffer.isBuffer(input) || input instanceof Uint8Array) {
      img = decodeImage(input, { name: name || '<bytes>', maxPixels: this.maxPixels });
    } else if (input && input.data && input.width > 0 && input.height > 0 && input.data.length === input.width * input.height * 3) {
      img = input;
    } else {
      throw new ImageDecodeError(`${name || '<input>'}: unsupported input; pass a path, the file's bytes or {width, height, data: HxWx3 RGB}`);
    }
    const res = await this.scan(img);
    const logit = res.adjusted / this.meta.temperature;
    const score = sigmoid(logit);
    return {
      score, isFake: score >= this.threshold, threshold: this.threshold, logit, pooled: res.pooled, adjusted: res.adjusted,
      nTiles: res.logits.length, height: img.height, width: img.width,
    };
  }

  /** Release the ONNX session. */
  async release() { if (this.session && this.session.release) await this.session.release(); }
}

/**
 * Load an exported fakedamage model. Options: batchSize (8), maxPixels (50e6), threshold (override
 * of the model's), sessionOptions (passed to onnxruntime-node; CPU execution provider by default).
 */
async function loadModel(modelPath, options = {}) {
  const ort = require('onnxruntime-node');
  let bytes;
  try { bytes = fs.readFileSync(modelPath); } catch (e) {
    throw new ModelLoadError(`${modelPath}: ${e.code === 'ENOENT' ? 'model file not found' : `cannot read the model (${e.code || oneLine(e.message)})`}; pass the .onnx written by \`fakedamage export\``);
  }
  const meta = readModelMetadata(modelPath, bytes);
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 3, ...(options.sessionOptions || {}) });
  } catch (e) {
    throw new ModelLoadError(`${modelPath}: not a loadable ONNX model (${oneLine(e.message).slice(0, 200)}); re-export it with \`fakedamage export\``);
  }
  if (!session.inputNames.includes(meta.inputName)) throw new ModelLoadError(`${modelPath}: model has no input '${meta.inputName}' (inputs: ${session.inputNames.join(', ')}); re-export it`);
  if (!session.outputNames.includes(meta.logitName)) throw new ModelLoadError(`${modelPath}: model has no output '${meta.logitName}' (outputs: ${session.outputNames.join(', ')}); re-export it`);
  return new Model(session, meta, ort, options);
}

module.exports = {
  loadModel, Model, decodeImage, rgbSha256, readModelMetadata, parseMeta, onnxMetadata, tiffOrientation, orient,
  padToTile, axisOrigins, tileOrigins, refineOrigins, poolLogits, pairwiseSum, sizeCorrection, sigmoid,
  ImageDecodeError, ModelLoadError, SPEC_VERSION, MAX_FORMAT_VERSION, DEFAULT_MAX_PIXELS, DEFAULT_BATCH_SIZE,
};
