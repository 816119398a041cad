"""Local push services that check each wake-up as the real provider (and, for Web Push,
the phone) would — an independent implementation of the three wire formats, with the
`cryptography` and `h2` packages, for the end-to-end test through the bindings
(`test_push_wake.py`):

- Web Push (RFC 8030/8291/8292): `TTL`, `Urgency`, `Topic`, `Content-Encoding:
  aes128gcm`; the VAPID JWT's ES256 signature verified with the application server's key
  (`k=`), its `aud` (this origin), `exp` (within 24 h) and `sub` (a contact); the payload
  decrypted with the subscription's private key and auth secret, as the phone does.
- FCM HTTP v1: the OAuth2 token exchange (`jwt-bearer` grant) whose RS256 assertion is
  verified with the service account's public key and its claims (`iss`, `scope`, `aud`,
  `iat`/`exp`); then `messages:send` with an access token it issued, a data-only message
  (no `notification`), string values, `android.priority` and `collapse_key`.
- APNs: HTTP/2 only (cleartext with prior knowledge: an HTTP/1.1 request fails the h2
  preface), `/3/device/<token>`, the ES256 provider token verified with the `.p8` key's
  public key (`kid`, `iss`, `iat` within the hour), `apns-topic`, `apns-push-type` with
  `apns-priority`, `apns-collapse-id`, `aps.content-available`.

Each receiver records what it accepted (with the time it arrived) and what it refused
and why; a refusal is answered 400 (APNs: 403 `InvalidProviderToken` for a bad token).

Run as `python3 push_receivers.py setup DIR`, it writes the keys a test server is started
with (a VAPID key, an FCM service account, an APNs `.p8`), picks the receivers' ports,
and prints the server's `TARMIM_*` variables as `export` lines for the suite to source.
"""

import base64
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FCM_EMAIL = "tarmim@tarmim-test.iam.gserviceaccount.com"
FCM_PROJECT = "tarmim-test"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
APNS_KEY_ID = "KEY123"
APNS_TEAM = "TEAM45"
APNS_TOPIC = "org.tarmim.crew"
COLLAPSE = "tarmim-sync"


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Refused(Exception):
    pass


def split_jwt(jwt):
    parts = jwt.split(".")
    if len(parts) != 3:
        raise Refused(f"not a compact JWS: {jwt!r}")
    try:
        header, claims = json.loads(b64d(parts[0])), json.loads(b64d(parts[1]))
        sig = b64d(parts[2])
    except ValueError as e:
        raise Refused(f"a JWT part does not decode: {e}") from e
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), sig


def verify_es256(jwt, public_key):
    """An ES256 JWT (r ‖ s, 64 bytes) verified with a P-256 key: its header and claims."""
    header, claims, signed, sig = split_jwt(jwt)
    if header.get("alg") != "ES256" or len(sig) != 64:
        raise Refused(f"alg {header.get('alg')} / a {len(sig)}-byte signature is not ES256")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        public_key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as e:
        raise Refused("the ES256 signature does not verify") from e
    return header, claims


def verify_rs256(jwt, public_key):
    header, claims, signed, sig = split_jwt(jwt)
    if header.get("alg") != "RS256":
        raise Refused(f"alg {header.get('alg')} is not RS256")
    try:
        public_key.verify(sig, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as e:
        raise Refused("the RS256 signature does not verify") from e
    return header, claims


class Log:
    """What a receiver accepted and refused; `wait` blocks until a wake-up for `to`."""

    def __init__(self):
        self.got, self.refused = [], []
        self.cond = threading.Condition()

    def accept(self, to, urgent, payload):
        with self.cond:
            self.got.append({"to": to, "urgent": urgent, "payload": payload, "at": time.monotonic()})
            self.cond.notify_all()

    def refuse(self, why):
        with self.cond:
            self.refused.append(why)
            self.cond.notify_all()

    def of(self, to):
        with self.cond:
            return [g for g in self.got if g["to"] == to]

    def wait(self, to, seconds):
        """The first wake-up for `to`, waiting up to `seconds`; None if none came."""
        deadline = time.monotonic() + seconds
        with self.cond:
            while True:
                mine = [g for g in self.got if g["to"] == to]
                left = deadline - time.monotonic()
                if mine or left <= 0:
                    return mine[0] if mine else None
                self.cond.wait(left)


def serve_http(port, handler_class):
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler_class)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


