'use strict';
// Unit tests of the JS client (node --test clients/js/test/). The conformance check against Python
// is tests/test_scoring_spec.py (fakedamage verify-client); the last tests here also replay the
// vectors of a model when one lies at FAKEDAMAGE_MODEL (default runs/demo/model.onnx) with its
// model.conformance.json beside it, and are skipped otherwise.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const lib = require('../lib');

const { onnxMetadata, parseMeta, tiffOrientation, orient, padToTile, axisOrigins, tileOrigins, refineOrigins,
  poolLogits, pairwiseSum, sizeCorrection, sigmoid, decodeImage, rgbSha256 } = lib;

// ------------------------------------------------------------------ protobuf metadata
const varint = (n) => { const out = []; do { let b = n % 128; n = Math.floor(n / 128); if (n) b |= 0x80; out.push(b); } while (n); return Buffer.from(out); };
const key = (field, wire) => varint(field * 8 + wire);
const ld = (field, body) => Buffer.concat([key(field, 2), varint(body.length), body]);

test('metadata_props are read from the top level of a ModelProto, every other field skipped', () => {
  const entry = (k, v) => ld(14, Buffer.concat([ld(1, Buffer.from(k)), ld(2, Buffer.from(v))]));
  const model = Buffer.concat([
    key(1, 0), varint(9),                                  // ir_version (varint)
    ld(2, Buffer.from('pytorch')),                         // producer_name
    key(3, 1), Buffer.alloc(8, 7),                         // a fixed64 field
    key(4, 5), Buffer.alloc(4, 7),                         // a fixed32 field
    ld(7, Buffer.concat([ld(14, Buffer.from('not metadata: inside the graph'))])), // graph, never parsed
    entry('fakedamage', '{"format_version": 3}'),
    entry('other', 'x'),
    key(300, 0), varint(2 ** 40),                          // a large field number and value
  ]);
  assert.deepEqual(onnxMetadata(model), { fakedamage: '{"format_version": 3}', other: 'x' });
  assert.throws(() => onnxMetadata(Buffer.concat([ld(14, Buffer.from('abc')).subarray(0, 3)])), /truncated/);
});

test('metadata: defaults, unknown keys ignored, newer format refused in one line', () => {
  const m = parseMeta({ format_version: 2, tile_size: 64, tile_stride: 32, some_future_key: { a: 1 } });
  assert.equal(m.tileSize, 64); assert.equal(m.scan, 'dense'); assert.equal(m.aggregation, 'max'); assert.equal(m.temperature, 1);
  assert.throws(() => parseMeta({ format_version: 4 }, 'm.onnx'), /m\.onnx: model metadata format 4 is newer than this client implements \(3\)/);
  assert.throws(() => parseMeta({ tile_size: 64, tile_stride: 65 }), /tile_stride 65 > tile_size 64/);
  assert.throws(() => parseMeta({ aggregation: 'median' }), /unknown aggregation/);
});

// ------------------------------------------------------------------ orientation
function tiff(order, type, count, value) {
  const le = order === 'II'; const b = Buffer.alloc(26);
  b.write(order, 0, 'latin1');
  const w16 = (v, o) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const w32 = (v, o) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  w16(42, 2); w32(8, 4); w16(1, 8); w16(0x0112, 10); w16(type, 12); w32(count, 14);
  if (type === 3) w16(value, 18); else w32(value, 18);
  return b;
}

test('EXIF orientation: II and MM, SHORT and LONG; invalid values and types read as 1', () => {
  assert.equal(tiffOrientation(tiff('II', 3, 1, 6)), 6);
  assert.equal(tiffOrientation(tiff('MM', 3, 1, 8)), 8);
  assert.equal(tiffOrientation(tiff('MM', 4, 1, 3)), 3);
  assert.equal(tiffOrientation(tiff('II', 3, 1, 9)), 1);
  assert.equal(tiffOrientation(tiff('II', 3, 1, 0)), 1);
  assert.equal(tiffOrientation(tiff('II', 2, 2, 0x36)), 1); // ASCII
  assert.equal(tiffOrientation(Buffer.from('II*\0\xff\xff\xff\x7f', 'latin1')), 1);
  assert.equal(tiffOrientation(null), 1);
});

