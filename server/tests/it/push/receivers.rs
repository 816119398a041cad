//! Local push services that check each request as the real provider (and, for Web Push,
//! the phone) would: signatures verified with the public key, claims, headers, HTTP/2 for
//! APNs, and the RFC 8291 payload decrypted with the subscription's private key. Each
//! keeps what it accepted and what it refused (a refusal is a test failure), and answers
//! as scripted: a status (with `Retry-After`), or never (a hang).

use aes_gcm::aead::{Aead, KeyInit};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Verifier;
use serde_json::Value;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, with this `Retry-After` and body.
    Status(u16, Option<&'static str>, &'static str),
    /// Never answer.
    Hang,
}

/// One accepted wake-up, as the receiver decoded it.
#[derive(Debug, Clone)]
pub struct Got {
    /// The device token (FCM, APNs) or the endpoint path (Web Push).
    pub to: String,
    /// Urgent by the wire's own signal (priority / push type / Urgency).
    pub urgent: bool,
    /// The payload the device gets (decrypted, for Web Push).
    pub payload: Value,
}

/// What a receiver saw.
#[derive(Default)]
pub struct Seen {
    /// Wake-ups accepted.
    pub got: Vec<Got>,
    /// Requests refused by a check, and why.
    pub refused: Vec<String>,
    /// Token exchanges (FCM).
    pub exchanges: usize,
    /// Scripted replies still to give (then 2xx).
    pub script: VecDeque<Reply>,
}

/// A shared view of a receiver.
#[derive(Clone, Default)]
pub struct Log(pub Arc<Mutex<Seen>>);

impl Log {
    pub fn got(&self) -> Vec<Got> {
        self.0.lock().unwrap().got.clone()
    }
    pub fn refused(&self) -> Vec<String> {
        self.0.lock().unwrap().refused.clone()
    }
    pub fn exchanges(&self) -> usize {
        self.0.lock().unwrap().exchanges
    }
    pub fn script(&self, r: Reply) {
        self.0.lock().unwrap().script.push_back(r);
    }
    fn refuse(&self, why: String) -> Response {
        self.0.lock().unwrap().refused.push(why.clone());
        (StatusCode::BAD_REQUEST, why).into_response()
    }
    /// The scripted reply, if any: `Some(response)` to send instead of accepting.
    async fn scripted(&self) -> Option<Response> {
        let next = self.0.lock().unwrap().script.pop_front();
        match next? {
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                None
            }
            Reply::Status(code, retry_after, body) => {
                let mut r = (StatusCode::from_u16(code).unwrap(), body).into_response();
                if let Some(ra) = retry_after {
                    r.headers_mut().insert("retry-after", ra.parse().unwrap());
                }
                Some(r)
            }
        }
    }
}

fn now() -> i64 {
    server::base::time::now_millis() / 1000
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// A JWT's three parts decoded: header, claims, signing input, signature.
fn split_jwt(jwt: &str) -> Result<(Value, Value, String, Vec<u8>), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(format!("not a compact JWS: {jwt:?}"));
    }
    let json = |s: &str| -> Result<Value, String> {
        serde_json::from_slice(&B64.decode(s).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())
    };
    Ok((
        json(parts[0])?,
        json(parts[1])?,
        format!("{}.{}", parts[0], parts[1]),
        B64.decode(parts[2]).map_err(|e| e.to_string())?,
    ))
}

/// Verifies an ES256 JWT with `key`; its header and claims.
pub fn verify_es256(jwt: &str, key: &p256::ecdsa::VerifyingKey) -> Result<(Value, Value), String> {
    let (h, c, input, sig) = split_jwt(jwt)?;
    if h["alg"] != "ES256" {
        return Err(format!("alg {} is not ES256", h["alg"]));
    }
    let sig = p256::ecdsa::Signature::from_slice(&sig).map_err(|e| format!("signature: {e}"))?;
    key.verify(input.as_bytes(), &sig)
        .map_err(|_| "the ES256 signature does not verify".to_owned())?;
    Ok((h, c))
}

