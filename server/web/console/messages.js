// The staff's inbox of citizens' messages: lists GET /api/v1/desk/messages, answers
// through POST /api/v1/desk/messages/{id}/answer (once; the citizen sees it on the
// tracking page).
'use strict';

const $ = (s) => document.querySelector(s);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, attrs || {});
  for (const c of children) e.append(c);
  return e;
}

function card(m) {
  const when = new Date(m.created_at).toLocaleString('en-GB');
  const about = [m.district && `district ${m.district}`, m.about_task && `about ${m.about_task}`,
    m.about_unit && `names ${m.about_unit}`].filter(Boolean).join(' · ');
  const div = el('div', { className: `msg${m.answer ? ' answered' : ''}`, id: `msg-${m.id}` },
    el('div', { className: 'meta', textContent: `${m.kind} · ${m.inbox} inbox · ${m.channel} · ${m.lang} · ${when}${about ? ' · ' + about : ''}` }),
    el('div', { className: 'body', textContent: m.body }));
  if (m.answer) {
    div.append(el('div', { className: 'answer', textContent: m.answer }));
    return div;
  }
  const text = el('textarea', { rows: 3, maxLength: 4000, placeholder: 'Your answer to the citizen', className: 'answer-text' });
  const err = el('p', { className: 'error' });
  const send = el('button', { type: 'button', textContent: 'Send answer', className: 'answer-send' });
  send.addEventListener('click', async () => {
    err.textContent = '';
    send.disabled = true;
    try {
      await session.request('POST', `/api/v1/desk/messages/${encodeURIComponent(m.id)}/answer`, { text: text.value });
      await load();
    } catch (e) {
      err.textContent = e.message;
    } finally {
      send.disabled = false;
    }
  });
  div.append(text, send, err);
  return div;
}

async function load() {
  $('#list-error').textContent = '';
  try {
    const list = await session.request('GET', '/api/v1/desk/messages');
    $('#list').replaceChildren(...list.map(card));
    if (!list.length) $('#list').append(el('p', { textContent: 'No messages.' }));
  } catch (e) {
    $('#list-error').textContent = e.message;
  }
}

session.init(() => {
  $('#login-view').hidden = true;
  $('#messages').hidden = false;
  $('#logout').hidden = false;
  load();
});
