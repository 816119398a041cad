//! Design §2 rules 1–7 with concurrent replicas, the server's refusals (§3), and loading
//! (schema upgrade, corrupt bytes).
//!
//! Event ids are `<device>:<hex>`, and events of equal depth fold in id order, so the
//! device names below are chosen to force one order or the other where a test needs both.
#![allow(clippy::unwrap_used)]

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use sync_core::task::*;
use sync_core::{Actor, DeviceId, DocId, Role};

const HOUR: i64 = 3_600_000;
const WINDOW: i64 = 48 * HOUR;

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
fn crew(c: &str, device: &str) -> Actor {
    actor(&format!("worker-{c}"), Role::Crew, Some(c), device)
}
fn citizen(device: &str) -> Actor {
    actor("citizen-7", Role::Citizen, None, device)
}

fn new_task() -> NewTask {
    NewTask {
        id: DocId::new("T-1").unwrap(),
        source: Source::Citizen,
        category: "pothole".into(),
        title: "Pothole on Valiasr".into(),
        description: "Deep hole in the right lane".into(),
        point: GeoPoint {
            lat: 35.7,
            lon: 51.4,
            accuracy_m: Some(5.0),
        },
        address: Some("Valiasr St 100".into()),
        district: Some("D1".into()),
        priority: Priority::Normal,
        sla: Sla {
            ack_due: Some(HOUR),
            complete_due: Some(24 * HOUR),
        },
        reopen_window_ms: WINDOW,
    }
}

fn hash(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn photo(h: &str, kind: PhotoKind, by: &Actor, at: i64) -> PhotoRef {
    PhotoRef {
        hash: h.into(),
        kind,
        taken_at: Some(at),
        taken_point: None,
        author: by.user.clone(),
        device: by.device.to_string(),
        bytes: 1000,
        mime: "image/jpeg".into(),
        added_at: at,
    }
}

/// A queued task (created with a district) assigned to crew A by the dispatcher.
fn assigned_to_a() -> TaskDoc {
    let d = dispatcher("console-d");
    let mut t = TaskDoc::create(new_task(), &d, 0).unwrap();
    assert_eq!(t.view().unwrap().derived.status, Status::Queued);
    t.append_event(
        &d,
        10,
        EventKind::Assigned {
            crew: "A".into(),
            reason: "nearest".into(),
        },
    )
    .unwrap();
    t
}

/// Another replica, made the way a phone gets one: save, send, load.
fn replica(t: &mut TaskDoc) -> TaskDoc {
    TaskDoc::load(&t.save()).unwrap()
}

/// Merges the replicas in forward and in reverse order; both results must be identical,
/// down to the saved bytes. Returns the merged document.
fn merge_both_orders(docs: &mut [&mut TaskDoc]) -> TaskDoc {
    let saved: Vec<Vec<u8>> = docs.iter_mut().map(|d| d.save()).collect();
    let mut fwd = TaskDoc::load(&saved[0]).unwrap();
    for s in &saved[1..] {
        fwd.merge(&mut TaskDoc::load(s).unwrap()).unwrap();
    }
    let last = saved.len() - 1;
    let mut rev = TaskDoc::load(&saved[last]).unwrap();
    for s in saved[..last].iter().rev() {
        rev.merge(&mut TaskDoc::load(s).unwrap()).unwrap();
    }
    assert_eq!(fwd.view().unwrap(), rev.view().unwrap());
    assert_eq!(fwd.heads(), rev.heads());
    // automerge 0.12's save() is not byte-identical across merge orders (it writes
    // concurrent changes in the order they arrived); save_canonical() is.
    assert_eq!(fwd.save_canonical(), rev.save_canonical());
    fwd
}

/// The server receives `device`'s changes from `sender`: validate, then store.
fn push(server: &mut TaskDoc, device: &mut TaskDoc, sender: &Actor) -> Result<(), Refusal> {
    let mut after = server.fork();
    after.merge(device).unwrap();
    validate_update(Some(server), &after, sender)?;
    *server = after;
    Ok(())
}

fn outcome_of(v: &TaskView, id: &str) -> Outcome {
    v.timeline
        .iter()
        .find(|t| t.event.id == id)
        .unwrap_or_else(|| panic!("event {id} not in the timeline"))
        .outcome
        .clone()
}

fn superseded_because(v: &TaskView, id: &str, words: &str) {
    match outcome_of(v, id) {
        Outcome::Superseded { reason } => assert!(
            reason.contains(words),
            "reason {reason:?} does not mention {words:?}"
        ),
        o => panic!("event {id} is {o:?}, expected superseded"),
    }
}

/// Crew A works offline: acknowledge, start, after photo, complete. Returns the ids.
fn crew_a_finishes(phone: &mut TaskDoc, a: &Actor, photo_n: u8) -> (String, String, String) {
    let ack = phone.append_event(a, 20, EventKind::Acknowledged).unwrap();
    let start = phone.append_event(a, 30, EventKind::Started).unwrap();
    phone
        .add_photo(a, photo(&hash(photo_n), PhotoKind::After, a, 40))
        .unwrap();
    let done = phone
        .append_event(
            a,
            50,
            EventKind::Completed {
                photos: vec![hash(photo_n)],
            },
        )
        .unwrap();
    (ack, start, done)
}

// ---------------------------------------------------------------- rule 1

#[test]
fn rule1_offline_completion_stands_over_a_reassignment() {
    let mut server = assigned_to_a();
    let mut phone = replica(&mut server);
    let mut console = replica(&mut server);
    let (a, d) = (crew("A", "phone-a"), dispatcher("console-d"));

    let (ack, start, done) = crew_a_finishes(&mut phone, &a, 1);
    let reassign = console
        .append_event(
            &d,
            25,
            EventKind::Assigned {
                crew: "B".into(),
                reason: "A is late".into(),
            },
        )
        .unwrap();

    let merged = merge_both_orders(&mut [&mut server, &mut phone, &mut console]);
    let v = merged.view().unwrap();
    assert_eq!(v.derived.status, Status::Completed);
    assert_eq!(v.derived.completion.as_deref(), Some(done.as_str()));
    assert_eq!(v.derived.completed_at, Some(50));
    assert_eq!(v.derived.assignee.as_deref(), Some("B"));
    assert_eq!(outcome_of(&v, &done), Outcome::Applied);
    assert_eq!(outcome_of(&v, &reassign), Outcome::Applied);
    // The reassignment (depth 3, "console-d" < "phone-a") comes before A's acknowledgement.
    superseded_because(&v, &ack, "assigned to crew B");
    superseded_because(&v, &start, "assigned to crew B");
    assert_eq!(v.derived.conflicts.len(), 1);
    assert_eq!(v.derived.conflicts[0].kind, "completed_while_reassigned");
    assert_eq!(v.derived.conflicts[0].events, vec![done.clone(), reassign]);

    // The server takes the dispatcher's change first, then the crew's: still accepted,
    // because the crew's events are judged in what the crew had seen.
    push(&mut server, &mut console, &d).unwrap();
    push(&mut server, &mut phone, &a).unwrap();
    assert_eq!(server.view().unwrap(), v);
}

#[test]
fn rule1_offline_completion_stands_over_a_cancellation() {
    let mut server = assigned_to_a();
    let mut phone = replica(&mut server);
    let mut console = replica(&mut server);
    let (a, d) = (crew("A", "phone-a"), dispatcher("console-d"));

    let (_, _, done) = crew_a_finishes(&mut phone, &a, 1);
    let cancel = console
        .append_event(
            &d,
            25,
            EventKind::Cancelled {
                reason: "citizen withdrew".into(),
            },
        )
        .unwrap();

    let v = merge_both_orders(&mut [&mut phone, &mut console])
        .view()
        .unwrap();
    assert_eq!(v.derived.status, Status::Completed);
    assert_eq!(v.derived.completion.as_deref(), Some(done.as_str()));
    assert_eq!(outcome_of(&v, &cancel), Outcome::Applied);
    assert_eq!(outcome_of(&v, &done), Outcome::Applied);
    assert_eq!(v.derived.conflicts.len(), 1);
    assert_eq!(v.derived.conflicts[0].kind, "completed_while_cancelled");
    assert_eq!(v.derived.conflicts[0].events, vec![done, cancel]);

    push(&mut server, &mut console, &d).unwrap();
    push(&mut server, &mut phone, &a).unwrap();
    assert_eq!(server.view().unwrap().derived.status, Status::Completed);
}

// ---------------------------------------------------------------- rule 2

#[test]
fn rule2_two_crews_completing_both_keep_their_work() {
    let mut server = assigned_to_a();
    let (a, b, d) = (
        crew("A", "phone-a"),
        crew("B", "phone-b"),
        dispatcher("console-d"),
    );
    let mut phone_a = replica(&mut server);
    // A goes offline; the dispatcher hands the job to B, whose phone is online.
    server
        .append_event(
            &d,
            15,
            EventKind::Assigned {
                crew: "B".into(),
                reason: "A unreachable".into(),
            },
        )
        .unwrap();
    let mut phone_b = replica(&mut server);

    phone_a.append_event(&a, 20, EventKind::Started).unwrap();
    phone_a
        .add_photo(&a, photo(&hash(1), PhotoKind::After, &a, 30))
        .unwrap();
    phone_a.add_note(&a, 31, "filled and rolled").unwrap();
    let done_a = phone_a
        .append_event(
            &a,
            40,
            EventKind::Completed {
                photos: vec![hash(1)],
            },
        )
        .unwrap();

    phone_b.append_event(&b, 22, EventKind::Started).unwrap();
    phone_b
        .add_photo(&b, photo(&hash(2), PhotoKind::After, &b, 33))
        .unwrap();
    phone_b
        .add_note(&b, 34, "someone fixed it already")
        .unwrap();
    let done_b = phone_b
        .append_event(
            &b,
            45,
            EventKind::Completed {
                photos: vec![hash(2)],
            },
        )
        .unwrap();

    let v = merge_both_orders(&mut [&mut server, &mut phone_a, &mut phone_b])
        .view()
        .unwrap();
    assert_eq!(v.derived.status, Status::Completed);
    // A's completion is shallower (depth 4 against 5): it is the task's.
    assert_eq!(v.derived.completion.as_deref(), Some(done_a.as_str()));
    assert_eq!(v.derived.extra_visits, vec![done_b.clone()]);
    assert_eq!(outcome_of(&v, &done_b), Outcome::ExtraVisit);
    let hashes: Vec<&str> = v.photos.iter().map(|p| p.hash.as_str()).collect();
    assert_eq!(hashes, vec![hash(1), hash(2)]);
    let texts: Vec<&str> = v.notes.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, vec!["filled and rolled", "someone fixed it already"]);

    push(&mut server, &mut phone_b, &b).unwrap();
    push(&mut server, &mut phone_a, &a).unwrap();
    assert_eq!(server.view().unwrap(), v);
}

