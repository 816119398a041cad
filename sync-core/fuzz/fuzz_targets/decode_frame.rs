//! Any bytes given to the frame decoders: an error or a frame, never a panic; a decoded
//! frame survives a re-encode unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sync_core::protocol::*;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = decode_client(data) {
        let again = decode_client(&encode_client(d.version, d.number, &d.frame));
        assert_eq!(again.ok().map(|a| a.frame), Some(d.frame));
    }
    if let Ok(d) = decode_server(data) {
        let again = decode_server(&encode_server(d.version, d.number, &d.frame));
        assert_eq!(again.ok().map(|a| a.frame), Some(d.frame));
    }
});
