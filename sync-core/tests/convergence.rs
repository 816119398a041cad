//! Property test (design §2): random offline edits on 3–4 replicas of one task, synced in
//! random partial orders, converge to identical documents and identical derived state,
//! and the derived state keeps rule 6's invariants.
//!
//! 64 cases by default; set `PROPTEST_CASES` for more.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use sync_core::task::roles::{What, may_write};
use sync_core::task::*;
use sync_core::{Actor, DeviceId, DocId, Role};

const MINUTE: i64 = 60_000;
const WINDOW: i64 = 20 * MINUTE;

/// An event kind with its payload drawn from small pools, so that operations collide.
#[derive(Debug, Clone)]
enum K {
    Created,
    Routed(u8),
    Assigned(u8),
    Ack,
    Start,
    Pause,
    Complete(Vec<u8>),
    Verify,
    Reopen,
    Cancel,
    Duplicate,
    Rate(u8),
    Reprioritize(u8),
    Escalate,
}

#[derive(Debug, Clone)]
enum Op {
    /// Append an event on a replica; `fitting` picks an actor whose role may make it
    /// (still refused often, by state), otherwise actor `who` (usually refused by role).
    Append {
        replica: usize,
        kind: K,
        fitting: bool,
        who: usize,
    },
    Note {
        replica: usize,
        who: usize,
    },
    Photo {
        replica: usize,
        who: usize,
        photo: u8,
    },
    /// One-way partial sync: `to` receives everything `from` has.
    Sync {
        from: usize,
        to: usize,
    },
}

fn kind_strategy() -> impl Strategy<Value = K> {
    prop_oneof![
        1 => Just(K::Created),
        2 => (0u8..2).prop_map(K::Routed),
        6 => (0u8..2).prop_map(K::Assigned),
        6 => Just(K::Ack),
        10 => Just(K::Start),
        4 => Just(K::Pause),
        10 => proptest::collection::vec(0u8..4, 1..3).prop_map(K::Complete),
        4 => Just(K::Verify),
        4 => Just(K::Reopen),
        1 => Just(K::Cancel),
        1 => Just(K::Duplicate),
        4 => (0u8..7).prop_map(K::Rate),
        2 => (0u8..4).prop_map(K::Reprioritize),
        2 => Just(K::Escalate),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0usize..4, kind_strategy(), proptest::bool::weighted(0.9), 0usize..5).prop_map(
            |(replica, kind, fitting, who)| Op::Append { replica, kind, fitting, who }
        ),
        2 => (0usize..4, 0usize..5).prop_map(|(replica, who)| Op::Note { replica, who }),
        4 => (0usize..4, 0usize..5, 0u8..4)
            .prop_map(|(replica, who, photo)| Op::Photo { replica, who, photo }),
        4 => (0usize..4, 0usize..4).prop_map(|(from, to)| Op::Sync { from, to }),
    ]
}

/// Actor `who` on replica `replica`'s device: 0 dispatcher, 1 server, 2 crew A, 3 crew B,
/// 4 citizen.
fn actor(who: usize, replica: usize) -> Actor {
    let device = DeviceId::new(format!("dev{replica}")).unwrap();
    let (user, role, crew) = match who {
        0 => ("disp", Role::Dispatcher, None),
        1 => ("server", Role::Server, None),
        2 => ("worker-a", Role::Crew, Some("A")),
        3 => ("worker-b", Role::Crew, Some("B")),
        _ => ("citizen", Role::Citizen, None),
    };
    Actor {
        user: user.into(),
        role,
        crew: crew.map(str::to_owned),
        device,
    }
}

fn fitting_actor(kind: &K, who: usize) -> usize {
    match kind {
        K::Created => 0,
        K::Ack | K::Start | K::Pause | K::Complete(_) => 2 + who % 2,
        K::Reopen | K::Rate(_) => 4,
        _ => who % 2,
    }
}

fn hash(n: u8) -> String {
    format!("{:02x}", 0xa0 + n).repeat(32)
}

/// Photos 0 and 1 are after photos, 2 before, 3 evidence: the same hash always has the
/// same kind, whoever adds it.
fn photo_kind(n: u8) -> PhotoKind {
    match n {
        0 | 1 => PhotoKind::After,
        2 => PhotoKind::Before,
        _ => PhotoKind::Evidence,
    }
}

