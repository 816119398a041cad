// Tarmim manager pages: plain JavaScript over /api/v1/analytics/*. Charts are uPlot, the
// district map is Leaflet (both vendored from npm). The session is session.js's, shared
// with the console. Every table here can be
// exported as CSV or JSON with the same filters (the server renders both).
'use strict';

const i18n = window.tarmimI18n;

const $ = (sel) => document.querySelector(sel);
const state = {
  boot: null, tab: 'trends', charts: [], map: null, mapLayer: null, measuresByDistrict: null,
  evidence: null,
};

// Numeric measures a chart or the map can show: [field, higher is better]; their names
// are the catalogue's `measure.<field>`.
const MEASURES = [
  ['received', null], ['closed', true], ['backlog', false],
  ['ack_p50_min', false], ['ack_p90_min', false], ['complete_p50_min', false], ['complete_p90_min', false],
  ['sla_ack_pct', true], ['sla_complete_pct', true], ['reopen_rate', false], ['rating_mean', true],
  ['rating_response_rate', true], ['photo_share', true], ['flagged_photos', false],
];
const measureName = (k) => label('measure', k).replace(/_/g, ' ');
// A district's name in the page's language (session.js), or null for a code the
// bootstrap does not list; a service's catalogue text, else its name in this language.
const district = (code) => {
  const known = state.boot && state.boot.districts.features.some((f) => f.properties.code === code);
  return known ? districtNames(state.boot.districts.features)(code) : null;
};
const serviceName = (s) => serviceNames([s])(s.code);

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// A number in the active language's digits; shares and rates as percentages.
function fmt(v, field) {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return esc(v);
  const one = { minimumFractionDigits: 1, maximumFractionDigits: 1 };
  if (field && (field.endsWith('_rate') || field.endsWith('_share'))) return i18n.num(v, Object.assign({ style: 'percent' }, one));
  if (field && field.endsWith('_pct')) return i18n.num(v / 100, Object.assign({ style: 'percent' }, one));
  if (Number.isInteger(v)) return i18n.num(v, { useGrouping: false });
  const d = field === 'rating_mean' ? 2 : 1;
  return i18n.num(v, { minimumFractionDigits: d, maximumFractionDigits: d });
}

// A calendar day (YYYY-MM-DD, the city's) as people read it: Solar Hijri in Persian.
const day = (ymd) => (ymd ? i18n.date(Date.parse(`${ymd}T12:00:00Z`), { dateStyle: 'medium', timeZone: 'UTC' }) : '');

// Every answer may carry the range the server chose and its zone: shown in the filters.
async function api(path) {
  const data = await session.request('GET', path);
  if (data && data.from && !$('#f-from').value) $('#f-from').value = data.from;
  if (data && data.to && !$('#f-to').value) $('#f-to').value = data.to;
  if (data && data.timezone) { state.timezone = data.timezone; showZone(); }
  showDates();
  return data;
}

function showZone() {
  if (state.timezone) $('#f-zone').textContent = tr('manage.zone', { tz: i18n.lang === 'fa' && state.timezone === 'Asia/Tehran' ? tr('zone.tehran') : state.timezone });
}
function showDates() {
  $('#f-from-shown').textContent = day($('#f-from').value);
  $('#f-to-shown').textContent = day($('#f-to').value);
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
  fillChrome();
  $('#m-measure').value = 'sla_complete_pct';
  const hash = location.hash.replace('#', '');
  show(document.querySelector(`#tabs [data-tab="${hash}"]`) ? hash : 'trends');
}

// The select boxes and the signed-in line, drawn from the server's answers in the active
// language (again after a language change, keeping what was chosen).
function fillChrome() {
  const boot = state.boot;
  $('#who').innerHTML = whoHtml(boot.me, (c) => district(c) || c);
  const refill = (sel, items) => {
    const kept = sel.value;
    for (const o of [...sel.options]) if (o.value) o.remove();
    for (const [value, text] of items) {
      const o = document.createElement('option');
      o.value = value; o.textContent = text;
      sel.appendChild(o);
    }
    sel.value = kept;
  };
  refill($('#f-district'), boot.districts.features.map((f) => [f.properties.code, `${i18n.digits(f.properties.code)} ${district(f.properties.code) || f.properties.name}`]));
  refill($('#f-category'), boot.services.map((s) => [s.code, serviceName(s)]));
  refill($('#m-measure'), MEASURES.map(([k]) => [k, measureName(k)]));
  showZone(); showDates();
}

