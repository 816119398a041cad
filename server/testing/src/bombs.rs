//! Compressed-change bombs over sync (issue 16, point 2), for the tests and
//! `examples/sync_bomb.rs`: chunks that inflate far beyond their size, and the HTTP
//! exchange that pushes them.

use flate2::{Compress, Compression, FlushCompress};
use sync_core::protocol::{
    ClientFrame, Hello, OLDEST_SUPPORTED_VERSION, PROTOCOL_VERSION, Push, ServerFrame,
    decode_server, encode_client,
};
use sync_core::{DeviceId, DocId};

/// A compressed automerge change chunk inflating to `mib` MiB of zeros: one fully
/// flushed DEFLATE segment of 1 MiB repeated (each is self-contained), then an empty
/// final block. Building it costs about a kilobyte per inflated MiB. Not a valid change
/// once inflated: the server must refuse it before it gets that far.
pub fn deflate_bomb(mib: usize) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let mut segment = Vec::with_capacity(64 * 1024);
    c.compress_vec(&vec![0u8; 1 << 20], &mut segment, FlushCompress::Full)
        .expect("deflate");
    let mut data = Vec::with_capacity(segment.len() * mib + 2);
    for _ in 0..mib {
        data.extend_from_slice(&segment);
    }
    data.extend_from_slice(&[0x03, 0x00]);
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = data.len() as u64;
    loop {
        let b = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend(data);
    out
}

/// A valid automerge change, compressed the way automerge sends it, holding `bytes`
/// bytes of one repeated character: a few kilobytes that decode to `bytes`. Each copy in
/// a push is decoded (and, before the push budget, held) on its own.
pub fn inflating_change(bytes: usize) -> Vec<u8> {
    use automerge::transaction::Transactable;
    let mut doc = automerge::AutoCommit::new();
    doc.put(automerge::ROOT, "pad", "0".repeat(bytes))
        .expect("put");
    let mut change = doc.get_last_local_change().expect("a change");
    change.bytes().to_vec()
}

fn frames(list: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in list {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Pushes `changes` for task `doc` through `POST /api/v1/sync/exchange` as `device`;
/// the refusal's message, or why there was none.
pub async fn push_exchange(
    base: &str,
    token: &str,
    device: &str,
    doc: &str,
    changes: Vec<Vec<u8>>,
) -> Result<String, String> {
    let hello = ClientFrame::Hello(Hello {
        oldest_version: OLDEST_SUPPORTED_VERSION,
        newest_version: PROTOCOL_VERSION,
        device: DeviceId::new(device).map_err(|e| e.to_string())?,
        cursors: Vec::new(),
    });
    let push = ClientFrame::Push(Push {
        doc: DocId::new(doc).map_err(|e| e.to_string())?,
        changes,
    });
    let body = frames(&[
        encode_client(PROTOCOL_VERSION, 0, &hello),
        encode_client(PROTOCOL_VERSION, 1, &push),
    ]);
    let r = crate::http()
        .post(format!("{base}/api/v1/sync/exchange"))
        .bearer_auth(token)
        .header("content-type", "application/x-tarmim-frames")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = r.status();
    let bytes = r.bytes().await.map_err(|e| e.to_string())?;
    let mut rest = &bytes[..];
    while rest.len() >= 4 {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(frame) = rest.get(4..4 + len) else {
            break;
        };
        rest = &rest[4 + len..];
        if let Ok(d) = decode_server(frame)
            && let ServerFrame::Refused(refused) = d.frame
        {
            return Ok(refused.message);
        }
    }
    Err(format!("no refusal (status {status})"))
}
