//! [`TaskDoc::create_with_events`] — the server's creation of a task with its first events
//! in one automerge change, its view folded from what it wrote — against the path it
//! replaces: [`TaskDoc::create`], then [`TaskDoc::append_event`] per event (one commit
//! each, the document parsed back each time). The two documents must read the same (view,
//! fold), be judged the same by the server's validation, and take later edits and merges
//! the same way. Event ids differ by construction (see `writes`' module docs), so views
//! are compared with each id replaced by its place in the timeline.
#![allow(clippy::unwrap_used)]

use sync_core::task::*;
use sync_core::{Actor, DeviceId, DocId, Role};

const T0: i64 = 1_000_000;
const HOUR: i64 = 3_600_000;

fn actor(user: &str, role: Role, crew: Option<&str>, device: &str) -> Actor {
    Actor {
        user: user.into(),
        role,
        crew: crew.map(str::to_owned),
        device: DeviceId::new(device).unwrap(),
    }
}
fn server() -> Actor {
    Actor::server(DeviceId::new("srv-a").unwrap())
}
fn call_centre() -> Actor {
    actor("op-1", Role::CallCentre, None, "console-op")
}
fn dispatcher() -> Actor {
    actor("disp-1", Role::Dispatcher, None, "console-d")
}
fn crew_a() -> Actor {
    actor("worker-a", Role::Crew, Some("A"), "phone-a")
}

fn new_task(source: Source, priority: Priority) -> NewTask {
    NewTask {
        id: DocId::new("T-00000000ABCD").unwrap(),
        source,
        category: "pothole".into(),
        title: "Pothole on Valiasr — چاله".into(),
        description: "Deep hole in the right lane".into(),
        point: GeoPoint {
            lat: 35.712_345_678_9,
            lon: 51.401_234_567_8,
            accuracy_m: None,
        },
        address: Some("Valiasr St 100".into()),
        district: None,
        priority,
        sla: Sla {
            ack_due: Some(T0 + HOUR),
            complete_due: Some(T0 + 24 * HOUR),
        },
        reopen_window_ms: 48 * HOUR,
    }
}

fn routed(at: i64) -> NewEvent {
    NewEvent {
        actor: server(),
        at,
        kind: EventKind::Routed {
            district: "D1".into(),
        },
    }
}
fn assigned(at: i64) -> NewEvent {
    NewEvent {
        actor: server(),
        at,
        kind: EventKind::Assigned {
            crew: "A".into(),
            reason: "auto: nearest on duty".into(),
        },
    }
}

/// The path `create_with_events` replaces.
fn old_path(new: NewTask, creator: &Actor, then: &[NewEvent]) -> Result<TaskDoc, TaskError> {
    let mut t = TaskDoc::create(new, creator, T0)?;
    for e in then {
        t.append_event(&e.actor, e.at, e.kind.clone())?;
    }
    Ok(t)
}

/// The view as text, each event id replaced by its place in the timeline.
fn normalized(view: &TaskView) -> String {
    let mut s = format!("{view:?}");
    for (i, t) in view.timeline.iter().enumerate() {
        s = s.replace(&t.event.id, &format!("event#{i}"));
    }
    s
}

fn codes(r: Result<(), Refusal>) -> Result<(), RefusalCode> {
    r.map_err(|r| r.code)
}

/// The creations the server makes: by the call centre, a dispatcher or itself (Open311),
/// routed, and assigned or not.
fn cases() -> Vec<(NewTask, Actor, Vec<NewEvent>)> {
    vec![
        (
            new_task(Source::CallCentre, Priority::Normal),
            call_centre(),
            vec![routed(T0)],
        ),
        (
            new_task(Source::Dispatcher, Priority::Urgent),
            dispatcher(),
            vec![routed(T0), assigned(T0)],
        ),
        (
            new_task(Source::Citizen, Priority::Normal),
            server(),
            vec![routed(T0)],
        ),
        (
            new_task(Source::Citizen, Priority::Urgent),
            server(),
            vec![routed(T0), assigned(T0 + 1)],
        ),
        (new_task(Source::Citizen, Priority::Low), server(), vec![]),
    ]
}