function rerender() {
  if (!state.boot) return;
  fillChrome();
  if (state.zoom) { state.zoom.remove(); state.zoom = zoomControl().addTo(state.map); }
  show(state.tab);
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

// Axes, legend values and dates in the active language (Solar Hijri days in Persian).
function chart(el, names, points, colours) {
  const xs = points[0].map((p) => toSeconds(p.period));
  const data = [xs, ...points.map((ps) => ps.map((p) => p.value))];
  el.innerHTML = '';
  const dayOf = (s) => i18n.date(s * 1000, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  const value = (u, v) => (v === null || v === undefined ? '—' : i18n.num(v, { maximumFractionDigits: 2 }));
  const opts = {
    width: Math.max(240, el.clientWidth || 520), height: 220,
    series: [
      { label: tr('manage.chart.period'), value: (u, s) => (s === null || s === undefined ? '—' : dayOf(s)) },
      ...names.map((n, i) => ({ label: n, stroke: colours[i], width: 2, spanGaps: false, points: { show: xs.length < 60 }, value })),
    ],
    axes: [
      { values: (u, splits) => splits.map(dayOf) },
      { size: 50, values: (u, splits) => splits.map((v) => i18n.num(v)) },
    ],
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
  const L = (k) => tr(`manage.series.${k}`);
  chart($('#chart-volume'), [L('received'), L('closed')], [by.received, by.closed], ['#2c6aa0', '#27ae60']);
  chart($('#chart-sla'), [L('ack'), L('complete')], [by.sla_ack_pct, by.sla_complete_pct], ['#e67e22', '#16a085']);
  chart($('#chart-time'), [L('median'), L('p90')], [by.complete_p50_min, by.complete_p90_min], ['#2980b9', '#8e44ad']);
  chart($('#chart-satisfaction'), [L('rating'), L('reopen')], [by.rating_mean, by.reopen_rate], ['#f1c40f', '#c0392b']);
  await Promise.all([kindsByChannel(), calls()]);
}

// Reports and messages filed in the range: one row per kind, one column per channel
// that has any (the server lists every kind and channel in order), with totals.
async function kindsByChannel() {
  const r = await session.request('GET', query('/api/v1/analytics/messages'));
  const count = {};
  for (const x of r.rows) count[`${x.kind} ${x.channel}`] = x.count;
  const channels = r.channels.filter((c) => r.rows.some((x) => x.channel === c));
  const rows = r.kinds.map((k) => {
    const row = { kind: label('kind', k), _kind: k, total: 0 };
    for (const c of channels) { row[c] = count[`${k} ${c}`] || 0; row.total += row[c]; }
    return row;
  });
  const total = { kind: tr('manage.col.total'), total: 0, _class: 'total' };
  for (const c of channels) { total[c] = rows.reduce((n, row) => n + row[c], 0); total.total += total[c]; }
  table($('#messages-table'), [['kind', tr('manage.col.kind')], ...channels.map((c) => [c, label('channel', c)]), ['total', tr('manage.col.total')]],
    rows.concat(channels.length ? [total] : []).map((row) => Object.assign(row, { _class: `${row._class || ''} kind-${row._kind || 'all'}` })));
}

// The call centre's figures (city-wide; managers and admins only: hidden for others).
async function calls() {
  let c;
  // Asked only by the roles that may see them, so a dispatcher's page sends no request
  // the server must refuse.
  const shown = (on) => { for (const id of ['#calls-figure', '#call-hours-figure']) $(id).hidden = !on; };
  if (!['manager', 'admin'].includes(state.boot?.me?.role)) { shown(false); return; }
  try {
    c = await session.request('GET', query('/api/v1/analytics/calls'));
  } catch (e) {
    shown(false);
    return;
  }
  shown(true);
  const L = (k) => tr(`manage.series.${k}`);
  const days = (f) => c.days.map((d) => ({ period: d.day, value: d[f] }));
  chart($('#chart-calls'), [L('calls'), L('abandoned')], [days('calls'), days('abandoned')], ['#2c6aa0', '#c0392b']);
  hourChart($('#chart-call-hours'), L('calls'), c.hours, '#2c6aa0');
  const none = tr('manage.calls.none');
  $('#calls-facts').textContent = tr('manage.calls.facts', {
    calls: c.calls,
    aht: c.avg_handling_secs === null ? none : Math.round(c.avg_handling_secs),
    fcr: c.first_contact_share === null ? none : Math.round(c.first_contact_share * 100),
  });
  $('#calls-channels').textContent = tr('manage.calls.channels', {
    list: c.by_channel.length ? c.by_channel.map((x) => `${label('channel', x.channel)}: ${i18n.num(x.reports)}`).join(tr('list.sep')) : none,
  });
}

// Counts per local hour of the day (0–23, in the city's time zone, as the server counts
// them) as bars: when the centre's lines are busiest over the range. Hours and counts
// in the active language's digits; whole numbers only on the count axis.
function hourChart(el, name, counts, colour) {
  el.innerHTML = '';
  const hour = (h) => `${i18n.num(h, { minimumIntegerDigits: 2 })}:${i18n.num(0, { minimumIntegerDigits: 2 })}`;
  const whole = (u, v) => (v === null || v === undefined ? '—' : i18n.num(v));
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];
  const opts = {
    width: Math.max(240, el.clientWidth || 520), height: 220,
    series: [
      { label: tr('manage.chart.hour'), value: (u, v) => (v === null || v === undefined ? '—' : hour(v)) },
      { label: name, stroke: colour, fill: `${colour}99`, width: 1, paths: uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false }, value: whole },
    ],
    axes: [
      { incrs: [1, 2, 3, 4, 6, 12], values: (u, splits) => splits.map((v) => i18n.num(v)) },
      { size: 50, incrs: steps, values: (u, splits) => splits.map((v) => i18n.num(v)) },
    ],
    scales: { x: { time: false, range: [-0.5, 23.5] }, y: { range: (u, lo, hi) => [0, Math.max(1, hi)] } },
  };
  state.charts.push(new uPlot(opts, [counts.map((_, h) => h), counts], el));
}

// ---------------------------------------------------------------- choropleth

async function mapTab() {
  if (!state.map) {
    const boot = state.boot;
    const map = L.map('choropleth', { zoomControl: false, zoomSnap: 0.1, attributionControl: !!boot.tile_url });
    state.zoom = zoomControl().addTo(map);
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
  const better = (MEASURES.find(([k]) => k === field) || [])[1];
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
      layer.bindTooltip(`${esc(i18n.digits(f.properties.code))} ${esc(district(f.properties.code) || f.properties.name)}<br>${esc(measureName(field))}: ${fmt(row[field], field)}`, { permanent: true, direction: 'center', className: 'district-label' });
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
  legend.push(`<span><i style="background:#fff"></i>${esc(tr('manage.noData'))}</span>`);
  $('#m-legend').innerHTML = legend.join('');
}

// ---------------------------------------------------------------- tables

function table(el, columns, rows, onClick) {
  const head = `<thead><tr>${columns.map(([k, l]) => `<th data-k="${esc(k)}">${esc(l)}</th>`).join('')}</tr></thead>`;
  // Names, ids and people's text are kept as they are (translate="no"); numbers are
  // written in the active language.
  const cell = (r, k) => {
    if (r._shown && k in r._shown) return esc(r._shown[k]);
    if (k === 'key' || k === 'label' || k === 'id' || k === 'title' || k === 'crew' || k === 'contractor') return `<bdi translate="no">${esc(r[k] ?? '—')}</bdi>`;
    return typeof r[k] === 'number' ? fmt(r[k], k) : esc(r[k] ?? '—');
  };
  const body = rows.map((r, i) => `<tr data-i="${i}" class="${esc(r._class || '')}">${columns.map(([k]) => `<td>${cell(r, k)}</td>`).join('')}</tr>`).join('');
  el.innerHTML = head + `<tbody>${body || `<tr><td colspan="${columns.length}" class="hint">${esc(tr('manage.nothing'))}</td></tr>`}</tbody>`;
  if (onClick) {
    for (const tr of el.querySelectorAll('tbody tr[data-i]')) tr.addEventListener('click', () => onClick(rows[Number(tr.dataset.i)]));
  }
}

async function scorecard() {
  const level = $('#s-level').value;
  const r = await api(query('/api/v1/analytics/scorecard', { level }));
  const f = r.formula || {};
  const text = String(f.text || '').replace(/^\s*score\s*=\s*/i, '');
  // The server states the formula in English; the Persian page says the same in Persian.
  const said = i18n.lang === 'en' ? `<bdi dir="ltr">${esc(text)}</bdi>` : esc(tr('manage.formula', { ack: f.ack_target_minutes, min: f.min_tasks }));
  $('#s-formula').innerHTML = `<strong>${esc(tr('manage.score'))}</strong> = ${said} · ${esc(tr('manage.threshold', { n: f.threshold }))}`;
  const componentKeys = [...new Set(r.rows.flatMap((row) => Object.keys(row.components || {})))];
  const rows = r.rows.map((row) => Object.assign({}, row, row.components || {}, {
    _class: row.below_threshold ? 'below' : '',
    _shown: level === 'district' && district(row.key) ? { label: district(row.key) } : null,
    score: row.score,
    flag: row.below_threshold ? tr('manage.belowThreshold') : '',
  }));
  table($('#s-table'), [['rank', '#'], ['label', tr(`level.${level}`)], ['score', tr('manage.col.score')], ['flag', ''], ['tasks', tr('manage.col.tasks')], ...componentKeys.map((k) => [k, measureName(k)]),
    // Contractors: confirmed penalties beside the measures (they do not enter the score).
    // Citizens' thanks and complaints naming the unit, beside the score (not in it).
    ['thanks', tr('manage.col.thanks')], ['complaints', tr('manage.col.complaints')],
    ...(level === 'contractor' ? [['penalties', tr('manage.col.penalties')], ['penalty_amount', tr('pen.col.amount')]] : [])], rows,
    (row) => evidence(level, row));
  $('#evidence').hidden = true;
}

async function evidence(level, row) {
  state.evidence = { level, key: row.key };
  const r = await api(query('/api/v1/analytics/tasks', { level, key: row.key, limit: 200 }));
  $('#evidence').hidden = false;
  $('#evidence-title').textContent = tr('manage.evidence', { name: (level === 'district' && district(row.key)) || row.label, n: r.rows.length, more: r.rows.length === 200 ? '+' : '' });
  const services = Object.fromEntries(state.boot.services.map((s) => [s.code, serviceName(s)]));
  const rows = r.rows.map((t) => Object.assign({}, t, {
    sla: t.sla_complete_met === null || t.sla_complete_met === undefined ? '—' : tr(t.sla_complete_met ? 'manage.met' : 'manage.missed'),
    photos: `${t.before_photo ? tr('photoKind.before') : '—'} / ${t.after_photo ? tr('photoKind.after') : '—'}`,
    _class: t.sla_complete_met === false ? 'below' : '',
    _shown: {
      category: services[t.category] || t.category,
      district: district(t.district) || t.district || '—',
      priority: label('priority', t.priority),
      status: label('status', t.status),
      reopened: typeof t.reopened === 'boolean' ? tr(t.reopened ? 'common.yes' : 'common.no') : (typeof t.reopened === 'number' ? i18n.num(t.reopened) : '—'),
    },
  }));
  const C = (k) => tr(`manage.col.${k}`);
  table($('#evidence-table'), [['id', C('task')], ['title', C('title')], ['category', C('category')], ['district', C('district')], ['crew', C('crew')], ['contractor', C('contractor')], ['priority', C('priority')], ['status', C('status')], ['ack_min', C('ackMin')], ['complete_min', C('completeMin')], ['sla', C('sla')], ['reopened', C('reopened')], ['rating', C('rating')], ['photos', C('photos')], ['flagged_photos', C('flagged')]], rows);
  $('#evidence').scrollIntoView({ block: 'nearest' });
}

async function measures() {
  const by = $('#x-by').value;
  const r = await api(query('/api/v1/analytics/measures', { by }));
  const services = Object.fromEntries(state.boot.services.map((s) => [s.code, serviceName(s)]));
  const rows = r.rows.map((row) => Object.assign({}, row, {
    ratings: (row.rating_counts || []).map((x) => i18n.num(x)).join(' / '),
    sla_by_priority: Object.entries(row.sla || {}).filter(([, v]) => v && v.due).map(([p, v]) => `${label('priority', p)} ${fmt(v.pct, '_pct')}`).join(tr('list.sep')),
    _shown: by === 'district' && district(row.key) ? { label: district(row.key) } : by === 'category' && services[row.key] ? { label: services[row.key] } : null,
  }));
  table($('#x-table'), [['label', tr(`level.${by}`)], ...MEASURES.map(([k]) => [k, measureName(k)]), ['sla_by_priority', tr('manage.col.slaByPriority')], ['ratings', tr('manage.col.ratings')]], rows);
}

async function gallery() {
  const r = await api(query('/api/v1/analytics/gallery', { limit: 60 }));
  const el = $('#gallery');
  if (!r.rows.length) { el.innerHTML = `<p class="hint">${esc(tr('manage.gallery.none'))}</p>`; return; }
  const services = Object.fromEntries(state.boot.services.map((s) => [s.code, serviceName(s)]));
  el.innerHTML = r.rows.map((g) => `
    <figure class="pair">
      <div class="photos">
        <a href="${esc(g.before.display)}" target="_blank" rel="noopener"><img src="${esc(g.before.thumb)}" alt="${esc(tr('photoKind.before'))}" loading="lazy"></a>
        <a href="${esc(g.after.display)}" target="_blank" rel="noopener"><img src="${esc(g.after.thumb)}" alt="${esc(tr('photoKind.after'))}" loading="lazy"></a>
      </div>
      <figcaption><strong translate="no">${esc(g.title)}</strong><br>${esc(district(g.district) || g.district)} · ${esc(services[g.category] || g.category)} · ${esc(g.completed_at ? i18n.date(Date.parse(g.completed_at), { dateStyle: 'medium' }) : '')}</figcaption>
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
  if (!r.ok) { $('#error').textContent = tr('manage.exportFailed', { status: r.status }); return; }
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

session.init(start, rerender);
