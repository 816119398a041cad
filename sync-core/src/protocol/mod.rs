//! The versioned wire frames between a device and the server, and their encoding.
//!
//! A frame on the wire is an 8-byte envelope followed by a postcard body:
//!
//! ```text
//! b"TM" | format version: u16 LE | frame number: u32 LE | postcard(ClientFrame | ServerFrame)
//! ```
//!
//! The format version lets a server decode the frames of a phone one version behind:
//! the handshake ([`Hello`]/[`Welcome`]) settles on the newest version both sides know and
//! every later frame is encoded in it. Frame numbers count from 0 in each direction of each
//! connection; a receiver that sees a gap or a reordering treats the connection as broken
//! (the sync state is rebuilt from cursors on reconnect, so nothing is lost), and a
//! repeated number is a duplicate to ignore. Transports that never lose or reorder frames
//! (WebSocket) pay 4 bytes for this; the simulated network tests rely on it.
//!
//! Versions: 1 is the first; 2 adds [`ServerFrame::Scopes`] (a connected device's scopes
//! changed: its user was disabled) and nothing else, so a body of either version decodes
//! alike. A server sends that frame only to a device that negotiated version 2.

mod frames;

pub use frames::*;

use serde::{Serialize, de::DeserializeOwned};

/// The frame format this build writes by default.
pub const PROTOCOL_VERSION: u16 = 2;
/// The first version with [`ServerFrame::Scopes`].
pub const SCOPES_FRAME_VERSION: u16 = 2;
/// The oldest frame format this build still reads and writes.
pub const OLDEST_SUPPORTED_VERSION: u16 = 1;
/// Frames larger than this are refused before decoding.
pub const MAX_FRAME_BYTES: usize = 32 * 1024 * 1024;
/// The envelope's size.
pub const ENVELOPE_BYTES: usize = 8;
const MAGIC: [u8; 2] = *b"TM";

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than the envelope, or the body ends early.
    #[error("truncated frame ({0} bytes)")]
    Truncated(usize),
    /// Not a Tarmim frame.
    #[error("not a Tarmim sync frame (bad magic)")]
    BadMagic,
    /// A format version this build does not speak.
    #[error("protocol version {found} is not supported (this build speaks {oldest}..={newest})")]
    UnsupportedVersion {
        /// The version found.
        found: u16,
        /// Oldest supported.
        oldest: u16,
        /// Newest supported.
        newest: u16,
    },
    /// Larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {size} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// The body does not decode.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// A decoded envelope and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<F> {
    /// The format version the frame was written in.
    pub version: u16,
    /// Its number in this direction of the connection.
    pub number: u32,
    /// The frame.
    pub frame: F,
}

/// Whether this build speaks `version`.
pub fn supports(version: u16) -> bool {
    (OLDEST_SUPPORTED_VERSION..=PROTOCOL_VERSION).contains(&version)
}

fn encode<F: Serialize>(version: u16, number: u32, frame: &F) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&number.to_le_bytes());
    // Writing into a Vec cannot fail and every frame type is serializable by construction;
    // an error here would be a bug in this module, so it surfaces as an empty body that
    // the receiver refuses as malformed rather than as a panic on a phone.
    match postcard::to_extend(frame, out) {
        Ok(v) => v,
        Err(_) => {
            let mut v = Vec::from(MAGIC);
            v.extend_from_slice(&version.to_le_bytes());
            v.extend_from_slice(&number.to_le_bytes());
            v
        }
    }
}

