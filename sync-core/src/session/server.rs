//! The server's half of sync, one [`ServerSession`] per connected device.
//!
//! A session is driven by its host: [`ServerSession::on_frame`] for each frame the device
//! sends, [`ServerSession::on_notify`] when a commit touched one of the session's scopes.
//! Both return a [`Reply`]: frames to send (already encoded), commits made (the host
//! notifies the sessions of the touched scopes, on this replica and others), and whether
//! to close. All state that matters lives in the [`ServerStore`]; a session only remembers
//! how far it has brought the device in each scope.
//!
//! A `Hello` is answered with `Welcome` alone; the catch-up follows one bounded step at a
//! time, each asked for by the host with [`ServerSession::next_catch_up`] once it has
//! written the previous one, so that a manager's catch-up of a whole city is never held
//! in memory at once.

use super::pages::{Lookup, Page, PageCache, PageKey};
use super::scope::ScopePolicy;
use super::store::*;
use super::untrusted;
use crate::ids::{Actor, DeviceId, DocId, Millis, ScopeId};
use crate::protocol::*;
use crate::store::IndexEntry;
use crate::task::{PushFacts, Receipt, Refusal, RefusalCode, TaskDoc, longest_log, validate_push};
use automerge::Change;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Limits and sizes of a server session.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// A batch frame is closed once its documents reach this many bytes.
    pub max_batch_bytes: usize,
    /// How many scope entries to read from the store at a time: a catch-up step or a
    /// live pull's page.
    pub page: usize,
    /// A page is cut short once the documents and changes it holds reach this many bytes
    /// (checked after every 16 documents loaded): what a catch-up step holds in memory.
    pub max_page_bytes: usize,
    /// Most changes accepted in one push.
    pub max_push_changes: usize,
    /// Most bytes accepted in one push.
    pub max_push_bytes: usize,
    /// How often to retry a commit that lost a race with another writer.
    pub commit_retries: u32,
    /// Largest a document may grow to through a push, bytes saved; a push's changes may
    /// not inflate to more than this either (compressed-change bombs).
    pub max_doc_bytes: usize,
    /// Most entries a document's event log, notes or photos may hold (each) after a
    /// push; checked before the document is parsed and folded.
    pub max_doc_entries: usize,
    /// How far ahead of the server's clock a pushed event's time may be, ms; beyond it
    /// the push is refused ([`RefusalCode::FutureTime`]).
    pub clock_skew_ms: Millis,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_batch_bytes: 256 * 1024,
            page: 512,
            max_page_bytes: 4 * 1024 * 1024,
            max_push_changes: 1_000,
            max_push_bytes: 8 * 1024 * 1024,
            commit_retries: 8,
            max_doc_bytes: 4 * 1024 * 1024,
            max_doc_entries: 1_000,
            clock_skew_ms: 5 * 60 * 1000,
        }
    }
}

/// A commit the session made, for the host to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The document.
    pub doc: DocId,
    /// Its sequence number.
    pub seq: u64,
    /// Scopes whose sessions must be notified.
    pub touched: Vec<ScopeId>,
    /// This commit created the document (a task filed on a phone): the host routes and
    /// dispatches it, as it does for tasks filed on the server.
    pub created: bool,
}

/// What the host does after a call.
#[derive(Debug, Default)]
pub struct Reply {
    /// Encoded frames to send, in order.
    pub frames: Vec<Vec<u8>>,
    /// Commits made; the host notifies the sessions of their scopes.
    pub committed: Vec<Committed>,
    /// Refusals sent, for logs and metrics.
    pub refused: Vec<(DocId, RefusalCode)>,
    /// Close the connection after sending.
    pub close: bool,
}

/// Why a session ends abnormally (also sent to the device as an error frame).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// A frame did not decode.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The device broke the protocol's order.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] ServerStoreError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitHello,
    Live,
    Closed,
}

/// One device's session on the server.
#[derive(Debug)]
pub struct ServerSession<P> {
    identity: Actor,
    scopes: Vec<ScopeId>,
    policy: P,
    cfg: ServerConfig,
    version: u16,
    counter: FrameCounter,
    phase: Phase,
    /// Per scope: how far the device is, as in [`Cursor`].
    cursors: BTreeMap<ScopeId, ScopeCursor>,
    /// Sequence numbers of commits this session made, not yet passed by every cursor:
    /// their changes came from the device, so live pulls need not echo them.
    own_seqs: HashSet<u64>,
    /// The device's contact before this session (its previous `Hello`): the earliest
    /// time the server vouches for in its events ([`Receipt`]).
    floor: Option<Millis>,
    /// The catch-up under way, from `Hello` until `CaughtUp` is sent.
    catch_up: Option<CatchUp>,
    /// Scopes whose live pull stopped at a page's end, to go on with in the next steps.
    unfinished: Vec<ScopeId>,
    /// Catch-up pages shared with the server's other sessions, if the host keeps them.
    pages: Option<Arc<PageCache>>,
}

