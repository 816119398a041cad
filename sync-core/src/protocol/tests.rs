//! Golden frames (a format change must be a visible decision) and bad input.

use super::*;
use crate::ids::{DeviceId, DocId, ScopeId};
use crate::task::RefusalCode;

fn hello() -> ClientFrame {
    ClientFrame::Hello(Hello {
        oldest_version: 1,
        newest_version: 1,
        device: DeviceId::new("phone-7").unwrap(),
        cursors: vec![Cursor {
            scope: ScopeId::new("crew:C1").unwrap(),
            seq: 300,
            scanned: 320,
        }],
    })
}

fn batch() -> ServerFrame {
    ServerFrame::Batch(Batch {
        scope: ScopeId::new("crew:C1").unwrap(),
        updates: vec![
            DocUpdate::Snapshot {
                doc: DocId::new("T1").unwrap(),
                bytes: vec![1, 2, 3],
                index: None,
            },
            DocUpdate::Changes {
                doc: DocId::new("T2").unwrap(),
                changes: vec![vec![9], vec![8, 7]],
            },
            DocUpdate::Drop {
                doc: DocId::new("T3").unwrap(),
            },
        ],
        scanned: 1_000_000,
        complete: true,
    })
}

/// The bytes of v1 frames. If this test fails, the wire format changed: bump
/// `PROTOCOL_VERSION`, keep decoding the old version, and update the constants.
#[test]
fn golden_v1_frames() {
    let h = encode_client(1, 0, &hello());
    assert_eq!(
        hex::encode(&h),
        "544d0100000000000001010770686f6e652d370107637265773a4331ac02c002"
    );
    let b = encode_server(1, 5, &batch());
    assert_eq!(
        hex::encode(&b),
        "544d0100050000000107637265773a4331030002543103010203000102543202010902080702025433c0843d01"
    );
    let r = encode_server(
        1,
        6,
        &ServerFrame::Refused(Refused {
            doc: DocId::new("T1").unwrap(),
            code: RefusalCode::Forbidden,
            message: "no".into(),
            reset: None,
        }),
    );
    assert_eq!(hex::encode(&r), "544d0100060000000402543100026e6f00");
}

/// Version 2 adds one server frame and changes no other: a v1 frame is the same bytes in a
/// v2 envelope.
#[test]
fn golden_v2_frames() {
    let s = encode_server(
        2,
        3,
        &ServerFrame::Scopes(ScopeChange {
            scopes: Vec::new(),
            account_disabled: true,
        }),
    );
    assert_eq!(hex::encode(&s), "544d020003000000070001");
    let s = encode_server(
        2,
        4,
        &ServerFrame::Scopes(ScopeChange {
            scopes: vec![ScopeId::new("crew:C1").unwrap()],
            account_disabled: false,
        }),
    );
    assert_eq!(hex::encode(&s), "544d020004000000070107637265773a433100");
    let d = decode_server(&s).unwrap();
    assert_eq!(d.version, 2);
    assert_eq!(
        encode_server(2, 5, &batch())[ENVELOPE_BYTES..],
        encode_server(1, 5, &batch())[ENVELOPE_BYTES..]
    );
}

#[test]
fn frames_round_trip() {
    let h = encode_client(1, 0, &hello());
    let d = decode_client(&h).unwrap();
    assert_eq!(d.version, 1);
    assert_eq!(d.number, 0);
    assert_eq!(d.frame, hello());
    let b = encode_server(1, 9, &batch());
    let d = decode_server(&b).unwrap();
    assert_eq!(d.number, 9);
    assert_eq!(d.frame, batch());
}

#[test]
fn truncated_frames_are_refused() {
    let h = encode_client(1, 0, &hello());
    for cut in 0..h.len() {
        let err = decode_client(&h[..cut]).unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated(_) | FrameError::Malformed(_)),
            "cut at {cut}: {err:?}"
        );
    }
    assert!(matches!(decode_client(&[]), Err(FrameError::Truncated(0))));
}

