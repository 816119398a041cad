// Tarmim manager pages: plain JavaScript over /api/v1/analytics/*. Charts are uPlot, the
// district map is Leaflet (both vendored from npm). The session is session.js's, shared
// with the console. Every table here can be
// exported as CSV or JSON with the same filters (the server renders both).
'use strict';

const $ = (sel) => document.querySelector(sel);
const state = {
  boot: null, tab: 'trends', charts: [], map: null, mapLayer: null, measuresByDistrict: null,
  evidence: null,
};

// Numeric measures a chart or the map can show: [field, label, higher is better].
const MEASURES = [
  ['received', 'received', null],
  ['closed', 'closed', true],
  ['backlog', 'backlog', false],
  ['ack_p50_min', 'time to acknowledge, median (min)', false],
  ['ack_p90_min', 'time to acknowledge, p90 (min)', false],
  ['complete_p50_min', 'time to complete, median (min)', false],
  ['complete_p90_min', 'time to complete, p90 (min)', false],
  ['sla_ack_pct', 'SLA acknowledge (%)', true],
  ['sla_complete_pct', 'SLA complete (%)', true],
  ['reopen_rate', 'reopen rate', false],
  ['rating_mean', 'satisfaction (mean 1–5)', true],
  ['rating_response_rate', 'rating response rate', true],
  ['photo_share', 'completions with before+after photos', true],
  ['flagged_photos', 'photos flagged (place/time)', false],
];
const LABEL = Object.fromEntries(MEASURES.map(([k, l]) => [k, l]));

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function fmt(v, field) {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return esc(v);
  if (field && (field.endsWith('_rate') || field.endsWith('_share'))) return `${(v * 100).toFixed(1)}%`;
  if (field && field.endsWith('_pct')) return `${v.toFixed(1)}%`;
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(field === 'rating_mean' ? 2 : 1);
}

// Every answer may carry the range the server chose and its zone: shown in the filters.
async function api(path) {
  const data = await session.request('GET', path);
  if (data && data.from && !$('#f-from').value) $('#f-from').value = data.from;
  if (data && data.to && !$('#f-to').value) $('#f-to').value = data.to;
  if (data && data.timezone) $('#f-zone').textContent = `days in ${data.timezone}`;
  return data;
}

// ---------------------------------------------------------------- filters

// Empty dates let the server choose (the last 30 days, in the city's time zone: the
// browser's own zone may be another); its answer fills them in.
function filters() {
  const p = new URLSearchParams();
  if ($('#f-from').value) p.set('from', $('#f-from').value);
  if ($('#f-to').value) p.set('to', $('#f-to').value);
  for (const [id, key] of [['#f-district', 'district'], ['#f-category', 'category'], ['#f-priority', 'priority']]) {
    if ($(id).value) p.set(key, $(id).value);
  }
  return p;
}

function query(path, extra) {
  const p = filters();
  for (const [k, v] of Object.entries(extra || {})) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  return `${path}?${p}`;
}

$('#filters').addEventListener('submit', (ev) => { ev.preventDefault(); show(state.tab); });

// ---------------------------------------------------------------- start

async function start() {
  let boot;
  try { boot = await api('/api/v1/console/bootstrap'); } catch (e) {
    sessionStorage.removeItem('tarmim-token'); $('#login-error').textContent = e.message; return;
  }
  state.boot = boot;
  $('#login-view').hidden = true;
  $('#manage-view').hidden = false;
  $('#logout').hidden = false;
  $('#who').textContent = `${boot.me.login} (${boot.me.role}${boot.me.districts.length ? ': ' + boot.me.districts.join(', ') : ''})`;
  for (const f of boot.districts.features) {
    const o = document.createElement('option');
    o.value = f.properties.code; o.textContent = `${f.properties.code} ${f.properties.name}`;
    $('#f-district').appendChild(o);
  }
  for (const s of boot.services) {
    const o = document.createElement('option');
    o.value = s.code; o.textContent = s.name;
    $('#f-category').appendChild(o);
  }
  for (const [k, l] of MEASURES) {
    const o = document.createElement('option');
    o.value = k; o.textContent = l;
    $('#m-measure').appendChild(o);
  }
  $('#m-measure').value = 'sla_complete_pct';
  const hash = location.hash.replace('#', '');
  show(document.querySelector(`#tabs [data-tab="${hash}"]`) ? hash : 'trends');
}

