'use strict';
/**
 * fakedamage reference client for Node.js: scores an image with an exported fakedamage ONNX model
 * exactly as the scoring spec in the model's metadata says (format_version 2 and 3).
 *
 *   const { loadModel } = require('./lib');
 *   const model = await loadModel('model.onnx');
 *   const r = await model.score(fs.readFileSync('claim.jpg'));   // {score, isFake, logit, nTiles, height, width}
 *
 * Dependencies: onnxruntime-node (inference), pngjs (PNG), jpeg-js (JPEG); no native build steps.
 */
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const { PNG } = require('pngjs');
const jpeg = require('jpeg-js');

const MAX_FORMAT_VERSION = 3;

// ------------------------------------------------------------------ ONNX metadata (protobuf)

function readVarint(buf, pos) {
  let result = 0n; let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated protobuf varint');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return [result, pos];
    shift += 7n;
  }
}

/** Walk the fields of one protobuf message: yields [fieldNumber, wireType, value|Buffer]. */
function* fields(buf, start = 0, end = buf.length) {
  let pos = start;
  while (pos < end) {
    let key; [key, pos] = readVarint(buf, pos);
    const field = Number(key >> 3n); const wire = Number(key & 7n);
    if (wire === 0) { let v; [v, pos] = readVarint(buf, pos); yield [field, wire, v]; }
    else if (wire === 1) { pos += 8; yield [field, wire, null]; }
    else if (wire === 5) { pos += 4; yield [field, wire, null]; }
    else if (wire === 2) {
      let len; [len, pos] = readVarint(buf, pos); len = Number(len);
      if (pos + len > end) throw new Error('truncated protobuf field');
      yield [field, wire, buf.subarray(pos, pos + len)]; pos += len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

/** metadata_props of an ONNX ModelProto (field 14: StringStringEntryProto key=1, value=2). */
function onnxMetadata(buf) {
  const out = {};
  for (const [field, wire, value] of fields(buf)) {
    if (field !== 14 || wire !== 2) continue;
    let key = ''; let val = '';
    for (const [f, w, v] of fields(value)) {
      if (w !== 2) continue;
      if (f === 1) key = v.toString('utf8'); else if (f === 2) val = v.toString('utf8');
    }
    out[key] = val;
  }
  return out;
}

function readMeta(modelPath, modelBytes) {
  let text = onnxMetadata(modelBytes).fakedamage;
  if (!text) {
    const side = modelPath.replace(/\.onnx$/i, '.json');
    if (!fs.existsSync(side)) throw new Error(`${modelPath}: no fakedamage metadata in the ONNX file and no ${path.basename(side)} beside it; re-export the model`);
    text = fs.readFileSync(side, 'utf8');
  }
  const m = JSON.parse(text);
  const fv = m.format_version === undefined ? 1 : m.format_version;
  if (fv > MAX_FORMAT_VERSION) throw new Error(`${modelPath}: model metadata format ${fv} is newer than this client implements (${MAX_FORMAT_VERSION}); upgrade the client`);
  if (m.input_layout !== 'NCHW' || m.input_dtype !== 'float32' || m.color_order !== 'RGB') throw new Error(`${modelPath}: unsupported input ${m.input_layout}/${m.input_dtype}/${m.color_order}`);
  return {
    tile: m.tile_size, stride: m.tile_stride, scan: m.scan || 'dense', refineTop: m.refine_top === undefined ? 8 : m.refine_top,
    aggregation: m.aggregation, topk: m.topk, sizeSlope: m.size_slope || 0, sizeRef: m.size_reference_pixels || 65536,
    threshold: m.threshold, temperature: m.temperature, inputName: m.input_name, logitName: m.output_names[0],
    formatVersion: fv, raw: m,
  };
}

// ------------------------------------------------------------------ decoding (spec: decode, orientation)

/** EXIF Orientation (0x0112, IFD0) of a TIFF block; 1 when absent or unreadable. */
function tiffOrientation(t) {
  if (t.length < 8) return 1;
  const le = t[0] === 0x49 && t[1] === 0x49; const be = t[0] === 0x4d && t[1] === 0x4d;
  if (!le && !be) return 1;
  const u16 = (o) => (le ? t.readUInt16LE(o) : t.readUInt16BE(o));
  const u32 = (o) => (le ? t.readUInt32LE(o) : t.readUInt32BE(o));
  if (u16(2) !== 42) return 1;
  const ifd = u32(4);
  if (ifd + 2 > t.length) return 1;
  const n = u16(ifd);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > t.length) return 1;
    if (u16(e) === 0x0112) {
      const type = u16(e + 2);
      const v = type === 3 ? u16(e + 8) : type === 4 ? u32(e + 8) : 1;
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

function jpegOrientation(buf) {
  let pos = 2;
  while (pos + 4 <= buf.length && buf[pos] === 0xff) {
    const marker = buf[pos + 1];
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { pos += 2; continue; }
    if (marker === 0xda || marker === 0xd9) break; // start of scan: no EXIF after it counts
    const len = buf.readUInt16BE(pos + 2);
    if (marker === 0xe1 && len >= 8 && buf.subarray(pos + 4, pos + 10).equals(Buffer.from('Exif\0\0', 'binary'))) {
      return tiffOrientation(buf.subarray(pos + 10, pos + 2 + len));
    }
    pos += 2 + len;
  }
  return 1;
}

function pngOrientation(buf) {
  let pos = 8;
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32BE(pos); const type = buf.toString('latin1', pos + 4, pos + 8);
    if (type === 'eXIf') return tiffOrientation(buf.subarray(pos + 8, pos + 8 + len));
    if (type === 'IEND') break;
    pos += 12 + len;
  }
  return 1;
}

/** Apply EXIF orientation to an RGB image {width, height, data (Uint8Array, HxWx3)}. */
function orient(img, o) {
  if (o === 1) return img;
  const { width: w, height: h, data } = img;
  const swap = o >= 5;
  const W = swap ? h : w; const H = swap ? w : h;
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let sy; let sx; // source pixel of output (y, x)
      switch (o) {
        case 2: sy = y; sx = w - 1 - x; break;             // mirror left-right
        case 3: sy = h - 1 - y; sx = w - 1 - x; break;     // rotate 180
        case 4: sy = h - 1 - y; sx = x; break;             // mirror top-bottom
        case 5: sy = x; sx = y; break;                     // transpose
        case 6: sy = h - 1 - x; sx = y; break;             // rotate 90 clockwise
        case 7: sy = h - 1 - x; sx = w - 1 - y; break;     // transverse
        case 8: sy = x; sx = w - 1 - y; break;             // rotate 90 counter-clockwise
        default: sy = y; sx = x;
      }
      const s = (sy * w + sx) * 3; const d = (y * W + x) * 3;
      out[d] = data[s]; out[d + 1] = data[s + 1]; out[d + 2] = data[s + 2];
    }
  }
  return { width: W, height: H, data: out };
}

function decodePng(buf) {
  const png = PNG.sync.read(buf, { skipRescale: true });
  const { width, height, data, depth, colorType } = png;
  const rgb = new Uint8Array(width * height * 3);
  const grey = colorType === 0 || colorType === 4;
  const scale = grey && depth < 8 ? 255 / ((1 << depth) - 1) : 1;
  for (let i = 0, n = width * height; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      let v = data[i * 4 + c];                     // RGBA from pngjs; alpha (i*4+3) is dropped
      if (depth === 16) v >>= 8;                   // 16-bit: high byte
      else if (scale !== 1) v = Math.round(v * scale); // 1/2/4-bit grey: exact multiples 255, 85, 17
      rgb[i * 3 + c] = v;
    }
  }
  return orient({ width, height, data: rgb }, pngOrientation(buf));
}