#[test]
fn garbage_is_refused() {
    assert_eq!(
        decode_client(b"GET / HTTP/1.1\r\n"),
        Err(FrameError::BadMagic)
    );
    let mut g = b"TM\x01\x00\x00\x00\x00\x00".to_vec();
    g.extend_from_slice(&[0xff; 40]);
    assert!(matches!(decode_client(&g), Err(FrameError::Malformed(_))));
    // A body that decodes as a server frame is not a client frame and vice versa.
    let b = encode_server(1, 0, &ServerFrame::CaughtUp);
    assert!(decode_client(&b).is_err() || decode_client(&b).unwrap().frame != hello());
}

#[test]
fn trailing_bytes_are_refused() {
    let mut h = encode_client(1, 0, &hello());
    h.push(0);
    assert!(matches!(decode_client(&h), Err(FrameError::Malformed(_))));
}

#[test]
fn unknown_versions_are_refused() {
    let mut h = encode_client(1, 0, &hello());
    h[2] = 99;
    assert_eq!(
        decode_client(&h),
        Err(FrameError::UnsupportedVersion {
            found: 99,
            oldest: OLDEST_SUPPORTED_VERSION,
            newest: PROTOCOL_VERSION
        })
    );
    h[2] = 0;
    assert!(matches!(
        decode_client(&h),
        Err(FrameError::UnsupportedVersion { found: 0, .. })
    ));
}

#[test]
fn oversized_frames_are_refused_before_decoding() {
    let big = vec![0u8; MAX_FRAME_BYTES + 1];
    assert!(matches!(
        decode_client(&big),
        Err(FrameError::TooLarge { .. })
    ));
}

#[test]
fn a_huge_length_prefix_does_not_allocate() {
    // A Push claiming 2^62 changes in a tiny frame must fail fast, not allocate.
    let mut f = b"TM\x01\x00\x00\x00\x00\x00".to_vec();
    f.push(1); // Push
    f.extend_from_slice(&[2, b'T', b'1']);
    f.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f]);
    assert!(decode_client(&f).is_err());
}

#[test]
fn negotiation_picks_the_newest_common_version() {
    assert_eq!(negotiate(1, 1), Some(1));
    assert_eq!(negotiate(1, 7), Some(PROTOCOL_VERSION));
    assert_eq!(negotiate(5, 7), None);
    assert_eq!(negotiate(0, 0), None);
}

#[test]
fn frame_numbers_detect_loss_and_duplicates() {
    let mut c = FrameCounter::default();
    assert_eq!(c.arrive(0), Arrival::InOrder);
    assert_eq!(c.arrive(1), Arrival::InOrder);
    assert_eq!(c.arrive(1), Arrival::Duplicate);
    assert_eq!(c.arrive(0), Arrival::Duplicate);
    assert_eq!(
        c.arrive(3),
        Arrival::Gap {
            expected: 2,
            got: 3
        }
    );
    assert_eq!(c.next_out(), 0);
    assert_eq!(c.next_out(), 1);
}

#[test]
fn a_push_is_told_from_other_frames_without_decoding() {
    let push = ClientFrame::Push(Push {
        doc: DocId::new("T1").unwrap(),
        changes: vec![vec![1, 2, 3]],
    });
    assert!(looks_like_push(&encode_client(1, 4, &push)));
    assert!(!looks_like_push(&encode_client(1, 0, &hello())));
    assert!(!looks_like_push(&encode_client(
        1,
        5,
        &ClientFrame::Ping(9)
    )));
    assert!(!looks_like_push(b"TM"));
    assert!(!looks_like_push(&[]));
}

#[test]
fn renumbering_an_encoded_frame_is_encoding_it_with_that_number() {
    let mut f = encode_server(PROTOCOL_VERSION, 0, &ServerFrame::CaughtUp);
    renumber(&mut f, 70_000);
    assert_eq!(
        f,
        encode_server(PROTOCOL_VERSION, 70_000, &ServerFrame::CaughtUp)
    );
    assert_eq!(decode_server(&f).unwrap().number, 70_000);
    let mut short = vec![1, 2, 3];
    renumber(&mut short, 9);
    assert_eq!(short, [1, 2, 3]);
}