// ---------------------------------------------------------------- rule 3

/// Start (crew A) concurrent with cancel (dispatcher on `console_device`).
fn start_vs_cancel(console_device: &str) -> (TaskView, String, String) {
    let mut base = assigned_to_a();
    let mut phone = replica(&mut base);
    let mut console = replica(&mut base);
    let start = phone
        .append_event(&crew("A", "phone-a"), 20, EventKind::Started)
        .unwrap();
    let cancel = console
        .append_event(
            &dispatcher(console_device),
            20,
            EventKind::Cancelled {
                reason: "duplicate call".into(),
            },
        )
        .unwrap();
    let v = merge_both_orders(&mut [&mut phone, &mut console])
        .view()
        .unwrap();
    (v, start, cancel)
}

#[test]
fn rule3_cancel_wins_over_a_concurrent_start_in_both_orders() {
    // Cancel first in the fold: the start is superseded.
    let (v, start, cancel) = start_vs_cancel("a-console");
    assert_eq!(v.derived.status, Status::Cancelled);
    assert_eq!(outcome_of(&v, &cancel), Outcome::Applied);
    superseded_because(&v, &start, "cancelled");
    assert_eq!(v.derived.started_at, None);
    assert!(v.derived.conflicts.is_empty());

    // Start first: it applies, then the cancellation closes the task anyway.
    let (v, start, cancel) = start_vs_cancel("z-console");
    assert_eq!(v.derived.status, Status::Cancelled);
    assert_eq!(outcome_of(&v, &start), Outcome::Applied);
    assert_eq!(outcome_of(&v, &cancel), Outcome::Applied);
    assert!(v.derived.conflicts.is_empty());
}