/// How far a catch-up has gone: the host asks for it page by page
/// ([`ServerSession::next_catch_up`]), so only one page is ever held.
#[derive(Debug, Default)]
struct CatchUp {
    /// The index in the session's scopes of the scope being sent; the ones before it are
    /// complete.
    scope: usize,
    /// Documents sent whole in this catch-up, with the sequence number they were sent
    /// at: a document in several of the device's scopes is sent once (an id and a number
    /// per document, the only part of a catch-up that grows with its size).
    sent: HashMap<DocId, u64>,
}

/// The origin of commits that carry the server's receipts beside a device's changes, so
/// that live pulls send them back to that device too.
const RECEIPT_ORIGIN: &str = "server";

impl<P: ScopePolicy> ServerSession<P> {
    /// A session for an authenticated device with the scopes the server computed for it.
    pub fn new(identity: Actor, scopes: Vec<ScopeId>, policy: P, cfg: ServerConfig) -> Self {
        Self {
            identity,
            scopes,
            policy,
            cfg,
            version: PROTOCOL_VERSION,
            counter: FrameCounter::default(),
            phase: Phase::AwaitHello,
            cursors: BTreeMap::new(),
            own_seqs: HashSet::new(),
            floor: None,
            catch_up: None,
            unfinished: Vec::new(),
            pages: None,
        }
    }

    /// Shares catch-up pages with the host's other sessions through `pages`: a page
    /// another session built from the same entries is sent as it is (see
    /// [`super::pages`]).
    pub fn with_pages(mut self, pages: Arc<PageCache>) -> Self {
        self.pages = Some(pages);
        self
    }

    /// The device's scopes.
    pub fn scopes(&self) -> &[ScopeId] {
        &self.scopes
    }

    /// The authenticated identity.
    pub fn identity(&self) -> &Actor {
        &self.identity
    }

    /// Whether the handshake is done (live pushes may be sent).
    pub fn is_live(&self) -> bool {
        self.phase == Phase::Live
    }

    /// Whether a catch-up (or a live pull longer than a page) is under way: the host
    /// calls [`Self::next_catch_up`] until it is over.
    pub fn is_catching_up(&self) -> bool {
        self.phase == Phase::Live && (self.catch_up.is_some() || !self.unfinished.is_empty())
    }

    /// The next step of the catch-up a `Hello` started: at most one page of scope
    /// entries (`ServerConfig::page`) in batch frames, and `CaughtUp` after the last;
    /// `None` when no catch-up is under way. The host asks for the next step only once
    /// it has written this one (back-pressure: a device that reads slowly is sent to
    /// slowly, and a large scope is never held whole). Frames from the device may be
    /// handled between steps: a push is judged as at any other time (against what the
    /// device acknowledged in its `Hello`), and its commits reach the device through
    /// the catch-up or, in a scope already complete, through `on_notify`.
    ///
    /// A live pull ([`Self::on_notify`]) longer than a page goes on here too, a page a
    /// step, once the catch-up is over.
    pub async fn next_catch_up<S: ServerStore>(&mut self, store: &S) -> Option<Reply> {
        if self.phase != Phase::Live {
            return None;
        }
        let Some(mut up) = self.catch_up.take() else {
            if self.unfinished.is_empty() {
                return None;
            }
            let scope = self.unfinished.remove(0);
            let mut reply = Reply::default();
            match self.pull_page(store, &scope, true, None, &mut reply).await {
                Ok(true) => {}
                Ok(false) => self.unfinished.push(scope),
                Err(e) => self.fail(&mut reply, ErrorCode::Unavailable, e.to_string()),
            }
            return Some(reply);
        };
        let mut reply = Reply::default();
        while reply.frames.is_empty() {
            let Some(scope) = self.scopes.get(up.scope).cloned() else {
                self.send(&mut reply, ServerFrame::CaughtUp);
                return Some(reply);
            };
            match self
                .pull_page(store, &scope, false, Some(&mut up.sent), &mut reply)
                .await
            {
                Ok(true) => up.scope += 1,
                Ok(false) => {}
                Err(e) => {
                    self.fail(&mut reply, ErrorCode::Unavailable, e.to_string());
                    return Some(reply);
                }
            }
        }
        self.catch_up = Some(up);
        Some(reply)
    }

    /// Ends the session because the device's user was disabled. A device past its
    /// handshake that speaks [`SCOPES_FRAME_VERSION`] is told it has no scope any more
    /// ([`ServerFrame::Scopes`] with `account_disabled`), so it drops what it holds; then
    /// the connection closes, and nothing else is sent on it.
    pub fn account_disabled(&mut self) -> Reply {
        let mut reply = Reply {
            close: true,
            ..Reply::default()
        };
        if self.phase == Phase::Live && self.version >= SCOPES_FRAME_VERSION {
            let change = ScopeChange {
                scopes: Vec::new(),
                account_disabled: true,
            };
            self.send(&mut reply, ServerFrame::Scopes(change));
        }
        self.phase = Phase::Closed;
        self.catch_up = None;
        self.unfinished.clear();
        reply
    }

    fn send(&mut self, reply: &mut Reply, frame: ServerFrame) {
        let n = self.counter.next_out();
        reply.frames.push(encode_server(self.version, n, &frame));
    }

