//! Catch-up pages built once and handed to every session that asks for the same page
//! (issue 21 §4, the morning reconnect storm).
//!
//! When a shift starts, the ten phones of a crew reconnect from the same cursor and are
//! owed the same documents. Building a page (the scope's entries, the documents loaded,
//! their task-list rows, the batch frames encoded) is what a catch-up costs; a
//! [`PageCache`] lets the first session build it and the others send the same bytes,
//! renumbered for their connection ([`crate::protocol::renumber`]).
//!
//! Correctness does not rest on anyone remembering to invalidate: every session still
//! reads the scope's entries after its cursor itself (one small query), and a cached page
//! is used only if it was built from exactly those entries. A document's entry in a scope
//! carries the sequence number of its last commit, and every commit to a document in a
//! scope advances its entry there, so equal entries mean the same documents at the same
//! versions: the page the session would have built. The scope's next commit changes the
//! entries a later session reads, and the page is then rebuilt and replaced (superseded).
//! What a page says about a document that left the scope (a `Drop`, or nothing when the
//! document is still in another of the session's scopes) depends on the session's other
//! scopes: those decisions are checked again for every session that uses the page, and a
//! session that decides otherwise builds its own page. Pages are keyed by scope, so a
//! session is only ever handed a page of a scope it follows (it asks only for those), and
//! a page holds nothing but what that scope's entries name.
//!
//! Sessions that ask for a page another is building wait for it (one build, not ten) and
//! go on alone if that build fails. The cache is bounded in pages and bytes; the oldest
//! go first.
//!
//! Only the first page from a settled cursor is shared (the page a crew's phones ask for
//! when a shift starts). The later pages of a long catch-up start where one session
//! stopped, which no other phone asks for; keeping them would hold a 10,000-document
//! catch-up in memory, which the server's streamed catch-up promises not to do.

use super::store::ScopeEntry;
use crate::ids::{DocId, ScopeId};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// What makes two sessions' pages the same: the scope, where the device stands in it,
/// the protocol version and the sizes the page is cut by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    pub scope: ScopeId,
    /// What the device holds of every document (its cursor's `seq`).
    pub start: u64,
    /// Where the page's entries begin (its cursor's `scanned`).
    pub scanned: u64,
    pub version: u16,
    /// `ServerConfig::page`, `max_page_bytes`, `max_batch_bytes`.
    pub sizes: (usize, usize, usize),
}

/// A page as built: what it was built from, and its frames.
#[derive(Debug)]
pub(crate) struct Page {
    /// The scope entries the page was built from, in order.
    pub entries: Vec<ScopeEntry>,
    /// For each entry of a document that left the scope: whether the document was in
    /// another of the builder's scopes (then no `Drop` was sent).
    pub drops: Vec<(DocId, bool)>,
    /// The encoded batch frames, numbered 0 (renumbered when sent).
    pub frames: Vec<Vec<u8>>,
    /// Documents sent whole, with the sequence number they were sent at.
    pub snapshots: Vec<(DocId, u64)>,
    /// The last entry the page covers.
    pub page_end: u64,
    /// The page reached the scope's end.
    pub complete: bool,
}

impl Page {
    fn bytes(&self) -> usize {
        self.frames.iter().map(Vec::len).sum::<usize>() + self.entries.len() * 64
    }
}

enum Slot {
    /// A session is building the page; these wait for it.
    Building(Vec<Waker>),
    Ready(Arc<Page>),
}

struct Inner {
    slots: HashMap<PageKey, Slot>,
    /// Keys of ready pages, oldest first.
    order: VecDeque<PageKey>,
    bytes: usize,
    hits: u64,
    builds: u64,
}

/// Pages shared by the sessions of one server process. Cheap to share (`Arc`).
pub struct PageCache {
    inner: Mutex<Inner>,
    max_pages: usize,
    max_bytes: usize,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = self.lock();
        f.debug_struct("PageCache")
            .field("pages", &i.order.len())
            .field("bytes", &i.bytes)
            .finish()
    }
}

/// How often a page was used from the cache, and built for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageStats {
    /// Pages handed to a session from the cache.
    pub hits: u64,
    /// Pages built and kept.
    pub builds: u64,
}

/// What a session asking for a page does.
pub(crate) enum Lookup<'a> {
    /// Use this page (if it was built from the entries the session read).
    Hit(Arc<Page>),
    /// Build it and [`Claim::fill`] it: the others wait meanwhile.
    Build(Claim<'a>),
    /// The build waited for failed: build alone, keep nothing.
    Alone,
}