test('orientations 2..8 move pixels as numpy does in image_io._ORIENT', () => {
  const h = 2; const w = 3; // pixel value = 10 * row + column, in all three channels
  const img = { width: w, height: h, data: Uint8Array.from({ length: h * w * 3 }, (_, i) => 10 * Math.floor(i / 3 / w) + (Math.floor(i / 3) % w)) };
  const grid = (im) => Array.from({ length: im.height }, (_, y) => Array.from({ length: im.width }, (_, x) => im.data[(y * im.width + x) * 3]));
  const expected = {
    1: [[0, 1, 2], [10, 11, 12]],
    2: [[2, 1, 0], [12, 11, 10]],                 // a[:, ::-1]
    3: [[12, 11, 10], [2, 1, 0]],                 // a[::-1, ::-1]
    4: [[10, 11, 12], [0, 1, 2]],                 // a[::-1, :]
    5: [[0, 10], [1, 11], [2, 12]],               // transpose
    6: [[10, 0], [11, 1], [12, 2]],               // rot90 k=-1 (clockwise)
    7: [[12, 2], [11, 1], [10, 0]],               // a[::-1, ::-1].transpose
    8: [[2, 12], [1, 11], [0, 10]],               // rot90 k=1 (counter-clockwise)
  };
  for (let o = 1; o <= 8; o++) assert.deepEqual(grid(orient(img, o)), expected[o], `orientation ${o}`);
});

// ------------------------------------------------------------------ tiling, scan, pool, score
test('edge padding repeats the last row and column', () => {
  const img = { width: 2, height: 1, data: Uint8Array.from([1, 1, 1, 2, 2, 2]) };
  const p = padToTile(img, 3);
  assert.equal(p.width, 3); assert.equal(p.height, 3);
  assert.deepEqual(Array.from(p.data.filter((_, i) => i % 3 === 0)), [1, 2, 2, 1, 2, 2, 1, 2, 2]);
});

test('tile origins: multiples of the stride, then the far edge', () => {
  assert.deepEqual(axisOrigins(128, 128, 64), [0]);
  assert.deepEqual(axisOrigins(141, 128, 64), [0, 13]);
  assert.deepEqual(axisOrigins(263, 128, 64), [0, 64, 128, 135]);
  assert.deepEqual(axisOrigins(256, 128, 64), [0, 64, 128]);
  assert.deepEqual(tileOrigins(141, 263, 128, 128), [[0, 0], [0, 128], [0, 135], [13, 0], [13, 128], [13, 135]]);
});

test('coarse_to_fine refinement: stable order of the coarse logits, earlier tile first on ties', () => {
  const coarse = tileOrigins(384, 384, 128, 128); // 3 x 3
  const logits = [0, 5, 0, 0, 0, 0, 0, 0, 5];
  // top 1 with a tie between tiles 1 and 8: tile 1 (0, 128) wins
  assert.deepEqual(refineOrigins(coarse, logits, 384, 384, 128, 64, 1), [[0, 64], [0, 192], [64, 64], [64, 128], [64, 192]]);
  assert.deepEqual(refineOrigins(coarse, logits, 384, 384, 128, 64, 0), []);
});

test('pooling in float64 with numpy summation order', () => {
  assert.equal(poolLogits([1, 3, 2], 'max', 2), 3);
  assert.equal(poolLogits([1, 3, 2], 'topk', 2), 2.5);
  assert.equal(poolLogits([1, 3, 2], 'topk', 9), 2);
  assert.equal(poolLogits([1, 3, 2], 'mean', 2), 2);
  const a = Array.from({ length: 300 }, (_, i) => Math.sin(i) * 1e3 + 0.1);
  assert.ok(Math.abs(pairwiseSum(a) - a.reduce((s, v) => s + v, 0)) < 1e-9);
  assert.equal(sizeCorrection(10, 10, 128, 0.5, 65536), 0.5 * Math.log(128 * 128 / 65536));
  assert.equal(sizeCorrection(1000, 1000, 128, 0, 65536), 0);
  assert.equal(sigmoid(0), 0.5); assert.ok(Math.abs(sigmoid(-3) + sigmoid(3) - 1) <= 2 ** -52);
});

// ------------------------------------------------------------------ the conformance vectors of a real model
const REPO = path.resolve(__dirname, '..', '..', '..');
const MODEL = process.env.FAKEDAMAGE_MODEL || path.join(REPO, 'runs', 'demo', 'model.onnx');
const CONF = MODEL.replace(/\.onnx$/, '.conformance.json');
const haveVectors = fs.existsSync(MODEL) && fs.existsSync(CONF);

test('conformance vectors: decoded RGB SHA-256 and scores', { skip: !haveVectors && `no ${CONF}` }, async () => {
  const doc = JSON.parse(fs.readFileSync(CONF, 'utf8'));
  const model = await lib.loadModel(MODEL);
  for (const v of doc.vectors) {
    const img = decodeImage(Buffer.from(v.file_base64, 'base64'), { name: v.name });
    assert.equal(`${img.height}x${img.width}`, `${v.decoded.height}x${v.decoded.width}`, v.name);
    assert.equal(rgbSha256(img), v.decoded.rgb_sha256, v.name);
    const r = await model.score(img, v.name);
    assert.equal(r.nTiles, v.n_tiles, v.name);
    assert.ok(Math.abs(r.score - v.score) <= doc.png_score_tolerance, `${v.name}: ${r.score} vs ${v.score}`);
    assert.equal(r.isFake, v.is_fake, v.name);
  }
  await model.release();
});