    fn fail(&mut self, reply: &mut Reply, code: ErrorCode, message: String) {
        self.send(reply, ServerFrame::Error(ErrorFrame { code, message }));
        reply.close = true;
        self.phase = Phase::Closed;
    }

    /// Handles one frame from the device. Never panics on bad input: a frame that does not
    /// decode or breaks the protocol ends the session with an error frame.
    pub async fn on_frame<S: ServerStore>(
        &mut self,
        store: &S,
        bytes: &[u8],
        now: Millis,
    ) -> Reply {
        let mut reply = Reply::default();
        if self.phase == Phase::Closed {
            reply.close = true;
            return reply;
        }
        let decoded = match decode_client(bytes) {
            Ok(d) => d,
            Err(e) => {
                let code = match e {
                    FrameError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
                    _ => ErrorCode::Malformed,
                };
                self.fail(&mut reply, code, e.to_string());
                return reply;
            }
        };
        match self.counter.arrive(decoded.number) {
            Arrival::InOrder => {}
            Arrival::Duplicate => return reply,
            Arrival::Gap { expected, got } => {
                self.fail(
                    &mut reply,
                    ErrorCode::Malformed,
                    format!("frame {expected} is missing (got {got}); reconnect"),
                );
                return reply;
            }
        }
        let result = match (self.phase, decoded.frame) {
            (Phase::AwaitHello, ClientFrame::Hello(hello)) => {
                self.on_hello(store, hello, now, &mut reply).await
            }
            (Phase::AwaitHello, _) => Err(SessionError::Protocol(
                "the first frame must be Hello".into(),
            )),
            (Phase::Live, ClientFrame::Hello(_)) => {
                Err(SessionError::Protocol("Hello sent twice".into()))
            }
            (Phase::Live, ClientFrame::Push(push)) => {
                self.on_push(store, push, now, &mut reply).await
            }
            (Phase::Live, ClientFrame::Ping(n)) => {
                self.send(&mut reply, ServerFrame::Pong(n));
                Ok(())
            }
            (Phase::Closed, _) => Ok(()),
        };
        if let Err(e) = result {
            let code = match &e {
                SessionError::Store(_) => ErrorCode::Unavailable,
                _ => ErrorCode::Malformed,
            };
            self.fail(&mut reply, code, e.to_string());
        }
        reply
    }

    /// Brings the device up to date in `scope` after a commit touched it.
    pub async fn on_notify<S: ServerStore>(&mut self, store: &S, scope: &ScopeId) -> Reply {
        let mut reply = Reply::default();
        if self.phase != Phase::Live || !self.scopes.contains(scope) {
            return reply;
        }
        // During a catch-up only the scopes it completed are pulled: the others it will
        // read to their end, after the commit that woke this call.
        if let Some(up) = &self.catch_up
            && !self.scopes[..up.scope.min(self.scopes.len())].contains(scope)
        {
            return reply;
        }
        // One page; the rest, if any, in the next steps the host asks for.
        match self.pull_page(store, scope, true, None, &mut reply).await {
            Ok(true) => {}
            Ok(false) => {
                if !self.unfinished.contains(scope) {
                    self.unfinished.push(scope.clone());
                }
            }
            Err(e) => self.fail(&mut reply, ErrorCode::Unavailable, e.to_string()),
        }
        reply
    }

    async fn on_hello<S: ServerStore>(
        &mut self,
        store: &S,
        hello: Hello,
        now: Millis,
        reply: &mut Reply,
    ) -> Result<(), SessionError> {
        if hello.device != self.identity.device {
            self.fail(
                reply,
                ErrorCode::Unauthorized,
                format!(
                    "this connection is authenticated as device {}, not {}",
                    self.identity.device, hello.device
                ),
            );
            return Ok(());
        }
        let Some(version) = negotiate(hello.oldest_version, hello.newest_version) else {
            self.fail(
                reply,
                ErrorCode::UnsupportedVersion,
                format!(
                    "device speaks {}..={}, server {}..={}",
                    hello.oldest_version,
                    hello.newest_version,
                    OLDEST_SUPPORTED_VERSION,
                    PROTOCOL_VERSION
                ),
            );
            return Ok(());
        };
        self.version = version;
        let given: HashMap<&ScopeId, ScopeCursor> = hello
            .cursors
            .iter()
            .map(|c| {
                let cur = ScopeCursor {
                    seq: c.seq,
                    scanned: c.scanned.max(c.seq),
                };
                (&c.scope, cur)
            })
            .collect();
        self.cursors = self
            .scopes
            .iter()
            .map(|s| (s.clone(), given.get(s).copied().unwrap_or_default()))
            .collect();
        // The cursors are the device's confirmation of what earlier batches delivered
        // (it writes a batch and its cursor in one transaction): recorded before any push
        // of this session is judged, so no push can claim not to have seen it.
        let acked: Vec<(ScopeId, u64)> = self
            .cursors
            .iter()
            .filter(|(_, c)| c.seq > 0)
            .map(|(s, c)| (s.clone(), c.seq))
            .collect();
        let previous = store
            .record_hello(&self.identity.device, &acked, now)
            .await?;
        // A device's first contact: it held no task before it, so nothing it pushes can
        // be older.
        self.floor = Some(previous.unwrap_or(now).min(now));
        self.phase = Phase::Live;
        let welcome = Welcome {
            version,
            scopes: self.scopes.clone(),
            server_time: now,
        };
        self.send(reply, ServerFrame::Welcome(welcome));
        // The catch-up is sent in bounded steps the host asks for (`next_catch_up`), each
        // once the previous one was written: a large scope is never held whole.
        self.catch_up = Some(CatchUp::default());
        Ok(())
    }