/// Completion (crew A, already started) concurrent with cancel.
fn complete_vs_cancel(console_device: &str) -> (TaskView, String, String) {
    let mut base = assigned_to_a();
    let a = crew("A", "phone-a");
    base.append_event(&a, 20, EventKind::Started).unwrap();
    base.add_photo(&a, photo(&hash(1), PhotoKind::After, &a, 25))
        .unwrap();
    let mut phone = replica(&mut base);
    let mut console = replica(&mut base);
    let done = phone
        .append_event(
            &a,
            30,
            EventKind::Completed {
                photos: vec![hash(1)],
            },
        )
        .unwrap();
    let cancel = console
        .append_event(
            &dispatcher(console_device),
            30,
            EventKind::Cancelled {
                reason: "no longer needed".into(),
            },
        )
        .unwrap();
    let v = merge_both_orders(&mut [&mut phone, &mut console])
        .view()
        .unwrap();
    (v, done, cancel)
}

#[test]
fn rule3_cancel_does_not_win_over_a_concurrent_completion_in_both_orders() {
    let (v, done, cancel) = complete_vs_cancel("a-console");
    assert_eq!(v.derived.status, Status::Completed);
    assert_eq!(v.derived.completion.as_deref(), Some(done.as_str()));
    assert_eq!(outcome_of(&v, &cancel), Outcome::Applied);
    assert_eq!(v.derived.conflicts.len(), 1);
    assert_eq!(v.derived.conflicts[0].kind, "completed_while_cancelled");

    let (v, done, cancel) = complete_vs_cancel("z-console");
    assert_eq!(v.derived.status, Status::Completed);
    assert_eq!(v.derived.completion.as_deref(), Some(done.as_str()));
    superseded_because(&v, &cancel, "completion");
    assert_eq!(v.derived.conflicts.len(), 1);
    assert_eq!(v.derived.conflicts[0].kind, "cancel_lost_to_completion");
    assert_eq!(v.derived.conflicts[0].events, vec![cancel, done]);
}

// ---------------------------------------------------------------- rule 4

/// A completed task: citizen's "not fixed" concurrent with the dispatcher's verification.
fn reopen_vs_verify(console_device: &str) -> (TaskDoc, String, String) {
    let mut base = assigned_to_a();
    let a = crew("A", "phone-a");
    crew_a_finishes(&mut base, &a, 1);
    let mut web = replica(&mut base);
    let mut console = replica(&mut base);
    let reopen = web
        .append_event(
            &citizen("m-web"),
            HOUR,
            EventKind::Reopened {
                reason: "still a hole".into(),
            },
        )
        .unwrap();
    let verify = console
        .append_event(&dispatcher(console_device), HOUR, EventKind::Verified)
        .unwrap();
    let merged = merge_both_orders(&mut [&mut web, &mut console]);
    (merged, reopen, verify)
}

#[test]
fn rule4_not_fixed_concurrent_with_verification_reopens_in_both_orders() {
    // Verification first in the fold; the reopen applies from Verified.
    let (m, reopen, verify) = reopen_vs_verify("a-console");
    let v = m.view().unwrap();
    assert_eq!(v.derived.status, Status::Reopened);
    assert_eq!(outcome_of(&v, &verify), Outcome::Applied);
    assert_eq!(outcome_of(&v, &reopen), Outcome::Applied);
    assert_eq!(v.derived.reopen_count, 1);
    assert_eq!(v.derived.completion, None);

    // Reopen first; the verification after it is superseded.
    let (mut m, reopen, verify) = reopen_vs_verify("z-console");
    let v = m.view().unwrap();
    assert_eq!(v.derived.status, Status::Reopened);
    assert_eq!(outcome_of(&v, &reopen), Outcome::Applied);
    superseded_because(&v, &verify, "reopened");
    assert_eq!(v.derived.completion, None);
    assert_eq!(v.derived.assignee.as_deref(), Some("A"));

    // The same crew goes back, completes again, and the citizen rates the new fix.
    let a = crew("A", "phone-a");
    m.append_event(&a, 2 * HOUR, EventKind::Started).unwrap();
    m.add_photo(&a, photo(&hash(9), PhotoKind::After, &a, 3 * HOUR))
        .unwrap();
    let again = m
        .append_event(
            &a,
            3 * HOUR,
            EventKind::Completed {
                photos: vec![hash(9)],
            },
        )
        .unwrap();
    m.append_event(
        &citizen("m-web"),
        4 * HOUR,
        EventKind::Rated {
            stars: 4,
            comment: "ok now".into(),
        },
    )
    .unwrap();
    let v = m.view().unwrap();
    assert_eq!(v.derived.status, Status::Completed);
    assert_eq!(v.derived.completion, Some(again));
    assert_eq!(v.derived.completed_at, Some(3 * HOUR));
    assert_eq!(v.derived.rating, Some(4));
    assert_eq!(v.derived.reopen_count, 1);
}

// ---------------------------------------------------------------- rule 5

#[test]
fn rule5_same_photo_from_two_devices_is_one_photo_and_notes_are_all_kept() {
    let mut server = assigned_to_a();
    let (phone_user, tablet_user) = (crew("A", "phone-a"), crew("A", "tablet-a"));
    server
        .append_event(&phone_user, 20, EventKind::Started)
        .unwrap();
    let mut phone = replica(&mut server);
    let mut tablet = replica(&mut server);
    phone
        .add_photo(
            &phone_user,
            photo(&hash(7), PhotoKind::After, &phone_user, 30),
        )
        .unwrap();
    phone.add_note(&phone_user, 31, "from the phone").unwrap();
    tablet
        .add_photo(
            &tablet_user,
            photo(&hash(7), PhotoKind::After, &tablet_user, 32),
        )
        .unwrap();
    tablet
        .add_note(&tablet_user, 33, "from the tablet")
        .unwrap();
    // Adding it again on one device changes nothing.
    let heads = tablet.heads();
    tablet
        .add_photo(
            &tablet_user,
            photo(&hash(7), PhotoKind::After, &tablet_user, 32),
        )
        .unwrap();
    assert_eq!(tablet.heads(), heads);

    let v = merge_both_orders(&mut [&mut phone, &mut tablet])
        .view()
        .unwrap();
    assert_eq!(v.photos.len(), 1);
    assert_eq!(v.photos[0].hash, hash(7));
    let texts: Vec<&str> = v.notes.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, vec!["from the phone", "from the tablet"]);

    // The server accepts the second copy of the photo: it is the same photo, not a rewrite.
    push(&mut server, &mut phone, &phone_user).unwrap();
    push(&mut server, &mut tablet, &tablet_user).unwrap();
    let sv = server.view().unwrap();
    assert_eq!(sv.photos.len(), 1);
    assert_eq!(sv.notes.len(), 2);
}

