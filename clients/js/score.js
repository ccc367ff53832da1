#!/usr/bin/env node
'use strict';
// node score.js MODEL.onnx IMAGE...  ->  CSV "path,score,is_fake" on stdout (errors: one line each on stderr)
const fs = require('fs');
const crypto = require('crypto');
const { loadModel, decodeImage } = require('./lib');

async function main(argv) {
  if (argv.length < 2 || argv[0] === '-h' || argv[0] === '--help') {
    process.stderr.write('usage: node score.js MODEL.onnx IMAGE...\nprints CSV path,score,is_fake (FAKEDAMAGE_DEBUG=1 adds decoded RGB SHA-256 on stderr)\n');
    return argv.length ? 0 : 2;
  }
  const [modelPath, ...images] = argv;
  let model;
  try { model = await loadModel(modelPath); } catch (e) { process.stderr.write(`error: ${e.message.split('\n')[0]}\n`); return 2; }
  const debug = !!process.env.FAKEDAMAGE_DEBUG;
  process.stdout.write('path,score,is_fake\n');
  let failed = 0;
  for (const p of images) {
    try {
      const buf = fs.readFileSync(p);
      const img = decodeImage(buf, p);
      if (debug) process.stderr.write(`${p} ${img.height}x${img.width} rgb_sha256=${crypto.createHash('sha256').update(img.data).digest('hex')}\n`);
      const r = await model.score(img, p);
      process.stdout.write(`${p.includes(',') ? JSON.stringify(p) : p},${r.score.toPrecision(17)},${r.isFake}\n`);
    } catch (e) {
      failed += 1;
      process.stderr.write(`error: ${p}: ${String(e.message || e).split('\n')[0]}\n`);
    }
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
