// The call centre's desk (/console/desk.html), keyboard first:
//   F2 answer a call · / find the caller · Enter search · F4 end the call ·
//   Ctrl+Enter file the report.
// Talks to /api/v1/desk/* (find a caller, file for them, nearby duplicates and support,
// the read-only view of a report, the call log) and, for the address, to
// /api/v1/places/search (and a caller's note on a task, the one change it makes); a place or a click on the map puts the point and shows its
// district. The tracking code is shown big and spelled character by character for
// reading aloud (the names from the catalogue: Persian letter names, or the NATO
// alphabet in English).
'use strict';

const i18n = window.tarmimI18n;
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const KINDS = ['request', 'violation', 'complaint', 'criticism', 'suggestion', 'idea', 'thanks'];
const FIELD = new Set(['request', 'violation']);

const state = {
  boot: null, map: null, marker: null, point: null, call: null, callTimer: null,
  found: null, lastPhone: null, receipt: null, placeTimer: null, districtName: (c) => c,
};

// A catalogue text, or `fallback` (a service the city added after the catalogue).
const tOr = (key, fallback) => { const v = tr(key); return v.startsWith('⟦') ? fallback : v; };
// Districts and services by their names in the page's language (session.js): a
// service's catalogue text, else the city's name for it in this language, else `name`.
const district = (code) => (code ? state.districtName(code) : '');
const service = (code, name) => {
  const known = (state.boot && state.boot.services.some((s) => s.code === code));
  return known ? serviceNames(state.boot.services, 'report.service')(code) : tOr(`report.service.${code}`, name || code);
};
const dig = (s) => esc(i18n.digits(s));

async function api(method, path, body) {
  return session.request(method, path, body);
}

// ---------------------------------------------------------------- the call

function drawCall() {
  const on = !!(state.call && !state.call.ended_at);
  $('#callbar').classList.toggle('on', on);
  $('#call-controls').hidden = !on;
  $('#call-start').hidden = on;
  $('#call-state').textContent = on
    ? tr('desk.call.on', { at: i18n.date(state.call.started_at, { timeStyle: 'short' }) })
    : (state.call ? tr('desk.call.ended', { outcome: tr(`desk.outcome.${state.call.outcome}`) }) : tr('desk.call.none'));
}

async function startCall() {
  $('#call-error').textContent = '';
  if (state.call && !state.call.ended_at) return;
  try {
    state.call = await api('POST', '/api/v1/desk/calls');
    $('#call-outcome').value = 'information';
    $('#call-about').value = '';
    drawCall();
    $('#find').focus();
  } catch (e) { $('#call-error').textContent = e.message; }
}

async function endCall() {
  $('#call-error').textContent = '';
  if (!state.call || state.call.ended_at) return;
  try {
    const about = $('#call-about').value.trim();
    state.call = await api('POST', `/api/v1/desk/calls/${encodeURIComponent(state.call.id)}/end`,
      { outcome: $('#call-outcome').value, about: about || null });
    drawCall();
  } catch (e) { $('#call-error').textContent = e.message; }
}

function outcome(o, about) {
  if (!state.call || state.call.ended_at) return;
  $('#call-outcome').value = o;
  if (about) $('#call-about').value = about;
}

// ---------------------------------------------------------------- finding the caller

// A typed number (not a code or a task id): kept to fill the form's phone field.
const looksLikePhone = (s) => /^[+\d\s\-()۰-۹٠-٩]+$/.test(s.trim());

async function find(ev) {
  if (ev) ev.preventDefault();
  const q = $('#find').value.trim();
  $('#find-error').textContent = '';
  if (!q) return;
  const call = state.call && !state.call.ended_at ? `&call=${encodeURIComponent(state.call.id)}` : '';
  try {
    const found = await api('GET', `/api/v1/desk/callers?q=${encodeURIComponent(q)}${call}`);
    state.found = found;
    if (found.by === 'phone') {
      state.lastPhone = q;
      $('#phone').value = q;
    } else if (found.reports[0]) {
      outcome('follow_up', found.reports[0].code || found.reports[0].id);
    }
    drawReports();
    const first = $('#reports li');
    if (first) first.focus();
  } catch (e) {
    // The server's words in English; the desk's own sentence in Persian.
    $('#find-error').textContent = e.status === 400 && i18n.lang !== 'en' ? tr('desk.find.bad')
      : e.status === 404 && i18n.lang !== 'en' ? tr('desk.find.unknown') : e.message;
    state.found = null;
    drawReports();
  }
}