// ---------------------------------------------------------------- rule 6

fn transition(r: Result<String, TaskError>, words: &str) {
    match r {
        Err(TaskError::Transition { why, .. }) => {
            assert!(
                why.contains(words),
                "reason {why:?} does not mention {words:?}"
            )
        }
        other => panic!("expected a refused transition, got {other:?}"),
    }
}

#[test]
fn rule6_roles_assignment_after_photo_and_window() {
    let mut t = assigned_to_a();
    let (a, b, d, c) = (
        crew("A", "phone-a"),
        crew("B", "phone-b"),
        dispatcher("console-d"),
        citizen("web-c"),
    );
    let heads = t.heads();
    transition(
        t.append_event(
            &a,
            11,
            EventKind::Assigned {
                crew: "A".into(),
                reason: "me".into(),
            },
        ),
        "only a dispatcher or the server",
    );
    transition(
        t.append_event(&c, 11, EventKind::Cancelled { reason: "x".into() }),
        "only a dispatcher or the server",
    );
    transition(
        t.append_event(&b, 11, EventKind::Started),
        "assigned to crew A",
    );
    transition(t.append_event(&d, 11, EventKind::Started), "only a crew");
    assert_eq!(
        t.heads(),
        heads,
        "a refused event must not touch the document"
    );

    t.append_event(&a, 20, EventKind::Started).unwrap();
    t.add_photo(&a, photo(&hash(1), PhotoKind::Before, &a, 21))
        .unwrap();
    transition(
        t.append_event(
            &a,
            22,
            EventKind::Completed {
                photos: vec![hash(1)],
            },
        ),
        "after photo",
    );
    transition(
        t.append_event(
            &a,
            22,
            EventKind::Completed {
                photos: vec![hash(3)],
            },
        ),
        "after photo",
    );
    t.add_photo(&a, photo(&hash(2), PhotoKind::After, &a, 23))
        .unwrap();
    t.append_event(
        &a,
        1000,
        EventKind::Completed {
            photos: vec![hash(1), hash(2)],
        },
    )
    .unwrap();

    transition(
        t.append_event(
            &d,
            1001,
            EventKind::Rated {
                stars: 5,
                comment: String::new(),
            },
        ),
        "only the citizen",
    );
    transition(
        t.append_event(
            &c,
            1000 + WINDOW + 1,
            EventKind::Reopened {
                reason: "late".into(),
            },
        ),
        "window",
    );
    t.append_event(
        &c,
        1000 + WINDOW,
        EventKind::Rated {
            stars: 2,
            comment: "slow".into(),
        },
    )
    .unwrap();
    transition(
        t.append_event(
            &c,
            1000 + WINDOW,
            EventKind::Rated {
                stars: 5,
                comment: "changed my mind".into(),
            },
        ),
        "already rated",
    );
    assert!(matches!(
        t.append_event(
            &c,
            1001,
            EventKind::Rated {
                stars: 6,
                comment: String::new()
            }
        ),
        Err(TaskError::Invalid(_))
    ));
    let v = t.view().unwrap();
    assert_eq!(v.derived.rating, Some(2));
    assert_eq!(v.derived.status, Status::Completed);
}

/// The photos completion `event` of `t` names.
fn completion_photos(t: &TaskDoc, event: &str) -> Vec<String> {
    let v = t.view().unwrap();
    match v
        .timeline
        .iter()
        .find(|e| e.event.id == event)
        .map(|e| &e.event.kind)
    {
        Some(EventKind::Completed { photos }) => photos.clone(),
        other => panic!("{event} is {other:?}"),
    }
}

/// `TaskDoc::complete` (what a phone's "complete" calls): no after photo named and none on
/// the task is refused with the typed error, and nothing is written.
#[test]
fn rule6_complete_without_an_after_photo_is_refused() {
    let mut t = assigned_to_a();
    let a = crew("A", "phone-a");
    t.append_event(&a, 20, EventKind::Started).unwrap();
    t.add_photo(&a, photo(&hash(1), PhotoKind::Before, &a, 30))
        .unwrap();
    let heads = t.heads();
    let err = t.complete(&a, 40, Vec::new()).unwrap_err();
    assert!(matches!(err, TaskError::NoAfterPhoto), "{err:?}");
    assert!(err.to_string().contains("completing needs an after photo"));
    assert_eq!(t.heads(), heads, "a refused completion wrote something");
    assert_eq!(t.view().unwrap().derived.status, Status::InProgress);
}

/// `TaskDoc::complete` with no photo named names every after photo of the task (and no
/// other); with photos named, those.
#[test]
fn rule6_complete_names_the_tasks_after_photos() {
    let a = crew("A", "phone-a");
    let started = || {
        let mut t = assigned_to_a();
        t.append_event(&a, 20, EventKind::Started).unwrap();
        for (n, kind) in [
            (1, PhotoKind::Before),
            (2, PhotoKind::After),
            (3, PhotoKind::After),
        ] {
            t.add_photo(&a, photo(&hash(n), kind, &a, 30)).unwrap();
        }
        t
    };
    let mut t = started();
    let done = t.complete(&a, 40, Vec::new()).unwrap();
    assert_eq!(completion_photos(&t, &done), vec![hash(2), hash(3)]);
    assert_eq!(t.view().unwrap().derived.status, Status::Completed);

    let mut t = started();
    let done = t.complete(&a, 40, vec![hash(3)]).unwrap();
    assert_eq!(completion_photos(&t, &done), vec![hash(3)]);
}

// ---------------------------------------------------------------- rule 7

