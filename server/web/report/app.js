// The citizens' report page: choose a kind, a service and its questions, a place on the
// map (its district is shown before sending; nearby open reports of the same service are
// offered for a "+1"), up to three photos resized here before upload, an optional
// contact; then a proof of work and one multipart POST to /api/v1/report.
'use strict';
(function () {
  const i18n = window.tarmimI18n;
  const $ = (id) => document.getElementById(id);
  const MAX_SIDE = 1600;          // longest side of a photo sent, pixels
  const JPEG_QUALITY = 0.82;
  const MAX_INPUT_BYTES = 40 * 1024 * 1024; // a file larger than this is not even read
  const state = {
    settings: null, kind: 'request', services: [], point: null, marker: null, map: null,
    photos: [], districtOk: null, powBits: 16,
  };

  const tt = (k, v) => i18n.t(k, v);
  // A text from the catalogue, or `fallback` when it has none (services the city added).
  function tOr(key, fallback) {
    const s = i18n.t(key);
    return s.startsWith('⟦') ? fallback : s;
  }

  function showError(msg) {
    const e = $('error');
    e.textContent = msg;
    e.hidden = !msg;
    if (msg) e.scrollIntoView({ block: 'center' });
  }

  async function getJson(url) {
    const r = await fetch(url, { credentials: 'omit', cache: 'no-store' });
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    return { ok: r.ok, status: r.status, body };
  }

  const isField = (k) => k === 'request' || k === 'violation';

  function renderKinds() {
    const box = $('kinds');
    box.textContent = '';
    for (const k of state.settings.kinds) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'chip';
      b.setAttribute('role', 'radio');
      b.dataset.kind = k.kind;
      b.setAttribute('aria-checked', String(k.kind === state.kind));
      b.textContent = tt('report.kind.' + k.kind);
      b.addEventListener('click', () => chooseKind(k.kind));
      box.appendChild(b);
    }
  }

  function chooseKind(kind) {
    state.kind = kind;
    const field = isField(kind);
    document.querySelectorAll('#kinds .chip').forEach((c) =>
      c.setAttribute('aria-checked', String(c.dataset.kind === kind)));
    $('kind-help').textContent = tt('report.kind.help.' + kind);
    $('service-card').hidden = !field;
    $('about-card').hidden = field;
    $('photos-block').hidden = !field;
    $('place-title').textContent = field ? tt('report.place') : tt('report.place.optional');
    $('description-label').textContent = field ? tt('report.description') : tt('report.message');
    if (!field) { $('nearby').hidden = true; }
    else refreshNearby();
  }

  function renderServices() {
    const sel = $('service');
    const keep = sel.value;
    sel.textContent = '';
    for (const s of state.services) {
      const o = document.createElement('option');
      o.value = s.service_code;
      o.textContent = tOr('report.service.' + s.service_code, s.service_name);
      sel.appendChild(o);
    }
    if (keep) sel.value = keep;
  }

  async function loadAttributes() {
    const box = $('attributes');
    box.textContent = '';
    const code = $('service').value;
    const s = state.services.find((x) => x.service_code === code);
    if (!s || !s.metadata) return;
    const r = await getJson('/open311/v2/services/' + encodeURIComponent(code) + '.json');
    if (!r.ok || !r.body) return;
    for (const a of r.body.attributes || []) {
      if (!a.variable) continue;
      const id = 'attr-' + a.code;
      const label = document.createElement('label');
      label.htmlFor = id;
      const key = `report.attr.${code}.${a.code}`;
      label.textContent = tOr(key, a.description) + (a.required ? ' *' : '');
      let input;
      if (a.datatype === 'singlevaluelist' || a.datatype === 'multivaluelist') {
        input = document.createElement('select');
        if (a.datatype === 'multivaluelist') input.multiple = true;
        else input.appendChild(document.createElement('option'));
        for (const v of a.values || []) {
          const o = document.createElement('option');
          o.value = v.key;
          o.textContent = tOr(`${key}.${v.key}`, v.name);
          input.appendChild(o);
        }
      } else if (a.datatype === 'text') {
        input = document.createElement('textarea');
        input.rows = 2;
      } else {
        input = document.createElement('input');
        input.type = a.datatype === 'number' ? 'number' : a.datatype === 'datetime' ? 'datetime-local' : 'text';
      }
      input.id = id;
      input.dataset.attr = a.code;
      input.dataset.datatype = a.datatype;
      if (a.required) input.required = true;
      box.append(label, input);
    }
  }

  function attributes() {
    const out = {};
    document.querySelectorAll('#attributes [data-attr]').forEach((el) => {
      const code = el.dataset.attr;
      if (el.multiple) {
        const vals = Array.from(el.selectedOptions).map((o) => o.value);
        if (vals.length) out[code] = vals;
      } else if (el.value !== '') {
        out[code] = el.dataset.datatype === 'datetime' ? new Date(el.value).toISOString() : el.value;
      }
    });
    return out;
  }

  // ---- the map and the place
  function initMap() {
    if (!window.L) return;
    const map = L.map('map', { zoomControl: true, attributionControl: false });
    state.map = map;
    const tiles = state.tileUrl;
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    map.setView([35.72, 51.40], 11);
    getJson('/ogc/collections/districts/items?limit=100').then((r) => {
      if (r.ok && r.body && r.body.features && r.body.features.length) {
        const layer = L.geoJSON(r.body, { style: { color: '#5b6b7a', weight: 1, fillOpacity: 0.05 } }).addTo(map);
        map.fitBounds(layer.getBounds());
      }
    });
    map.on('click', (e) => setPoint(e.latlng.lat, e.latlng.lng, null));
  }

  async function setPoint(lat, lon, accuracy) {
    state.point = { lat, lon, accuracy };
    if (state.map) {
      if (state.marker) state.marker.setLatLng([lat, lon]);
      else state.marker = L.marker([lat, lon]).addTo(state.map);
    }
    $('clear-point').hidden = false;
    const d = $('district');
    d.className = 'district';
    d.textContent = tt('report.district.looking');
    const r = await getJson(`/api/v1/report/district?lat=${lat}&lon=${lon}`);
    if (r.ok) {
      state.districtOk = true;
      d.textContent = tt('report.district.is', { name: (window.tarmimI18n.lang === 'en' && r.body.name_en) || r.body.name });
    } else if (r.status === 422) {
      state.districtOk = false;
      d.className = 'district bad';
      d.textContent = tt('report.district.outside');
    } else {
      state.districtOk = null;
      d.textContent = '';
    }
    refreshNearby();
  }

  function clearPoint() {
    state.point = null;
    state.districtOk = null;
    if (state.marker) { state.marker.remove(); state.marker = null; }
    $('district').textContent = '';
    $('clear-point').hidden = true;
    $('nearby').hidden = true;
  }

  async function refreshNearby() {
    const box = $('nearby');
    const list = $('nearby-list');
    if (!isField(state.kind) || !state.point || state.districtOk === false) { box.hidden = true; return; }
    const { lat, lon } = state.point;
    const r = await getJson(`/api/v1/report/nearby?service=${encodeURIComponent($('service').value)}&lat=${lat}&lon=${lon}`);
    list.textContent = '';
    if (!r.ok || !r.body || !r.body.length) { box.hidden = true; return; }
    for (const n of r.body.slice(0, 5)) {
      const li = document.createElement('li');
      const text = document.createElement('span');
      text.textContent = tt('report.nearby.item', { title: n.title, m: Math.round(n.distance_m), n: n.supporters });
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'secondary plus-one';
      b.textContent = tt('report.nearby.plus');
      b.addEventListener('click', () => plusOne(n.id));
      li.append(text, b);
      list.appendChild(li);
    }
    box.hidden = false;
  }

  function locate() {
    if (!navigator.geolocation) { showError(tt('report.place.nolocation')); return; }
    navigator.geolocation.getCurrentPosition((p) => {
      const { latitude, longitude, accuracy } = p.coords;
      if (state.map) state.map.setView([latitude, longitude], 16);
      setPoint(latitude, longitude, accuracy);
    }, () => showError(tt('report.place.nolocation')), { enableHighAccuracy: true, timeout: 15000 });
  }

  // ---- photos: checked and resized here; the server verifies them again
  function decode(file) {
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(file);
      const img = new Image();
      img.onload = () => resolve({ img, url });
      img.onerror = () => { URL.revokeObjectURL(url); reject(new Error('not an image')); };
      img.src = url;
    });
  }

  async function shrink(file) {
    const { img, url } = await decode(file);
    const scale = Math.min(1, MAX_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
    const w = Math.max(1, Math.round(img.naturalWidth * scale));
    const h = Math.max(1, Math.round(img.naturalHeight * scale));
    const c = document.createElement('canvas');
    c.width = w; c.height = h;
    c.getContext('2d').drawImage(img, 0, 0, w, h);
    URL.revokeObjectURL(url);
    const blob = await new Promise((res) => c.toBlob(res, 'image/jpeg', JPEG_QUALITY));
    if (!blob) throw new Error('not an image');
    return blob;
  }

  async function addPhotos(files) {
    showError('');
    for (const f of files) {
      if (state.photos.length >= (state.settings.max_photos || 3)) { showError(tt('report.photos.tooMany')); break; }
      if (!f.type.startsWith('image/')) { showError(tt('report.photos.notImage', { name: f.name })); continue; }
      if (f.size > MAX_INPUT_BYTES) { showError(tt('report.photos.tooLarge', { name: f.name })); continue; }
      let blob;
      try { blob = await shrink(f); } catch (_) { showError(tt('report.photos.notImage', { name: f.name })); continue; }
      if (blob.size > state.settings.max_photo_bytes) { showError(tt('report.photos.tooLarge', { name: f.name })); continue; }
      state.photos.push(blob);
    }
    renderPreviews();
  }

  function renderPreviews() {
    const box = $('previews');
    box.textContent = '';
    state.photos.forEach((b, i) => {
      const fig = document.createElement('figure');
      const img = document.createElement('img');
      img.src = URL.createObjectURL(b);
      img.alt = '';
      const rm = document.createElement('button');
      rm.type = 'button';
      rm.className = 'remove';
      rm.textContent = '×';
      rm.setAttribute('aria-label', tt('report.photos.remove'));
      rm.addEventListener('click', () => { state.photos.splice(i, 1); renderPreviews(); });
      const size = document.createElement('figcaption');
      size.textContent = i18n.num(Math.round(b.size / 1024)) + ' KB';
      fig.append(img, rm, size);
      box.appendChild(fig);
    });
  }

  // ---- sending
  function stamp() {
    const b = new Uint8Array(8);
    crypto.getRandomValues(b);
    const minute = Math.floor(Date.now() / 60000);
    return window.TarmimPow.solve(state.settings.pow_bits, minute, window.TarmimPow.hex(b), 0);
  }

  function contact() {
    return {
      email: $('email').value.trim() || null,
      phone: $('phone').value.trim() || null,
      consent: $('consent').checked,
      lang: i18n.lang,
    };
  }

  function checkContact(c) {
    if (c.email && !/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(c.email)) return tt('report.error.email');
    if (c.phone && !/^\+?[0-9۰-۹٠-٩ ()-]{7,20}$/.test(c.phone)) return tt('report.error.phone');
    if ((c.email || c.phone) && !c.consent) return tt('report.error.consent');
    return '';
  }

  function serverError(r) {
    if (r.status === 429) return tt('report.error.tooMany');
    if (r.status === 413) return tt('report.error.photoTooLarge');
    if (r.status === 422) return tt('report.district.outside');
    const m = r.body && r.body.message;
    // The server reads the number with libphonenumber's rules, stricter than the form's
    // check; its words are English, so say it in the page's language.
    if (r.status === 400 && m && /phone number/.test(m)) return tt('report.error.phone');
    return m ? tt('report.error.server', { message: m }) : tt('common.error.network');
  }

  async function send(ev) {
    ev.preventDefault();
    showError('');
    const field = isField(state.kind);
    const desc = $('description').value.trim();
    if (field && !state.point) return showError(tt('report.error.noPoint'));
    if (state.point && state.districtOk === false) return showError(tt('report.district.outside'));
    if (!field && !desc) return showError(tt('report.error.noText'));
    const c = contact();
    const bad = checkContact(c);
    if (bad) return showError(bad);
    const report = Object.assign({ kind: state.kind, description: desc }, c);
    if (field) {
      report.service = $('service').value;
      report.attributes = attributes();
    } else {
      report.about_task = $('about-task').value.trim() || null;
      report.about_unit = $('about-unit').value.trim() || null;
    }
    if (state.point) {
      report.lat = state.point.lat;
      report.lon = state.point.lon;
      if (state.point.accuracy != null) report.accuracy_m = state.point.accuracy;
    }
    const addr = $('address').value.trim();
    if (addr && field) report.address = addr;
    const form = new FormData();
    form.append('report', new Blob([JSON.stringify(report)], { type: 'application/json' }));
    if (field) state.photos.forEach((b, i) => form.append('photo', b, `photo-${i + 1}.jpg`));
    $('send').disabled = true;
    $('working').hidden = false;
    try {
      await new Promise((res) => setTimeout(res, 0)); // let "Sending…" paint first
      const r = await fetch('/api/v1/report', { method: 'POST', body: form, headers: { 'Tarmim-Pow': stamp() }, credentials: 'omit' });
      let body = null;
      try { body = await r.json(); } catch (_) { /* not JSON */ }
      if (!r.ok) return showError(serverError({ status: r.status, body }));
      done(body);
    } catch (_) {
      showError(tt('common.error.network'));
    } finally {
      $('send').disabled = false;
      $('working').hidden = true;
    }
  }

  async function plusOne(id) {
    showError('');
    const c = contact();
    const bad = checkContact(c);
    if (bad) return showError(bad);
    const r = await fetch('/api/v1/report/support/' + encodeURIComponent(id), {
      method: 'POST', credentials: 'omit',
      headers: { 'Content-Type': 'application/json', 'Tarmim-Pow': stamp() },
      body: JSON.stringify(c),
    });
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    if (!r.ok) return showError(serverError({ status: r.status, body }));
    done(body);
  }

  function done(receipt) {
    $('form').hidden = true;
    $('done').hidden = false;
    $('done-code').textContent = i18n.digits(receipt.tracking_code);
    $('done-code').dataset.code = receipt.tracking_code;
    $('done-link').href = receipt.track_path + '?lang=' + i18n.lang;
    $('done-district').textContent = receipt.district ? tt('report.district.is', { name: receipt.district.name }) : '';
    $('done-contact').hidden = !receipt.contact_stored;
    window.scrollTo(0, 0);
  }

  function counter() {
    const n = $('description').value.length;
    $('counter').textContent = tt('report.counter', { n, max: 4000 });
  }

  async function start() {
    // Asked for at once, beside the catalogue: on a slow link every round trip counts.
    const asked = Promise.all([
      getJson('/api/v1/report/settings'),
      getJson('/open311/v2/services.json'),
    ]);
    await i18n.ready;
    i18n.switcher($('lang-switch'));
    const [settings, services] = await asked;
    if (!settings.ok) { showError(tt('common.error.network')); return; }
    state.settings = settings.body;
    state.tileUrl = settings.body.tile_url;
    state.services = (services.body || []).filter((s) => !String(s.service_code).startsWith('msg_'));
    renderKinds();
    renderServices();
    chooseKind(state.kind);
    loadAttributes();
    counter();
    initMap();
    $('service').addEventListener('change', () => { loadAttributes(); refreshNearby(); });
    $('locate').addEventListener('click', locate);
    $('clear-point').addEventListener('click', clearPoint);
    $('photos').addEventListener('change', (e) => { addPhotos(Array.from(e.target.files)); e.target.value = ''; });
    $('description').addEventListener('input', counter);
    $('form').addEventListener('submit', send);
    i18n.onChange(() => { renderKinds(); renderServices(); chooseKind(state.kind); loadAttributes(); counter(); });
    document.body.dataset.ready = 'true';
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