// jpeg-js parses the file and decodes the DCT coefficients. The rest is done here exactly as
// libjpeg-turbo does by default (the spec's JPEG rule): its integer 'islow' inverse DCT (jidctint.c,
// including its range-limit table), 'fancy' triangular chroma upsampling (h2v1, h2v2) and the integer
// JFIF YCbCr->RGB tables of jdcolor.c. jpeg-js does not export its decoder class, so it is taken from
// its source, with the plane builder swapped for islowPlane (the version is pinned in package-lock.json).
const C13 = 13; const P2 = 2;
const F0298 = 2446; const F0390 = 3196; const F0541 = 4433; const F0765 = 6270; const F0899 = 7373;
const F1175 = 9633; const F1501 = 12299; const F1847 = 15137; const F1961 = 16069; const F2053 = 16819;
const F2562 = 20995; const F3072 = 25172;
const descale = (x, n) => (x + (1 << (n - 1))) >> n;
const rangeLimit = (x) => { // libjpeg's post-IDCT table: sample = table[x & 1023]
  const i = x & 1023;
  return i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896;
};

/** One 8x8 block (natural order coefficients, quantisation table) -> 64 samples (jpeg_idct_islow). */
function idctIslow(coef, qt, out, ws) {
  for (let c = 0; c < 8; c++) { // pass 1: columns, results scaled up by 2^PASS1_BITS
    const q = (k) => coef[k * 8 + c] * qt[k * 8 + c];
    if (!coef[8 + c] && !coef[16 + c] && !coef[24 + c] && !coef[32 + c] && !coef[40 + c] && !coef[48 + c] && !coef[56 + c]) {
      const dc = q(0) * (1 << P2);
      for (let r = 0; r < 8; r++) ws[r * 8 + c] = dc;
      continue;
    }
    let z2 = q(2); let z3 = q(6);
    let z1 = (z2 + z3) * F0541;
    let tmp2 = z1 + z3 * -F1847; let tmp3 = z1 + z2 * F0765;
    z2 = q(0); z3 = q(4);
    let tmp0 = (z2 + z3) * (1 << C13); let tmp1 = (z2 - z3) * (1 << C13);
    const tmp10 = tmp0 + tmp3; const tmp13 = tmp0 - tmp3; const tmp11 = tmp1 + tmp2; const tmp12 = tmp1 - tmp2;
    tmp0 = q(7); tmp1 = q(5); tmp2 = q(3); tmp3 = q(1);
    z1 = tmp0 + tmp3; z2 = tmp1 + tmp2; z3 = tmp0 + tmp2; let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * F1175;
    tmp0 *= F0298; tmp1 *= F2053; tmp2 *= F3072; tmp3 *= F1501;
    z1 *= -F0899; z2 *= -F2562; z3 *= -F1961; z4 *= -F0390;
    z3 += z5; z4 += z5;
    tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4;
    const n = C13 - P2;
    ws[c] = descale(tmp10 + tmp3, n); ws[56 + c] = descale(tmp10 - tmp3, n);
    ws[8 + c] = descale(tmp11 + tmp2, n); ws[48 + c] = descale(tmp11 - tmp2, n);
    ws[16 + c] = descale(tmp12 + tmp1, n); ws[40 + c] = descale(tmp12 - tmp1, n);
    ws[24 + c] = descale(tmp13 + tmp0, n); ws[32 + c] = descale(tmp13 - tmp0, n);
  }
  for (let r = 0; r < 8; r++) { // pass 2: rows
    const w = (k) => ws[r * 8 + k];
    if (!w(1) && !w(2) && !w(3) && !w(4) && !w(5) && !w(6) && !w(7)) {
      const v = rangeLimit(descale(w(0), P2 + 3));
      for (let k = 0; k < 8; k++) out[r * 8 + k] = v;
      continue;
    }
    let z2 = w(2); let z3 = w(6);
    let z1 = (z2 + z3) * F0541;
    let tmp2 = z1 + z3 * -F1847; let tmp3 = z1 + z2 * F0765;
    let tmp0 = (w(0) + w(4)) * (1 << C13); let tmp1 = (w(0) - w(4)) * (1 << C13);
    const tmp10 = tmp0 + tmp3; const tmp13 = tmp0 - tmp3; const tmp11 = tmp1 + tmp2; const tmp12 = tmp1 - tmp2;
    tmp0 = w(7); tmp1 = w(5); tmp2 = w(3); tmp3 = w(1);
    z1 = tmp0 + tmp3; z2 = tmp1 + tmp2; z3 = tmp0 + tmp2; let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * F1175;
    tmp0 *= F0298; tmp1 *= F2053; tmp2 *= F3072; tmp3 *= F1501;
    z1 *= -F0899; z2 *= -F2562; z3 *= -F1961; z4 *= -F0390;
    z3 += z5; z4 += z5;
    tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4;
    const n = C13 + P2 + 3; const o = r * 8;
    out[o] = rangeLimit(descale(tmp10 + tmp3, n)); out[o + 7] = rangeLimit(descale(tmp10 - tmp3, n));
    out[o + 1] = rangeLimit(descale(tmp11 + tmp2, n)); out[o + 6] = rangeLimit(descale(tmp11 - tmp2, n));
    out[o + 2] = rangeLimit(descale(tmp12 + tmp1, n)); out[o + 5] = rangeLimit(descale(tmp12 - tmp1, n));
    out[o + 3] = rangeLimit(descale(tmp13 + tmp0, n)); out[o + 4] = rangeLimit(descale(tmp13 - tmp0, n));
  }
}