    /// Sends one page of what changed in `scope` after the device's cursor (at most
    /// `page` scope entries, in batches); true when the scope's end was reached. The
    /// session's cursor for the scope records how far it got, so the next call goes on
    /// from there. `sent`: documents already sent whole in this catch-up, and at which
    /// sequence number (a document in several of the device's scopes is sent once).
    ///
    /// A catch-up's page comes from the [`PageCache`] when the session has one and the
    /// page depends on nothing but the scope's entries (no document of it was already
    /// sent through another scope): the sessions of a crew reconnecting from the same
    /// cursor share one build.
    async fn pull_page<S: ServerStore>(
        &mut self,
        store: &S,
        scope: &ScopeId,
        live: bool,
        sent: Option<&mut HashMap<DocId, u64>>,
        reply: &mut Reply,
    ) -> Result<bool, SessionError> {
        // `start` is what the device holds of every document: each decision is made against
        // it, not against how far an earlier (perhaps interrupted) catch-up or an earlier
        // page scanned.
        let cur = self.cursors.get(scope).copied().unwrap_or_default();
        let start = cur.seq;
        let cursor = cur.scanned;
        let entries = store.scope_entries(scope, cursor, self.cfg.page).await?;
        if entries.is_empty() {
            // The end was reached on an empty page: if an earlier catch-up (or page)
            // was cut off after scanning further than it completed, complete it now.
            if cursor != start {
                let frames = self.batch_frames(scope, Vec::new(), cursor, true);
                self.emit(reply, frames);
            }
            self.cursors.insert(
                scope.clone(),
                ScopeCursor {
                    seq: cursor,
                    scanned: cursor,
                },
            );
            self.trim_own_seqs();
            return Ok(true);
        }
        // A page that skips a document sent through another scope is this session's own.
        // So is every page of a long catch-up after its first: it starts where this one
        // session stopped (`scanned` past `seq`), a cursor no other phone holds, and
        // keeping those would hold a whole 10,000-document catch-up in the cache. The
        // first page from a settled cursor is the one a crew's phones share at the start
        // of a shift.
        let shared = !live
            && cursor == start
            && !entries.iter().any(|e| {
                sent.as_deref()
                    .and_then(|m| m.get(&e.doc))
                    .is_some_and(|s| *s >= e.seq)
            });
        let page = match self.pages.clone() {
            Some(cache) if shared => {
                self.shared_page(&cache, store, scope, start, cursor, entries)
                    .await?
            }
            _ => {
                let built = self
                    .build_page(store, scope, start, live, sent.as_deref(), entries)
                    .await?;
                Arc::new(built)
            }
        };
        if let Some(m) = sent {
            for (doc, seq) in &page.snapshots {
                m.insert(doc.clone(), *seq);
            }
        }
        let (page_end, complete) = (page.page_end, page.complete);
        let frames = match Arc::try_unwrap(page) {
            Ok(own) => own.frames,
            Err(shared) => shared.frames.clone(),
        };
        self.emit(reply, frames);
        if complete {
            self.cursors.insert(
                scope.clone(),
                ScopeCursor {
                    seq: page_end,
                    scanned: page_end,
                },
            );
            self.trim_own_seqs();
        } else {
            self.cursors.insert(
                scope.clone(),
                ScopeCursor {
                    seq: start,
                    scanned: page_end,
                },
            );
        }
        Ok(complete)
    }

    /// The page built from `entries`, from the cache if another session built it from the
    /// same entries (and decided the same about documents that left the scope), else
    /// built here and kept for the others.
    async fn shared_page<S: ServerStore>(
        &self,
        cache: &PageCache,
        store: &S,
        scope: &ScopeId,
        start: u64,
        cursor: u64,
        entries: Vec<ScopeEntry>,
    ) -> Result<Arc<Page>, SessionError> {
        let key = PageKey {
            scope: scope.clone(),
            start,
            scanned: cursor,
            version: self.version,
            sizes: (
                self.cfg.page,
                self.cfg.max_page_bytes,
                self.cfg.max_batch_bytes,
            ),
        };
        // A few rounds at most: a page superseded under this session's feet is waited
        // for again; beyond that it builds alone.
        for _ in 0..3 {
            match cache.lookup(&key).await {
                Lookup::Hit(page) if page.entries == entries => {
                    if self.same_drops(store, scope, &page.drops).await? {
                        cache.used();
                        return Ok(page);
                    }
                    // Its other scopes make this session's page differ: its own.
                    break;
                }
                Lookup::Hit(stale) => {
                    // Built from other entries: the scope moved on since (or this session
                    // read before a commit the builder saw). The newer entries replace it.
                    if let Some(claim) = cache.supersede(&key, &stale) {
                        let page = Arc::new(
                            self.build_page(store, scope, start, false, None, entries)
                                .await?,
                        );
                        claim.fill(Arc::clone(&page));
                        return Ok(page);
                    }
                }
                Lookup::Build(claim) => {
                    let page = Arc::new(
                        self.build_page(store, scope, start, false, None, entries)
                            .await?,
                    );
                    claim.fill(Arc::clone(&page));
                    return Ok(page);
                }
                Lookup::Alone => break,
            }
        }
        let page = self
            .build_page(store, scope, start, false, None, entries)
            .await?;
        Ok(Arc::new(page))
    }