/// The right to build a page; dropped unfilled (an error, a cancelled session), it lets
/// the waiting sessions go on alone.
pub(crate) struct Claim<'a> {
    cache: &'a PageCache,
    key: PageKey,
    filled: bool,
}

impl Claim<'_> {
    /// Keeps the built page and wakes the sessions waiting for it.
    pub fn fill(mut self, page: Arc<Page>) {
        self.filled = true;
        let mut i = self.cache.lock();
        i.builds += 1;
        let size = page.bytes();
        let waiting = if size > self.cache.max_bytes / 4 {
            // Too large to keep: the waiters build their own.
            i.slots.remove(&self.key)
        } else {
            i.bytes += size;
            i.order.push_back(self.key.clone());
            i.slots.insert(self.key.clone(), Slot::Ready(page))
        };
        self.cache.evict(&mut i);
        drop(i);
        if let Some(Slot::Building(w)) = waiting {
            w.into_iter().for_each(Waker::wake);
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.filled {
            return;
        }
        let mut i = self.cache.lock();
        let waiting = match i.slots.get(&self.key) {
            Some(Slot::Building(_)) => i.slots.remove(&self.key),
            _ => None,
        };
        drop(i);
        if let Some(Slot::Building(w)) = waiting {
            w.into_iter().for_each(Waker::wake);
        }
    }
}

/// Waits while another session builds the page.
struct Wait<'a> {
    cache: &'a PageCache,
    key: &'a PageKey,
    waited: bool,
}

impl<'a> Future for Wait<'a> {
    type Output = Lookup<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Lookup<'a>> {
        let cache = self.cache;
        let mut i = cache.lock();
        match i.slots.get_mut(self.key) {
            Some(Slot::Ready(p)) => Poll::Ready(Lookup::Hit(Arc::clone(p))),
            Some(Slot::Building(w)) => {
                if !w.iter().any(|x| x.will_wake(cx.waker())) {
                    w.push(cx.waker().clone());
                }
                drop(i);
                self.waited = true;
                Poll::Pending
            }
            // The build this session waited for was given up: do not queue behind the
            // next one, build alone.
            None if self.waited => Poll::Ready(Lookup::Alone),
            None => {
                i.slots.insert(self.key.clone(), Slot::Building(Vec::new()));
                Poll::Ready(Lookup::Build(Claim {
                    cache,
                    key: self.key.clone(),
                    filled: false,
                }))
            }
        }
    }
}

impl PageCache {
    /// A cache of at most `max_pages` pages and about `max_bytes` bytes; a page over a
    /// quarter of `max_bytes` is not kept.
    pub fn new(max_pages: usize, max_bytes: usize) -> PageCache {
        PageCache {
            inner: Mutex::new(Inner {
                slots: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
                hits: 0,
                builds: 0,
            }),
            max_pages: max_pages.max(1),
            max_bytes,
        }
    }

    /// Pages used and built so far.
    pub fn stats(&self) -> PageStats {
        let i = self.lock();
        PageStats {
            hits: i.hits,
            builds: i.builds,
        }
    }

    /// Counts a page sent from the cache.
    pub(crate) fn used(&self) {
        self.lock().hits += 1;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Plain inserts and removals: a panic while holding the lock leaves nothing half
        // done that matters (at worst a slot that is never used).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The page of `key`: ready, to build, or (after waiting for a build that failed)
    /// to build alone.
    pub(crate) async fn lookup<'a>(&'a self, key: &'a PageKey) -> Lookup<'a> {
        Wait {
            cache: self,
            key,
            waited: false,
        }
        .await
    }

    /// Takes over `stale` (a ready page the session found built from other entries) to
    /// build its successor; `None` if another session already did.
    pub(crate) fn supersede<'a>(&'a self, key: &PageKey, stale: &Arc<Page>) -> Option<Claim<'a>> {
        let mut i = self.lock();
        match i.slots.get(key) {
            Some(Slot::Ready(p)) if Arc::ptr_eq(p, stale) => {}
            _ => return None,
        }
        i.slots.insert(key.clone(), Slot::Building(Vec::new()));
        i.bytes = i.bytes.saturating_sub(stale.bytes());
        i.order.retain(|k| k != key);
        Some(Claim {
            cache: self,
            key: key.clone(),
            filled: false,
        })
    }

    fn evict(&self, i: &mut Inner) {
        while i.order.len() > self.max_pages || i.bytes > self.max_bytes {
            let Some(k) = i.order.pop_front() else { break };
            if let Some(Slot::Ready(p)) = i.slots.get(&k) {
                i.bytes = i.bytes.saturating_sub(p.bytes());
                i.slots.remove(&k);
            }
        }
    }
}