/** A component's sample rows (Uint8Array each), like jpeg-js's buildComponentData but with islow. */
function islowPlane(frame, component) {
  const bpl = component.blocksPerLine; const bpc = component.blocksPerColumn; const spl = bpl << 3;
  const qt = component.quantizationTable; const out = new Uint8Array(64); const ws = new Int32Array(64);
  const lines = [];
  for (let br = 0; br < bpc; br++) {
    for (let i = 0; i < 8; i++) lines.push(new Uint8Array(spl));
    for (let bc = 0; bc < bpl; bc++) {
      idctIslow(component.blocks[br][bc], qt, out, ws);
      for (let j = 0; j < 8; j++) lines[(br << 3) + j].set(out.subarray(j * 8, j * 8 + 8), bc << 3);
    }
  }
  return lines;
}

const JpegImage = (() => {
  const src = fs.readFileSync(require.resolve('jpeg-js/lib/decoder.js'), 'utf8');
  const hook = 'lines: buildComponentData(frame, component),';
  if (!src.includes(hook)) throw new Error('unexpected jpeg-js version: reinstall with npm ci (package-lock.json)');
  const patched = src.replace(hook, 'lines: islowPlane(frame, component),');
  const mod = { exports: {} };
  return new Function('module', 'exports', 'require', 'Buffer', 'islowPlane', `${patched}\nreturn JpegImage;`)(
    mod, mod.exports, require, Buffer, islowPlane);
})();