fn event_kind(k: &K) -> EventKind {
    const CREWS: [&str; 2] = ["A", "B"];
    const DISTRICTS: [&str; 2] = ["D1", "D2"];
    const PRIORITIES: [Priority; 4] = [
        Priority::Urgent,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ];
    match k {
        K::Created => EventKind::Created,
        K::Routed(d) => EventKind::Routed {
            district: DISTRICTS[usize::from(*d) % 2].into(),
        },
        K::Assigned(c) => EventKind::Assigned {
            crew: CREWS[usize::from(*c) % 2].into(),
            reason: "prop".into(),
        },
        K::Ack => EventKind::Acknowledged,
        K::Start => EventKind::Started,
        K::Pause => EventKind::Paused {
            reason: "break".into(),
        },
        K::Complete(ps) => EventKind::Completed {
            photos: ps.iter().map(|p| hash(*p)).collect(),
        },
        K::Verify => EventKind::Verified,
        K::Reopen => EventKind::Reopened {
            reason: "not fixed".into(),
        },
        K::Cancel => EventKind::Cancelled {
            reason: "prop".into(),
        },
        K::Duplicate => EventKind::MarkedDuplicate {
            of: DocId::new("T-0").unwrap(),
        },
        K::Rate(s) => EventKind::Rated {
            stars: *s,
            comment: String::new(),
        },
        K::Reprioritize(p) => EventKind::Reprioritized {
            priority: PRIORITIES[usize::from(*p) % 4],
            reason: "prop".into(),
        },
        K::Escalate => EventKind::Escalated {
            reason: "sla".into(),
        },
    }
}

fn base_task() -> TaskDoc {
    let nt = NewTask {
        id: DocId::new("T-1").unwrap(),
        source: Source::CallCentre,
        category: "streetlight".into(),
        title: "Light out".into(),
        description: String::new(),
        point: GeoPoint {
            lat: 35.7,
            lon: 51.4,
            accuracy_m: None,
        },
        address: None,
        district: None,
        priority: Priority::Normal,
        sla: Sla::default(),
        reopen_window_ms: WINDOW,
    };
    let mut t = TaskDoc::create(nt, &actor(0, 0), 0).unwrap();
    t.append_event(
        &actor(1, 0),
        1,
        EventKind::Routed {
            district: "D1".into(),
        },
    )
    .unwrap();
    t.append_event(
        &actor(0, 0),
        2,
        EventKind::Assigned {
            crew: "A".into(),
            reason: "start".into(),
        },
    )
    .unwrap();
    t
}

/// Applies one operation. Every change a replica makes must pass the server's check
/// against the replica's own state before it (an honest device is never refused).
fn apply(docs: &mut [TaskDoc], op: &Op, step: i64) {
    let n = docs.len();
    match op {
        Op::Append {
            replica,
            kind,
            fitting,
            who,
        } => {
            let r = replica % n;
            let who = if *fitting {
                fitting_actor(kind, *who)
            } else {
                *who
            };
            let a = actor(who, r);
            let before = docs[r].clone();
            let at = step * MINUTE + r as i64;
            if docs[r].append_event(&a, at, event_kind(kind)).is_ok() {
                validate_update(Some(&before), &docs[r], &a)
                    .unwrap_or_else(|e| panic!("honest {kind:?} by {a:?} refused: {e}"));
            }
        }
        Op::Note { replica, who } => {
            let r = replica % n;
            let a = actor(*who, r);
            let before = docs[r].clone();
            docs[r]
                .add_note(&a, step * MINUTE, &format!("note at step {step}"))
                .unwrap();
            // The server takes it only from a role the table allows (a real phone of
            // another role never sends one; replicas still converge on what they hold).
            let judged = validate_update(Some(&before), &docs[r], &a);
            assert_eq!(
                judged.is_ok(),
                may_write(What::Note, a.role).is_ok(),
                "{judged:?}"
            );
        }
        Op::Photo {
            replica,
            who,
            photo,
        } => {
            let r = replica % n;
            let a = actor(*who, r);
            let p = PhotoRef {
                hash: hash(*photo),
                kind: photo_kind(*photo),
                taken_at: Some(step * MINUTE),
                taken_point: None,
                author: a.user.clone(),
                device: a.device.to_string(),
                bytes: 2048,
                mime: "image/webp".into(),
                added_at: step * MINUTE,
            };
            let before = docs[r].clone();
            docs[r].add_photo(&a, p).unwrap();
            let judged = validate_update(Some(&before), &docs[r], &a);
            assert_eq!(
                judged.is_ok(),
                may_write(What::Photo, a.role).is_ok(),
                "{judged:?}"
            );
        }
        Op::Sync { from, to } => {
            let (from, to) = (from % n, to % n);
            if from != to {
                let mut src = docs[from].clone();
                docs[to].merge(&mut src).unwrap();
            }
        }
    }
}

