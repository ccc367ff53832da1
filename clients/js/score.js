#!/usr/bin/env node
'use strict';
// node score.js [--debug] MODEL.onnx IMAGE...
//   stdout: CSV "path,score,is_fake", one row per scored image, in order
//   stderr: one line per image that could not be scored (the run goes on); with --debug or
//           FAKEDAMAGE_DEBUG=1 also each image's decoded size, orientation, RGB SHA-256, tiles, logits
//   exit:   0 all scored; 1 some image failed; 2 usage error or the model could not be loaded
const fs = require('fs');
const { loadModel, decodeImage, rgbSha256, ImageDecodeError } = require('./lib');

const USAGE = 'usage: node score.js [--debug] MODEL.onnx IMAGE...\n'
  + 'prints CSV path,score,is_fake; --debug (or FAKEDAMAGE_DEBUG=1) adds decoded size, RGB SHA-256 and logits on stderr\n';

/** One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF. */
const csvField = (s) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const oneLine = (s) => String(s).split(/\s+/).filter(Boolean).join(' ');

async function main(argv) {
  let debug = ['1', 'true', 'yes'].includes(String(process.env.FAKEDAMAGE_DEBUG || '').toLowerCase());
  const args = [];
  for (const a of argv) {
    if (a === '--debug') debug = true;
    else if (a === '-h' || a === '--help') { process.stdout.write(USAGE); return 0; }
    else args.push(a);
  }
  if (args.length < 1) { process.stderr.write(USAGE); return 2; }
  const [modelPath, ...images] = args;
  let model;
  try {
    model = await loadModel(modelPath);
  } catch (e) {
    process.stderr.write(`error: ${oneLine(e.message || e)}\n`);
    return 2;
  }
  if (debug) {
    const m = model.meta;
    process.stderr.write(`model ${modelPath}: format_version ${m.formatVersion}, tile ${m.tileSize}/${m.tileStride}, scan ${m.scan}`
      + ` (refine_top ${m.refineTop}), ${m.aggregation} (topk ${m.topk}), size_slope ${m.sizeSlope}, temperature ${m.temperature}, threshold ${m.threshold}\n`);
  }
  process.stdout.write('path,score,is_fake\n');
  let failed = 0;
  for (const p of images) {
    try {
      let bytes;
      try { bytes = fs.readFileSync(p); } catch (e) {
        const why = e.code === 'ENOENT' ? 'file not found; check the path' : e.code === 'EISDIR' ? 'is a directory, not an image file' : `cannot read file (${e.code || oneLine(e.message)})`;
        throw new ImageDecodeError(`${p}: ${why}`);
      }
      const img = decodeImage(bytes, { name: p, maxPixels: model.maxPixels });
      const r = await model.score(img, p);
      if (debug) {
        process.stderr.write(`${p} ${img.height}x${img.width} rgb_sha256=${rgbSha256(img)} orientation=${img.orientation}`
          + ` n_tiles=${r.nTiles} pooled=${r.pooled} adjusted=${r.adjusted} score=${r.score}\n`);
      }
      // String(x) is the shortest text that reads back as the same float64 (full precision)
      process.stdout.write(`${csvField(p)},${String(r.score)},${r.isFake}\n`);
    } catch (e) {
      failed += 1;
      const msg = oneLine(e.message || e);
      process.stderr.write(`error: ${e instanceof ImageDecodeError ? msg : `${p}: ${e.name || 'Error'}: ${msg}`}\n`);
    }
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => { process.stderr.write(`error: ${oneLine(e && e.message ? e.message : e)}\n`); process.exitCode = 2; },
);