    /// Whether this session decides as a page's builder did about each document that left
    /// the page's scope (whether it is still in another of the session's scopes).
    async fn same_drops<S: ServerStore>(
        &self,
        store: &S,
        scope: &ScopeId,
        drops: &[(DocId, bool)],
    ) -> Result<bool, SessionError> {
        for (doc, elsewhere) in drops {
            if self.elsewhere(store, scope, doc).await? != *elsewhere {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether `doc`, which left `scope`, is in another of the session's scopes.
    async fn elsewhere<S: ServerStore>(
        &self,
        store: &S,
        scope: &ScopeId,
        doc: &DocId,
    ) -> Result<bool, SessionError> {
        Ok(store
            .doc_scopes(doc)
            .await?
            .iter()
            .any(|s| s != scope && self.scopes.contains(s)))
    }

    /// Builds the page of `entries` (read after the device's cursor, not empty): the
    /// updates it owes the device, in batch frames numbered 0. `sent`: as in
    /// [`Self::pull_page`].
    async fn build_page<S: ServerStore>(
        &self,
        store: &S,
        scope: &ScopeId,
        start: u64,
        live: bool,
        sent: Option<&HashMap<DocId, u64>>,
        entries: Vec<ScopeEntry>,
    ) -> Result<Page, SessionError> {
        let mut page_end = entries.last().map_or(start, |e| e.seq);
        let mut full_page = entries.len() >= self.cfg.page;
        let mut updates: Vec<(DocUpdate, u64)> = Vec::with_capacity(entries.len());
        let mut need_snapshot: Vec<DocId> = Vec::new();
        let mut drops: Vec<(DocId, bool)> = Vec::new();
        // Bytes of documents and changes the page holds: it is cut once they reach
        // `max_page_bytes` (512 documents at the size cap would be 2 GiB).
        let mut held = 0usize;
        for (k, e) in entries.iter().enumerate() {
            if let Some(s) = sent.and_then(|m| m.get(&e.doc))
                && *s >= e.seq
            {
                continue;
            }
            if !e.present {
                let elsewhere = self.elsewhere(store, scope, &e.doc).await?;
                drops.push((e.doc.clone(), elsewhere));
                if !elsewhere {
                    updates.push((DocUpdate::Drop { doc: e.doc.clone() }, e.seq));
                }
            } else if e.entered_seq > start {
                to_fill(e, &mut need_snapshot, &mut updates);
            } else {
                match store.changes_since(&e.doc, start).await? {
                    ChangesSince::Compacted => to_fill(e, &mut need_snapshot, &mut updates),
                    ChangesSince::Changes(changes) => {
                        let changes: Vec<Vec<u8>> = changes
                            .into_iter()
                            .filter(|c| {
                                !(live
                                    && c.origin == self.identity.device
                                    && self.own_seqs.contains(&c.seq))
                            })
                            .map(|c| c.bytes)
                            .collect();
                        if !changes.is_empty() {
                            let u = DocUpdate::Changes {
                                doc: e.doc.clone(),
                                changes,
                            };
                            held += update_size(&u);
                            updates.push((u, e.seq));
                        }
                    }
                }
            }
            let last_entry = k + 1 == entries.len();
            // Loaded before the page may be cut here (what it names must go with it).
            let cut = held >= self.cfg.max_page_bytes;
            if need_snapshot.len() >= LOAD_AT_ONCE
                || (!need_snapshot.is_empty() && (last_entry || cut))
            {
                held += fill_snapshots(store, &mut updates, &mut need_snapshot).await?;
            }
            if held >= self.cfg.max_page_bytes && !last_entry {
                // Cut here: the entries after this one are the next page's.
                page_end = e.seq;
                full_page = true;
                break;
            }
        }
        // What is still to load (the page's last entries may have been skipped).
        if !need_snapshot.is_empty() {
            fill_snapshots(store, &mut updates, &mut need_snapshot).await?;
        }
        // A document deleted between the two reads has nothing to send.
        updates
            .retain(|(u, _)| !matches!(u, DocUpdate::Snapshot { bytes, .. } if bytes.is_empty()));
        let snapshots = updates
            .iter()
            .filter_map(|(u, seq)| match u {
                DocUpdate::Snapshot { doc, .. } => Some((doc.clone(), *seq)),
                _ => None,
            })
            .collect();
        let complete = !full_page;
        let frames = self.batch_frames(scope, updates, page_end, complete);
        Ok(Page {
            entries,
            drops,
            frames,
            snapshots,
            page_end,
            complete,
        })
    }

    fn trim_own_seqs(&mut self) {
        let lowest = self.cursors.values().map(|c| c.seq).min().unwrap_or(0);
        self.own_seqs.retain(|s| *s > lowest);
    }

    /// Appends frames numbered 0 to the reply, numbered for this connection.
    fn emit(&mut self, reply: &mut Reply, frames: Vec<Vec<u8>>) {
        for mut f in frames {
            renumber(&mut f, self.counter.next_out());
            reply.frames.push(f);
        }
    }

    /// Splits updates into batch frames of bounded size, numbered 0. Every batch says how
    /// far it scanned: the sequence number of the last entry it covers, the last one the
    /// page's end; only the last batch of the last page is `complete`.
    fn batch_frames(
        &self,
        scope: &ScopeId,
        updates: Vec<(DocUpdate, u64)>,
        page_end: u64,
        complete: bool,
    ) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let mut batch: Vec<DocUpdate> = Vec::new();
        let mut size = 0usize;
        let n = updates.len();
        for (i, (u, seq)) in updates.into_iter().enumerate() {
            size += update_size(&u);
            batch.push(u);
            if size >= self.cfg.max_batch_bytes && i + 1 < n {
                let frame = ServerFrame::Batch(Batch {
                    scope: scope.clone(),
                    updates: std::mem::take(&mut batch),
                    scanned: seq,
                    complete: false,
                });
                frames.push(encode_server(self.version, 0, &frame));
                size = 0;
            }
        }
        let frame = ServerFrame::Batch(Batch {
            scope: scope.clone(),
            updates: batch,
            scanned: page_end,
            complete,
        });
        frames.push(encode_server(self.version, 0, &frame));
        frames
    }

    async fn on_push<S: ServerStore>(
        &mut self,
        store: &S,
        push: Push,
        now: Millis,
        reply: &mut Reply,
    ) -> Result<(), SessionError> {
        let doc_id = push.doc.clone();
        let total: usize = push.changes.iter().map(Vec::len).sum();
        if push.changes.len() > self.cfg.max_push_changes || total > self.cfg.max_push_bytes {
            let msg = format!(
                "push of {} changes / {} bytes exceeds the limit of {} / {}",
                push.changes.len(),
                total,
                self.cfg.max_push_changes,
                self.cfg.max_push_bytes
            );
            return self
                .refuse(store, reply, &doc_id, RefusalCode::Malformed, msg)
                .await;
        }
        let budget = self.cfg.max_doc_bytes as u64;
        let changes = match untrusted::decode_changes(push.changes, budget) {
            Ok(c) => c,
            Err(e) => {
                return self
                    .refuse(store, reply, &doc_id, RefusalCode::Malformed, e.to_string())
                    .await;
            }
        };
        let hashes: Vec<[u8; 32]> = changes.iter().map(|c| c.hash().0).collect();
        for _ in 0..=self.cfg.commit_retries {
            match self
                .try_commit(store, &doc_id, &changes, now, reply)
                .await?
            {
                Attempt::Done => {
                    self.send(
                        reply,
                        ServerFrame::Ack(Ack {
                            doc: doc_id,
                            hashes,
                        }),
                    );
                    return Ok(());
                }
                Attempt::Refused(r) => {
                    return self.refuse(store, reply, &doc_id, r.code, r.message).await;
                }
                Attempt::Raced => continue,
            }
        }
        Err(SessionError::Store(ServerStoreError::Unavailable(format!(
            "document {doc_id} is too busy; retry"
        ))))
    }

    async fn try_commit<S: ServerStore>(
        &mut self,
        store: &S,
        doc_id: &DocId,
        changes: &[Change],
        now: Millis,
        reply: &mut Reply,
    ) -> Result<Attempt, SessionError> {
        let refused = |code, message: String| Ok(Attempt::Refused(Refusal { code, message }));
        let stored = store.load(doc_id).await?;
        let before = match &stored {
            Some(s) => match TaskDoc::load(&s.bytes) {
                Ok(d) => Some(d),
                Err(e) => {
                    return Err(SessionError::Store(ServerStoreError::Corrupt(format!(
                        "stored document {doc_id}: {e}"
                    ))));
                }
            },
            None => None,
        };
        let mut after_am = match &before {
            // A copy with the same actor: it only receives the device's changes.
            Some(d) => std::mem::take(d.clone().automerge()),
            None => automerge::AutoCommit::new(),
        };
        let stored_heads = after_am.get_heads();
        let new: Vec<Change> = changes
            .iter()
            .filter(|c| after_am.get_change_by_hash(&c.hash()).is_none())
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(Attempt::Done);
        }
        if let Err(msg) = untrusted::apply_changes(&mut after_am, new.clone()) {
            return refused(RefusalCode::Malformed, msg);
        }
        // Before parsing and folding, whose cost grows with the logs.
        let entries = longest_log(&after_am);
        if entries > self.cfg.max_doc_entries {
            return refused(
                RefusalCode::Malformed,
                format!(
                    "the document would hold {entries} events, notes or photos, more than the limit of {}",
                    self.cfg.max_doc_entries
                ),
            );
        }
        if !after_am.get_missing_deps(&[]).is_empty() {
            return refused(
                RefusalCode::Malformed,
                "the changes depend on changes the server does not have".into(),
            );
        }
        let mut after = match TaskDoc::from_automerge(after_am) {
            Ok(d) => d,
            Err(e) => return refused(RefusalCode::Malformed, e.to_string()),
        };
        match after.id() {
            Ok(id) if &id == doc_id => {}
            Ok(id) => {
                return refused(
                    RefusalCode::Malformed,
                    format!("the changes are for task {id}, pushed as {doc_id}"),
                );
            }
            Err(e) => return refused(RefusalCode::Malformed, e.to_string()),
        }
        let view = match after.view() {
            Ok(v) => v,
            Err(e) => return refused(RefusalCode::Malformed, e.to_string()),
        };
        let task_scopes = match &stored {
            Some(_) => store.doc_scopes(doc_id).await?,
            None => self.policy.scopes_of(&view),
        };
        let scope_view = match &before {
            Some(b) => match b.view() {
                Ok(v) => v,
                Err(e) => return refused(RefusalCode::Malformed, e.to_string()),
            },
            None => view.clone(),
        };
        if !self
            .policy
            .may_push(&self.identity, &self.scopes, &task_scopes, &scope_view)
        {
            return refused(
                RefusalCode::OutOfScope,
                format!("task {doc_id} is not in this device's scope"),
            );
        }
        let held = match &stored {
            Some(_) => {
                store
                    .acknowledged_seq(&self.identity.device, doc_id)
                    .await?
            }
            None => None,
        };
        // The device confirmed that the task left it (a `Drop`, in a connection before
        // this one) and it is in none of the device's scopes now: the phone library has
        // let go of it, and work made before the drop was pushed in the connection that
        // brought it. Any new change now comes from a copy kept against the protocol (a
        // forged completion on the heads before a reassignment, which the device was
        // never sent) or from a push lost as the drop arrived; the server cannot tell them
        // apart and refuses both (docs/security.md).
        if held.is_some_and(|h| h.dropped) && !task_scopes.iter().any(|s| self.scopes.contains(s)) {
            return refused(
                RefusalCode::StaleView,
                format!(
                    "task {doc_id} was taken out of this device's scopes, and the device confirmed receiving that; it may not change the task since"
                ),
            );
        }
        let acknowledged = match (&stored, held) {
            (Some(s), Some(h)) => {
                self.acknowledged_heads(store, doc_id, h.seq, s.seq, stored_heads)
                    .await?
            }
            _ => None,
        };
        let facts = PushFacts {
            acknowledged: acknowledged.as_deref(),
            received_at: Some(now),
            skew_ms: self.cfg.clock_skew_ms,
        };
        if let Err(r) = validate_push(before.as_ref(), &after, &self.identity, &facts) {
            return Ok(Attempt::Refused(r));
        }
        let mut new = new;
        let mut view = view;
        let mut origin = self.identity.device.clone();
        let receipts = self.receipts(&view, before.is_some().then_some(&scope_view), now);
        if !receipts.is_empty() {
            let heads = after.heads();
            if let Err(e) = after.record_receipts(&receipts) {
                return refused(RefusalCode::Malformed, e.to_string());
            }
            new.extend(after.automerge().get_changes(&heads));
            view = match after.view() {
                Ok(v) => v,
                Err(e) => return refused(RefusalCode::Malformed, e.to_string()),
            };
            if let Ok(server) = DeviceId::new(RECEIPT_ORIGIN) {
                origin = server;
            }
        }
        let scopes = self.policy.scopes_of(&view);
        let snapshot = after.save();
        if snapshot.len() > self.cfg.max_doc_bytes {
            return refused(
                RefusalCode::Malformed,
                format!(
                    "the document would take {} bytes, more than the limit of {}",
                    snapshot.len(),
                    self.cfg.max_doc_bytes
                ),
            );
        }
        let commit = DocCommit {
            doc: doc_id.clone(),
            base_seq: stored.as_ref().map(|s| s.seq),
            changes: new.iter().map(|c| c.raw_bytes().to_vec()).collect(),
            snapshot,
            view,
            scopes,
            origin,
        };
        match store.commit(commit).await {
            Ok(outcome) => {
                self.own_seqs.insert(outcome.seq);
                reply.committed.push(Committed {
                    doc: doc_id.clone(),
                    seq: outcome.seq,
                    touched: outcome.touched,
                    created: stored.is_none(),
                });
                Ok(Attempt::Done)
            }
            Err(ServerStoreError::Conflict) => Ok(Attempt::Raced),
            Err(e) => Err(e.into()),
        }
    }

    /// Receipts for the new events of a push (those of `after` not in `before`) that
    /// claim a time older than `now` by more than the clock skew: offline work, or a
    /// clock set back. The phone's time is kept in the event; the server vouches for it
    /// no earlier than the device's previous contact (work made before that contact
    /// would have been pushed then).
    fn receipts(
        &self,
        after: &crate::task::TaskView,
        before: Option<&crate::task::TaskView>,
        now: Millis,
    ) -> Vec<(String, Receipt)> {
        let floor = self.floor.unwrap_or(now).min(now);
        let known: HashSet<&str> = before
            .map(|b| b.timeline.iter().map(|t| t.event.id.as_str()).collect())
            .unwrap_or_default();
        after
            .timeline
            .iter()
            .map(|t| &t.event)
            .filter(|e| !known.contains(e.id.as_str()))
            .filter(|e| now.saturating_sub(e.at) > self.cfg.clock_skew_ms)
            .map(|e| {
                (
                    e.id.clone(),
                    Receipt {
                        received_at: now,
                        vouched_at: e.at.max(floor),
                    },
                )
            })
            .collect()
    }

    /// The heads of the stored document (at `seq`, with heads `current`) as this device
    /// acknowledged holding them: every change committed up to `acked`, its acknowledged
    /// sequence number ([`ServerStore::acknowledged_seq`]). `None` when the changes after
    /// that number were compacted away (the device is then trusted, never wrongly
    /// refused).
    async fn acknowledged_heads<S: ServerStore>(
        &self,
        store: &S,
        doc: &DocId,
        acked: u64,
        seq: u64,
        current: Vec<automerge::ChangeHash>,
    ) -> Result<Option<Vec<automerge::ChangeHash>>, SessionError> {
        if acked >= seq {
            return Ok(Some(current));
        }
        let later = match store.changes_since(doc, acked).await? {
            ChangesSince::Compacted => return Ok(None),
            ChangesSince::Changes(c) => c,
        };
        let mut unacked: HashSet<automerge::ChangeHash> = HashSet::with_capacity(later.len());
        let mut deps: Vec<automerge::ChangeHash> = Vec::new();
        for c in later {
            let change = Change::from_bytes(c.bytes).map_err(|e| {
                SessionError::Store(ServerStoreError::Corrupt(format!(
                    "a stored change of {doc}: {e}"
                )))
            })?;
            unacked.insert(change.hash());
            deps.extend(change.deps().iter().copied());
        }
        // The acknowledged set is closed under dependencies (a change is committed only
        // after its dependencies), so its heads are among the current heads and the
        // dependencies of the later changes that are not later themselves.
        let mut heads: Vec<automerge::ChangeHash> = current
            .into_iter()
            .chain(deps)
            .filter(|h| !unacked.contains(h))
            .collect();
        heads.sort();
        heads.dedup();
        Ok(Some(heads))
    }

    async fn refuse<S: ServerStore>(
        &mut self,
        store: &S,
        reply: &mut Reply,
        doc: &DocId,
        code: RefusalCode,
        message: String,
    ) -> Result<(), SessionError> {
        // The device may see the server's copy only if the task is in its scope.
        let reset = match store.load(doc).await? {
            Some(s) => {
                let scopes = store.doc_scopes(doc).await?;
                scopes
                    .iter()
                    .any(|x| self.scopes.contains(x))
                    .then_some(s.bytes)
            }
            None => None,
        };
        reply.refused.push((doc.clone(), code));
        self.send(
            reply,
            ServerFrame::Refused(Refused {
                doc: doc.clone(),
                code,
                message,
                reset,
            }),
        );
        Ok(())
    }
}

/// A device's progress in one scope (see [`Cursor`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ScopeCursor {
    seq: u64,
    scanned: u64,
}