#[test]
fn rule7_superseded_events_stay_in_the_timeline() {
    let mut base = assigned_to_a();
    let mut phone = replica(&mut base);
    let mut console = replica(&mut base);
    let a = crew("A", "phone-a");
    let ack = phone.append_event(&a, 20, EventKind::Acknowledged).unwrap();
    let start = phone.append_event(&a, 30, EventKind::Started).unwrap();
    let pause = phone
        .append_event(
            &a,
            40,
            EventKind::Paused {
                reason: "lunch".into(),
            },
        )
        .unwrap();
    console
        .append_event(
            &dispatcher("console-d"),
            25,
            EventKind::Cancelled {
                reason: "duplicate".into(),
            },
        )
        .unwrap();

    let mut m = merge_both_orders(&mut [&mut phone, &mut console]);
    let v = m.view().unwrap();
    assert_eq!(v.derived.status, Status::Cancelled);
    // created, assigned, cancelled, acknowledged, started, paused: all six are kept.
    assert_eq!(v.timeline.len(), 6);
    superseded_because(&v, &ack, "cancelled");
    superseded_because(&v, &start, "cancelled");
    superseded_because(&v, &pause, "cancelled");
    assert_eq!(v.derived.acknowledged_at, None);
    // Fold order: by depth, then id.
    let kinds: Vec<&str> = v.timeline.iter().map(|t| t.event.kind.name()).collect();
    assert_eq!(
        kinds,
        vec![
            "created",
            "assigned",
            "cancelled",
            "acknowledged",
            "started",
            "paused"
        ]
    );
    // And they survive a save/load.
    let again = TaskDoc::load(&m.save()).unwrap().view().unwrap();
    assert_eq!(again, v);
}

// ---------------------------------------------------------------- API

#[test]
fn each_call_is_exactly_one_commit() {
    let mut t = assigned_to_a();
    let a = crew("A", "phone-a");
    let before = t.heads();
    t.append_event(&a, 20, EventKind::Started).unwrap();
    assert_eq!(t.automerge().get_changes(&before).len(), 1);
    assert!(t.automerge().get_last_local_change().is_some());
    let before = t.heads();
    t.add_note(&a, 21, "note").unwrap();
    assert_eq!(t.automerge().get_changes(&before).len(), 1);
    let before = t.heads();
    t.add_photo(&a, photo(&hash(1), PhotoKind::Before, &a, 22))
        .unwrap();
    assert_eq!(t.automerge().get_changes(&before).len(), 1);
}

#[test]
fn status_progression_and_derived_fields() {
    let d = dispatcher("console-d");
    let mut nt = new_task();
    nt.district = None;
    let mut t = TaskDoc::create(nt, &d, 5).unwrap();
    let v = t.view().unwrap();
    assert_eq!(v.derived.status, Status::New);
    assert_eq!(v.created_at, 5);
    assert_eq!(v.schema, SCHEMA_VERSION);
    t.append_event(
        &Actor::server(DeviceId::new("srv-1").unwrap()),
        6,
        EventKind::Routed {
            district: "D9".into(),
        },
    )
    .unwrap();
    assert_eq!(t.view().unwrap().derived.status, Status::Queued);
    assert_eq!(t.view().unwrap().derived.district.as_deref(), Some("D9"));
    t.append_event(
        &d,
        7,
        EventKind::Reprioritized {
            priority: Priority::Urgent,
            reason: "school nearby".into(),
        },
    )
    .unwrap();
    t.append_event(
        &d,
        8,
        EventKind::Assigned {
            crew: "A".into(),
            reason: String::new(),
        },
    )
    .unwrap();
    let a = crew("A", "phone-a");
    t.append_event(&a, 9, EventKind::Acknowledged).unwrap();
    assert_eq!(t.view().unwrap().derived.status, Status::Acknowledged);
    t.append_event(&a, 10, EventKind::Started).unwrap();
    assert_eq!(t.view().unwrap().derived.status, Status::InProgress);
    t.append_event(
        &a,
        11,
        EventKind::Paused {
            reason: "rain".into(),
        },
    )
    .unwrap();
    assert_eq!(t.view().unwrap().derived.status, Status::Paused);
    t.append_event(&a, 12, EventKind::Started).unwrap();
    t.append_event(
        &d,
        13,
        EventKind::Escalated {
            reason: "SLA".into(),
        },
    )
    .unwrap();
    t.add_photo(&a, photo(&hash(1), PhotoKind::After, &a, 14))
        .unwrap();
    t.append_event(
        &a,
        15,
        EventKind::Completed {
            photos: vec![hash(1)],
        },
    )
    .unwrap();
    t.append_event(&d, 16, EventKind::Verified).unwrap();
    let v = t.view().unwrap();
    assert_eq!(v.derived.status, Status::Verified);
    assert_eq!(v.derived.priority, Priority::Urgent);
    assert_eq!(v.derived.assignee.as_deref(), Some("A"));
    assert_eq!(v.derived.acknowledged_at, Some(9));
    assert_eq!(v.derived.started_at, Some(10));
    assert_eq!(v.derived.completed_at, Some(15));
    assert!(v.derived.escalated);
    assert!(
        v.timeline.iter().all(|t| t.outcome == Outcome::Applied),
        "{:#?}",
        v.timeline
    );
    // Event parents chain: each event names the previous one.
    for w in v.timeline.windows(2) {
        assert_eq!(w[1].event.parents, vec![w[0].event.id.clone()]);
    }
}

#[test]
fn input_checks() {
    let d = dispatcher("console-d");
    let bad = |f: &dyn Fn(&mut NewTask)| {
        let mut nt = new_task();
        f(&mut nt);
        matches!(TaskDoc::create(nt, &d, 0), Err(TaskError::Invalid(_)))
    };
    assert!(bad(&|t| t.point.lat = 91.0));
    assert!(bad(&|t| t.point.lon = -180.5));
    assert!(bad(&|t| t.point.lat = f64::NAN));
    assert!(bad(&|t| t.category = String::new()));
    assert!(bad(&|t| t.title = "x".repeat(201)));
    assert!(bad(&|t| t.description = "x".repeat(4001)));
    assert!(bad(&|t| t.reopen_window_ms = -1));
    assert!(!bad(&|t| t.title = "ی".repeat(200)));
    // A crew reports only field-found work; a citizen cannot create at all.
    assert!(matches!(
        TaskDoc::create(new_task(), &crew("A", "phone-a"), 0),
        Err(TaskError::Invalid(_))
    ));
    assert!(matches!(
        TaskDoc::create(new_task(), &citizen("web-c"), 0),
        Err(TaskError::Transition { .. })
    ));

    let mut t = assigned_to_a();
    let a = crew("A", "phone-a");
    let mut p = photo("ABCD", PhotoKind::After, &a, 0);
    assert!(matches!(
        t.add_photo(&a, p.clone()),
        Err(TaskError::Invalid(_))
    ));
    p.hash = hash(0xab).to_uppercase();
    assert!(matches!(
        t.add_photo(&a, p.clone()),
        Err(TaskError::Invalid(_))
    ));
    p.hash = hash(1);
    p.author = "someone-else".into();
    assert!(matches!(t.add_photo(&a, p), Err(TaskError::Invalid(_))));
    assert!(matches!(
        t.add_note(&a, 0, "  "),
        Err(TaskError::Invalid(_))
    ));
    assert!(matches!(
        t.add_note(&a, 0, &"x".repeat(4001)),
        Err(TaskError::Invalid(_))
    ));
    assert!(matches!(
        t.append_event(&a, 0, EventKind::Completed { photos: vec![] }),
        Err(TaskError::Invalid(_))
    ));
    assert!(matches!(
        t.append_event(
            &d,
            0,
            EventKind::MarkedDuplicate {
                of: DocId::new("T-1").unwrap()
            }
        ),
        Err(TaskError::Invalid(_))
    ));
    let mut no_crew = a.clone();
    no_crew.crew = None;
    assert!(matches!(
        t.append_event(&no_crew, 0, EventKind::Started),
        Err(TaskError::Invalid(_))
    ));
}

