// Tarmim dispatch console: plain JavaScript over /api/v1/console/*.
// The session (token, login, logout) is session.js's, shared with the manager pages.
'use strict';

const $ = (sel) => document.querySelector(sel);
const state = {
  me: null, tasks: [], crews: [], alerts: [], selected: null, detail: null,
  map: null, taskLayer: null, crewLayer: null, markers: new Map(),
};

const STATUS_COLOUR = {
  new: '#8e44ad', queued: '#f1c40f', assigned: '#e67e22', acknowledged: '#d35400',
  in_progress: '#2980b9', paused: '#7f8c8d', completed: '#27ae60', reopened: '#c0392b',
  verified: '#16a085', cancelled: '#bdc3c7', duplicate: '#bdc3c7',
};
const PRIORITY_RADIUS = { urgent: 10, high: 8, normal: 6, low: 5 };

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

const api = (method, path, body) => session.request(method, path, body);

// ---------------------------------------------------------------- start

async function start() {
  let boot;
  try { boot = await api('GET', '/api/v1/console/bootstrap'); } catch (e) {
    sessionStorage.removeItem('tarmim-token'); $('#login-error').textContent = e.message; return;
  }
  state.me = boot.me;
  $('#login-view').hidden = true;
  $('#console-view').hidden = false;
  $('#logout').hidden = false;
  $('#who').textContent = `${boot.me.login} (${boot.me.role}${boot.me.districts.length ? ': ' + boot.me.districts.join(', ') : ''})`;
  for (const s of boot.services) {
    const o = document.createElement('option');
    o.value = s.code; o.textContent = `${s.name} (${s.default_priority})`;
    $('#r-category').appendChild(o);
  }
  if (boot.me.role === 'call_centre') $('#file-report').open = true;
  initMap(boot);
  await refresh();
  listen();
  setInterval(tick, 1000);
}

function initMap(boot) {
  const map = L.map('map', { zoomControl: true, zoomSnap: 0.1, attributionControl: !!boot.tile_url });
  state.map = map;
  if (boot.tile_url) L.tileLayer(boot.tile_url, { maxZoom: 19 }).addTo(map);
  const districts = L.geoJSON(boot.districts, {
    style: { color: '#34495e', weight: 1.5, fillColor: '#9fb3c8', fillOpacity: 0.15 },
    onEachFeature: (f, layer) => layer.bindTooltip(`${f.properties.code} ${f.properties.name}`, { permanent: true, direction: 'center', className: 'district-label' }),
  }).addTo(map);
  const b = districts.getBounds();
  const fit = () => { if (b.isValid()) map.fitBounds(b, { padding: [10, 10] }); else map.setView([35.69, 51.39], 12); };
  fit();
  // The container was hidden until now: measure it again once laid out, then fit.
  setTimeout(() => { map.invalidateSize(); fit(); }, 0);
  state.taskLayer = L.layerGroup().addTo(map);
  state.crewLayer = L.layerGroup().addTo(map);
  map.on('click', (e) => {
    $('#r-lat').value = e.latlng.lat.toFixed(6);
    $('#r-lon').value = e.latlng.lng.toFixed(6);
  });
}

// ---------------------------------------------------------------- data

let refreshing = null;
async function refresh() {
  if (refreshing) { refreshing.again = true; return; }
  refreshing = { again: false };
  try {
    const isDispatch = state.me.role !== 'call_centre';
    const [tasks, crews, alerts] = await Promise.all([
      api('GET', '/api/v1/console/tasks'),
      isDispatch ? api('GET', '/api/v1/crews') : Promise.resolve([]),
      api('GET', '/api/v1/console/alerts'),
    ]);
    state.tasks = tasks; state.crews = crews; state.alerts = alerts;
    renderQueue(); renderMap(); renderAlerts();
    if (state.selected) await loadDetail(state.selected);
  } catch (e) { console.error(e); }
  const again = refreshing.again;
  refreshing = null;
  if (again) refresh();
}

// Live updates: Server-Sent Events read through fetch (so the token goes in a header).
async function listen() {
  for (;;) {
    try {
      const r = await fetch('/api/v1/console/events', { headers: session.headers() });
      if (!r.ok) throw new Error(`events: ${r.status}`);
      $('#live').className = 'live on';
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
          if (/^event: (change|hello)/m.test(chunk)) refresh();
        }
      }
    } catch (e) { console.warn(e); }
    $('#live').className = 'live off';
    await new Promise((res) => setTimeout(res, 2000));
  }
}

