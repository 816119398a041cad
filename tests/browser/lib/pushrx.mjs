// A local Web Push service and the browser behind it, for the browser suite: it holds a
// subscription's private key, and each message POSTed to /push/{id} must carry a VAPID
// JWT (RFC 8292) that verifies with the server's public key and names this origin, and
// an aes128gcm body (RFC 8291) that decrypts with the subscription's key — as a real
// push service and browser would check. Plain HTTP on 127.0.0.1 (the suite's server
// allows it for tests: TARMIM_PUSH_ALLOW_HTTP, TARMIM_WEBPUSH_HOSTS=127.0.0.1).
import http from 'node:http';
import crypto from 'node:crypto';

const b64u = (buf) => Buffer.from(buf).toString('base64url');

function verifyVapid(auth, vapidPublic, origin) {
  const m = /^vapid t=([^,]+), k=(.+)$/.exec(auth || '');
  if (!m) throw new Error(`authorization ${auth} is not vapid`);
  const [jwt, k] = [m[1], m[2]];
  if (k !== vapidPublic) throw new Error('the VAPID key is not the server\'s');
  const [h, c, s] = jwt.split('.');
  const raw = Buffer.from(k, 'base64url');
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33, 65)) }, format: 'jwk',
  });
  const ok = crypto.verify('sha256', Buffer.from(`${h}.${c}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  if (!ok) throw new Error('the VAPID signature does not verify');
  const claims = JSON.parse(Buffer.from(c, 'base64url').toString('utf8'));
  if (claims.aud !== origin) throw new Error(`aud ${claims.aud} is not ${origin}`);
  if (!(claims.exp > Date.now() / 1000)) throw new Error('the VAPID JWT has expired');
  return claims;
}

function hkdf(salt, ikm, info, len) {
  return Buffer.from(crypto.hkdfSync('sha256', ikm, salt, info, len));
}

function decrypt(body, ecdh, auth) {
  const salt = body.subarray(0, 16);
  const idlen = body[20];
  const asPublic = body.subarray(21, 21 + idlen);
  const shared = ecdh.computeSecret(asPublic);
  const uaPublic = ecdh.getPublicKey();
  const ikm = hkdf(auth, shared, Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]), 32);
  const cek = hkdf(salt, ikm, Buffer.from('Content-Encoding: aes128gcm\0'), 16);
  const nonce = hkdf(salt, ikm, Buffer.from('Content-Encoding: nonce\0'), 12);
  const sealed = body.subarray(21 + idlen);
  const d = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  let plain = Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
  let end = plain.length;
  while (end > 0 && plain[end - 1] === 0) end -= 1;
  if (plain[end - 1] !== 2) throw new Error('no last-record delimiter');
  plain = plain.subarray(0, end - 1);
  return JSON.parse(plain.toString('utf8'));
}

// Starts a receiver expecting pushes signed with `vapidPublic` (base64url).
export async function startReceiver(vapidPublic) {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  const got = [];
  const refused = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        const origin = `http://${req.headers.host}`;
        const claims = verifyVapid(req.headers.authorization, vapidPublic, origin);
        if (req.headers['content-encoding'] !== 'aes128gcm') throw new Error('not aes128gcm');
        if (!req.headers.ttl) throw new Error('no TTL');
        const payload = decrypt(Buffer.concat(chunks), ecdh, auth);
        got.push({ path: req.url, payload, claims });
        res.writeHead(201).end();
      } catch (e) {
        refused.push(String(e));
        res.writeHead(400).end(String(e));
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    got, refused,
    // The subscription a browser would give for /push/{id}, as PushSubscription.toJSON().
    subscription: (id) => ({
      endpoint: `http://127.0.0.1:${port}/push/${id}`,
      expirationTime: null,
      keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(auth) },
    }),
    close: () => new Promise((r) => server.close(r)),
  };
}