function drawReports() {
  const f = state.found;
  const list = $('#reports');
  list.replaceChildren();
  $('#task-view').hidden = true;
  $('#reports-title').hidden = !f;
  $('#reports-note').hidden = true;
  if (!f) return;
  $('#reports-title').textContent = f.reports.length ? tr('desk.reports.count', { n: f.reports.length }) : tr('desk.reports');
  if (!f.reports.length) {
    $('#reports-note').hidden = false;
    $('#reports-note').textContent = tr('desk.reports.none');
  } else if (!f.caller_known) {
    $('#reports-note').hidden = false;
    $('#reports-note').textContent = tr('desk.reports.unknown');
  }
  for (const r of f.reports) {
    const li = document.createElement('li');
    li.tabIndex = 0;
    li.className = r.closed ? 'closed' : '';
    li.dataset.id = r.id;
    const what = r.category ? service(r.category.code, r.category.name) : tr(`messageKind.${r.kind}`);
    const status = r.status === 'answered' || r.status === 'received'
      ? tr(`desk.message.${r.status}`) : tr(`status.${r.status}`);
    li.innerHTML = `<div class="said">${esc(tr('desk.report.said', { service: what, date: i18n.date(r.created_at, { dateStyle: 'medium' }), status }))}</div>
      <div class="meta">${r.code ? `${esc(tr('desk.code'))}: <b translate="no" dir="ltr">${dig(r.code)}</b> · ` : ''}${r.district ? esc(district(r.district.code)) + ' · ' : ''}<bdi translate="no">${esc(r.title)}</bdi></div>`;
    const open = () => view(r);
    li.addEventListener('click', open);
    li.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') open();
      if (e.key === 'ArrowDown' && li.nextElementSibling) { e.preventDefault(); li.nextElementSibling.focus(); }
      if (e.key === 'ArrowUp' && li.previousElementSibling) { e.preventDefault(); li.previousElementSibling.focus(); }
    });
    list.append(li);
  }
}

// The read-only view of one report: the public fields, timeline and photos.
async function view(r) {
  document.querySelectorAll('#reports li').forEach((li) => li.classList.toggle('selected', li.dataset.id === r.id));
  outcome('follow_up', r.code || r.id);
  const box = $('#task-view');
  try {
    const v = await api('GET', `/api/v1/desk/tasks/${encodeURIComponent(r.id)}`);
    const steps = (v.timeline || []).map((s) => `<li>${esc(i18n.date(s.at))}: ${esc(tOr(`desk.step.${s.kind}`, s.text))}</li>`).join('');
    const photos = [...((v.photos || {}).before || []), ...((v.photos || {}).after || [])]
      .map((p) => `<img src="${esc(p.thumb)}" alt="${esc(tr('desk.view.photo'))}">`).join('');
    box.innerHTML = `<p class="hint">${esc(tr('desk.view.readOnly'))}</p>
      <h4>${v.category ? esc(service(v.category.code, v.category.name)) : esc(tr(`messageKind.${v.kind}`))} · ${esc(v.status ? tOr(`status.${v.status}`, v.status_text) : '')}</h4>
      <p><bdi translate="no">${esc(v.title || '')}</bdi></p>
      ${v.address ? `<p>${esc(tr('field.address'))}: <bdi translate="no">${esc(v.address)}</bdi></p>` : ''}
      <p>${esc(tr('desk.view.reported', { at: i18n.date(v.created_at) }))}${v.expected_by ? ' · ' + esc(tr('desk.view.expected', { at: i18n.date(v.expected_by, { dateStyle: 'medium' }) })) : ''}</p>
      <ol>${steps}</ol>${photos ? `<div>${photos}</div>` : ''}
      ${r.id.startsWith('T-') ? `<label><span>${esc(tr('desk.note'))}</span><textarea id="note-text" rows="2" maxlength="1000" placeholder="${esc(tr('desk.note.placeholder'))}"></textarea></label>
      <button type="button" id="note-add" class="secondary">${esc(tr('desk.note'))}</button> <span id="note-state" class="hint"></span>` : ''}`;
    box.hidden = false;
    const add = box.querySelector('#note-add');
    if (add) {
      add.addEventListener('click', async () => {
        const st = box.querySelector('#note-state');
        try {
          await api('POST', `/api/v1/desk/tasks/${encodeURIComponent(r.id)}/notes`, { text: box.querySelector('#note-text').value });
          box.querySelector('#note-text').value = '';
          st.textContent = tr('desk.note.saved');
        } catch (e) { st.textContent = e.message; }
      });
    }
  } catch (e) {
    box.innerHTML = `<p class="error">${esc(e.message)}</p>`;
    box.hidden = false;
  }
}