// ---------------------------------------------------------------- validate_update

/// Writes an event straight into automerge, as a hostile or buggy device could.
fn forge_event(t: &mut TaskDoc, id: &str, kind: &EventKind, by: &Actor, parents: &[String]) {
    let am = t.automerge();
    let (_, events) = am.get(ROOT, "events").unwrap().unwrap();
    let e = am.put_object(&events, id, ObjType::Map).unwrap();
    am.put(&e, "id", id).unwrap();
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
    match kind {
        EventKind::Assigned { crew, reason } => {
            am.put(&e, "crew", crew.as_str()).unwrap();
            am.put(&e, "reason", reason.as_str()).unwrap();
        }
        EventKind::Completed { photos } => {
            let l = am.put_object(&e, "photos", ObjType::List).unwrap();
            for (i, h) in photos.iter().enumerate() {
                am.insert(&l, i, h.as_str()).unwrap();
            }
        }
        EventKind::Started | EventKind::Acknowledged | EventKind::Verified => {}
        other => panic!("forge_event does not write {other:?}"),
    }
    am.commit();
}

/// The heads of the event log, as a device would name them as parents.
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

fn refused(r: Result<(), Refusal>, code: RefusalCode) {
    match r {
        Err(e) => assert_eq!(e.code, code, "refused for another reason: {e}"),
        Ok(()) => panic!("expected a refusal {code:?}, the change was accepted"),
    }
}

#[test]
fn validate_accepts_honest_changes() {
    let mut server = assigned_to_a();
    let mut phone = replica(&mut server);
    let a = crew("A", "phone-a");
    crew_a_finishes(&mut phone, &a, 1);
    phone.add_note(&a, 60, "done").unwrap();
    push(&mut server, &mut phone, &a).unwrap();

    let mut console = replica(&mut server);
    let d = dispatcher("console-d");
    console.append_event(&d, 70, EventKind::Verified).unwrap();
    console
        .automerge()
        .put(ROOT, "title", "Pothole (fixed)")
        .unwrap();
    console.automerge().commit();
    push(&mut server, &mut console, &d).unwrap();

    let mut web = replica(&mut server);
    let c = citizen("web-c");
    web.append_event(
        &c,
        80,
        EventKind::Rated {
            stars: 5,
            comment: "thanks".into(),
        },
    )
    .unwrap();
    push(&mut server, &mut web, &c).unwrap();
    let v = server.view().unwrap();
    assert_eq!(v.title, "Pothole (fixed)");
    assert_eq!(v.derived.rating, Some(5));
}

#[test]
fn validate_refuses_a_crew_assigning_itself() {
    let mut server = assigned_to_a();
    let mut phone = replica(&mut server);
    let b = crew("B", "phone-b");
    let parents = event_heads(&phone);
    forge_event(
        &mut phone,
        "phone-b:1",
        &EventKind::Assigned {
            crew: "B".into(),
            reason: "mine now".into(),
        },
        &b,
        &parents,
    );
    refused(push(&mut server, &mut phone, &b), RefusalCode::Forbidden);
}

#[test]
fn validate_refuses_completion_without_an_after_photo() {
    let mut server = assigned_to_a();
    let a = crew("A", "phone-a");
    server.append_event(&a, 20, EventKind::Started).unwrap();
    let mut phone = replica(&mut server);
    phone
        .add_photo(&a, photo(&hash(1), PhotoKind::Before, &a, 21))
        .unwrap();
    let parents = event_heads(&phone);
    forge_event(
        &mut phone,
        "phone-a:1",
        &EventKind::Completed {
            photos: vec![hash(1)],
        },
        &a,
        &parents,
    );
    refused(
        push(&mut server, &mut phone, &a),
        RefusalCode::InvalidTransition,
    );
    // The server's copy is untouched.
    assert_eq!(server.view().unwrap().derived.status, Status::InProgress);
}

#[test]
fn validate_refuses_hidden_parents() {
    // Crew A has received the reassignment to B, but names the older head as parent so
    // that its completion would look like work done before it heard.
    let mut server = assigned_to_a();
    let a = crew("A", "phone-a");
    server.append_event(&a, 20, EventKind::Started).unwrap();
    let old_heads = event_heads(&server);
    server
        .append_event(
            &dispatcher("console-d"),
            30,
            EventKind::Assigned {
                crew: "B".into(),
                reason: String::new(),
            },
        )
        .unwrap();
    let mut phone = replica(&mut server);
    phone
        .add_photo(&a, photo(&hash(1), PhotoKind::After, &a, 40))
        .unwrap();
    forge_event(
        &mut phone,
        "phone-a:2",
        &EventKind::Completed {
            photos: vec![hash(1)],
        },
        &a,
        &old_heads,
    );
    refused(
        push(&mut server, &mut phone, &a),
        RefusalCode::InvalidTransition,
    );
}

