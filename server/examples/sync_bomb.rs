//! A compressed-change bomb over sync, for `tests/suites/hostile.sh` (issue 16, point 2):
//! pushes one change chunk whose DEFLATE data (about 4 MiB) inflates to 4 GiB through
//! `POST /api/v1/sync/exchange`, and exits 0 when the server refuses it with the typed
//! "inflates to more than" refusal, 1 otherwise.
//!
//! Usage: `sync_bomb <base URL> <bearer token> [device id]`.

use flate2::{Compress, Compression, FlushCompress};
use sync_core::protocol::{
    ClientFrame, Hello, OLDEST_SUPPORTED_VERSION, PROTOCOL_VERSION, Push, ServerFrame,
    decode_server, encode_client,
};
use sync_core::{DeviceId, DocId};

/// A compressed automerge change chunk inflating to `mib` MiB of zeros: one fully
/// flushed DEFLATE segment of 1 MiB repeated (each is self-contained), then an empty
/// final block. Building it costs a few MiB, not the inflated size.
fn bomb(mib: usize) -> Vec<u8> {
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

fn frames(list: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in list {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(base), Some(token)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: sync_bomb <base URL> <token> [device id]");
        std::process::exit(2);
    };
    let device = args.get(3).map_or("hostile-phone", String::as_str);
    let chunk = bomb(4096);
    eprintln!("bomb: {} bytes inflating to 4 GiB", chunk.len());
    let hello = ClientFrame::Hello(Hello {
        oldest_version: OLDEST_SUPPORTED_VERSION,
        newest_version: PROTOCOL_VERSION,
        device: DeviceId::new(device).expect("device id"),
        cursors: Vec::new(),
    });
    let push = ClientFrame::Push(Push {
        doc: DocId::new("T-BOMB").expect("doc id"),
        changes: vec![chunk],
    });
    let body = frames(&[
        encode_client(PROTOCOL_VERSION, 0, &hello),
        encode_client(PROTOCOL_VERSION, 1, &push),
    ]);
    server::base::tls::install_crypto_provider();
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/sync/exchange"))
        .bearer_auth(token)
        .header("content-type", "application/x-tarmim-frames")
        .body(body)
        .send()
        .await;
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            eprintln!("request failed: {e}");
            std::process::exit(1);
        }
    };
    let status = r.status();
    let bytes = r.bytes().await.unwrap_or_default();
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
            println!("refused: {}", refused.message);
            let typed = refused.message.contains("inflates to more than");
            std::process::exit(if typed { 0 } else { 1 });
        }
    }
    eprintln!("no refusal (status {status})");
    std::process::exit(1);
}