// ---------------------------------------------------------------- the form

function drawKinds() {
  const k = $('#kind');
  const keep = k.value || 'request';
  k.innerHTML = KINDS.map((x) => `<option value="${x}">${esc(tr(`messageKind.${x}`))}</option>`).join('');
  k.value = keep;
  const s = $('#service');
  const keepS = s.value;
  s.innerHTML = state.boot.services.map((x) => `<option value="${esc(x.code)}">${esc(service(x.code, x.name))}</option>`).join('');
  if (keepS) s.value = keepS;
}

function kindChanged() {
  const field = FIELD.has($('#kind').value);
  $('#service-label').hidden = !field;
  $('#attributes').hidden = !field;
  if (!field) $('#nearby').hidden = true;
  loadAttributes();
}

async function loadAttributes() {
  const box = $('#attributes');
  box.textContent = '';
  if (!FIELD.has($('#kind').value)) return;
  const code = $('#service').value;
  let def;
  try {
    const r = await fetch(`/open311/v2/services/${encodeURIComponent(code)}.json`);
    if (!r.ok) return;
    def = await r.json();
  } catch (_) { return; }
  if (code !== $('#service').value) return;
  for (const a of def.attributes || []) {
    if (!a.variable) continue;
    const key = `report.attr.${code}.${a.code}`;
    const label = document.createElement('label');
    const span = document.createElement('span');
    span.textContent = tOr(key, a.description) + (a.required ? ' *' : '');
    let input;
    if (a.datatype === 'singlevaluelist' || a.datatype === 'multivaluelist') {
      input = document.createElement('select');
      if (a.datatype === 'multivaluelist') input.multiple = true;
      else input.append(document.createElement('option'));
      for (const v of a.values || []) {
        const o = document.createElement('option');
        o.value = v.key;
        o.textContent = tOr(`${key}.${v.key}`, v.name);
        input.append(o);
      }
    } else {
      input = document.createElement('input');
      input.type = a.datatype === 'number' ? 'number' : a.datatype === 'datetime' ? 'datetime-local' : 'text';
    }
    input.dataset.attr = a.code;
    input.dataset.datatype = a.datatype;
    input.required = !!a.required;
    label.append(span, input);
    box.append(label);
  }
  refreshNearby();
}

function attributes() {
  const out = {};
  document.querySelectorAll('#attributes [data-attr]').forEach((el) => {
    if (el.multiple) {
      const vals = Array.from(el.selectedOptions).map((o) => o.value);
      if (vals.length) out[el.dataset.attr] = vals;
    } else if (el.value !== '') {
      out[el.dataset.attr] = el.dataset.datatype === 'datetime' ? new Date(el.value).toISOString() : el.value;
    }
  });
  return out;
}

// ---------------------------------------------------------------- the place

function initMap() {
  const boot = state.boot;
  const map = L.map('map', { zoomControl: false, zoomSnap: 0.1, attributionControl: !!boot.tile_url });
  state.zoom = zoomControl().addTo(map);
  if (boot.tile_url) L.tileLayer(boot.tile_url, { maxZoom: 19 }).addTo(map);
  const layer = L.geoJSON(boot.districts, { style: { color: '#34495e', weight: 1, fillOpacity: 0.04 } }).addTo(map);
  const b = layer.getBounds();
  setTimeout(() => { map.invalidateSize(); if (b.isValid()) map.fitBounds(b); else map.setView([35.69, 51.39], 12); }, 0);
  map.on('click', (e) => setPoint(e.latlng.lat, e.latlng.lng, null, null));
  state.map = map;
}