for (const b of document.querySelectorAll('#tabs button')) {
  b.addEventListener('click', () => show(b.dataset.tab));
}
$('#t-interval').addEventListener('change', () => show('trends'));
$('#m-measure').addEventListener('change', () => paintMap());
$('#s-level').addEventListener('change', () => show('scorecard'));
$('#x-by').addEventListener('change', () => show('measures'));

async function show(tab) {
  state.tab = tab;
  history.replaceState(null, '', `#${tab}`);
  for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === tab);
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== `tab-${tab}`;
  $('#error').textContent = '';
  document.body.dataset.loaded = '';
  try {
    await ({ trends, map: mapTab, scorecard, measures, gallery })[tab]();
    document.body.dataset.loaded = tab;
  } catch (e) {
    $('#error').textContent = e.message;
  }
}

// ---------------------------------------------------------------- trends

function toSeconds(period) { return Date.parse(`${period}T00:00:00Z`) / 1000; }

async function series(measure) {
  const r = await api(query('/api/v1/analytics/trend', { measure, interval: $('#t-interval').value }));
  const s = r.series[0] || { points: [] };
  return s.points;
}

function chart(el, names, points, colours) {
  const xs = points[0].map((p) => toSeconds(p.period));
  const data = [xs, ...points.map((ps) => ps.map((p) => p.value))];
  el.innerHTML = '';
  const opts = {
    width: Math.max(300, el.clientWidth || 520), height: 220,
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: colours[i], width: 2, spanGaps: false, points: { show: xs.length < 60 } }))],
    axes: [{}, { size: 50 }],
    scales: { x: { time: true } },
  };
  const u = new uPlot(opts, data, el);
  state.charts.push(u);
}

async function trends() {
  for (const c of state.charts) c.destroy();
  state.charts = [];
  const want = ['received', 'closed', 'sla_ack_pct', 'sla_complete_pct', 'complete_p50_min', 'complete_p90_min', 'rating_mean', 'reopen_rate'];
  const got = await Promise.all(want.map(series));
  const by = Object.fromEntries(want.map((m, i) => [m, got[i]]));
  chart($('#chart-volume'), ['received', 'closed'], [by.received, by.closed], ['#2c6aa0', '#27ae60']);
  chart($('#chart-sla'), ['acknowledge %', 'complete %'], [by.sla_ack_pct, by.sla_complete_pct], ['#e67e22', '#16a085']);
  chart($('#chart-time'), ['median', 'p90'], [by.complete_p50_min, by.complete_p90_min], ['#2980b9', '#8e44ad']);
  chart($('#chart-satisfaction'), ['mean rating', 'reopen rate'], [by.rating_mean, by.reopen_rate], ['#f1c40f', '#c0392b']);
}

// ---------------------------------------------------------------- choropleth

async function mapTab() {
  if (!state.map) {
    const boot = state.boot;
    const map = L.map('choropleth', { zoomSnap: 0.1, attributionControl: !!boot.tile_url });
    if (boot.tile_url) L.tileLayer(boot.tile_url, { maxZoom: 19 }).addTo(map);
    state.map = map;
  }
  const r = await api(query('/api/v1/analytics/measures', { by: 'district' }));
  state.measuresByDistrict = Object.fromEntries(r.rows.map((row) => [row.key, row]));
  paintMap();
}

// Five classes between the smallest and largest value; green where higher is better.
const GOOD = ['#edf8e9', '#bae4b3', '#74c476', '#31a354', '#006d2c'];
const BAD = ['#fee5d9', '#fcae91', '#fb6a4a', '#de2d26', '#a50f15'];
const NEUTRAL = ['#eff3ff', '#bdd7e7', '#6baed6', '#3182bd', '#08519c'];