class _Handler(BaseHTTPRequestHandler):
    receiver = None

    def log_message(self, *args):
        pass

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status, body=b"", ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, why):
        self.receiver.log.refuse(why)
        self.answer(400, why.encode(), "text/plain")


# ------------------------------------------------------------------------------ Web Push


class WebPushReceiver:
    """A push service and the phone behind it: holds the subscription's private key."""

    def __init__(self, vapid_public_b64):
        self.log = Log()
        self.vapid_public_b64 = vapid_public_b64
        self.vapid_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(vapid_public_b64))
        self.ua = ec.generate_private_key(ec.SECP256R1())
        self.ua_public = self.ua.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        self.auth = os.urandom(16)
        receiver = self

        class H(_Handler):
            def do_POST(self):
                body = self.body()
                try:
                    urgent, payload = receiver.check(self.headers, body)
                except Refused as e:
                    return self.refuse(str(e))
                receiver.log.accept(self.path, urgent, payload)
                self.answer(201)

        H.receiver = self
        self.httpd = serve_http(0, H)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def subscription(self, name):
        """The subscription JSON for `/push/<name>`, as a browser or a UnifiedPush
        distributor gives it to the app."""
        return json.dumps({
            "endpoint": f"{self.origin}/push/{name}",
            "keys": {"p256dh": b64e(self.ua_public), "auth": b64e(self.auth)},
        })

    def check(self, h, body):
        if not (h.get("TTL") or "").isdigit():
            raise Refused("no TTL header")
        urgent = {"high": True, "normal": False}.get(h.get("Urgency"))
        if urgent is None:
            raise Refused(f"Urgency {h.get('Urgency')!r}")
        if h.get("Topic") != COLLAPSE:
            raise Refused(f"Topic {h.get('Topic')!r}")
        if h.get("Content-Encoding") != "aes128gcm":
            raise Refused("Content-Encoding is not aes128gcm")
        auth = h.get("Authorization") or ""
        if not auth.startswith("vapid t=") or ", k=" not in auth:
            raise Refused(f"Authorization {auth!r} is not vapid t=…, k=…")
        jwt, k = auth[len("vapid t="):].split(", k=", 1)
        if k != self.vapid_public_b64:
            raise Refused("the VAPID key is not the application server's")
        _, claims = verify_es256(jwt, self.vapid_key)
        now = time.time()
        if claims.get("aud") != self.origin:
            raise Refused(f"aud {claims.get('aud')} is not {self.origin}")
        if not now < claims.get("exp", 0) <= now + 24 * 3600:
            raise Refused(f"exp {claims.get('exp')} is not within the next 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise Refused("sub is not a contact")
        return urgent, json.loads(self.decrypt(body))

    def decrypt(self, body):
        """RFC 8291 (one aes128gcm record, RFC 8188), as the phone decrypts it."""
        if len(body) < 21:
            raise Refused("body shorter than the aes128gcm header")
        salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        if idlen != 65 or rs < 18 or len(body) < 21 + idlen + 17:
            raise Refused("bad aes128gcm header")
        keyid = body[21:21 + idlen]
        try:
            server_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), keyid)
        except ValueError as e:
            raise Refused("keyid is not a P-256 point") from e
        shared = self.ua.exchange(ec.ECDH(), server_key)

        def hkdf(salt, ikm, info, n):
            return HKDF(hashes.SHA256(), n, salt=salt, info=info).derive(ikm)

        ikm = hkdf(self.auth, shared, b"WebPush: info\0" + self.ua_public + keyid, 32)
        cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\0", 16)
        nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\0", 12)
        try:
            plain = AESGCM(cek).decrypt(nonce, body[21 + idlen:], None)
        except InvalidTag as e:
            raise Refused("the payload does not decrypt with the subscription's key") from e
        plain = plain.rstrip(b"\0")
        if not plain.endswith(b"\x02"):
            raise Refused("the record does not end with the last-record delimiter")
        return plain[:-1]

    def close(self):
        self.httpd.shutdown()


# ----------------------------------------------------------------------------------- FCM