// Puts the point; `place` is a gazetteer hit (its name and district), else a map click
// (its district asked of the server).
async function setPoint(lat, lon, place, districtCode) {
  state.point = { lat, lon };
  if (state.marker) state.marker.setLatLng([lat, lon]);
  else state.marker = L.marker([lat, lon]).addTo(state.map);
  state.map.setView([lat, lon], Math.max(state.map.getZoom(), 15));
  let where = place ? placeName(place) : tr('desk.place.point', { lat: i18n.num(lat, { maximumFractionDigits: 5 }), lon: i18n.num(lon, { maximumFractionDigits: 5 }) });
  let code = districtCode;
  let outside = false;
  if (!code) {
    try {
      code = (await api('GET', `/api/v1/desk/district?lat=${lat}&lon=${lon}`)).code;
    } catch (e) { outside = true; }
  }
  $('#place-shown').textContent = outside ? tr('desk.place.outside')
    : `${where} · ${tr('field.district')}: ${district(code)}`;
  $('#place-shown').dataset.district = code || '';
  refreshNearby();
}

const placeName = (p) => (i18n.lang === 'en' ? p.name_en || p.name_fa : p.name_fa || p.name_en) || '';

function searchPlaces() {
  clearTimeout(state.placeTimer);
  state.placeTimer = setTimeout(async () => {
    const q = $('#place-q').value.trim();
    const list = $('#place-results');
    if (!q) { list.replaceChildren(); return; }
    let hits = [];
    try { hits = await api('GET', `/api/v1/places/search?q=${encodeURIComponent(q)}&limit=6`); } catch (_) { hits = []; }
    if (q !== $('#place-q').value.trim()) return;
    list.replaceChildren();
    if (!hits.length) {
      const li = document.createElement('li');
      li.className = 'hint';
      li.textContent = tr('desk.place.none');
      list.append(li);
      return;
    }
    for (const h of hits) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = `${placeName(h)}${h.district ? ' · ' + district(h.district) : ''}`;
      b.addEventListener('click', () => {
        list.replaceChildren();
        $('#place-q').value = placeName(h);
        setPoint(h.lat, h.lon, h, h.district);
        $('#description').focus();
      });
      li.append(b);
      list.append(li);
    }
  }, 200);
}

async function refreshNearby() {
  const box = $('#nearby');
  if (!state.point || !FIELD.has($('#kind').value)) { box.hidden = true; return; }
  let near = [];
  try {
    near = await api('GET', `/api/v1/desk/nearby?service=${encodeURIComponent($('#service').value)}&lat=${state.point.lat}&lon=${state.point.lon}`);
  } catch (_) { near = []; }
  box.hidden = !near.length;
  if (!near.length) return;
  box.innerHTML = `<b>${esc(tr('desk.nearby'))}</b><ul>${near.map((n) => `<li><bdi translate="no">${esc(n.title)}</bdi> · ${esc(tr('unit.metres', { n: Math.round(n.distance_m) }))} <button type="button" class="secondary" data-support="${esc(n.id)}">${esc(tr('desk.nearby.support'))}</button></li>`).join('')}</ul>`;
  box.querySelectorAll('[data-support]').forEach((b) => b.addEventListener('click', () => support(b.dataset.support)));
}

// ---------------------------------------------------------------- filing

function caller() {
  const phone = $('#phone').value.trim();
  return {
    phone: phone || null,
    consent: $('#consent').checked,
    lang: i18n.lang,
    call: state.call && !state.call.ended_at ? state.call.id : null,
  };
}

async function file(ev) {
  if (ev) ev.preventDefault();
  $('#file-error').textContent = '';
  const kind = $('#kind').value;
  const field = FIELD.has(kind);
  if (field && !state.point) { $('#file-error').textContent = tr('desk.place.needed'); return; }
  const body = Object.assign({
    kind,
    description: $('#description').value,
    address: $('#place-q').value.trim() || null,
  }, caller());
  if (field) Object.assign(body, { service: $('#service').value, attributes: attributes() });
  if (state.point) Object.assign(body, { lat: state.point.lat, lon: state.point.lon });
  $('#file-submit').disabled = true;
  try {
    showReceipt(await api('POST', '/api/v1/desk/reports', body));
  } catch (e) {
    $('#file-error').textContent = e.message;
  } finally {
    $('#file-submit').disabled = false;
  }
}