#[test]
fn validate_refuses_a_crew_changing_priority() {
    let mut server = assigned_to_a();
    let mut phone = replica(&mut server);
    phone.automerge().put(ROOT, "priority", "urgent").unwrap();
    phone.automerge().commit();
    let a = crew("A", "phone-a");
    refused(
        push(&mut server, &mut phone, &a),
        RefusalCode::ReadOnlyField,
    );
    // A dispatcher may.
    let d = dispatcher("console-d");
    push(&mut server, &mut phone, &d).unwrap();
    assert_eq!(server.view().unwrap().derived.priority, Priority::Urgent);
    // Nobody changes the id.
    let mut console = replica(&mut server);
    console.automerge().put(ROOT, "id", "T-2").unwrap();
    console.automerge().commit();
    refused(
        push(&mut server, &mut console, &d),
        RefusalCode::ReadOnlyField,
    );
}

#[test]
fn validate_refuses_impersonating_another_crew() {
    let mut server = assigned_to_a();
    let mut phone = replica(&mut server);
    // Crew B's phone writes events in crew A's name (the API cannot know who holds it).
    phone
        .append_event(&crew("A", "phone-b"), 20, EventKind::Started)
        .unwrap();
    refused(
        push(&mut server, &mut phone, &crew("B", "phone-b")),
        RefusalCode::Impersonation,
    );
    // Notes and photos too.
    let mut phone = replica(&mut server);
    let a = crew("A", "phone-a");
    phone.add_note(&a, 20, "written by B").unwrap();
    refused(
        push(&mut server, &mut phone, &crew("B", "phone-b")),
        RefusalCode::Impersonation,
    );
    let mut phone = replica(&mut server);
    phone
        .add_photo(&a, photo(&hash(3), PhotoKind::After, &a, 20))
        .unwrap();
    refused(
        push(&mut server, &mut phone, &crew("A", "other-phone")),
        RefusalCode::Impersonation,
    );
}

#[test]
fn validate_refuses_deleting_or_editing_history() {
    let mut server = assigned_to_a();
    let d = dispatcher("console-d");
    let first = server.view().unwrap().timeline[1].event.id.clone();

    let mut console = replica(&mut server);
    let (_, events) = console.automerge().get(ROOT, "events").unwrap().unwrap();
    console.automerge().delete(&events, first.as_str()).unwrap();
    console.automerge().commit();
    refused(
        push(&mut server, &mut console, &d),
        RefusalCode::HistoryRewritten,
    );

    let mut console = replica(&mut server);
    let (_, events) = console.automerge().get(ROOT, "events").unwrap().unwrap();
    let (_, ev) = console
        .automerge()
        .get(&events, first.as_str())
        .unwrap()
        .unwrap();
    console.automerge().put(&ev, "crew", "B").unwrap();
    console.automerge().commit();
    refused(
        push(&mut server, &mut console, &d),
        RefusalCode::HistoryRewritten,
    );

    // Replacing the whole photos map.
    let mut console = replica(&mut server);
    console
        .automerge()
        .put_object(ROOT, "photos", ObjType::Map)
        .unwrap();
    console.automerge().commit();
    refused(
        push(&mut server, &mut console, &d),
        RefusalCode::HistoryRewritten,
    );
}

#[test]
fn validate_refuses_malformed_documents() {
    let mut server = assigned_to_a();
    let mut phone = replica(&mut server);
    let (_, events) = phone.automerge().get(ROOT, "events").unwrap().unwrap();
    phone
        .automerge()
        .put(&events, "x:1", "not an event")
        .unwrap();
    phone.automerge().commit();
    refused(
        push(&mut server, &mut phone, &crew("A", "phone-a")),
        RefusalCode::Malformed,
    );
    // A well-formed event whose id does not start with the sender's device.
    let mut phone = replica(&mut server);
    let a = crew("A", "phone-a");
    let parents = event_heads(&phone);
    forge_event(&mut phone, "0000:first", &EventKind::Started, &a, &parents);
    refused(push(&mut server, &mut phone, &a), RefusalCode::Malformed);
}

#[test]
fn validate_new_tasks() {
    let a = crew("A", "phone-a");
    let mut found = new_task();
    found.source = Source::Crew;
    let t = TaskDoc::create(found.clone(), &a, 0).unwrap();
    validate_update(None, &t, &a).unwrap();
    // Sent by someone else than its creator.
    refused(
        validate_update(None, &t, &crew("A", "phone-x")),
        RefusalCode::Impersonation,
    );
    // A call-centre task sent by a crew.
    let cc = actor("op-3", Role::CallCentre, None, "cc-1");
    let t = TaskDoc::create(new_task(), &cc, 0).unwrap();
    validate_update(None, &t, &cc).unwrap();
    // A citizen or manager cannot create through sync.
    let m = actor("boss", Role::Manager, None, "web-m");
    refused(validate_update(None, &t, &m), RefusalCode::Forbidden);
    // A crew whose new task is not field-found work.
    let mut t2 = TaskDoc::create(found, &a, 0).unwrap();
    t2.automerge().put(ROOT, "source", "citizen").unwrap();
    t2.automerge().commit();
    refused(validate_update(None, &t2, &a), RefusalCode::Forbidden);
    // A crew's new task that assigns itself.
    let mut found = new_task();
    found.source = Source::Crew;
    let mut t3 = TaskDoc::create(found, &a, 0).unwrap();
    let parents = event_heads(&t3);
    forge_event(
        &mut t3,
        "phone-a:9",
        &EventKind::Assigned {
            crew: "A".into(),
            reason: "found it".into(),
        },
        &a,
        &parents,
    );
    refused(validate_update(None, &t3, &a), RefusalCode::Forbidden);
    // A dispatcher's new task may come assigned.
    let d = dispatcher("console-d");
    let t4 = assigned_to_a();
    validate_update(None, &t4, &d).unwrap();
}

// ---------------------------------------------------------------- loading