/// Verifies an RS256 JWT with `key`; its header and claims.
pub fn verify_rs256(jwt: &str, key: &rsa::RsaPublicKey) -> Result<(Value, Value), String> {
    let (h, c, input, sig) = split_jwt(jwt)?;
    if h["alg"] != "RS256" {
        return Err(format!("alg {} is not RS256", h["alg"]));
    }
    let vk = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(key.clone());
    let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).map_err(|e| e.to_string())?;
    vk.verify(input.as_bytes(), &sig)
        .map_err(|_| "the RS256 signature does not verify".to_owned())?;
    Ok((h, c))
}

// ------------------------------------------------------------------------ Web Push

/// A push service and the phone behind it: holds the subscription's private key.
pub struct WebPushReceiver {
    pub addr: SocketAddr,
    pub log: Log,
    ua_secret: p256::SecretKey,
    auth: [u8; 16],
}

struct WpState {
    log: Log,
    ua_secret: p256::SecretKey,
    auth: [u8; 16],
    vapid_public: String,
    origin: String,
    /// The `Topic` every request must carry; none: requests must carry no `Topic`.
    topic: Option<&'static str>,
}

impl WebPushReceiver {
    /// Starts one expecting VAPID key `vapid_public` (base64url) and crews' wake-ups
    /// (`Topic: tarmim-sync`).
    pub async fn start(vapid_public: &str) -> WebPushReceiver {
        Self::start_with(vapid_public, Some("tarmim-sync")).await
    }

    /// Starts one expecting VAPID key `vapid_public` and citizens' notifications (no
    /// `Topic`: each is delivered, none replaces another).
    pub async fn start_citizen(vapid_public: &str) -> WebPushReceiver {
        Self::start_with(vapid_public, None).await
    }

    async fn start_with(vapid_public: &str, topic: Option<&'static str>) -> WebPushReceiver {
        let ua_secret = loop {
            if let Ok(k) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                break k;
            }
        };
        let auth: [u8; 16] = rand::random();
        let log = Log::default();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let state = Arc::new(WpState {
            log: log.clone(),
            ua_secret: ua_secret.clone(),
            auth,
            vapid_public: vapid_public.to_owned(),
            origin: format!("http://{addr}"),
            topic,
        });
        let app = axum::Router::new()
            .route("/push/{id}", axum::routing::post(webpush_handler))
            .with_state(state);
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        WebPushReceiver {
            addr,
            log,
            ua_secret,
            auth,
        }
    }

    /// The subscription JSON for `/push/{id}`, as the browser would give it.
    pub fn subscription(&self, id: &str) -> String {
        serde_json::json!({
            "endpoint": format!("http://{}/push/{id}", self.addr),
            "keys": {
                "p256dh": B64.encode(self.ua_secret.public_key().to_sec1_bytes()),
                "auth": B64.encode(self.auth),
            }
        })
        .to_string()
    }
}

async fn webpush_handler(
    State(s): State<Arc<WpState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match check_webpush(&s, &headers, &body) {
        Err(why) => s.log.refuse(why),
        Ok((urgent, payload)) => {
            if let Some(r) = s.log.scripted().await {
                return r;
            }
            s.log.0.lock().unwrap().got.push(Got {
                to: uri.path().to_owned(),
                urgent,
                payload,
            });
            StatusCode::CREATED.into_response()
        }
    }
}

