// "Notify me" on the tracking page (issue 17 §3): registers the page's service worker
// (/track/static/sw.js, scope /track/), subscribes to Web Push with the server's VAPID
// key (GET /api/v1/push/vapid) and gives the subscription for this tracking code
// (POST /api/v1/track/{code}/push); "stop" takes it back (DELETE, and unsubscribes).
// Shown only where the browser can do it and the server has Web Push configured. Its
// own words in Persian and English follow the page's language (html[lang]).
'use strict';

(() => {
  const W = {
    en: {
      title: 'News of this report', explain: 'Get a notification on this device when the report\'s status changes.',
      on: 'Notify me', off: 'Stop notifications', busy: 'One moment…',
      done: 'Done: this device will be notified of each change.', stopped: 'Notifications to this device are off.',
      denied: 'Notifications are blocked for this site in your browser\'s settings.',
      failed: 'This browser could not subscribe. Please try again later.',
    },
    fa: {
      title: 'خبر این گزارش', explain: 'با هر تغییر وضعیت گزارش، روی همین دستگاه اعلان بگیرید.',
      on: 'خبرم کن', off: 'قطع اعلان‌ها', busy: 'لحظه‌ای صبر کنید…',
      done: 'انجام شد: هر تغییر به این دستگاه اعلام می‌شود.', stopped: 'اعلان‌های این دستگاه قطع شد.',
      denied: 'اعلان‌های این سایت در تنظیمات مرورگر شما مسدود است.',
      failed: 'این مرورگر نتوانست مشترک شود. لطفاً بعداً دوباره امتحان کنید.',
    },
  };
  const $ = (id) => document.getElementById(id);
  const card = $('notify-card');
  const m = location.pathname.match(/^\/track\/([^/]+)\/?$/);
  if (!card || !m) return;
  const code = decodeURIComponent(m[1]);
  const lang = () => (document.documentElement.lang === 'en' ? 'en' : 'fa');
  const w = () => W[lang()];
  let subscribed = false;
  let said = '';

  function paint() {
    $('notify-title').textContent = w().title;
    $('notify-explain').textContent = w().explain;
    $('notify-me').textContent = subscribed ? w().off : w().on;
    $('notify-state').textContent = said ? w()[said] : '';
  }
  function say(key) { said = key; paint(); }

  // The key the server signs with, as the bytes applicationServerKey takes.
  function keyBytes(b64url) {
    const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((b64url.length + 3) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  }

  async function serverKey() {
    const r = await fetch('/api/v1/push/vapid', { cache: 'no-store', credentials: 'omit' });
    // 204: Web Push is not configured here.
    return r.status === 200 ? (await r.json()).public_key : null;
  }

  async function subscribe() {
    if (typeof Notification !== 'undefined' && Notification.permission !== 'granted') {
      const p = await Notification.requestPermission();
      if (p !== 'granted') { say('denied'); return; }
    }
    const key = await serverKey();
    if (!key) { say('failed'); return; }
    const reg = await navigator.serviceWorker.register('/track/static/sw.js', { scope: '/track/' });
    await navigator.serviceWorker.ready;
    const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
    const r = await fetch(`/api/v1/track/${encodeURIComponent(code)}/push`, {
      method: 'POST', credentials: 'omit', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subscription: sub.toJSON(), lang: lang() }),
    });
    if (r.status !== 204) { say('failed'); return; }
    subscribed = true;
    say('done');
  }

  async function unsubscribe() {
    await fetch(`/api/v1/track/${encodeURIComponent(code)}/push`, { method: 'DELETE', credentials: 'omit' });
    const reg = await navigator.serviceWorker.getRegistration('/track/');
    const sub = reg && await reg.pushManager.getSubscription();
    if (sub) await sub.unsubscribe();
    subscribed = false;
    say('stopped');
  }

  $('notify-me').addEventListener('click', async () => {
    const b = $('notify-me');
    b.disabled = true;
    $('notify-state').textContent = w().busy;
    try {
      if (subscribed) await unsubscribe(); else await subscribe();
    } catch (_) {
      say('failed');
    } finally {
      b.disabled = false;
    }
  });

  // Follow the page's language switch.
  new MutationObserver(paint).observe(document.documentElement, { attributes: true, attributeFilter: ['lang'] });

  (async () => {
    if (!('serviceWorker' in navigator) || !('PushManager' in window)) return;
    let key = null;
    try { key = await serverKey(); } catch (_) { return; }
    if (!key) return;
    paint();
    card.hidden = false;
    document.body.dataset.notify = 'ready';
  })();
})();