function paintMap() {
  if (!state.map || !state.measuresByDistrict) return;
  const field = $('#m-measure').value;
  const better = (MEASURES.find(([k]) => k === field) || [])[2];
  const ramp = better === true ? GOOD : better === false ? BAD : NEUTRAL;
  const values = Object.values(state.measuresByDistrict).map((r) => r[field]).filter((v) => typeof v === 'number');
  const lo = Math.min(...values), hi = Math.max(...values);
  const cls = (v) => (typeof v !== 'number' ? -1 : hi === lo ? 2 : Math.min(4, Math.floor(((v - lo) / (hi - lo)) * 5)));
  if (state.mapLayer) state.mapLayer.remove();
  state.mapLayer = L.geoJSON(state.boot.districts, {
    style: (f) => {
      const c = cls((state.measuresByDistrict[f.properties.code] || {})[field]);
      return { color: '#34495e', weight: 1.2, fillColor: c < 0 ? '#ffffff' : ramp[c], fillOpacity: c < 0 ? 0.3 : 0.8 };
    },
    onEachFeature: (f, layer) => {
      const row = state.measuresByDistrict[f.properties.code] || {};
      layer.bindTooltip(`${esc(f.properties.code)} ${esc(f.properties.name)}<br>${esc(LABEL[field])}: ${fmt(row[field], field)}`, { permanent: true, direction: 'center', className: 'district-label' });
      layer.on('click', () => { $('#f-district').value = f.properties.code; show('scorecard'); });
    },
  }).addTo(state.map);
  const b = state.mapLayer.getBounds();
  if (b.isValid()) {
    state.map.invalidateSize();
    state.map.fitBounds(b, { padding: [10, 10] });
  }
  const legend = [];
  if (values.length) {
    for (let i = 0; i < 5; i++) {
      const a = lo + ((hi - lo) * i) / 5, z = lo + ((hi - lo) * (i + 1)) / 5;
      legend.push(`<span><i style="background:${ramp[i]}"></i>${fmt(a, field)} – ${fmt(z, field)}</span>`);
    }
  }
  legend.push('<span><i style="background:#fff"></i>no data</span>');
  $('#m-legend').innerHTML = legend.join('');
}

// ---------------------------------------------------------------- tables

function table(el, columns, rows, onClick) {
  const head = `<thead><tr>${columns.map(([k, l]) => `<th data-k="${esc(k)}">${esc(l)}</th>`).join('')}</tr></thead>`;
  const body = rows.map((r, i) => `<tr data-i="${i}" class="${esc(r._class || '')}">${columns.map(([k]) => `<td>${k === 'key' || k === 'label' || typeof r[k] !== 'number' ? esc(r[k] ?? '—') : fmt(r[k], k)}</td>`).join('')}</tr>`).join('');
  el.innerHTML = head + `<tbody>${body || `<tr><td colspan="${columns.length}" class="hint">nothing in this range</td></tr>`}</tbody>`;
  if (onClick) {
    for (const tr of el.querySelectorAll('tbody tr[data-i]')) tr.addEventListener('click', () => onClick(rows[Number(tr.dataset.i)]));
  }
}

async function scorecard() {
  const level = $('#s-level').value;
  const r = await api(query('/api/v1/analytics/scorecard', { level }));
  const f = r.formula || {};
  const text = String(f.text || '').replace(/^\s*score\s*=\s*/i, '');
  $('#s-formula').innerHTML = `<strong>Score</strong> = ${esc(text)} · below <strong>${esc(f.threshold)}</strong> is listed for review.`;
  const componentKeys = [...new Set(r.rows.flatMap((row) => Object.keys(row.components || {})))];
  const rows = r.rows.map((row) => Object.assign({}, row, row.components || {}, {
    _class: row.below_threshold ? 'below' : '',
    score: row.score,
    flag: row.below_threshold ? 'below threshold' : '',
  }));
  table($('#s-table'), [['rank', '#'], ['label', level], ['score', 'score'], ['flag', ''], ['tasks', 'tasks'], ...componentKeys.map((k) => [k, LABEL[k] || k.replace(/_/g, ' ')])], rows,
    (row) => evidence(level, row));
  $('#evidence').hidden = true;
}