const SCALEBITS = 16; const ONE_HALF = 1 << (SCALEBITS - 1);
const FIX = (x) => Math.round(x * (1 << SCALEBITS));
const CR_R = new Int32Array(256); const CB_B = new Int32Array(256); const CR_G = new Int32Array(256); const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (FIX(1.40200) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (FIX(1.77200) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -FIX(0.71414) * x;
  CB_G[i] = -FIX(0.34414) * x + ONE_HALF;
}
const clamp8 = (v) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** One component plane upsampled to W x H (libjpeg fancy upsampling for 2x1 and 2x2; else replicate). */
function upsample(comp, W, H) {
  const cw = Math.ceil(W * comp.scaleX); const ch = Math.ceil(H * comp.scaleY);
  const rows = comp.lines; const out = new Uint8Array(W * H);
  const fx = Math.round(1 / comp.scaleX); const fy = Math.round(1 / comp.scaleY);
  const at = (r, c) => rows[r][c];
  for (let y = 0; y < H; y++) {
    const iy = Math.min(Math.floor(y / fy), ch - 1);
    if (fx === 2 && fy === 2) {
      const ny = Math.min(Math.max((y & 1) ? iy + 1 : iy - 1, 0), ch - 1);
      const colsum = (c) => 3 * at(iy, c) + at(ny, c);
      for (let x = 0; x < W; x++) {
        const ix = Math.min(x >> 1, cw - 1);
        const nx = Math.min(Math.max((x & 1) ? ix + 1 : ix - 1, 0), cw - 1);
        out[y * W + x] = (3 * colsum(ix) + colsum(nx) + ((x & 1) ? 7 : 8)) >> 4;
      }
    } else if (fx === 2 && fy === 1) {
      for (let x = 0; x < W; x++) {
        const ix = Math.min(x >> 1, cw - 1);
        const nx = Math.min(Math.max((x & 1) ? ix + 1 : ix - 1, 0), cw - 1);
        out[y * W + x] = (3 * at(iy, ix) + at(iy, nx) + ((x & 1) ? 2 : 1)) >> 2;
      }
    } else {
      for (let x = 0; x < W; x++) out[y * W + x] = at(iy, Math.min(Math.floor(x / fx), cw - 1));
    }
  }
  return out;
}

function decodeJpeg(buf) {
  const d = new JpegImage();
  d.opts = { colorTransform: undefined, useTArray: true, formatAsRGBA: false, tolerantDecoding: true,
    maxResolutionInMP: 200, maxMemoryUsageInMB: 4096 };
  JpegImage.resetMaxMemoryUsage(4096 * 1024 * 1024);
  d.parse(new Uint8Array(buf));
  const W = d.width; const H = d.height; const n = d.components.length;
  const rgb = new Uint8Array(W * H * 3);
  if (n === 1) {
    const g = upsample(d.components[0], W, H);
    for (let i = 0; i < W * H; i++) { rgb[i * 3] = g[i]; rgb[i * 3 + 1] = g[i]; rgb[i * 3 + 2] = g[i]; }
  } else if (n === 3) {
    const [c0, c1, c2] = d.components.map((c) => upsample(c, W, H));
    const transform = !(d.adobe && d.adobe.transformCode === 0);
    for (let i = 0; i < W * H; i++) {
      if (!transform) { rgb[i * 3] = c0[i]; rgb[i * 3 + 1] = c1[i]; rgb[i * 3 + 2] = c2[i]; continue; }
      const y = c0[i]; const cb = c1[i]; const cr = c2[i];
      rgb[i * 3] = clamp8(y + CR_R[cr]);
      rgb[i * 3 + 1] = clamp8(y + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS));
      rgb[i * 3 + 2] = clamp8(y + CB_B[cb]);
    }
  } else {
    throw new Error(`${n}-component (CMYK/YCCK) JPEG is outside the scoring spec's contract`);
  }
  return orient({ width: W, height: H, data: rgb }, jpegOrientation(buf));
}