fn check_webpush(s: &WpState, h: &HeaderMap, body: &[u8]) -> Result<(bool, Value), String> {
    // RFC 8030: TTL is required; Urgency and Topic as sent.
    header(h, "ttl")
        .parse::<u64>()
        .map_err(|_| "no TTL header".to_owned())?;
    let urgent = match header(h, "urgency") {
        "high" => true,
        "normal" => false,
        other => return Err(format!("urgency {other:?}")),
    };
    match s.topic {
        Some(t) if header(h, "topic") != t => {
            return Err(format!("topic {:?}", header(h, "topic")));
        }
        None if h.contains_key("topic") => {
            return Err(format!("an unexpected topic {:?}", header(h, "topic")));
        }
        _ => {}
    }
    if header(h, "content-encoding") != "aes128gcm" {
        return Err("content-encoding is not aes128gcm".into());
    }
    // RFC 8292: `vapid t=<jwt>, k=<public key>`; the key is the one the subscription was
    // made with; aud is our origin; exp within 24 hours; sub a contact.
    let auth = header(h, "authorization");
    let rest = auth
        .strip_prefix("vapid t=")
        .ok_or_else(|| format!("authorization {auth:?} is not vapid"))?;
    let (jwt, k) = rest
        .split_once(", k=")
        .ok_or_else(|| "vapid without k=".to_owned())?;
    if k != s.vapid_public {
        return Err("the VAPID key is not the application server's".into());
    }
    let key =
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&B64.decode(k).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let (_, claims) = verify_es256(jwt, &key)?;
    if claims["aud"] != s.origin.as_str() {
        return Err(format!("aud {} is not {}", claims["aud"], s.origin));
    }
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if exp <= now() || exp > now() + 24 * 3600 {
        return Err(format!("exp {exp} is not within the next 24 hours"));
    }
    if !claims["sub"].as_str().unwrap_or("").starts_with("mailto:") {
        return Err("sub is not a mailto: contact".into());
    }
    let plain = decrypt(body, &s.ua_secret, &s.auth)?;
    let payload: Value =
        serde_json::from_slice(&plain).map_err(|e| format!("payload is not JSON: {e}"))?;
    Ok((urgent, payload))
}

/// RFC 8291 decryption, as the phone does it, with the subscription's private key.
pub fn decrypt(body: &[u8], ua: &p256::SecretKey, auth: &[u8; 16]) -> Result<Vec<u8>, String> {
    if body.len() < 21 {
        return Err("body shorter than the aes128gcm header".into());
    }
    let salt = &body[..16];
    let rs = u32::from_be_bytes([body[16], body[17], body[18], body[19]]);
    let idlen = body[20] as usize;
    if idlen != 65 || body.len() < 21 + idlen + 17 || rs < 18 {
        return Err("bad aes128gcm header".into());
    }
    let as_public = p256::PublicKey::from_sec1_bytes(&body[21..21 + idlen])
        .map_err(|_| "keyid is not a P-256 point".to_owned())?;
    let shared = p256::ecdh::diffie_hellman(ua.to_nonzero_scalar(), as_public.as_affine());
    let mut info = b"WebPush: info\0".to_vec();
    info.extend_from_slice(&ua.public_key().to_sec1_bytes());
    info.extend_from_slice(&as_public.to_sec1_bytes());
    let expand = |salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]| {
        hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), ikm)
            .expand(info, out)
            .unwrap()
    };
    let mut ikm = [0u8; 32];
    expand(auth, shared.raw_secret_bytes(), &info, &mut ikm);
    let mut cek = [0u8; 16];
    expand(salt, &ikm, b"Content-Encoding: aes128gcm\0", &mut cek);
    let mut nonce = [0u8; 12];
    expand(salt, &ikm, b"Content-Encoding: nonce\0", &mut nonce);
    let mut plain = aes_gcm::Aes128Gcm::new_from_slice(&cek)
        .unwrap()
        .decrypt(aes_gcm::Nonce::from_slice(&nonce), &body[21 + idlen..])
        .map_err(|_| "the payload does not decrypt with the subscription's key".to_owned())?;
    // The last record ends with 0x02 then zero padding (RFC 8188 §2).
    while plain.last() == Some(&0) {
        plain.pop();
    }
    if plain.pop() != Some(2) {
        return Err("the record does not end with the last-record delimiter".into());
    }
    Ok(plain)
}

// ------------------------------------------------------------------------------ FCM