fn decode<F: DeserializeOwned>(bytes: &[u8]) -> Result<Decoded<F>, FrameError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge {
            size: bytes.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    if bytes.len() < ENVELOPE_BYTES {
        return Err(FrameError::Truncated(bytes.len()));
    }
    if bytes[..2] != MAGIC {
        return Err(FrameError::BadMagic);
    }
    let version = u16::from_le_bytes([bytes[2], bytes[3]]);
    if !supports(version) {
        return Err(FrameError::UnsupportedVersion {
            found: version,
            oldest: OLDEST_SUPPORTED_VERSION,
            newest: PROTOCOL_VERSION,
        });
    }
    let number = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    // One body format so far; a future version dispatches here on `version`.
    let (frame, rest) =
        postcard::take_from_bytes::<F>(&bytes[ENVELOPE_BYTES..]).map_err(|e| match e {
            postcard::Error::DeserializeUnexpectedEnd => FrameError::Truncated(bytes.len()),
            other => FrameError::Malformed(other.to_string()),
        })?;
    if !rest.is_empty() {
        return Err(FrameError::Malformed(format!(
            "{} trailing bytes after the frame",
            rest.len()
        )));
    }
    Ok(Decoded {
        version,
        number,
        frame,
    })
}

/// Encodes a device's frame.
pub fn encode_client(version: u16, number: u32, frame: &ClientFrame) -> Vec<u8> {
    encode(version, number, frame)
}

/// Encodes a server's frame.
pub fn encode_server(version: u16, number: u32, frame: &ServerFrame) -> Vec<u8> {
    encode(version, number, frame)
}

/// Sets the frame number of an encoded frame (its envelope's bytes 4..8): a host that
/// sends the same encoded frame on several connections (a catch-up page built once,
/// `session::pages`) numbers it for each. Bytes shorter than an envelope are left alone.
pub fn renumber(frame: &mut [u8], number: u32) {
    if let Some(n) = frame.get_mut(4..ENVELOPE_BYTES) {
        n.copy_from_slice(&number.to_le_bytes());
    }
}

/// Whether bytes look like a device's [`ClientFrame::Push`], read from the envelope and
/// the body's first byte (postcard's variant index) without decoding: a host uses it to
/// send pushes, whose handling is CPU-heavy, to a pool of its own. A wrong guess costs
/// nothing but where the frame is handled; [`decode_client`] still decides what it is.
pub fn looks_like_push(bytes: &[u8]) -> bool {
    bytes.len() > ENVELOPE_BYTES && bytes[..2] == MAGIC && bytes[ENVELOPE_BYTES] == 1
}

/// Decodes a device's frame, checking envelope, version and size.
pub fn decode_client(bytes: &[u8]) -> Result<Decoded<ClientFrame>, FrameError> {
    decode(bytes)
}

/// Decodes a server's frame, checking envelope, version and size.
pub fn decode_server(bytes: &[u8]) -> Result<Decoded<ServerFrame>, FrameError> {
    decode(bytes)
}

/// The newest version both sides speak, given the peer's range.
pub fn negotiate(peer_oldest: u16, peer_newest: u16) -> Option<u16> {
    let newest = peer_newest.min(PROTOCOL_VERSION);
    (newest >= peer_oldest.max(OLDEST_SUPPORTED_VERSION)).then_some(newest)
}

/// Counts frames in one direction of a connection and checks the other direction's numbers.
#[derive(Debug, Clone, Default)]
pub struct FrameCounter {
    next_out: u32,
    next_in: u32,
}

/// What to do with an incoming frame number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The expected next frame.
    InOrder,
    /// Already seen: ignore.
    Duplicate,
    /// A frame is missing before this one: the connection is broken.
    Gap {
        /// The number expected.
        expected: u32,
        /// The number received.
        got: u32,
    },
}

impl FrameCounter {
    /// The number for the next outgoing frame.
    pub fn next_out(&mut self) -> u32 {
        let n = self.next_out;
        self.next_out = self.next_out.wrapping_add(1);
        n
    }

    /// Classifies an incoming frame number and advances on [`Arrival::InOrder`].
    pub fn arrive(&mut self, number: u32) -> Arrival {
        if number == self.next_in {
            self.next_in = self.next_in.wrapping_add(1);
            Arrival::InOrder
        } else if number < self.next_in {
            Arrival::Duplicate
        } else {
            Arrival::Gap {
                expected: self.next_in,
                got: number,
            }
        }
    }
}

#[cfg(test)]
mod tests;