/** Decode PNG or JPEG bytes to upright {width, height, data: Uint8Array HxWx3 RGB}. */
function decodeImage(buf, name = '<bytes>') {
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47) return decodePng(buf);
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return decodeJpeg(buf);
  throw new Error(`${name}: not a PNG or JPEG file; this client reads the formats of the scoring spec's contract`);
}

// ------------------------------------------------------------------ tiling (spec: pad, tile_origins, scan)

function pad(img, T) {
  const { width: w, height: h, data } = img;
  if (w >= T && h >= T) return img;
  const W = Math.max(w, T); const H = Math.max(h, T);
  const out = new Uint8Array(W * H * 3);
  const src = (i, n) => {
    return i < n ? i : n - 1; // 'edge': repeat the last row / column (format-2 files are scored the same way)
  };
  for (let y = 0; y < H; y++) {
    const sy = src(y, h);
    for (let x = 0; x < W; x++) {
      const s = (sy * w + src(x, w)) * 3; const d = (y * W + x) * 3;
      out[d] = data[s]; out[d + 1] = data[s + 1]; out[d + 2] = data[s + 2];
    }
  }
  return { width: W, height: H, data: out };
}

function axisOrigins(L, T, s) {
  if (L <= T) return [0];
  const o = [];
  for (let v = 0; v + T <= L; v += s) o.push(v);
  if (o[o.length - 1] !== L - T) o.push(L - T);
  return o;
}

function tileOrigins(H, W, T, s) {
  const out = [];
  for (const y of axisOrigins(H, T, s)) for (const x of axisOrigins(W, T, s)) out.push([y, x]);
  return out;
}

