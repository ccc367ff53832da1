/* fakedamage review page: choose/drop/paste a photo, POST it to /v1/predict, show verdict and heatmap.
 * With listing photos (references) given, or on "Assess claim", POST the claim and the references to
 * /v1/assess and show the verdict, its reason and every evidence item with its maps.
 * Plain JavaScript, no build step, no third-party code; talks only to this origin. */
(() => {
  'use strict';

  const $ = (id) => document.getElementById(id);
  /* A new element with an optional class and text (set as textContent, never as HTML). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const KEY_STORE = 'fakedamage.apiKey';
  const state = { model: null, apiKey: sessionStorage.getItem(KEY_STORE) || '', seq: 0, photoUrl: null, pending: null,
    claim: null, refs: [], assessSeq: 0 };
  const VIDEO_TYPES = ['video/mp4', 'video/quicktime', 'video/webm', 'video/x-matroska', 'video/x-msvideo', 'video/avi'];
  const VIDEO_EXT = /\.(mp4|m4v|mov|webm|mkv|avi)$/i;

  const fmtBytes = (n) => (n >= 1 << 20 ? (n / (1 << 20)).toFixed(n >= 10 << 20 ? 0 : 1) + ' MB'
    : n >= 1024 ? Math.round(n / 1024) + ' kB' : n + ' B');
  const fmtPct = (p) => (100 * p).toFixed(1) + '%';

  function authHeaders() {
    return state.apiKey ? { 'X-API-Key': state.apiKey } : {};
  }

  function setStatus(text) { $('status').textContent = text || ''; }

  function showError(message) {
    const box = $('error');
    box.textContent = message || '';
    box.hidden = !message;
  }

  async function readJson(response) {
    try { return await response.json(); } catch (e) { return null; }
  }

  function errorText(response, body) {
    const err = body && body.error;
    if (err) return `${err.message} (${err.kind}, HTTP ${response.status}${err.request_id ? ', request ' + err.request_id : ''})`;
    return `HTTP ${response.status} ${response.statusText}`;
  }

  // ---- model ----------------------------------------------------------------------------------
  async function loadModel() {
    let response;
    try {
      response = await fetch('/v1/model', { headers: authHeaders() });
    } catch (e) {
      $('model-info').textContent = 'Service unreachable: ' + e.message;
      return;
    }
    const body = await readJson(response);
    if (response.status === 401) {
      $('auth').hidden = false;
      $('model-info').textContent = 'API key required';
      $('api-key').focus();
      if (state.apiKey) showError(errorText(response, body));
      return;
    }
    if (!response.ok) {
      $('model-info').textContent = 'Model unavailable: ' + errorText(response, body);
      return;
    }
    state.model = body;
    $('auth').hidden = true;
    showError('');
    renderModel(body);
    if (state.pending) { const file = state.pending; state.pending = null; analyse(file); }
  }

  function renderModel(m) {
    const info = $('model-info');
    info.textContent = '';
    const parts = [['Model', m.name], ['version', m.version], ['backbone', m.backbone], ['id', m.id],
      ['threshold', Number(m.threshold).toFixed(3)]];
    parts.forEach(([k, v], i) => {
      if (i) info.append(' \u00b7 ');
      info.append(k + ' ');
      const code = el('code', '', v);
      info.append(code);
    });
    $('model-version').textContent = `${m.version} (${m.id})`;
    const lim = m.limits || {};
    $('limits').textContent = `JPEG, PNG, WebP, GIF, BMP or TIFF \u00b7 up to ${fmtBytes(lim.max_upload_bytes)}` +
      ` and ${(lim.max_pixels / 1e6).toFixed(0)} megapixels`;
    const assess = m.assess || {};
    $('refs').hidden = !assess.available;
    if (assess.available) {
      $('ref-limits').textContent = `Photos, or MP4, MOV, WebM, MKV or AVI videos \u00b7 up to ${assess.max_references}` +
        ` files of ${fmtBytes(lim.max_upload_bytes)} each`;
    }
  }

  // ---- upload ---------------------------------------------------------------------------------
  async function analyse(file) {
    if (!file) return;
    showError('');
    if (!state.model) {  // model info not loaded yet (or key missing): analyse once it is
      state.pending = file;
      setStatus('Waiting for the model\u2026');
      return;
    }
    const seq = ++state.seq;
    const lim = state.model.limits || {};
    if (lim.max_upload_bytes && file.size > lim.max_upload_bytes) {
      showError(`${file.name}: ${fmtBytes(file.size)} is over the ${fmtBytes(lim.max_upload_bytes)} limit per photo.`);
      return;
    }
    showPhoto(file);
    setClaim(file);
    $('drop').classList.add('busy');
    setStatus(`Analysing ${file.name}\u2026`);
    const form = new FormData();
    form.append('file', file, file.name || 'photo');
    const url = '/v1/predict' + (state.model.has_heatmap ? '?heatmap=true' : '');
    let response, body;
    try {
      response = await fetch(url, { method: 'POST', body: form, headers: authHeaders() });
      body = await readJson(response);
    } catch (e) {
      if (seq === state.seq) { setStatus(''); showError('Upload failed: ' + e.message); $('drop').classList.remove('busy'); }
      return;
    }
    if (seq !== state.seq) return;  // a newer photo was chosen meanwhile
    $('drop').classList.remove('busy');
    if (!response.ok) {
      setStatus('');
      $('result').hidden = true;
      showError(errorText(response, body));
      if (response.status === 401) { state.model = null; $('auth').hidden = false; }
      return;
    }
    setStatus('');
    renderResult(body, file);
  }

  function showPhoto(file) {
    if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
    state.photoUrl = URL.createObjectURL(file);
    const stack = $('stack');
    stack.classList.remove('no-photo');
    $('photo').src = state.photoUrl;
    $('heatmap').removeAttribute('src');
  }

  // ---- result ---------------------------------------------------------------------------------
  function renderResult(r, file) {
    const verdict = $('verdict');
    verdict.textContent = r.is_fake ? 'Generated damage likely' : 'No generated damage found';
    verdict.className = 'badge ' + (r.is_fake ? 'fake' : 'real');
    verdict.title = `label: ${r.label}`;
    $('score').textContent = r.score.toFixed(3) + ` (${fmtPct(r.score)})`;
    $('threshold').textContent = r.threshold.toFixed(3);
    const fill = $('scorefill');
    fill.style.width = fmtPct(Math.min(1, Math.max(0, r.score)));
    fill.className = 'fill' + (r.is_fake ? ' fake' : '');
    $('threshold-mark').style.left = fmtPct(r.threshold);
    $('scorebar').setAttribute('aria-valuenow', r.score.toFixed(4));

    const t = r.timings_ms || {};
    const rows = [['File', `${r.filename} (${fmtBytes(file.size)})`],
      ['Size', `${r.image_size.width} \u00d7 ${r.image_size.height} px, ${r.n_tiles} tiles`],
      ['Time', `${Math.round(t.total || 0)} ms (model ${Math.round(t.infer || 0)} ms)`],
      ['Model', `${r.model.version} \u00b7 ${r.model.id}`]];
    const dl = $('details');
    dl.textContent = '';
    for (const [k, v] of rows) {
      const dt = document.createElement('dt'); dt.textContent = k;
      const dd = document.createElement('dd'); dd.textContent = v;
      dl.append(dt, dd);
    }

    const heat = $('heatmap');
    const hasMap = Boolean(r.heatmap && r.heatmap.data);
    $('heatmap-controls').hidden = !hasMap;
    $('no-heatmap').hidden = hasMap;
    heat.hidden = !hasMap;
    if (hasMap) {
      heat.src = 'data:image/png;base64,' + r.heatmap.data;
      applyHeatmapControls();
      $('caption').textContent = `Heatmap: per-pixel probability of generated content (max ${fmtPct(r.heatmap.max)}); ` +
        'bright and opaque = more likely painted in.';
    } else {
      $('caption').textContent = '';
    }
    $('result').hidden = false;
  }

  function applyHeatmapControls() {
    const heat = $('heatmap');
    heat.classList.toggle('off', !$('show-heatmap').checked);
    heat.style.opacity = String(Number($('opacity').value) / 100);
  }

  // ---- claim assessment -----------------------------------------------------------------------
  const assessAvailable = () => Boolean(state.model && state.model.assess && state.model.assess.available);
  const isVideo = (f) => VIDEO_TYPES.includes(f.type) || (!f.type.startsWith('image/') && VIDEO_EXT.test(f.name || ''));

  function setClaim(file) {
    state.claim = file;
    updateAssessControls();
    if (state.refs.length && assessAvailable()) assess();
  }

  function updateAssessControls() {
    const btn = $('assess-btn');
    btn.disabled = !state.claim || !assessAvailable();
    $('ref-clear').hidden = state.refs.length === 0;
    $('assess-hint').textContent = !state.claim ? 'Choose a claim photo first.'
      : state.refs.length ? `Assess ${state.claim.name} against ${state.refs.length} reference` +
        `${state.refs.length > 1 ? 's' : ''}.`
      : `Assess ${state.claim.name} without references (provenance and detector only).`;
  }

  function addRefs(list) {
    if (!list || !list.length) return;
    const max = (state.model && state.model.assess && state.model.assess.max_references) || Infinity;
    const lim = (state.model && state.model.limits) || {};
    const problems = [];
    for (const f of list) {
      if (!f) continue;
      if (!(f.type.startsWith('image/') || isVideo(f) || !f.type)) {
        problems.push(`${f.name}: not a photo or a video`);
      } else if (lim.max_upload_bytes && f.size > lim.max_upload_bytes) {
        problems.push(`${f.name}: ${fmtBytes(f.size)} is over the ${fmtBytes(lim.max_upload_bytes)} limit`);
      } else if (state.refs.length >= max) {
        problems.push(`${f.name}: at most ${max} references`);
      } else {
        state.refs.push({ file: f, video: isVideo(f), url: isVideo(f) ? null : URL.createObjectURL(f) });
      }
    }
    showAssessError(problems.length ? 'Not added: ' + problems.join('; ') + '.' : '');
    renderRefs();
    if (state.claim && assessAvailable()) assess();
  }

  function removeRef(index) {
    const [ref] = state.refs.splice(index, 1);
    if (ref && ref.url) URL.revokeObjectURL(ref.url);
    renderRefs();
  }

  function renderRefs() {
    const ul = $('ref-list');
    ul.textContent = '';
    state.refs.forEach((ref, i) => {
      const li = document.createElement('li');
      if (ref.url) {
        const img = document.createElement('img');
        img.src = ref.url;
        img.alt = '';
        li.append(img);
      } else {
        const tag = el('span', 'video-tag', 'video');
        li.append(tag);
      }
      const name = el('span', 'ref-name', `${ref.file.name} (${fmtBytes(ref.file.size)})`);
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'secondary small';
      del.textContent = '\u00d7';
      del.title = 'Remove ' + ref.file.name;
      del.setAttribute('aria-label', 'Remove ' + ref.file.name);
      del.addEventListener('click', (e) => { e.stopPropagation(); removeRef(i); });
      li.append(name, del);
      ul.append(li);
    });
    updateAssessControls();
  }

  function setAssessStatus(text) { $('assess-status').textContent = text || ''; }

  function showAssessError(message) {
    const box = $('assess-error');
    box.textContent = message || '';
    box.hidden = !message;
  }

  async function assess() {
    if (!state.claim || !assessAvailable()) return;
    const seq = ++state.assessSeq;
    const claim = state.claim;
    showAssessError('');
    $('assessment').hidden = true;
    $('assess-btn').disabled = true;
    setAssessStatus(`Assessing ${claim.name}` + (state.refs.length ? ` against ${state.refs.length} reference` +
      `${state.refs.length > 1 ? 's' : ''}\u2026` : '\u2026'));
    const form = new FormData();
    form.append('claim', claim, claim.name || 'claim');
    for (const ref of state.refs) form.append(ref.video ? 'reference_videos' : 'references', ref.file, ref.file.name);
    let response, body;
    try {
      response = await fetch('/v1/assess?maps=true', { method: 'POST', body: form, headers: authHeaders() });
      body = await readJson(response);
    } catch (e) {
      if (seq === state.assessSeq) { setAssessStatus(''); showAssessError('Assessment failed: ' + e.message); updateAssessControls(); }
      return;
    }
    if (seq !== state.assessSeq) return;  // a newer claim or reference set was chosen meanwhile
    updateAssessControls();
    setAssessStatus('');
    if (!response.ok) {
      showAssessError('Assessment: ' + errorText(response, body));
      if (response.status === 401) { state.model = null; $('auth').hidden = false; }
      return;
    }
    renderAssessment(body);
  }

  const VERDICTS = {
    likely_ai_edited: ['Likely AI-edited', 'fake'],
    needs_review: ['Needs review', 'review'],
    likely_authentic: ['Likely authentic', 'real'],
  };
  const KIND_TITLES = {
    gb45438_label: 'AI-content label (GB 45438)', c2pa_manifest: 'C2PA content credentials',
    iptc_digital_source_type: 'IPTC digital source type', sd_watermark: 'Stable Diffusion watermark',
    generation_parameters: 'AI generation settings', editing_software: 'Editing software',
    no_provenance_label: 'No provenance label', metadata_error: 'Metadata problem', detector: 'Pixel detector',
    reference_match: 'Edited copy of a listing photo', reference_copy: 'Unchanged copy of a listing photo',
    independent_photo: 'Independent photo', reference_error: 'Reference not usable',
    explicit_ai_label: 'Visible AI label (read by OCR)',
  };
  // What an item's mask marks on the claim (default: the regions changed from the matched listing photo).
  const MASK_CAPTIONS = { explicit_ai_label: 'AI label text' };

  // Grey maps (value / 255) are recoloured like the /v1/predict heatmap: inferno colours, opacity = value,
  // and laid over the claim thumbnail (a map covers the whole claim with the same aspect ratio).
  const INFERNO = [[0, 40, 11, 84], [0.25, 101, 21, 110], [0.5, 188, 55, 84], [0.75, 249, 142, 9], [1, 252, 255, 164]];

  function inferno(v) {
    for (let k = 1; k < INFERNO.length; k++) {
      const [p1, ...c1] = INFERNO[k];
      if (v <= p1) {
        const [p0, ...c0] = INFERNO[k - 1];
        const t = (v - p0) / (p1 - p0);
        return c0.map((c, i) => c + t * (c1[i] - c));
      }
    }
    return INFERNO[INFERNO.length - 1].slice(1);
  }

  async function recolour(b64, mask) {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const d = px.data;
    for (let i = 0; i < d.length; i += 4) {
      const v = d[i] / 255;
      const [r, g, b] = mask ? [0, 200, 255] : inferno(v);
      d[i] = r; d[i + 1] = g; d[i + 2] = b; d[i + 3] = mask ? (v > 0.5 ? 150 : 0) : Math.round(255 * v);
    }
    ctx.putImageData(px, 0, 0);
    return canvas.toDataURL('image/png');
  }

  function overlayFigure(b64, caption, claimThumb, mask) {
    const fig = el('figure', 'map overlay' + (mask ? ' mask' : ' heat'));
    const box = el('div', 'ov');
    const base = el('img', 'base');
    base.src = 'data:image/png;base64,' + claimThumb;
    base.alt = 'The claim photo';
    const top = el('img', 'top');
    top.alt = caption;
    recolour(b64, mask).then((url) => { top.src = url; }, () => { top.src = 'data:image/png;base64,' + b64; });
    box.append(base, top);
    const cap = el('figcaption', '', caption + ' (over the claim)');
    fig.append(box, cap);
    return fig;
  }

  function pngFigure(b64, caption, cls) {
    const fig = el('figure', 'map' + (cls ? ' ' + cls : ''));
    const img = document.createElement('img');
    img.src = 'data:image/png;base64,' + b64;
    img.alt = caption;
    const cap = el('figcaption', '', caption);
    fig.append(img, cap);
    return fig;
  }

  function renderAssessment(r) {
    const a = r.assessment;
    const [words, cls] = VERDICTS[a.verdict] || [a.verdict, 'review'];
    const verdict = $('assess-verdict');
    verdict.textContent = words;
    verdict.className = 'badge ' + cls;
    verdict.dataset.verdict = a.verdict;
    $('assess-reason').textContent = a.reason;
    const t = r.timings_ms || {};
    $('assess-meta').textContent = `${a.claim || 'claim'} \u00b7 ${a.image_size[1]} \u00d7 ${a.image_size[0]} px \u00b7 ` +
      `score ${Number(a.score).toFixed(2)} (AI-edited at ${a.thresholds.ai_threshold}, review at ` +
      `${a.thresholds.review_threshold}) \u00b7 ${Math.round(t.total || 0)} ms \u00b7 model ${r.model.version}`;
    const thumb = $('claim-thumb');
    thumb.hidden = !a.claim_thumbnail;
    if (a.claim_thumbnail) thumb.src = 'data:image/png;base64,' + a.claim_thumbnail;

    const deciding = new Set((a.decided_by || []).map((d) => d.index));
    const ol = $('evidence');
    ol.textContent = '';
    a.evidence.forEach((e, i) => {
      const li = el('li', 'ev ' + (e.strength > 0 ? 'pos' : e.strength < 0 ? 'neg' : 'zero') + (deciding.has(i) ? ' deciding' : ''));
      li.dataset.kind = e.kind;
      const head = el('div', 'ev-head');
      const title = el('strong', '', KIND_TITLES[e.kind] || e.kind);
      const kind = el('code', 'ev-kind', e.kind);
      head.append(title, kind);
      if (deciding.has(i)) {
        const tag = el('span', 'tag', 'deciding');
        head.append(tag);
      }
      const value = el('span', 'ev-strength', (e.strength > 0 ? '+' : '') + Number(e.strength).toFixed(2));
      head.append(value);

      const bar = el('div', 'sbar');
      bar.setAttribute('role', 'meter');
      bar.setAttribute('aria-valuemin', '-1');
      bar.setAttribute('aria-valuemax', '1');
      bar.setAttribute('aria-valuenow', String(e.strength));
      bar.setAttribute('aria-label', 'Strength (negative: authentic, positive: AI-edited)');
      const fill = el('div', 'sfill');
      const w = Math.min(1, Math.abs(e.strength)) * 50;
      fill.style.width = w + '%';
      fill.style.left = (e.strength >= 0 ? 50 : 50 - w) + '%';
      const mid = el('div', 'smid');
      bar.append(fill, mid);

      const text = el('p', 'ev-text', e.explanation);
      li.append(head, bar, text);

      const maps = el('div', 'ev-maps');
      const onClaim = (b64, caption, mask) => (a.claim_thumbnail ? overlayFigure(b64, caption, a.claim_thumbnail, mask)
        : pngFigure(b64, caption, mask ? 'mask' : 'heat'));
      if (e.map && e.map.png_base64) maps.append(onClaim(e.map.png_base64, e.map.label || 'map', false));
      if (e.mask && e.mask.png_base64) maps.append(onClaim(e.mask.png_base64, MASK_CAPTIONS[e.kind] || 'changed regions', true));
      for (const [name, img] of Object.entries(e.images || {})) {
        if (img && img.png_base64) maps.append(pngFigure(img.png_base64, name.replace(/_/g, ' '), 'picture'));
      }
      if (maps.childElementCount) li.append(maps);
      ol.append(li);
    });
    $('assessment').hidden = false;
  }

  // ---- wiring ---------------------------------------------------------------------------------
  function firstImage(list) {
    for (const f of list || []) if (f && (f.type.startsWith('image/') || !f.type)) return f;
    return list && list[0];
  }

  function init() {
    const drop = $('drop');
    const input = $('file');
    $('choose').addEventListener('click', (e) => { e.stopPropagation(); input.click(); });
    drop.addEventListener('click', () => input.click());
    drop.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); }
    });
    input.addEventListener('change', () => { analyse(firstImage(input.files)); input.value = ''; });
    ['dragenter', 'dragover'].forEach((t) => drop.addEventListener(t, (e) => {
      e.preventDefault(); drop.classList.add('over');
    }));
    ['dragleave', 'dragend'].forEach((t) => drop.addEventListener(t, () => drop.classList.remove('over')));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      analyse(firstImage(e.dataTransfer && e.dataTransfer.files));
    });
    // A photo dropped anywhere else must not make the browser navigate away from the page.
    window.addEventListener('dragover', (e) => e.preventDefault());
    window.addEventListener('drop', (e) => e.preventDefault());
    document.addEventListener('paste', (e) => {
      const file = firstImage(e.clipboardData && e.clipboardData.files);
      if (file) analyse(file);
    });
    const refDrop = $('ref-drop');
    const refInput = $('ref-files');
    $('ref-choose').addEventListener('click', (e) => { e.stopPropagation(); refInput.click(); });
    refDrop.addEventListener('click', () => refInput.click());
    refDrop.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); refInput.click(); }
    });
    refInput.addEventListener('change', () => { addRefs(Array.from(refInput.files || [])); refInput.value = ''; });
    ['dragenter', 'dragover'].forEach((t) => refDrop.addEventListener(t, (e) => {
      e.preventDefault(); refDrop.classList.add('over');
    }));
    ['dragleave', 'dragend'].forEach((t) => refDrop.addEventListener(t, () => refDrop.classList.remove('over')));
    refDrop.addEventListener('drop', (e) => {
      e.preventDefault();
      e.stopPropagation();
      refDrop.classList.remove('over');
      addRefs(Array.from((e.dataTransfer && e.dataTransfer.files) || []));
    });
    $('ref-clear').addEventListener('click', () => {
      state.refs.forEach((r) => r.url && URL.revokeObjectURL(r.url));
      state.refs = [];
      renderRefs();
    });
    $('assess-btn').addEventListener('click', assess);
    $('show-heatmap').addEventListener('change', applyHeatmapControls);
    $('opacity').addEventListener('input', applyHeatmapControls);
    $('photo').addEventListener('load', () => {
      // Enlarge small product shots (up to 2x) for review, keeping the aspect ratio the overlay relies on.
      const img = $('photo');
      const w = img.naturalWidth, h = img.naturalHeight;
      const scale = Math.max(1, Math.min(2, 480 / w, (0.75 * window.innerHeight) / h));
      img.style.width = scale > 1 ? Math.round(w * scale) + 'px' : '';
    });
    $('photo').addEventListener('error', () => {
      if ($('photo').getAttribute('src')) $('stack').classList.add('no-photo');  // e.g. TIFF: show the map alone
    });
    $('auth').addEventListener('submit', (e) => {
      e.preventDefault();
      state.apiKey = $('api-key').value.trim();
      sessionStorage.setItem(KEY_STORE, state.apiKey);
      loadModel();
    });
    loadModel();
  }

  init();
})();