// ---------------------------------------------------------------- queue

function nextDue(t) {
  if (['new', 'queued', 'assigned'].includes(t.status) && t.ack_due) return { due: t.ack_due, what: 'ack' };
  if (t.complete_due && !['completed', 'verified'].includes(t.status)) return { due: t.complete_due, what: 'done' };
  return { due: Infinity, what: '' };
}

function fmtLeft(ms) {
  const neg = ms < 0; ms = Math.abs(ms);
  const h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, s = Math.floor(ms / 1000) % 60;
  const t = h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}:${String(s).padStart(2, '0')}`;
  return neg ? `overdue ${t}` : t;
}

function renderQueue() {
  const ul = $('#queue');
  const rank = { urgent: 0, high: 1, normal: 2, low: 3 };
  const tasks = [...state.tasks].sort((a, b) => nextDue(a).due - nextDue(b).due || rank[a.priority] - rank[b.priority] || a.id.localeCompare(b.id));
  ul.innerHTML = '';
  for (const t of tasks) {
    const li = document.createElement('li');
    li.dataset.id = t.id;
    li.className = `p-${t.priority}${state.selected === t.id ? ' selected' : ''}`;
    const d = nextDue(t);
    li.innerHTML = `<div><b>${esc(t.title)}</b></div>
      <div class="meta"><span>${esc(t.id)} · ${esc(t.district || '')} · <span class="badge status">${esc(t.status)}</span> ${t.assignee ? '→ <span class="assignee">' + esc(t.assignee) + '</span>' : ''}</span>
      <span class="sla" data-due="${d.due === Infinity ? '' : d.due}" data-what="${d.what}"></span></div>`;
    li.addEventListener('click', () => select(t.id));
    ul.appendChild(li);
  }
  tick();
}

function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('.sla[data-due]')) {
    if (!el.dataset.due) { el.textContent = ''; continue; }
    const left = Number(el.dataset.due) - now;
    el.textContent = `${el.dataset.what} ${fmtLeft(left)}`;
    el.classList.toggle('overdue', left < 0);
  }
}

function renderAlerts() {
  const box = $('#alerts');
  box.innerHTML = state.alerts.slice(0, 5).map((a) => `<div class="alert" data-task="${esc(a.task || '')}"><b>${esc(a.kind)}</b> ${esc(a.message)}</div>`).join('');
  for (const el of box.querySelectorAll('.alert[data-task]')) {
    if (el.dataset.task) el.addEventListener('click', () => select(el.dataset.task));
  }
}

// ---------------------------------------------------------------- map

function renderMap() {
  state.taskLayer.clearLayers();
  state.markers.clear();
  for (const t of state.tasks) {
    const m = L.circleMarker([t.lat, t.lon], {
      radius: PRIORITY_RADIUS[t.priority] || 6,
      color: t.priority === 'urgent' ? '#7b1010' : '#2c3e50',
      weight: t.priority === 'urgent' ? 3 : 1,
      fillColor: STATUS_COLOUR[t.status] || '#999', fillOpacity: 0.9,
      className: `task-marker task-${t.id}`,
    }).bindTooltip(`${t.id} ${t.title} (${t.status}, ${t.priority})`);
    m.on('click', () => select(t.id));
    m.addTo(state.taskLayer);
    state.markers.set(t.id, m);
  }
  state.crewLayer.clearLayers();
  for (const c of state.crews) {
    if (!c.position) continue;
    const flagged = c.position.flags.length > 0;
    const icon = L.divIcon({
      className: '', iconSize: null,
      html: `<div class="crew-marker${c.on_duty ? '' : ' off'}${flagged ? ' flagged' : ''}" data-crew="${esc(c.id)}">${esc(c.id)}</div>`,
    });
    L.marker([c.position.lat, c.position.lon], { icon })
      .bindTooltip(`${c.name}: ${c.on_duty ? 'on duty' : 'off duty'}, ${c.load} open job(s)${flagged ? ' — last report flagged: ' + c.position.flags.join(', ') : ''}`)
      .addTo(state.crewLayer);
  }
}

// ---------------------------------------------------------------- detail

async function select(id) {
  state.selected = id;
  for (const li of document.querySelectorAll('#queue li')) li.classList.toggle('selected', li.dataset.id === id);
  await loadDetail(id);
}

async function loadDetail(id) {
  let d;
  try { d = await api('GET', `/api/v1/console/tasks/${encodeURIComponent(id)}`); } catch (e) {
    $('#detail').innerHTML = `<p class="error">${esc(e.message)}</p>`; return;
  }
  if (state.selected !== id) return;
  state.detail = d;
  renderDetail(d);
}

function when(ms) { return ms ? new Date(ms).toLocaleString() : ''; }

function eventText(k) {
  switch (k.kind) {
    case 'assigned': return `→ ${k.crew}: ${k.reason}`;
    case 'routed': return `→ ${k.district}`;
    case 'reprioritized': return `${k.priority}: ${k.reason}`;
    case 'marked_duplicate': return `of ${k.of}`;
    case 'completed': return `${k.photos.length} photo(s)`;
    case 'rated': return `${k.stars}★ ${k.comment || ''}`;
    default: return k.reason || '';
  }
}

function renderDetail(d) {
  const t = d.task;
  const dv = t.derived;
  const own = state.me.role === 'dispatcher';
  const crews = state.crews.filter((c) => c.skills.includes(t.category) || c.district === dv.district)
    .sort((a, b) => (b.on_duty - a.on_duty) || a.id.localeCompare(b.id));
  const rows = t.timeline.map((e) => {
    const sup = e.outcome.outcome === 'superseded';
    return `<tr class="${sup ? 'superseded' : ''}" data-kind="${esc(e.event.kind.kind)}"><td>${esc(when(e.event.at))}</td><td><b>${esc(e.event.kind.kind)}</b></td>
      <td>${esc(e.event.actor.user)} <span class="hint">${esc(e.event.actor.role)}</span></td><td>${esc(eventText(e.event.kind))}</td>
      <td class="why">${sup ? 'superseded: ' + esc(e.outcome.reason) : e.outcome.outcome === 'extra_visit' ? 'extra visit' : ''}</td></tr>`;
  }).join('');
  $('#detail').innerHTML = `
    <h3 id="detail-title">${esc(t.title)}</h3>
    <div><span class="badge">${esc(t.id)}</span> <span class="badge" id="detail-status">${esc(dv.status)}</span>
      <span class="badge">${esc(dv.priority)}</span> ${esc(dv.district || '')} · ${esc(t.category)}
      ${dv.escalated ? '<span class="badge" style="background:#f5c2bd">escalated</span>' : ''}</div>
    <p>${esc(t.description)}</p>
    <p class="hint">${esc(t.address || '')} (${t.point.lat.toFixed(5)}, ${t.point.lon.toFixed(5)})</p>
    <p>Crew: <b id="detail-assignee">${esc(dv.assignee || '—')}</b>
      · ack by ${esc(when(t.sla.ack_due))} · done by ${esc(when(t.sla.complete_due))}</p>
    ${(d.tracking_codes || []).length ? `<p id="detail-codes">Tracking code${d.tracking_codes.length > 1 ? 's' : ''}: ${d.tracking_codes.map((c) => `<b>${esc(c.code)}</b> (${esc(c.role)})`).join(', ')}</p>` : ''}
    ${dv.conflicts.map((c) => `<div class="conflict"><b>${esc(c.kind)}</b>: ${esc(c.message)}</div>`).join('')}
    ${own ? `<div class="actions">
      <div class="row"><select id="assign-crew">${crews.map((c) => `<option value="${esc(c.id)}">${esc(c.id)} ${c.on_duty ? '' : '(off duty)'} ${c.district !== dv.district ? '(' + esc(c.district) + ')' : ''} · ${c.load} job(s)</option>`).join('')}</select>
        <button id="assign-btn">${dv.assignee ? 'Reassign' : 'Assign'}</button></div>
      <input id="assign-override" placeholder="override reason (off-duty or other district)">
      <div class="row"><button id="auto-btn" class="secondary">Auto-assign</button></div>
      <div class="row"><select id="prio">${['urgent', 'high', 'normal', 'low'].map((p) => `<option ${p === dv.priority ? 'selected' : ''}>${p}</option>`).join('')}</select>
        <input id="prio-reason" placeholder="reason"><button id="prio-btn" class="secondary">Set priority</button></div>
      <div class="row"><input id="dup-of" placeholder="duplicate of task id"><button id="dup-btn" class="secondary">Mark duplicate</button></div>
      ${(d.nearby || []).length ? `<div id="nearby"><b>Possible duplicates nearby</b> (same service, open):<ul>${d.nearby.map((n) => `<li data-id="${esc(n.id)}"><span class="badge">${esc(n.id)}</span> ${esc(n.title)} · ${esc(n.status)} · ${Math.round(n.distance_m)} m${n.supporters ? ` · ${n.supporters} supporter(s)` : ''} <button class="secondary merge-into" data-of="${esc(n.id)}">Merge into this</button></li>`).join('')}</ul><p class="hint">Merging closes this report as a duplicate; its reporter and supporters then follow the one kept.</p></div>` : ''}
      <div class="row"><input id="cancel-reason" placeholder="cancel reason"><button id="cancel-btn" class="danger">Cancel</button></div>
      <p id="action-error" class="error"></p></div>` : ''}
    <h4>Timeline</h4><table class="timeline" id="timeline">${rows}</table>
    <h4>Photos (${t.photos.length})</h4>
    <ul>${t.photos.map((p) => `<li>${esc(p.kind)} · ${esc(p.hash.slice(0, 12))}… · ${esc(when(p.taken_at))} · ${esc(p.author)}</li>`).join('')}</ul>
    <h4>Notes</h4>
    <ul id="notes">${t.notes.map((n) => `<li><b>${esc(n.author)}</b> ${esc(when(n.at))}: ${esc(n.text)}</li>`).join('')}</ul>
    ${own ? '<div class="row"><input id="note-text" placeholder="add a note"><button id="note-btn" class="secondary">Add</button></div>' : ''}
    ${d.alerts.length ? '<h4>Alerts</h4>' + d.alerts.map((a) => `<div class="alert">${esc(a.kind)}: ${esc(a.message)}</div>`).join('') : ''}`;
  if (!own) return;
  const act = (fn) => async () => {
    $('#action-error').textContent = '';
    try { await fn(); await refresh(); } catch (e) { $('#action-error').textContent = e.message; }
  };
  const base = `/api/v1/console/tasks/${encodeURIComponent(t.id)}`;
  $('#assign-btn').addEventListener('click', act(() => {
    const o = $('#assign-override').value.trim();
    return api('POST', `${base}/assign`, Object.assign({ crew: $('#assign-crew').value }, o ? { override: o } : {}));
  }));
  $('#auto-btn').addEventListener('click', act(() => api('POST', `${base}/auto-assign`)));
  $('#prio-btn').addEventListener('click', act(() => api('POST', `${base}/priority`, { priority: $('#prio').value, reason: $('#prio-reason').value || 'dispatcher' })));
  $('#dup-btn').addEventListener('click', act(() => api('POST', `${base}/duplicate`, { of: $('#dup-of').value.trim() })));
  for (const b of document.querySelectorAll('#nearby .merge-into')) {
    b.addEventListener('click', act(() => api('POST', `${base}/duplicate`, { of: b.dataset.of })));
  }
  $('#cancel-btn').addEventListener('click', act(() => api('POST', `${base}/cancel`, { reason: $('#cancel-reason').value })));
  $('#note-btn').addEventListener('click', act(() => api('POST', `${base}/notes`, { text: $('#note-text').value })));
}

// ---------------------------------------------------------------- filing

$('#report-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const body = {
    category: $('#r-category').value, title: $('#r-title').value, description: $('#r-description').value,
    lat: Number($('#r-lat').value), lon: Number($('#r-lon').value),
  };
  if ($('#r-address').value) body.address = $('#r-address').value;
  if ($('#r-priority').value) body.priority = $('#r-priority').value;
  try {
    const r = await api('POST', '/api/v1/console/tasks', body);
    const d = r.dispatch;
    $('#report-result').textContent = `Filed ${r.task.id} in ${r.district}` + (d ? ` — ${d.outcome}${d.crew ? ' to ' + d.crew : ''}` : '');
    $('#report-form').reset();
    refresh();
  } catch (e) { $('#report-result').textContent = e.message; }
});

session.init(start);