enum Attempt {
    Done,
    Raced,
    Refused(Refusal),
}

/// Documents loaded from the store at a time while a page is built: the page's byte
/// budget is checked after each load, so a step holds at most `max_page_bytes` and this
/// many documents more.
const LOAD_AT_ONCE: usize = 16;

/// Owes the device `e`'s document whole: an empty snapshot update, filled by
/// [`fill_snapshots`] with the others of `need`.
fn to_fill(e: &ScopeEntry, need: &mut Vec<DocId>, updates: &mut Vec<(DocUpdate, u64)>) {
    need.push(e.doc.clone());
    updates.push((
        DocUpdate::Snapshot {
            doc: e.doc.clone(),
            bytes: Vec::new(),
            index: None,
        },
        e.seq,
    ));
}

/// Loads the documents of `need` and puts them in their (empty) snapshot updates; returns
/// the bytes loaded.
async fn fill_snapshots<S: ServerStore>(
    store: &S,
    updates: &mut [(DocUpdate, u64)],
    need: &mut Vec<DocId>,
) -> Result<usize, SessionError> {
    let mut loaded: HashMap<DocId, (StoredDoc, Option<IndexEntry>)> = store
        .load_many_indexed(need)
        .await?
        .into_iter()
        .map(|(id, d, i)| (id, (d, i)))
        .collect();
    need.clear();
    let mut size = 0;
    for (u, _) in updates.iter_mut() {
        if let DocUpdate::Snapshot { doc, bytes, index } = u
            && bytes.is_empty()
            && let Some((s, i)) = loaded.remove(doc)
        {
            size += s.bytes.len();
            *bytes = s.bytes;
            *index = i;
        }
    }
    Ok(size)
}

fn update_size(u: &DocUpdate) -> usize {
    match u {
        DocUpdate::Snapshot { bytes, .. } => bytes.len() + 32,
        DocUpdate::Changes { changes, .. } => changes.iter().map(Vec::len).sum::<usize>() + 32,
        DocUpdate::Drop { .. } => 32,
    }
}
