//! Verification and rejection of a completion (issue 18): who may do each, from which
//! status, what a rejection does to the task (back to the same crew, counted against it),
//! and what the server's validation refuses.
//!
//! Each role is tried against `validate_update` with a forged event (what a hostile or
//! buggy device could send), so the refusal comes from the server's rules, not from the
//! author's own `append_event` check.
#![allow(clippy::unwrap_used)]

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use sync_core::task::*;
use sync_core::{Actor, DeviceId, DocId, Role};

const HOUR: i64 = 3_600_000;

fn actor(user: &str, role: Role, crew: Option<&str>, device: &str) -> Actor {
    Actor {
        user: user.into(),
        role,
        crew: crew.map(str::to_owned),
        device: DeviceId::new(device).unwrap(),
    }
}
fn dispatcher(device: &str) -> Actor {
    actor("disp-1", Role::Dispatcher, None, device)
}
fn crew_a(device: &str) -> Actor {
    actor("worker-a", Role::Crew, Some("A"), device)
}

fn hash(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

/// A task assigned to crew A, which completed it with after photo `hash(1)`.
fn completed() -> TaskDoc {
    let d = dispatcher("console-d");
    let new = NewTask {
        id: DocId::new("T-9").unwrap(),
        source: Source::Citizen,
        category: "pothole".into(),
        title: "Pothole".into(),
        description: "Deep hole".into(),
        point: GeoPoint {
            lat: 35.7,
            lon: 51.4,
            accuracy_m: None,
        },
        address: None,
        district: Some("D1".into()),
        priority: Priority::Normal,
        sla: Sla::default(),
        reopen_window_ms: 48 * HOUR,
    };
    let mut t = TaskDoc::create(new, &d, 0).unwrap();
    t.append_event(
        &d,
        10,
        EventKind::Assigned {
            crew: "A".into(),
            reason: "nearest".into(),
        },
    )
    .unwrap();
    let a = crew_a("phone-a");
    t.append_event(&a, 20, EventKind::Started).unwrap();
    add_after_photo(&mut t, &a, 1);
    t.complete(&a, 50, vec![hash(1)]).unwrap();
    assert_eq!(t.view().unwrap().derived.status, Status::Completed);
    t
}

fn add_after_photo(t: &mut TaskDoc, a: &Actor, n: u8) {
    t.add_photo(
        a,
        PhotoRef {
            hash: hash(n),
            kind: PhotoKind::After,
            taken_at: Some(40),
            taken_point: None,
            author: a.user.clone(),
            device: a.device.to_string(),
            bytes: 1000,
            mime: "image/jpeg".into(),
            added_at: 40,
        },
    )
    .unwrap();
}

/// The heads of the event log, as a device names them as parents.
fn event_heads(t: &TaskDoc) -> Vec<String> {
    let v = t.view().unwrap();
    let mut heads: Vec<String> = v
        .timeline
        .iter()
        .map(|e| e.event.id.clone())
        .filter(|id| !v.timeline.iter().any(|e| e.event.parents.contains(id)))
        .collect();
    heads.sort();
    heads
}

/// Writes a verification or rejection straight into automerge, as any device could.
fn forge(t: &mut TaskDoc, kind: &EventKind, by: &Actor) {
    let parents = event_heads(t);
    let id = format!("{}:forged", by.device);
    let am = t.automerge();
    let (_, events) = am.get(ROOT, "events").unwrap().unwrap();
    let e = am.put_object(&events, id.as_str(), ObjType::Map).unwrap();
    am.put(&e, "id", id.as_str()).unwrap();
    am.put(&e, "kind", kind.name()).unwrap();
    let actor = am.put_object(&e, "actor", ObjType::Map).unwrap();
    am.put(&actor, "user", by.user.as_str()).unwrap();
    am.put(&actor, "role", by.role.as_str()).unwrap();
    match &by.crew {
        Some(c) => am.put(&actor, "crew", c.as_str()).unwrap(),
        None => am.put(&actor, "crew", ()).unwrap(),
    }
    am.put(&actor, "device", by.device.as_str()).unwrap();
    am.put(&e, "at", 99_i64).unwrap();
    let ps = am.put_object(&e, "parents", ObjType::List).unwrap();
    for (i, p) in parents.iter().enumerate() {
        am.insert(&ps, i, p.as_str()).unwrap();
    }
    if let EventKind::Rejected { reason } = kind {
        am.put(&e, "reason", reason.as_str()).unwrap();
    }
    am.commit();
}

/// The server's copy with `by`'s change merged, validated as the server does.
fn push(server: &mut TaskDoc, device: &mut TaskDoc, by: &Actor) -> Result<(), Refusal> {
    let mut after = server.fork();
    after.merge(device).unwrap();
    validate_update(Some(server), &after, by)?;
    *server = after;
    Ok(())
}

fn every_role() -> Vec<Actor> {
    vec![
        actor("cit-1", Role::Citizen, None, "web-c"),
        actor("cc-1", Role::CallCentre, None, "desk-cc"),
        crew_a("phone-a"),
        dispatcher("console-d"),
        actor("mgr-1", Role::Manager, None, "desk-m"),
        actor("server", Role::Server, None, "server-1"),
    ]
}

fn rejection() -> EventKind {
    EventKind::Rejected {
        reason: "the after photo shows the hole still open".into(),
    }
}

#[test]
fn only_a_dispatcher_or_the_server_verifies() {
    for who in every_role() {
        let mut server = completed();
        let mut device = server.fork();
        forge(&mut device, &EventKind::Verified, &who);
        let r = push(&mut server, &mut device, &who);
        if matches!(who.role, Role::Dispatcher | Role::Server) {
            r.unwrap_or_else(|e| panic!("{:?} refused: {e}", who.role));
            assert_eq!(server.view().unwrap().derived.status, Status::Verified);
        } else {
            let e = r.expect_err("accepted a verification from a role that may not verify");
            assert_eq!(e.code, RefusalCode::Forbidden, "{:?}: {e}", who.role);
        }
    }
}

#[test]
fn only_a_dispatcher_rejects() {
    for who in every_role() {
        let mut server = completed();
        let mut device = server.fork();
        forge(&mut device, &rejection(), &who);
        let r = push(&mut server, &mut device, &who);
        if who.role == Role::Dispatcher {
            r.unwrap_or_else(|e| panic!("{:?} refused: {e}", who.role));
        } else {
            let e = r.expect_err("accepted a rejection from a role that may not reject");
            assert_eq!(e.code, RefusalCode::Forbidden, "{:?}: {e}", who.role);
        }
    }
}

#[test]
fn a_rejection_needs_a_reason() {
    let mut t = completed();
    let d = dispatcher("console-d");
    let e = t
        .append_event(
            &d,
            60,
            EventKind::Rejected {
                reason: "   ".into(),
            },
        )
        .err();
    assert!(matches!(e, Some(TaskError::Invalid(_))), "{e:?}");
    let e = t
        .append_event(
            &d,
            60,
            EventKind::Rejected {
                reason: String::new(),
            },
        )
        .err();
    assert!(matches!(e, Some(TaskError::Invalid(_))), "{e:?}");

    // Forged without a reason: refused as malformed by the server.
    let mut server = completed();
    let mut device = server.fork();
    forge(
        &mut device,
        &EventKind::Rejected {
            reason: String::new(),
        },
        &d,
    );
    let r = push(&mut server, &mut device, &d);
    assert_eq!(r.unwrap_err().code, RefusalCode::Malformed);
}

#[test]
fn only_a_completed_task_is_verified_or_rejected() {
    let d = dispatcher("console-d");
    // Reopened by a rejection: neither verifying nor rejecting stands until the crew
    // completes again.
    let mut reopened = completed();
    reopened.append_event(&d, 60, rejection()).unwrap();
    for kind in [EventKind::Verified, rejection()] {
        match reopened.append_event(&d, 70, kind.clone()) {
            Err(TaskError::Transition { why, .. }) => assert!(why.contains("reopened"), "{why}"),
            other => panic!("{} on a reopened task: {other:?}", kind.name()),
        }
    }
    // Forged on a task still in progress: refused by the server.
    let mut in_progress = {
        let mut c = completed();
        c.append_event(&d, 60, rejection()).unwrap();
        c.append_event(&crew_a("phone-a"), 61, EventKind::Started)
            .unwrap();
        c
    };
    let mut server = in_progress.fork();
    forge(&mut in_progress, &EventKind::Verified, &d);
    let r = push(&mut server, &mut in_progress, &d);
    assert_eq!(r.unwrap_err().code, RefusalCode::InvalidTransition);

    // Verified is final: no second verification, no rejection after it.
    let mut t = completed();
    t.append_event(&d, 60, EventKind::Verified).unwrap();
    for kind in [EventKind::Verified, rejection()] {
        assert!(matches!(
            t.append_event(&d, 70, kind),
            Err(TaskError::Transition { .. })
        ));
    }
}

#[test]
fn a_rejection_sends_the_task_back_to_the_same_crew() {
    let d = dispatcher("console-d");
    let mut t = completed();
    t.append_event(&d, 60, rejection()).unwrap();
    let v = t.view().unwrap();
    assert_eq!(v.derived.status, Status::Reopened);
    assert_eq!(v.derived.assignee.as_deref(), Some("A"));
    assert_eq!(v.derived.rejections, 1);
    assert_eq!(v.derived.completion, None);
    assert_eq!(v.derived.completed_at, None);
    // A citizen cannot rate a rejected completion: its window is closed with it.
    let c = actor("cit-1", Role::Citizen, None, "web-c");
    assert!(
        t.append_event(
            &c,
            61,
            EventKind::Rated {
                stars: 5,
                comment: String::new()
            }
        )
        .is_err()
    );

    // The crew completes again, from its phone, and the dispatcher verifies.
    let a = crew_a("phone-a");
    let mut phone = t.fork();
    phone.append_event(&a, 70, EventKind::Started).unwrap();
    add_after_photo(&mut phone, &a, 2);
    phone.complete(&a, 80, vec![hash(2)]).unwrap();
    push(&mut t, &mut phone, &a).unwrap();
    assert_eq!(t.view().unwrap().derived.status, Status::Completed);
    t.append_event(&d, 90, EventKind::Verified).unwrap();
    let v = t.view().unwrap();
    assert_eq!(v.derived.status, Status::Verified);
    assert_eq!(v.derived.rejections, 1);
    assert_eq!(v.derived.completed_at, Some(80));
}

#[test]
fn two_dispatchers_deciding_at_once_converge_on_the_first() {
    // One verifies and another rejects on two consoles at once; after the merge one
    // decision stands and the other is superseded, the same on every replica.
    let mut base = completed();
    let mut x = base.fork();
    let mut y = base.fork();
    x.append_event(&dispatcher("console-x"), 60, EventKind::Verified)
        .unwrap();
    y.append_event(&dispatcher("console-y"), 60, rejection())
        .unwrap();
    let mut xy = x.fork();
    xy.merge(&mut y).unwrap();
    let mut yx = y.fork();
    yx.merge(&mut x).unwrap();
    let (a, b) = (xy.view().unwrap(), yx.view().unwrap());
    assert_eq!(a, b);
    let superseded = a
        .timeline
        .iter()
        .filter(|e| matches!(e.outcome, Outcome::Superseded { .. }))
        .count();
    assert_eq!(superseded, 1);
    assert!(matches!(
        a.derived.status,
        Status::Verified | Status::Reopened
    ));
}