async function support(id) {
  $('#file-error').textContent = '';
  try {
    showReceipt(await api('POST', `/api/v1/desk/reports/${encodeURIComponent(id)}/support`, caller()));
  } catch (e) { $('#file-error').textContent = e.message; }
}

// The code big, and each character with the name to read aloud.
function showReceipt(r) {
  state.receipt = r;
  outcome('new_report', r.tracking_code);
  $('#file-form').hidden = true;
  $('#receipt').hidden = false;
  drawReceipt();
  $('#file-another').focus();
}

function drawReceipt() {
  const r = state.receipt;
  if (!r) return;
  $('#receipt-code').textContent = i18n.digits(r.tracking_code);
  $('#receipt-spelled').innerHTML = [...r.tracking_code].map((c) => (c === '-'
    ? '<li class="dash">–</li>'
    : `<li><b translate="no">${dig(c)}</b>${esc(tr(`desk.spell.${c}`))}</li>`)).join('');
  $('#receipt-district').textContent = r.district ? `${tr('field.district')}: ${district(r.district.code)}` : '';
  $('#receipt-sms').textContent = tr(`desk.sms.${r.sms}`);
}

function fileAnother() {
  state.receipt = null;
  $('#receipt').hidden = true;
  $('#file-form').hidden = false;
  $('#file-form').reset();
  $('#phone').value = state.lastPhone || '';
  state.point = null;
  if (state.marker) { state.marker.remove(); state.marker = null; }
  $('#place-results').replaceChildren();
  $('#place-shown').textContent = tr('desk.place.needed');
  $('#nearby').hidden = true;
  kindChanged();
  $('#kind').focus();
}

// ---------------------------------------------------------------- start

function keys(e) {
  if (e.key === 'F2') { e.preventDefault(); startCall(); }
  else if (e.key === 'F4') { e.preventDefault(); endCall(); }
  else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !$('#file-form').hidden) { e.preventDefault(); file(); }
  else if (e.key === '/' && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) { e.preventDefault(); $('#find').focus(); }
}

function rerender() {
  i18n.apply(document);
  if (!state.boot) return;
  $('#who').innerHTML = whoHtml(state.boot.me);
  if (state.zoom) { state.zoom.remove(); state.zoom = zoomControl().addTo(state.map); }
  drawKinds();
  drawCall();
  drawReports();
  drawReceipt();
  loadAttributes();
}

async function start() {
  $('#login-view').hidden = true;
  $('#desk-view').hidden = false;
  $('#logout').hidden = false;
  try {
    state.boot = await api('GET', '/api/v1/console/bootstrap');
  } catch (e) { $('#find-error').textContent = e.message; return; }
  state.districtName = districtNames(state.boot.districts.features);
  $('#who').innerHTML = whoHtml(state.boot.me);
  if (state.boot.me.role !== 'call_centre') $('#find-error').textContent = tr('desk.forCallCentre');
  drawKinds();
  initMap();
  kindChanged();
  drawCall();
  $('#find').focus();
}

$('#find-form').addEventListener('submit', find);
$('#file-form').addEventListener('submit', file);
$('#call-start').addEventListener('click', startCall);
$('#call-end').addEventListener('click', endCall);
$('#file-another').addEventListener('click', fileAnother);
$('#kind').addEventListener('change', kindChanged);
$('#service').addEventListener('change', loadAttributes);
$('#place-q').addEventListener('input', searchPlaces);
$('#place-q').addEventListener('keydown', (e) => {
  if (e.key === 'ArrowDown') { const b = $('#place-results button'); if (b) { e.preventDefault(); b.focus(); } }
  if (e.key === 'Enter') { e.preventDefault(); const b = $('#place-results button'); if (b) b.click(); }
});
document.addEventListener('keydown', keys);
session.init(start, rerender);