#[test]
fn one_change_reads_validates_and_merges_as_the_old_path() {
    for (new, creator, then) in cases() {
        let what = format!("{:?} by {:?} then {}", new.source, creator.role, then.len());
        let mut old = old_path(new.clone(), &creator, &then).unwrap();
        let (mut fast, view) = TaskDoc::create_with_events(new, &creator, T0, &then).unwrap();

        // The view folded from the model is the one the document parses to, here and
        // after a save and load (a phone or another replica reading it).
        assert_eq!(view, fast.view().unwrap(), "{what}");
        assert_eq!(
            view,
            TaskDoc::load(&fast.save()).unwrap().view().unwrap(),
            "{what}"
        );
        // And it reads as the old path's document.
        assert_eq!(
            normalized(&view),
            normalized(&old.view().unwrap()),
            "{what}"
        );
        assert_eq!(view.timeline.len(), 1 + then.len(), "{what}");
        assert!(
            view.timeline.iter().all(|t| t.outcome == Outcome::Applied),
            "{what}"
        );
        // One automerge change instead of one per event.
        assert_eq!(fast.automerge().get_changes(&[]).len(), 1, "{what}");
        assert_eq!(
            old.automerge().get_changes(&[]).len(),
            1 + then.len(),
            "{what}"
        );

        // The server's validation judges both the same, for every sender.
        for sender in [server(), creator.clone(), crew_a(), dispatcher()] {
            assert_eq!(
                codes(validate_update(None, &fast, &sender)),
                codes(validate_update(None, &old, &sender)),
                "{what}, sent by {:?}",
                sender.role
            );
        }
        if creator == server() {
            assert_eq!(
                codes(validate_update(None, &fast, &server())),
                Ok(()),
                "{what}"
            );
        }

        // A later edit on another replica is judged and merged the same way.
        let edit = |stored: &mut TaskDoc| {
            let mut phone = stored.fork();
            let mut console = stored.fork();
            let status = stored.view().unwrap().derived.status;
            let by = if status == Status::Assigned {
                phone
                    .append_event(&crew_a(), T0 + 10, EventKind::Acknowledged)
                    .unwrap();
                crew_a()
            } else {
                phone
                    .append_event(
                        &dispatcher(),
                        T0 + 10,
                        EventKind::Assigned {
                            crew: "A".into(),
                            reason: "by hand".into(),
                        },
                    )
                    .unwrap();
                dispatcher()
            };
            let judged = codes(validate_update(Some(stored), &phone, &by));
            // A concurrent escalation on another console (another device: events of
            // equal depth fold in id order, and ids start with the device), then
            // everything merged.
            console
                .append_event(
                    &actor("disp-2", Role::Dispatcher, None, "console-e"),
                    T0 + 11,
                    EventKind::Escalated {
                        reason: "called twice".into(),
                    },
                )
                .unwrap();
            stored.merge(&mut phone).unwrap();
            stored.merge(&mut console).unwrap();
            (judged, normalized(&stored.view().unwrap()))
        };
        let (fast_judged, fast_merged) = edit(&mut fast);
        let (old_judged, old_merged) = edit(&mut old);
        assert_eq!(fast_judged, Ok(()), "{what}");
        assert_eq!(fast_judged, old_judged, "{what}");
        assert_eq!(fast_merged, old_merged, "{what}");
    }
}

#[test]
fn event_ids_are_distinct_and_the_writers_own() {
    let (doc, view) = TaskDoc::create_with_events(
        new_task(Source::Citizen, Priority::Urgent),
        &server(),
        T0,
        &[routed(T0), assigned(T0)],
    )
    .unwrap();
    let ids: Vec<&str> = view.timeline.iter().map(|t| t.event.id.as_str()).collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );
    assert!(ids.iter().all(|id| id.starts_with("srv-a:")), "{ids:?}");
    // Each names the one before as its parent, as `append_event` would.
    assert!(view.timeline[0].event.parents.is_empty());
    assert_eq!(view.timeline[1].event.parents, vec![ids[0].to_owned()]);
    assert_eq!(view.timeline[2].event.parents, vec![ids[1].to_owned()]);
    assert_eq!(view.derived.status, Status::Assigned);
    assert_eq!(view.derived.district.as_deref(), Some("D1"));
    assert_eq!(doc.id().unwrap().as_str(), "T-00000000ABCD");
}

#[test]
fn refusals_are_the_old_paths() {
    let kind = |r: Result<TaskDoc, TaskError>| match r {
        Ok(_) => "ok".to_owned(),
        Err(TaskError::Transition { event, .. }) => format!("transition {event}"),
        Err(TaskError::Invalid(_)) => "invalid".to_owned(),
        Err(e) => format!("{e}"),
    };
    let bad: Vec<(NewTask, Actor, Vec<NewEvent>)> = vec![
        // A verification of a task nobody completed.
        (
            new_task(Source::Citizen, Priority::Normal),
            server(),
            vec![
                routed(T0),
                NewEvent {
                    actor: server(),
                    at: T0,
                    kind: EventKind::Verified,
                },
            ],
        ),
        // A district code with surrounding spaces.
        (
            new_task(Source::Citizen, Priority::Normal),
            server(),
            vec![NewEvent {
                actor: server(),
                at: T0,
                kind: EventKind::Routed {
                    district: " D1".into(),
                },
            }],
        ),
        // A crew filing work that is not field-found.
        (
            new_task(Source::Citizen, Priority::Normal),
            crew_a(),
            vec![],
        ),
        // A crew member without a crew.
        (
            new_task(Source::Citizen, Priority::Normal),
            server(),
            vec![NewEvent {
                actor: actor("w", Role::Crew, None, "phone-w"),
                at: T0,
                kind: EventKind::Started,
            }],
        ),
    ];
    for (i, (new, creator, then)) in bad.into_iter().enumerate() {
        let old = kind(old_path(new.clone(), &creator, &then));
        let fast = kind(TaskDoc::create_with_events(new, &creator, T0, &then).map(|(d, _)| d));
        assert_ne!(old, "ok", "case {i}");
        assert_eq!(fast, old, "case {i}");
    }
}