// ------------------------------------------------------------------ the model

class Model {
  constructor(session, meta) { this.session = session; this.meta = meta; this.batchSize = 8; }

  async runTiles(img, origins) {
    const T = this.meta.tile; const { width: W, data } = img;
    const logits = [];
    for (let b = 0; b < origins.length; b += this.batchSize) {
      const batch = origins.slice(b, b + this.batchSize);
      const x = new Float32Array(batch.length * 3 * T * T);
      batch.forEach(([oy, ox], n) => {
        for (let c = 0; c < 3; c++) {
          const base = (n * 3 + c) * T * T;
          for (let y = 0; y < T; y++) {
            const row = ((oy + y) * W + ox) * 3 + c;
            for (let xx = 0; xx < T; xx++) x[base + y * T + xx] = data[row + xx * 3] / 255; // float32(u / 255)
          }
        }
      });
      const feeds = { [this.meta.inputName]: new ort.Tensor('float32', x, [batch.length, 3, T, T]) };
      const out = await this.session.run(feeds, [this.meta.logitName]);
      for (const v of out[this.meta.logitName].data) logits.push(v);
    }
    return logits;
  }

  /** Score one image (Buffer of a PNG/JPEG file, or a decoded {width, height, data}). */
  async score(input, name) {
    const m = this.meta; const T = m.tile;
    const img = Buffer.isBuffer(input) ? decodeImage(input, name) : input;
    const H0 = img.height; const W0 = img.width;
    const padded = pad(img, T);
    const H = padded.height; const W = padded.width;
    let logits;
    if (m.scan === 'coarse_to_fine') {
      const coarse = tileOrigins(H, W, T, T);
      const cl = await this.runTiles(padded, coarse);
      const order = cl.map((v, i) => [v, i]).sort((a, b) => (b[0] - a[0]) || (a[1] - b[1])).slice(0, m.refineTop).map((p) => p[1]);
      const ys = axisOrigins(H, T, m.stride); const xs = axisOrigins(W, T, m.stride);
      const done = new Set(coarse.map(([y, x]) => `${y},${x}`));
      const wanted = new Map();
      for (const i of order) {
        const [by, bx] = coarse[i];
        for (const y of ys) if (Math.abs(y - by) < T) for (const x of xs) if (Math.abs(x - bx) < T) {
          const k = `${y},${x}`; if (!done.has(k)) wanted.set(k, [y, x]);
        }
      }
      const fine = [...wanted.values()].sort((a, b) => (a[0] - b[0]) || (a[1] - b[1]));
      logits = cl.concat(fine.length ? await this.runTiles(padded, fine) : []);
    } else {
      logits = await this.runTiles(padded, tileOrigins(H, W, T, m.stride));
    }
    let pooled;
    if (m.aggregation === 'max') pooled = Math.max(...logits);
    else if (m.aggregation === 'mean') pooled = logits.reduce((a, b) => a + b, 0) / logits.length;
    else if (m.aggregation === 'topk') {
      const k = Math.min(Math.max(1, m.topk), logits.length);
      const top = [...logits].sort((a, b) => b - a).slice(0, k);
      pooled = top.reduce((a, b) => a + b, 0) / k;
    } else throw new Error(`unknown aggregation ${m.aggregation}`);
    const adjusted = pooled - m.sizeSlope * Math.log(Math.max(H0 * W0, T * T) / m.sizeRef);
    const logit = adjusted / m.temperature;
    const score = 1 / (1 + Math.exp(-logit));
    return { score, isFake: score >= m.threshold, logit, pooled, adjusted, nTiles: logits.length, height: H0, width: W0 };
  }
}

/** Load an exported fakedamage model (reads its metadata from the ONNX file itself). */
async function loadModel(modelPath, options = {}) {
  const bytes = fs.readFileSync(modelPath);
  const meta = readMeta(modelPath, bytes);
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], ...options });
  return new Model(session, meta);
}

module.exports = { loadModel, decodeImage, onnxMetadata, readMeta, tileOrigins, axisOrigins, MAX_FORMAT_VERSION };
