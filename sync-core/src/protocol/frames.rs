//! The frames themselves: what a device and the server say to each other.

use crate::ids::{DeviceId, DocId, Millis, ScopeId};
use crate::store::IndexEntry;
use crate::task::RefusalCode;
use serde::{Deserialize, Serialize};

/// What a device sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientFrame {
    /// Opens a session: versions spoken, who I am, how far I have synced each scope.
    Hello(Hello),
    /// Local changes to one document, in causal order.
    Push(Push),
    /// Keep-alive; answered with [`ServerFrame::Pong`].
    Ping(u64),
}

/// The device's half of the handshake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Oldest frame format the device speaks.
    pub oldest_version: u16,
    /// Newest frame format the device speaks.
    pub newest_version: u16,
    /// The device's id (must match the authenticated device).
    pub device: DeviceId,
    /// The last sequence number synced in each scope; empty for a fresh device.
    pub cursors: Vec<Cursor>,
}

/// How far a device has synced one scope.
///
/// Two numbers, because a catch-up may be cut off half way: every document of the scope is
/// held as of `seq`, and the documents whose scope entries lie in `(seq, scanned]` are held
/// in full. A document further on is only known as of `seq`, so the server sends it what
/// came after `seq`, not after `scanned`. A complete catch-up sets both to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The scope.
    pub scope: ScopeId,
    /// Everything of the scope up to this sequence number is held.
    pub seq: u64,
    /// Entries up to this sequence number have been brought up to date (`>= seq`).
    pub scanned: u64,
}

/// Local changes to one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Push {
    /// The document.
    pub doc: DocId,
    /// Raw automerge changes, dependencies first.
    pub changes: Vec<Vec<u8>>,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// The server's half of the handshake.
    Welcome(Welcome),
    /// Documents of one scope that changed after the device's cursor, and the new cursor.
    Batch(Batch),
    /// Every scope has been brought up to date; live pushes follow.
    CaughtUp,
    /// These changes of a pushed document are durable on the server.
    Ack(Ack),
    /// A pushed change was refused; the device resets the document.
    Refused(Refused),
    /// A fatal error; the server closes the connection after it.
    Error(ErrorFrame),
    /// Answer to [`ClientFrame::Ping`].
    Pong(u64),
    /// The device's scopes changed while it was connected (protocol version 2 on): the
    /// list is authoritative as a [`Welcome`]'s is, and the device drops at once what it
    /// may no longer see. Sent when the device's user is disabled (no scope,
    /// [`ScopeChange::account_disabled`]); the server closes the connection after it. A
    /// device of version 1 is never sent it.
    Scopes(ScopeChange),
}

/// The scopes a connected device now has ([`ServerFrame::Scopes`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeChange {
    /// The scopes now granted; the device drops every document in none of them (one with
    /// pending changes once they are acknowledged) and forgets the other scopes' cursors.
    pub scopes: Vec<ScopeId>,
    /// The device's user was disabled: no login will succeed, so nothing more comes on
    /// this or any connection (the app tells its user).
    pub account_disabled: bool,
}

/// The server's half of the handshake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The frame format both sides use from now on.
    pub version: u16,
    /// The scopes this device is given, computed by the server. Authoritative: a device
    /// holding a cursor of a scope not listed lost it (its crew moved, its user's
    /// districts or crew changed) and, after the catch-up, drops that scope's cursor and
    /// every document in none of the listed scopes (see `session::device`).
    pub scopes: Vec<ScopeId>,
    /// The server's clock, so the device can tell its own clock's skew.
    pub server_time: Millis,
}

/// Updates for one scope; the device applies all of it and its cursor in one durable write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The scope.
    pub scope: ScopeId,
    /// Document updates, in sequence order.
    pub updates: Vec<DocUpdate>,
    /// After applying, entries up to this sequence number are up to date
    /// ([`Cursor::scanned`]).
    pub scanned: u64,
    /// The catch-up reached the scope's end: the whole scope is held up to `scanned`
    /// ([`Cursor::seq`] becomes `scanned`).
    pub complete: bool,
}

/// One document's update inside a [`Batch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DocUpdate {
    /// The whole document (it is new to the device, or its history was compacted).
    Snapshot {
        /// The document.
        doc: DocId,
        /// automerge saved form.
        bytes: Vec<u8>,
        /// The task-list row of the document as the server read it, when the server
        /// keeps one: a device that has no local copy stores it as its index row without
        /// parsing the document, which is what makes a bulk first sync fast.
        index: Option<IndexEntry>,
    },
    /// Changes the device does not have yet.
    Changes {
        /// The document.
        doc: DocId,
        /// Raw automerge changes, dependencies first.
        changes: Vec<Vec<u8>>,
    },
    /// The document left the device's scope: forget it (after pushing pending work).
    Drop {
        /// The document.
        doc: DocId,
    },
}

/// Acknowledgement of durable changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The document.
    pub doc: DocId,
    /// Hashes of the pushed changes now durable on the server.
    pub hashes: Vec<[u8; 32]>,
}

/// A refused push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    /// The document.
    pub doc: DocId,
    /// Why, for code.
    pub code: RefusalCode,
    /// Why, in words.
    pub message: String,
    /// The server's copy to reset to; `None` when the document is not the device's to see
    /// (it then forgets it).
    pub reset: Option<Vec<u8>>,
}

/// A fatal error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    /// Why, for code.
    pub code: ErrorCode,
    /// Why, in words.
    pub message: String,
}

/// Kinds of fatal errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// No common protocol version.
    UnsupportedVersion,
    /// A frame did not decode or broke the protocol's order.
    Malformed,
    /// The device in the handshake is not the authenticated one.
    Unauthorized,
    /// The server cannot serve now; retry later.
    Unavailable,
}
