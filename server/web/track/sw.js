// The tracking page's service worker (scope /track/): shows the Web Push notifications
// the server sends after "notify me" — a public status change of the report, as
// {"text", "url", "lang"} (decrypted by the browser) — and opens the tracking page when
// one is tapped. It caches nothing and sees nothing else.
'use strict';

self.addEventListener('push', (event) => {
  let m = {};
  try { m = event.data ? event.data.json() : {}; } catch (_) { m = {}; }
  const fa = m.lang !== 'en';
  const title = fa ? 'سامانهٔ ۱۳۷ تهران' : 'Tehran 137';
  const body = typeof m.text === 'string' ? m.text : (fa ? 'گزارش شما تغییر کرد.' : 'Your report changed.');
  const url = typeof m.url === 'string' && m.url.startsWith(self.location.origin + '/track/') ? m.url : '/track';
  event.waitUntil(self.registration.showNotification(title, {
    body, lang: fa ? 'fa' : 'en', dir: fa ? 'rtl' : 'ltr', data: { url }, tag: url,
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || '/track';
  event.waitUntil(self.clients.openWindow(url));
});