class FcmReceiver:
    """Google's OAuth2 token endpoint and FCM's `messages:send`, on one port."""

    def __init__(self, port, service_account_path):
        with open(service_account_path) as f:
            account = json.load(f)
        self.public_key = serialization.load_pem_private_key(
            account["private_key"].encode(), None).public_key()
        self.email, self.project = account["client_email"], account["project_id"]
        self.log = Log()
        self.issued = set()
        self.exchanges = 0
        receiver = self

        class H(_Handler):
            def do_POST(self):
                body = self.body()
                try:
                    if self.path == "/token":
                        return self.answer(200, receiver.token(body))
                    if self.path != f"/v1/projects/{receiver.project}/messages:send":
                        return self.answer(404, b'{"error":"no such project or method"}')
                    bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                    if bearer not in receiver.issued:
                        return self.answer(401, b'{"error":{"status":"UNAUTHENTICATED"}}')
                    to, urgent, data = receiver.check(json.loads(body))
                except (Refused, ValueError) as e:
                    return self.refuse(str(e))
                receiver.log.accept(to, urgent, data)
                self.answer(200, json.dumps({"name": f"projects/{receiver.project}/messages/1"}).encode())

        H.receiver = self
        self.token_uri = f"http://127.0.0.1:{port}/token"
        self.httpd = serve_http(port, H)

    def token(self, body):
        form = dict(urllib.parse.parse_qsl(body.decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            raise Refused("token exchange: grant_type is not jwt-bearer")
        _, c = verify_rs256(form.get("assertion", ""), self.public_key)
        now = time.time()
        if c.get("iss") != self.email:
            raise Refused(f"token exchange: iss {c.get('iss')}")
        if c.get("scope") != FCM_SCOPE:
            raise Refused(f"token exchange: scope {c.get('scope')}")
        if c.get("aud") != self.token_uri:
            raise Refused(f"token exchange: aud {c.get('aud')} is not {self.token_uri}")
        iat, exp = c.get("iat", 0), c.get("exp", 0)
        if not (iat <= now + 60 and exp > now and exp - iat <= 3600):
            raise Refused(f"token exchange: iat {iat} / exp {exp} not a valid window")
        token = "ya29.test-" + os.urandom(8).hex()
        self.issued.add(token)
        self.exchanges += 1
        return json.dumps({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}).encode()

    def check(self, v):
        m = v.get("message") or {}
        if "notification" in m:
            raise Refused("a notification block: wake-ups are data-only")
        data = m.get("data")
        if not isinstance(data, dict) or not all(isinstance(x, str) for x in data.values()):
            raise Refused(f"data {data!r} is not an object of strings")
        android = m.get("android") or {}
        urgent = {"HIGH": True, "NORMAL": False}.get(android.get("priority"))
        if urgent is None:
            raise Refused(f"android.priority {android.get('priority')!r}")
        if android.get("collapse_key") != COLLAPSE:
            raise Refused(f"collapse_key {android.get('collapse_key')!r}")
        if not isinstance(m.get("token"), str):
            raise Refused("no token")
        return m["token"], urgent, data

    def close(self):
        self.httpd.shutdown()


# ---------------------------------------------------------------------------------- APNs


class ApnsReceiver:
    """APNs over cleartext HTTP/2 with prior knowledge (h2); token-based auth."""

    def __init__(self, port, p8_path):
        with open(p8_path, "rb") as f:
            self.public_key = serialization.load_pem_private_key(f.read(), None).public_key()
        self.log = Log()
        self.sock = socket.create_server(("127.0.0.1", port))
        self.closed = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        import h2.config
        import h2.connection
        import h2.events
        import h2.exceptions

        h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        h2c.initiate_connection()
        conn.sendall(h2c.data_to_send())
        streams = {}
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                try:
                    events = h2c.receive_data(data)
                except h2.exceptions.ProtocolError as e:
                    # An HTTP/1.1 request is not even parsed, as at APNs.
                    self.log.refuse(f"not HTTP/2: {e}")
                    conn.sendall(h2c.data_to_send())
                    return
                for ev in events:
                    if isinstance(ev, h2.events.RequestReceived):
                        streams[ev.stream_id] = {"headers": dict(ev.headers), "body": b""}
                    elif isinstance(ev, h2.events.DataReceived):
                        streams[ev.stream_id]["body"] += ev.data
                        h2c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        s = streams.pop(ev.stream_id)
                        status, body = self.handle(s["headers"], s["body"])
                        h2c.send_headers(ev.stream_id, [(":status", str(status)),
                                                        ("content-length", str(len(body)))],
                                         end_stream=not body)
                        if body:
                            h2c.send_data(ev.stream_id, body, end_stream=True)
                conn.sendall(h2c.data_to_send())
        except OSError:
            return
        finally:
            conn.close()

    def handle(self, h, body):
        try:
            to, urgent, payload = self.check(h, body)
        except Refused as e:
            why = str(e)
            self.log.refuse(why)
            if "signature" in why or why.startswith(("kid", "iss", "authorization")):
                return 403, b'{"reason":"InvalidProviderToken"}'
            return 400, json.dumps({"reason": "BadRequest", "why": why}).encode()
        self.log.accept(to, urgent, payload)
        return 200, b""

    def check(self, h, body):
        if h.get(":method") != "POST" or not h.get(":path", "").startswith("/3/device/"):
            raise Refused(f"{h.get(':method')} {h.get(':path')} is not POST /3/device/<token>")
        token = h[":path"][len("/3/device/"):]
        auth = h.get("authorization", "")
        if not auth.startswith("bearer "):
            raise Refused("authorization is not a bearer provider token")
        jh, claims = verify_es256(auth[len("bearer "):], self.public_key)
        if jh.get("kid") != APNS_KEY_ID:
            raise Refused(f"kid {jh.get('kid')}")
        if claims.get("iss") != APNS_TEAM:
            raise Refused(f"iss {claims.get('iss')}")
        iat, now = claims.get("iat", 0), time.time()
        if not now - 3600 <= iat <= now + 60:
            raise Refused(f"iat {iat} is not within the last hour")
        if h.get("apns-topic") != APNS_TOPIC:
            raise Refused(f"apns-topic {h.get('apns-topic')!r}")
        kind = (h.get("apns-push-type"), h.get("apns-priority"))
        urgent = {("background", "5"): False, ("alert", "10"): True}.get(kind)
        if urgent is None:
            raise Refused(f"apns-push-type / apns-priority {kind}")
        if h.get("apns-collapse-id") != COLLAPSE:
            raise Refused(f"apns-collapse-id {h.get('apns-collapse-id')!r}")
        try:
            payload = json.loads(body)
        except ValueError as e:
            raise Refused(f"payload is not JSON: {e}") from e
        aps = payload.get("aps") or {}
        if aps.get("content-available") != 1:
            raise Refused("aps.content-available is not 1")
        if urgent and not aps.get("alert"):
            raise Refused("an alert push without aps.alert")
        return token, urgent, payload

    def close(self):
        self.closed = True
        self.sock.close()


# --------------------------------------------------------------------------------- setup


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def setup(folder, fcm_key_pem):
    """Writes the keys and prints the server's push variables as `export` lines."""
    os.makedirs(folder, exist_ok=True)
    vapid = ec.generate_private_key(ec.SECP256R1())
    apns = ec.generate_private_key(ec.SECP256R1())
    p8 = os.path.join(folder, f"AuthKey_{APNS_KEY_ID}.p8")
    with open(p8, "wb") as f:
        f.write(apns.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    fcm_port, apns_port = free_port(), free_port()
    account = os.path.join(folder, "fcm-service-account.json")
    with open(fcm_key_pem) as src, open(account, "w") as f:
        json.dump({"type": "service_account", "client_email": FCM_EMAIL, "private_key": src.read(),
                   "project_id": FCM_PROJECT,
                   # What Google's file says; the server is told the local one below.
                   "token_uri": "https://oauth2.googleapis.com/token"}, f)
    env = {
        "TARMIM_VAPID_PRIVATE_KEY": b64e(vapid.private_numbers().private_value.to_bytes(32, "big")),
        "TARMIM_VAPID_SUBJECT": "mailto:ops@137.example",
        "TARMIM_PUSH_ALLOW_HTTP": "true",
        "TARMIM_FCM_SERVICE_ACCOUNT": account,
        "TARMIM_FCM_TOKEN_URI": f"http://127.0.0.1:{fcm_port}/token",
        "TARMIM_FCM_ENDPOINT": f"http://127.0.0.1:{fcm_port}",
        "TARMIM_APNS_KEY": p8,
        "TARMIM_APNS_KEY_ID": APNS_KEY_ID,
        "TARMIM_APNS_TEAM_ID": APNS_TEAM,
        "TARMIM_APNS_TOPIC": APNS_TOPIC,
        "TARMIM_APNS_ENDPOINT": f"http://127.0.0.1:{apns_port}",
        "TARMIM_TEST_FCM_PORT": str(fcm_port),
        "TARMIM_TEST_APNS_PORT": str(apns_port),
    }
    for k, v in env.items():
        print(f"export {k}='{v}'")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "setup":
        sys.exit("usage: push_receivers.py setup FOLDER FCM_KEY_PEM")
    setup(sys.argv[2], sys.argv[3])