#[test]
fn schema_v0_is_upgraded_on_load() {
    let mut t = assigned_to_a();
    let am = t.automerge();
    am.put(ROOT, "schema", 0_u64).unwrap();
    am.delete(ROOT, "reopen_window_ms").unwrap();
    am.commit();
    let v0 = t.save();
    assert!(matches!(t.view(), Err(TaskError::Schema(_))));

    let mut up = TaskDoc::load(&v0).unwrap();
    let v = up.view().unwrap();
    assert_eq!(v.schema, SCHEMA_VERSION);
    assert_eq!(v.reopen_window_ms, DEFAULT_REOPEN_WINDOW_MS);
    assert_eq!(v.derived.status, Status::Assigned);
    assert_eq!(
        up.automerge()
            .get(ROOT, "schema")
            .unwrap()
            .unwrap()
            .0
            .as_u64(),
        Some(1)
    );
    // The upgrade is a single commit on top of the v0 document.
    let mut raw = AutoCommit::load(&v0).unwrap();
    let v0_heads = raw.get_heads();
    assert_eq!(up.automerge().get_changes(&v0_heads).len(), 1);
    // Two replicas upgrading concurrently merge cleanly.
    let mut up2 = TaskDoc::load(&v0).unwrap();
    up.merge(&mut up2).unwrap();
    assert_eq!(
        up.view().unwrap().reopen_window_ms,
        DEFAULT_REOPEN_WINDOW_MS
    );
}

#[test]
fn newer_schema_is_refused() {
    let mut t = assigned_to_a();
    t.automerge().put(ROOT, "schema", 2_u64).unwrap();
    t.automerge().commit();
    assert!(matches!(
        TaskDoc::load(&t.save()),
        Err(TaskError::TooNew {
            found: 2,
            supported: 1
        })
    ));
}

#[test]
fn corrupt_bytes_are_refused_cleanly() {
    assert!(matches!(
        TaskDoc::load(b"definitely not automerge"),
        Err(TaskError::Corrupt(_))
    ));
    let mut rng_bytes = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..4096 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        rng_bytes.push((x >> 16) as u8);
    }
    assert!(matches!(
        TaskDoc::load(&rng_bytes),
        Err(TaskError::Corrupt(_))
    ));

    let mut t = assigned_to_a();
    let good = t.save();
    for cut in [good.len() / 2, good.len() - 1, 10] {
        assert!(
            matches!(TaskDoc::load(&good[..cut]), Err(TaskError::Corrupt(_))),
            "truncated at {cut}"
        );
    }
    // Flipped bytes: refused (Corrupt or Schema), never a panic.
    for i in (0..good.len()).step_by(7) {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        let _ = TaskDoc::load(&bad);
    }
}

#[test]
fn automerge_docs_that_are_not_tasks_are_refused() {
    let mut other = AutoCommit::new();
    other.put(ROOT, "todo", "milk").unwrap();
    other.commit();
    assert!(matches!(
        TaskDoc::load(&other.save()),
        Err(TaskError::Schema(_))
    ));
    assert!(matches!(
        TaskDoc::load(&AutoCommit::new().save()),
        Err(TaskError::Schema(_)) | Err(TaskError::Corrupt(_))
    ));
    // A task with a forged event missing its kind: refused as a whole (see task::doc).
    let mut t = assigned_to_a();
    let am = t.automerge();
    let (_, events) = am.get(ROOT, "events").unwrap().unwrap();
    let e = am.put_object(&events, "x:1", ObjType::Map).unwrap();
    am.put(&e, "id", "x:1").unwrap();
    am.commit();
    assert!(matches!(
        TaskDoc::load(&t.save()),
        Err(TaskError::Schema(_))
    ));
    // A task whose schema field is text.
    let mut t = assigned_to_a();
    t.automerge().put(ROOT, "schema", "one").unwrap();
    t.automerge().commit();
    assert!(matches!(
        TaskDoc::load(&t.save()),
        Err(TaskError::Schema(_))
    ));
}

#[test]
fn loading_gives_a_fresh_actor() {
    let mut t = assigned_to_a();
    let bytes = t.save();
    let mut x = TaskDoc::load(&bytes).unwrap();
    let mut y = TaskDoc::load(&bytes).unwrap();
    assert_ne!(
        x.automerge().get_actor().clone(),
        y.automerge().get_actor().clone()
    );
    let a = crew("A", "phone-a");
    let ex = x.append_event(&a, 1, EventKind::Started).unwrap();
    let ey = y.append_event(&a, 1, EventKind::Started).unwrap();
    assert_ne!(ex, ey);
    x.merge(&mut y).unwrap();
    assert_eq!(x.view().unwrap().timeline.len(), 4);
}

/// Point 11 of issue 16: notes, photos and field changes pushed by each role, judged by
/// the one table of `task::roles`. A manager (read-only) writes nothing; a citizen acts
/// through its tracking code, never by adding notes.
#[test]
fn notes_photos_and_fields_by_every_role() {
    let roles = [
        (
            actor("cit-1", Role::Citizen, None, "web-c"),
            false,
            true,
            false,
        ),
        (
            actor("cc-1", Role::CallCentre, None, "desk-cc"),
            true,
            false,
            false,
        ),
        (crew("A", "phone-a"), true, true, false),
        (dispatcher("console-d"), true, true, true),
        (
            actor("mgr-1", Role::Manager, None, "desk-m"),
            false,
            false,
            false,
        ),
        (
            actor("server", Role::Server, None, "server-1"),
            true,
            true,
            true,
        ),
    ];
    for (i, (who, note_ok, photo_ok, fields_ok)) in roles.into_iter().enumerate() {
        let role = who.role.as_str();
        let mut server = assigned_to_a();
        let mut phone = replica(&mut server);
        phone.add_note(&who, 20, "seen it").unwrap();
        let r = push(&mut server, &mut phone, &who);
        match note_ok {
            true => r.unwrap_or_else(|e| panic!("{role}'s note: {e}")),
            false => refused(r, RefusalCode::Forbidden),
        }
        let mut server = assigned_to_a();
        let mut phone = replica(&mut server);
        let kind = if who.role == Role::Citizen {
            PhotoKind::Evidence
        } else {
            PhotoKind::Before
        };
        phone
            .add_photo(&who, photo(&hash(40 + i as u8), kind, &who, 20))
            .unwrap();
        let r = push(&mut server, &mut phone, &who);
        match photo_ok {
            true => r.unwrap_or_else(|e| panic!("{role}'s photo: {e}")),
            false => refused(r, RefusalCode::Forbidden),
        }
        let mut server = assigned_to_a();
        let mut phone = replica(&mut server);
        phone.automerge().put(ROOT, "title", "renamed").unwrap();
        phone.automerge().commit();
        let r = push(&mut server, &mut phone, &who);
        match fields_ok {
            true => r.unwrap_or_else(|e| panic!("{role}'s field change: {e}")),
            false => refused(r, RefusalCode::ReadOnlyField),
        }
    }
}