/// Google's OAuth2 token endpoint and FCM's send endpoint.
pub struct FcmReceiver {
    pub addr: SocketAddr,
    pub log: Log,
}

struct FcmState {
    log: Log,
    key: rsa::RsaPublicKey,
    email: String,
    project: String,
    token_uri: String,
    issued: Mutex<Vec<String>>,
}

impl FcmReceiver {
    /// Starts one for the service account `email` of `project` whose key is `key`.
    pub async fn start(key: rsa::RsaPublicKey, email: &str, project: &str) -> FcmReceiver {
        let log = Log::default();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let state = Arc::new(FcmState {
            log: log.clone(),
            key,
            email: email.into(),
            project: project.into(),
            token_uri: format!("http://{addr}/token"),
            issued: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/token", axum::routing::post(fcm_token))
            .route(
                "/v1/projects/{project}/{method}",
                axum::routing::post(fcm_send),
            )
            .with_state(state);
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        FcmReceiver { addr, log }
    }
}

async fn fcm_token(State(s): State<Arc<FcmState>>, body: String) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return s.log.refuse("grant_type is not jwt-bearer".into());
    }
    let checked = verify_rs256(get("assertion").unwrap_or(""), &s.key).and_then(|(_, c)| {
        let (iat, exp) = (
            c["iat"].as_i64().unwrap_or(0),
            c["exp"].as_i64().unwrap_or(0),
        );
        if c["iss"] != s.email.as_str() {
            return Err(format!("iss {}", c["iss"]));
        }
        if c["scope"] != "https://www.googleapis.com/auth/firebase.messaging" {
            return Err(format!("scope {}", c["scope"]));
        }
        if c["aud"] != s.token_uri.as_str() {
            return Err(format!("aud {} is not {}", c["aud"], s.token_uri));
        }
        if !(iat <= now() + 60 && exp > now() && exp - iat <= 3600) {
            return Err(format!("iat {iat} / exp {exp} not a valid window"));
        }
        Ok(())
    });
    if let Err(why) = checked {
        return s.log.refuse(format!("token exchange: {why}"));
    }
    let token = format!("ya29.test-{}", hex::encode(rand::random::<[u8; 8]>()));
    s.issued.lock().unwrap().push(token.clone());
    s.log.0.lock().unwrap().exchanges += 1;
    axum::Json(
        serde_json::json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
    )
    .into_response()
}

async fn fcm_send(
    State(s): State<Arc<FcmState>>,
    axum::extract::Path((project, method)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if project != s.project || method != "messages:send" {
        return (StatusCode::NOT_FOUND, "no such project or method").into_response();
    }
    let bearer = header(&headers, "authorization")
        .strip_prefix("Bearer ")
        .unwrap_or("")
        .to_owned();
    if !s.issued.lock().unwrap().contains(&bearer) {
        return (StatusCode::UNAUTHORIZED, "not an access token we issued").into_response();
    }
    let v: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => return s.log.refuse(format!("not JSON: {e}")),
    };
    let m = &v["message"];
    let checked = (|| {
        if m.get("notification").is_some() {
            return Err("a notification block: wake-ups are data-only".to_owned());
        }
        let data = m["data"].as_object().ok_or("no data")?;
        if !data.values().all(Value::is_string) {
            return Err("FCM data values must be strings".into());
        }
        let urgent = match m["android"]["priority"].as_str() {
            Some("HIGH") => true,
            Some("NORMAL") => false,
            other => return Err(format!("android.priority {other:?}")),
        };
        if m["android"]["collapse_key"] != "tarmim-sync" {
            return Err("collapse_key".into());
        }
        let token = m["token"].as_str().ok_or("no token")?.to_owned();
        Ok((token, urgent, Value::Object(data.clone())))
    })();
    match checked {
        Err(why) => s.log.refuse(why),
        Ok((to, urgent, payload)) => {
            if let Some(r) = s.log.scripted().await {
                return r;
            }
            s.log.0.lock().unwrap().got.push(Got {
                to,
                urgent,
                payload,
            });
            axum::Json(serde_json::json!({"name": format!("projects/{}/messages/1", s.project)}))
                .into_response()
        }
    }
}