async function evidence(level, row) {
  state.evidence = { level, key: row.key };
  const r = await api(query('/api/v1/analytics/tasks', { level, key: row.key, limit: 200 }));
  $('#evidence').hidden = false;
  $('#evidence-title').textContent = `Tasks behind ${row.label}'s numbers (${r.rows.length}${r.rows.length === 200 ? '+' : ''})`;
  const rows = r.rows.map((t) => Object.assign({}, t, {
    sla: t.sla_complete_met === null || t.sla_complete_met === undefined ? '—' : t.sla_complete_met ? 'met' : 'missed',
    photos: `${t.before_photo ? 'before' : '—'} / ${t.after_photo ? 'after' : '—'}`,
    _class: t.sla_complete_met === false ? 'below' : '',
  }));
  table($('#evidence-table'), [['id', 'task'], ['title', 'title'], ['category', 'category'], ['district', 'district'], ['crew', 'crew'], ['contractor', 'contractor'], ['priority', 'priority'], ['status', 'status'], ['ack_min', 'ack (min)'], ['complete_min', 'complete (min)'], ['sla', 'SLA'], ['reopened', 'reopened'], ['rating', 'rating'], ['photos', 'photos'], ['flagged_photos', 'flagged']], rows);
  $('#evidence').scrollIntoView({ block: 'nearest' });
}

async function measures() {
  const by = $('#x-by').value;
  const r = await api(query('/api/v1/analytics/measures', { by }));
  const rows = r.rows.map((row) => Object.assign({}, row, {
    ratings: (row.rating_counts || []).join(' / '),
    sla_by_priority: Object.entries(row.sla || {}).filter(([, v]) => v && v.due).map(([p, v]) => `${p} ${fmt(v.pct, '_pct')}`).join(', '),
  }));
  table($('#x-table'), [['label', by], ...MEASURES.map(([k, l]) => [k, l]), ['sla_by_priority', 'SLA complete by priority'], ['ratings', 'ratings 1/2/3/4/5']], rows);
}

async function gallery() {
  const r = await api(query('/api/v1/analytics/gallery', { limit: 60 }));
  const el = $('#gallery');
  if (!r.rows.length) { el.innerHTML = '<p class="hint">No completed tasks with both photos in this range.</p>'; return; }
  el.innerHTML = r.rows.map((g) => `
    <figure class="pair">
      <div class="photos">
        <a href="${esc(g.before.display)}" target="_blank" rel="noopener"><img src="${esc(g.before.thumb)}" alt="before" loading="lazy"></a>
        <a href="${esc(g.after.display)}" target="_blank" rel="noopener"><img src="${esc(g.after.thumb)}" alt="after" loading="lazy"></a>
      </div>
      <figcaption><strong>${esc(g.title)}</strong><br>${esc(g.district)} · ${esc(g.category)} · ${esc((g.completed_at || '').slice(0, 10))}</figcaption>
    </figure>`).join('');
}

// ---------------------------------------------------------------- export

async function download(kind, format) {
  const extra = { format };
  let path = `/api/v1/analytics/${kind}`;
  if (kind === 'scorecard') extra.level = $('#s-level').value;
  if (kind === 'measures') extra.by = $('#x-by').value;
  if (kind === 'tasks' && state.evidence) Object.assign(extra, state.evidence);
  const r = await fetch(query(path, extra), { headers: session.headers() });
  if (!r.ok) { $('#error').textContent = `export failed: ${r.status}`; return; }
  const blob = await r.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `tarmim-${kind}-${$('#f-from').value}-${$('#f-to').value}.${format}`;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}
for (const b of document.querySelectorAll('[data-export]')) {
  b.addEventListener('click', () => download(b.dataset.export, b.dataset.format));
}

session.init(start);