fn is_dispatch(k: &EventKind) -> bool {
    matches!(
        k,
        EventKind::Routed { .. }
            | EventKind::Assigned { .. }
            | EventKind::Cancelled { .. }
            | EventKind::MarkedDuplicate { .. }
            | EventKind::Reprioritized { .. }
            | EventKind::Verified
            | EventKind::Escalated { .. }
    )
}

/// Rule 6 and friends, checked on a converged view.
fn check_invariants(v: &TaskView) {
    let d = &v.derived;
    let events: Vec<Event> = v.timeline.iter().map(|t| t.event.clone()).collect();

    if matches!(d.status, Status::Completed | Status::Verified) {
        let id = d
            .completion
            .as_ref()
            .expect("a completed task has a completion");
        let entry = v.timeline.iter().find(|t| &t.event.id == id).unwrap();
        assert_eq!(entry.outcome, Outcome::Applied);
        let EventKind::Completed { photos } = &entry.event.kind else {
            panic!("the completion {id} is a {}", entry.event.kind.name());
        };
        assert!(
            photos.iter().any(|h| v
                .photos
                .iter()
                .any(|p| &p.hash == h && p.kind == PhotoKind::After)),
            "completion {id} has no after photo in the task"
        );
    } else {
        assert_eq!(d.completion, None);
    }

    for (k, t) in v.timeline.iter().enumerate() {
        let role = t.event.actor.role;
        let applied = t.outcome == Outcome::Applied;
        if applied && is_dispatch(&t.event.kind) {
            assert!(
                matches!(role, Role::Dispatcher | Role::Server),
                "{} applied for a {role:?}",
                t.event.kind.name()
            );
        }
        if applied
            && matches!(
                t.event.kind,
                EventKind::Rated { .. } | EventKind::Reopened { .. }
            )
        {
            assert_eq!(
                role,
                Role::Citizen,
                "{} applied for {role:?}",
                t.event.kind.name()
            );
        }
        if t.outcome != Outcome::Applied && !matches!(t.outcome, Outcome::Superseded { .. }) {
            assert!(matches!(t.event.kind, EventKind::Completed { .. }));
            assert!(d.extra_visits.contains(&t.event.id));
        }
        if matches!(
            t.event.kind,
            EventKind::Started | EventKind::Acknowledged | EventKind::Paused { .. }
        ) && applied
        {
            // Re-derive the state just before this event: the timeline is a topological
            // order, so its prefix is a closed history that folds the same way.
            let (before, prefix) = fold(
                &events[..k],
                &v.photos,
                Priority::Normal,
                None,
                v.reopen_window_ms,
            );
            assert_eq!(prefix.as_slice(), &v.timeline[..k]);
            assert_eq!(role, Role::Crew);
            assert_eq!(
                before.assignee,
                t.event.actor.crew,
                "{} applied for a crew that did not hold the task",
                t.event.kind.name()
            );
        }
    }

    // The fold depends on the set of events only.
    let mut shuffled = events.clone();
    shuffled.reverse();
    shuffled.rotate_left(events.len() / 3);
    let (d2, t2) = fold(
        &shuffled,
        &v.photos,
        Priority::Normal,
        None,
        v.reopen_window_ms,
    );
    assert_eq!(&d2, d);
    assert_eq!(t2, v.timeline);
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge(
        n in 3usize..=4,
        ops in proptest::collection::vec(op_strategy(), 10..60),
    ) {
        let mut base = base_task();
        let bytes = base.save();
        let mut docs: Vec<TaskDoc> = (0..n).map(|_| TaskDoc::load(&bytes).unwrap()).collect();
        for (step, op) in ops.iter().enumerate() {
            apply(&mut docs, op, 10 + step as i64);
        }
        // Every replica reads its own state fine mid-way.
        for d in &docs {
            d.view().unwrap();
        }

        // Full sync: everything into replica 0, then replica 0 into the others.
        let (first, rest) = docs.split_at_mut(1);
        for d in rest.iter_mut() {
            first[0].merge(d).unwrap();
        }
        for d in rest.iter_mut() {
            d.merge(&mut first[0]).unwrap();
        }

        let heads0 = docs[0].heads();
        let view0 = docs[0].view().unwrap();
        let bytes0 = docs[0].save_canonical();
        for d in docs.iter_mut().skip(1) {
            prop_assert_eq!(d.heads(), heads0.clone());
            prop_assert_eq!(d.view().unwrap(), view0.clone());
            prop_assert_eq!(d.save_canonical(), bytes0.clone());
        }
        // The canonical bytes load back to the same task.
        prop_assert_eq!(TaskDoc::load(&bytes0).unwrap().view().unwrap(), view0.clone());
        check_invariants(&view0);
    }
}