// ----------------------------------------------------------------------------- APNs

/// APNs: HTTP/2 only (an HTTP/1.1 request is not even parsed), token-based auth.
pub struct ApnsReceiver {
    pub addr: SocketAddr,
    pub log: Log,
}

struct ApnsState {
    log: Log,
    key: p256::ecdsa::VerifyingKey,
    key_id: String,
    team: String,
    topic: String,
}

impl ApnsReceiver {
    pub async fn start(
        key: p256::ecdsa::VerifyingKey,
        key_id: &str,
        team: &str,
        topic: &str,
    ) -> ApnsReceiver {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let log = Log::default();
        let state = Arc::new(ApnsState {
            log: log.clone(),
            key,
            key_id: key_id.into(),
            team: team.into(),
            topic: topic.into(),
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = l.accept().await else {
                    return;
                };
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, std::convert::Infallible>(apns_handler(state, req).await) }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        ApnsReceiver { addr, log }
    }
}

async fn apns_handler(
    s: Arc<ApnsState>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<axum::body::Body> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(axum::body::Body::new(body), 1 << 20)
        .await
        .unwrap_or_default();
    let h = &parts.headers;
    let checked = (|| {
        if parts.version != hyper::Version::HTTP_2 {
            return Err(format!("{:?} is not HTTP/2", parts.version));
        }
        let token = parts
            .uri
            .path()
            .strip_prefix("/3/device/")
            .ok_or("not /3/device/")?
            .to_owned();
        let jwt = header(h, "authorization")
            .strip_prefix("bearer ")
            .ok_or("authorization is not a bearer token")?;
        let (jh, claims) = verify_es256(jwt, &s.key)?;
        if jh["kid"] != s.key_id.as_str() {
            return Err(format!("kid {}", jh["kid"]));
        }
        if claims["iss"] != s.team.as_str() {
            return Err(format!("iss {}", claims["iss"]));
        }
        let iat = claims["iat"].as_i64().unwrap_or(0);
        if iat > now() + 60 || iat < now() - 3600 {
            return Err("iat older than an hour".into());
        }
        if header(h, "apns-topic") != s.topic {
            return Err(format!("apns-topic {:?}", header(h, "apns-topic")));
        }
        let urgent = match (header(h, "apns-push-type"), header(h, "apns-priority")) {
            ("background", "5") => false,
            ("alert", "10") => true,
            (t, p) => return Err(format!("apns-push-type {t:?} with apns-priority {p:?}")),
        };
        if header(h, "apns-collapse-id") != "tarmim-sync" {
            return Err("apns-collapse-id".into());
        }
        let payload: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        if payload["aps"]["content-available"] != 1 {
            return Err("aps.content-available is not 1".into());
        }
        if urgent && payload["aps"]["alert"].is_null() {
            return Err("an alert push without aps.alert".into());
        }
        Ok((token, urgent, payload))
    })();
    let to_hyper = |r: Response| {
        let (p, b) = r.into_parts();
        hyper::Response::from_parts(p, b)
    };
    match checked {
        Err(why) => {
            if why.contains("signature") || why.starts_with("kid") || why.starts_with("iss") {
                // What APNs answers for a bad provider token.
                s.log.0.lock().unwrap().refused.push(why);
                return to_hyper(
                    (
                        StatusCode::FORBIDDEN,
                        r#"{"reason":"InvalidProviderToken"}"#,
                    )
                        .into_response(),
                );
            }
            to_hyper(s.log.refuse(why))
        }
        Ok((to, urgent, payload)) => {
            if let Some(r) = s.log.scripted().await {
                return to_hyper(r);
            }
            s.log.0.lock().unwrap().got.push(Got {
                to,
                urgent,
                payload,
            });
            to_hyper(StatusCode::OK.into_response())
        }
    }
}
