//! The fold: a pure function from the SET of events (and photos) of a task to its derived
//! state and timeline (design §2, rules 1–7).
//!
//! Determinism is the whole point: every replica holding the same events must derive the
//! same status, whatever order automerge delivered them in. So nothing here looks at
//! automerge, wall clocks or input order:
//!
//! - **Total order.** Events form a DAG through `parents`. Each event's *depth* is
//!   1 + the maximum depth of its parents that are present (missing parents are ignored).
//!   Events are folded by `(depth, id)`; a child is always deeper than its parents, so this
//!   is a topological order that depends only on the set. Events whose parents form a cycle
//!   (only a forged document can have one) come last, by id, and are superseded.
//! - **Two views.** Each event is judged in two states: its *author's view* (the fold of
//!   its ancestors only: what the author had seen when making it) and the *current* state
//!   (the fold of everything before it in the total order). An ordinary event must be valid
//!   in both. A completion is judged by the author's view (rule 1: field work made by the
//!   crew holding the task stands), and the current state only decides whether it becomes
//!   the task's completion, an extra visit (rule 2) or is superseded.
//! - **Superseded events** stay in the timeline with a plain reason (rule 7).
//!
//! Cost: linear histories (the common case) fold in O(n); concurrent branches make an
//! event's author view a fold of its ancestors, so the worst case is O(n²) evaluations,
//! which is fine for the few hundred events a task can have.

use super::model::*;
use crate::ids::{Millis, Role};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Folds the event log into the derived state and the timeline.
///
/// `events` may be in any order; duplicates of one id (only possible when a caller builds
/// the slice by hand) are reduced to one deterministically. `photos` are the task's photos
/// (a completion needs one of its hashes to be an after photo among them). The defaults are
/// the document's `priority` and `district` fields, which `reprioritized` and `routed`
/// events override. `reopen_window_ms` bounds how long after the completion event's `at` a
/// citizen may rate or reopen.
pub fn fold(
    events: &[Event],
    photos: &[PhotoRef],
    default_priority: Priority,
    default_district: Option<&str>,
    reopen_window_ms: crate::Millis,
) -> (Derived, Vec<TimelineEntry>) {
    fold_with_receipts(
        events,
        photos,
        default_priority,
        default_district,
        reopen_window_ms,
        &BTreeMap::new(),
    )
}

/// [`fold`], with the server's receipts (event id → [`Receipt`]): an event with a receipt
/// counts at its `vouched_at` for the derived times (acknowledged, started, completed) and
/// the citizen's window, and its timeline entry carries the receipt.
pub fn fold_with_receipts(
    events: &[Event],
    photos: &[PhotoRef],
    default_priority: Priority,
    default_district: Option<&str>,
    reopen_window_ms: crate::Millis,
    receipts: &BTreeMap<String, Receipt>,
) -> (Derived, Vec<TimelineEntry>) {
    let a = analyse(
        events,
        photos,
        default_priority,
        default_district,
        reopen_window_ms,
        receipts,
    );
    (a.derived, a.timeline)
}

/// The fold's full result, including what `validate` needs.
pub(crate) struct Analysis {
    /// The derived state.
    pub derived: Derived,
    /// Events in fold order with their outcomes.
    pub timeline: Vec<TimelineEntry>,
    /// Each event's outcome judged in its author's view alone (its ancestors folded, then
    /// the event), by event id. This is what the event's author could legitimately do.
    pub author_outcomes: HashMap<String, Outcome>,
}

/// The part of the derived state the rules read. Cloned for every author view, so the
/// growing lists (conflicts, extra visits) live outside it.
#[derive(Debug, Clone)]
struct State {
    created: bool,
    status: Status,
    assignee: Option<String>,
    /// The event that made the current assignment (for conflict reports).
    assigned_by: Option<String>,
    /// The cancel/duplicate event that closed the task (for conflict reports).
    closed_by: Option<String>,
    district: Option<String>,
    priority: Priority,
    completion: Option<String>,
    completed_at: Option<Millis>,
    acknowledged_at: Option<Millis>,
    started_at: Option<Millis>,
    rating: Option<u8>,
    reopen_count: u32,
    rejections: u32,
    escalated: bool,
}

/// What the fold made of one event in one state.
struct Verdict {
    outcome: Outcome,
    conflict: Option<Conflict>,
}

impl Verdict {
    fn applied() -> Verdict {
        Verdict {
            outcome: Outcome::Applied,
            conflict: None,
        }
    }
    fn superseded(reason: impl Into<String>) -> Verdict {
        Verdict {
            outcome: Outcome::Superseded {
                reason: reason.into(),
            },
            conflict: None,
        }
    }
}

/// Read-only context shared by every evaluation.
struct Ctx<'a> {
    photos: HashMap<&'a str, PhotoKind>,
    window: Millis,
    receipts: &'a BTreeMap<String, Receipt>,
    /// Position in the total order of each event id.
    pos: HashMap<&'a str, usize>,
    /// For each position, the set of positions of its ancestors.
    anc: Vec<BitSet>,
}

impl Ctx<'_> {
    /// The time an event counts at: the server's vouched time if it holds a receipt.
    fn at(&self, e: &Event) -> Millis {
        self.receipts.get(&e.id).map_or(e.at, |r| r.vouched_at)
    }

    fn is_ancestor(&self, ancestor_id: &str, of_pos: usize) -> bool {
        match (self.pos.get(ancestor_id), self.anc.get(of_pos)) {
            (Some(&p), Some(set)) => set.contains(p),
            _ => false,
        }
    }
}

/// A small fixed-size bit set over event positions.
#[derive(Debug, Clone)]
struct BitSet(Vec<u64>);

impl BitSet {
    fn new(n: usize) -> BitSet {
        BitSet(vec![0; n.div_ceil(64)])
    }
    fn insert(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
    fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    fn union_with(&mut self, other: &BitSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
    fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(wi, &w)| {
            (0..64)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| wi * 64 + b)
        })
    }
}

/// The full fold; see the module docs.
pub(crate) fn analyse(
    events: &[Event],
    photos: &[PhotoRef],
    default_priority: Priority,
    default_district: Option<&str>,
    reopen_window_ms: Millis,
    receipts: &BTreeMap<String, Receipt>,
) -> Analysis {
    let evs = dedupe(events);
    let (order, cyclic_from) = total_order(&evs);

    let pos: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(k, &i)| (evs[i].id.as_str(), k))
        .collect();

    // Ancestor sets, in order: parents come before children, so each parent's set is ready.
    let n = order.len();
    let mut anc: Vec<BitSet> = Vec::with_capacity(n);
    for (k, &i) in order.iter().enumerate() {
        let mut set = BitSet::new(n);
        if k < cyclic_from {
            for p in &evs[i].parents {
                if let Some(&pp) = pos.get(p.as_str())
                    && pp < k
                {
                    set.insert(pp);
                    set.union_with(&anc[pp]);
                }
            }
        }
        anc.push(set);
    }

    let ctx = Ctx {
        photos: photos.iter().map(|p| (p.hash.as_str(), p.kind)).collect(),
        window: reopen_window_ms,
        receipts,
        pos,
        anc,
    };
    let initial = State {
        created: false,
        status: Status::New,
        assignee: None,
        assigned_by: None,
        closed_by: None,
        district: default_district.map(str::to_owned),
        priority: default_priority,
        completion: None,
        completed_at: None,
        acknowledged_at: None,
        started_at: None,
        rating: None,
        reopen_count: 0,
        rejections: 0,
        escalated: false,
    };

    let mut cur = initial.clone();
    let mut conflicts = Vec::new();
    let mut extra_visits = Vec::new();
    let mut timeline = Vec::with_capacity(n);
    let mut author_outcomes = HashMap::with_capacity(n);
    // The author's view of each event, by position (memoised: the fold of an event's
    // ancestors needs the author views of those ancestors).
    let mut author_views: Vec<State> = Vec::with_capacity(n);

    for (k, &i) in order.iter().enumerate() {
        let e = evs[i];
        if k >= cyclic_from {
            let outcome = Outcome::Superseded {
                reason: "its parents form a cycle, so it has no place in the history".into(),
            };
            author_views.push(initial.clone());
            author_outcomes.insert(e.id.clone(), outcome.clone());
            timeline.push(TimelineEntry {
                event: e.clone(),
                outcome,
                receipt: receipts.get(&e.id).copied(),
            });
            continue;
        }
        let view = if ctx.anc[k].len() == k {
            // Its ancestors are exactly the events before it: the author saw the
            // current state.
            cur.clone()
        } else {
            let mut s = initial.clone();
            for j in ctx.anc[k].iter() {
                evaluate(evs[order[j]], j, &author_views[j], &mut s, &ctx);
            }
            s
        };
        author_views.push(view);
        let view = &author_views[k];

        let mut alone = view.clone();
        let in_view = evaluate(e, k, view, &mut alone, &ctx);
        author_outcomes.insert(e.id.clone(), in_view.outcome);

        let v = evaluate(e, k, view, &mut cur, &ctx);
        if let Some(c) = v.conflict {
            conflicts.push(c);
        }
        if v.outcome == Outcome::ExtraVisit {
            extra_visits.push(e.id.clone());
        }
        timeline.push(TimelineEntry {
            event: e.clone(),
            outcome: v.outcome,
            receipt: receipts.get(&e.id).copied(),
        });
    }

    let derived = Derived {
        status: cur.status,
        assignee: cur.assignee,
        district: cur.district,
        priority: cur.priority,
        completion: cur.completion,
        extra_visits,
        conflicts,
        acknowledged_at: cur.acknowledged_at,
        started_at: cur.started_at,
        completed_at: cur.completed_at,
        rating: cur.rating,
        reopen_count: cur.reopen_count,
        rejections: cur.rejections,
        escalated: cur.escalated,
    };
    Analysis {
        derived,
        timeline,
        author_outcomes,
    }
}

/// One event per id, sorted by id. Two different events under one id cannot come out of
/// a document (ids are map keys); for hand-built slices keep the one whose canonical
/// encoding sorts first, so the choice does not depend on input order.
fn dedupe(events: &[Event]) -> Vec<&Event> {
    let mut by_id: HashMap<&str, &Event> = HashMap::with_capacity(events.len());
    for e in events {
        match by_id.get(e.id.as_str()) {
            Some(old) if canonical(old) <= canonical(e) => {}
            _ => {
                by_id.insert(e.id.as_str(), e);
            }
        }
    }
    let mut v: Vec<&Event> = by_id.into_values().collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

fn canonical(e: &Event) -> Vec<u8> {
    // postcard cannot fail on these plain types; an empty key would merely make the
    // choice fall back to the first seen.
    postcard::to_allocvec(e).unwrap_or_default()
}

/// The total order: indices into `evs` sorted by (depth, id), then the events stuck on a
/// cycle sorted by id. Returns the order and the position where the cyclic tail starts.
fn total_order(evs: &[&Event]) -> (Vec<usize>, usize) {
    let n = evs.len();
    let index: HashMap<&str, usize> = evs
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.as_str(), i))
        .collect();
    // Present parents, deduplicated (a parent listed twice is one edge).
    let parents: Vec<Vec<usize>> = evs
        .iter()
        .map(|e| {
            let mut ps: Vec<usize> = e
                .parents
                .iter()
                .filter_map(|p| index.get(p.as_str()).copied())
                .collect();
            ps.sort_unstable();
            ps.dedup();
            ps
        })
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut missing: Vec<usize> = vec![0; n];
    for (i, ps) in parents.iter().enumerate() {
        missing[i] = ps.len();
        for &p in ps {
            children[p].push(i);
        }
    }
    // Kahn's algorithm, only to compute depths: an event's depth is known once all its
    // present parents' depths are.
    let mut depth: Vec<Option<u64>> = vec![None; n];
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
    while let Some(i) = ready.pop_front() {
        let d = 1 + parents[i]
            .iter()
            .filter_map(|&p| depth[p])
            .max()
            .unwrap_or(0);
        depth[i] = Some(d);
        for &c in &children[i] {
            missing[c] -= 1;
            if missing[c] == 0 {
                ready.push_back(c);
            }
        }
    }
    let mut acyclic: Vec<(u64, usize)> = Vec::with_capacity(n);
    let mut cyclic: Vec<usize> = Vec::new();
    for (i, d) in depth.iter().enumerate() {
        match d {
            Some(d) => acyclic.push((*d, i)),
            None => cyclic.push(i),
        }
    }
    acyclic.sort_by(|a, b| (a.0, &evs[a.1].id).cmp(&(b.0, &evs[b.1].id)));
    cyclic.sort_by(|&a, &b| evs[a].id.cmp(&evs[b].id));
    let cyclic_from = acyclic.len();
    let mut order: Vec<usize> = acyclic.into_iter().map(|(_, i)| i).collect();
    order.extend(cyclic);
    (order, cyclic_from)
}

/// Judges event `e` (at position `k`) given its author's view, and applies it to `cur`
/// if it stands.
fn evaluate(e: &Event, k: usize, view: &State, cur: &mut State, ctx: &Ctx<'_>) -> Verdict {
    if let Err(why) = role_allows(&e.kind, e.actor.role) {
        return Verdict::superseded(why);
    }
    match &e.kind {
        EventKind::Completed { photos } => evaluate_completion(e, photos, k, view, cur, ctx),
        EventKind::Cancelled { .. } | EventKind::MarkedDuplicate { .. } => {
            if let Err(why) = check(e, view, ctx) {
                return Verdict::superseded(format!("{why} (when it was made)"));
            }
            if matches!(cur.status, Status::Completed | Status::Verified) {
                // The author had not seen this completion (else the check above fails):
                // rule 3, a cancellation does not win over a completion.
                let completion = cur.completion.clone().unwrap_or_default();
                return Verdict {
                    outcome: Outcome::Superseded {
                        reason: "a concurrent completion stands; field work is not cancelled"
                            .into(),
                    },
                    conflict: Some(Conflict {
                        kind: "cancel_lost_to_completion".into(),
                        events: vec![e.id.clone(), completion],
                        message: format!(
                            "{} by {} crossed a completion made at the same time; the completion stands",
                            e.kind.name(),
                            e.actor.user
                        ),
                    }),
                };
            }
            if let Err(why) = check(e, cur, ctx) {
                return Verdict::superseded(why);
            }
            apply(e, cur, ctx);
            Verdict::applied()
        }
        _ => {
            // The current state first: its reason is the one worth showing when a
            // concurrent edit got in the way; the author's view catches forgeries.
            if let Err(why) = check(e, cur, ctx) {
                return Verdict::superseded(why);
            }
            if let Err(why) = check(e, view, ctx) {
                return Verdict::superseded(format!("{why} (when it was made)"));
            }
            apply(e, cur, ctx);
            Verdict::applied()
        }
    }
}

/// Rules 1, 2 and 6 for `completed`.
fn evaluate_completion(
    e: &Event,
    photos: &[String],
    k: usize,
    view: &State,
    cur: &mut State,
    ctx: &Ctx<'_>,
) -> Verdict {
    if !photos
        .iter()
        .any(|h| ctx.photos.get(h.as_str()) == Some(&PhotoKind::After))
    {
        return Verdict::superseded("a completion needs at least one after photo of this task");
    }
    let crew = match &e.actor.crew {
        Some(c) => c,
        None => return Verdict::superseded("the actor belongs to no crew"),
    };
    if !view.created {
        return Verdict::superseded("the task had not been created when this was made");
    }
    if view.assignee.as_ref() != Some(crew) {
        return Verdict::superseded(format!(
            "the task was not assigned to crew {crew} when this completion was made"
        ));
    }
    if view.status.is_closed() {
        return Verdict::superseded(format!(
            "the task was already {} when this completion was made",
            status_words(view.status)
        ));
    }
    match cur.status {
        Status::Completed | Status::Verified => {
            let other = cur.completion.clone().unwrap_or_default();
            if ctx.is_ancestor(&other, k) {
                Verdict::superseded("the task had already been completed")
            } else {
                // Rule 2: two concurrent completions; this one is kept as an extra visit.
                Verdict {
                    outcome: Outcome::ExtraVisit,
                    conflict: None,
                }
            }
        }
        Status::Cancelled | Status::Duplicate => {
            // Rules 1 and 3: the crew did the work before it heard of the cancellation.
            let closer = cur.closed_by.clone().unwrap_or_default();
            let was = status_words(cur.status);
            apply(e, cur, ctx);
            Verdict {
                outcome: Outcome::Applied,
                conflict: Some(Conflict {
                    kind: "completed_while_cancelled".into(),
                    events: vec![e.id.clone(), closer],
                    message: format!(
                        "crew {crew} completed the task offline while it was {was}; the completion stands"
                    ),
                }),
            }
        }
        _ => {
            let conflict = if cur.assignee.as_ref() != Some(crew) {
                Some(Conflict {
                    kind: "completed_while_reassigned".into(),
                    events: vec![e.id.clone(), cur.assigned_by.clone().unwrap_or_default()],
                    message: format!(
                        "crew {crew} completed the task offline while it was reassigned to {}; the completion stands",
                        cur.assignee.as_deref().unwrap_or("nobody")
                    ),
                })
            } else {
                None
            };
            apply(e, cur, ctx);
            Verdict {
                outcome: Outcome::Applied,
                conflict,
            }
        }
    }
}

/// Which roles may make which events (rule 6), independent of state.
pub(crate) fn role_allows(kind: &EventKind, role: Role) -> Result<(), String> {
    use EventKind as K;
    // The table decides; the words below say it for the timeline.
    let ok = super::roles::may_append(kind, role).is_ok();
    if ok {
        return Ok(());
    }
    Err(match kind {
        K::Created => {
            "only a crew, a call-centre operator, a dispatcher or the server may create a task"
                .into()
        }
        K::Acknowledged | K::Started | K::Paused { .. } | K::Completed { .. } => {
            format!("only a crew may {}", verb(kind))
        }
        K::Reopened { .. } | K::Rated { .. } => {
            format!("only the citizen may {}", verb(kind))
        }
        K::Rejected { .. } => format!("only a dispatcher may {}", verb(kind)),
        _ => format!("only a dispatcher or the server may {}", verb(kind)),
    })
}

/// The event as a verb phrase for reasons.
fn verb(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Created => "create a task",
        EventKind::Routed { .. } => "route a task",
        EventKind::Assigned { .. } => "assign a task",
        EventKind::Acknowledged => "acknowledge a job",
        EventKind::Started => "start work",
        EventKind::Paused { .. } => "pause work",
        EventKind::Completed { .. } => "complete a job",
        EventKind::Verified => "verify a completion",
        EventKind::Rejected { .. } => "reject a completion",
        EventKind::Reopened { .. } => "reopen a task",
        EventKind::Cancelled { .. } => "cancel a task",
        EventKind::MarkedDuplicate { .. } => "mark a task as a duplicate",
        EventKind::Rated { .. } => "rate a fix",
        EventKind::Reprioritized { .. } => "change a task's priority",
        EventKind::Escalated { .. } => "escalate a task",
    }
}

fn status_words(s: Status) -> &'static str {
    match s {
        Status::New => "new",
        Status::Queued => "queued",
        Status::Assigned => "assigned",
        Status::Acknowledged => "acknowledged",
        Status::InProgress => "in progress",
        Status::Paused => "paused",
        Status::Completed => "completed",
        Status::Verified => "verified",
        Status::Reopened => "reopened",
        Status::Cancelled => "cancelled",
        Status::Duplicate => "closed as a duplicate",
    }
}

/// Is `e` valid in state `s`? (Everything but the role, which `role_allows` checks, and
/// completions, which `evaluate_completion` judges.)
fn check(e: &Event, s: &State, ctx: &Ctx<'_>) -> Result<(), String> {
    use EventKind as K;
    if let K::Created = e.kind {
        if !e.parents.is_empty() {
            return Err("a task is created by its first event only".into());
        }
        if s.created {
            return Err("the task was already created".into());
        }
        return Ok(());
    }
    if !s.created {
        return Err("the task has not been created yet".into());
    }
    let st = s.status;
    let closed = || -> Result<(), String> {
        if st.is_closed() {
            Err(format!(
                "the task is {}, so no one can {} now",
                status_words(st),
                verb(&e.kind)
            ))
        } else {
            Ok(())
        }
    };
    let from = |allowed: &[Status]| -> Result<(), String> {
        if allowed.contains(&st) {
            Ok(())
        } else {
            Err(format!(
                "cannot {} while the task is {}",
                verb(&e.kind),
                status_words(st)
            ))
        }
    };
    let holder = || -> Result<(), String> {
        match (&e.actor.crew, &s.assignee) {
            (None, _) => Err("the actor belongs to no crew".into()),
            (Some(c), Some(a)) if c == a => Ok(()),
            (Some(c), Some(a)) => Err(format!("the task is assigned to crew {a}, not to crew {c}")),
            (Some(c), None) => Err(format!(
                "the task is not assigned to any crew, so crew {c} cannot {}",
                verb(&e.kind)
            )),
        }
    };
    let window = || -> Result<(), String> {
        match s.completed_at {
            Some(done) if ctx.at(e).saturating_sub(done) > ctx.window => Err(format!(
                "the window to {} closed {} ms after the completion",
                verb(&e.kind),
                ctx.window
            )),
            _ => Ok(()),
        }
    };
    match &e.kind {
        K::Created => Ok(()),
        K::Routed { .. }
        | K::Assigned { .. }
        | K::Cancelled { .. }
        | K::MarkedDuplicate { .. }
        | K::Reprioritized { .. }
        | K::Escalated { .. } => closed(),
        K::Acknowledged => {
            holder()?;
            from(&[Status::Assigned, Status::Reopened])
        }
        K::Started => {
            holder()?;
            from(&[
                Status::Assigned,
                Status::Acknowledged,
                Status::Paused,
                Status::Reopened,
            ])
        }
        K::Paused { .. } => {
            holder()?;
            from(&[Status::InProgress])
        }
        // Judged by `evaluate_completion`; kept here so `check` is total.
        K::Completed { .. } => {
            holder()?;
            closed()
        }
        K::Verified | K::Rejected { .. } => from(&[Status::Completed]),
        K::Reopened { .. } => {
            from(&[Status::Completed, Status::Verified])?;
            window()
        }
        K::Rated { stars, .. } => {
            if !(1..=5).contains(stars) {
                return Err(format!("a rating is 1 to 5 stars, not {stars}"));
            }
            from(&[Status::Completed, Status::Verified])?;
            window()?;
            if s.rating.is_some() {
                return Err("the task was already rated".into());
            }
            Ok(())
        }
    }
}

/// Applies an event judged valid.
fn apply(e: &Event, s: &mut State, ctx: &Ctx<'_>) {
    use EventKind as K;
    match &e.kind {
        K::Created => {
            s.created = true;
            s.status = if s.district.is_some() {
                Status::Queued
            } else {
                Status::New
            };
        }
        K::Routed { district } => {
            s.district = Some(district.clone());
            if s.status == Status::New {
                s.status = Status::Queued;
            }
        }
        K::Assigned { crew, .. } => {
            let same_crew = s.assignee.as_ref() == Some(crew);
            let working = matches!(
                s.status,
                Status::Assigned | Status::Acknowledged | Status::InProgress | Status::Paused
            );
            // Re-assigning the crew that already works on it does not set it back.
            if !(same_crew && working) {
                s.status = Status::Assigned;
            }
            s.assignee = Some(crew.clone());
            s.assigned_by = Some(e.id.clone());
        }
        K::Acknowledged => {
            s.status = Status::Acknowledged;
            s.acknowledged_at.get_or_insert(ctx.at(e));
        }
        K::Started => {
            s.status = Status::InProgress;
            s.started_at.get_or_insert(ctx.at(e));
        }
        K::Paused { .. } => s.status = Status::Paused,
        K::Completed { .. } => {
            s.status = Status::Completed;
            s.completion = Some(e.id.clone());
            s.completed_at = Some(ctx.at(e));
        }
        K::Verified => s.status = Status::Verified,
        K::Rejected { .. } => {
            // The assignee stays: the same crew goes back, and its completion no longer
            // counts (nor opens the citizen's feedback window).
            s.status = Status::Reopened;
            s.completion = None;
            s.completed_at = None;
            s.rejections = s.rejections.saturating_add(1);
        }
        K::Reopened { .. } => {
            // The assignee stays: the same crew goes back.
            s.status = Status::Reopened;
            s.completion = None;
            s.completed_at = None;
            s.reopen_count = s.reopen_count.saturating_add(1);
        }
        K::Cancelled { .. } => {
            s.status = Status::Cancelled;
            s.closed_by = Some(e.id.clone());
        }
        K::MarkedDuplicate { .. } => {
            s.status = Status::Duplicate;
            s.closed_by = Some(e.id.clone());
        }
        K::Rated { stars, .. } => s.rating = Some(*stars),
        K::Reprioritized { priority, .. } => s.priority = *priority,
        K::Escalated { .. } => s.escalated = true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Actor, DeviceId};

    fn actor(role: Role, crew: Option<&str>) -> Actor {
        Actor {
            user: format!("{role:?}").to_lowercase(),
            role,
            crew: crew.map(str::to_owned),
            device: DeviceId::new("dev").unwrap_or_else(|_| unreachable!()),
        }
    }

    fn ev(id: &str, parents: &[&str], actor: Actor, kind: EventKind) -> Event {
        Event {
            id: id.into(),
            kind,
            actor,
            at: 1_000,
            parents: parents.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn after_photo(hash: &str) -> PhotoRef {
        PhotoRef {
            hash: hash.into(),
            kind: PhotoKind::After,
            taken_at: None,
            taken_point: None,
            author: "u".into(),
            device: "dev".into(),
            bytes: 1,
            mime: "image/jpeg".into(),
            added_at: 0,
        }
    }

    #[test]
    fn order_is_independent_of_input_order() {
        let d = actor(Role::Dispatcher, None);
        let c = actor(Role::Crew, Some("A"));
        let evs = vec![
            ev("a", &[], d.clone(), EventKind::Created),
            ev(
                "b",
                &["a"],
                d.clone(),
                EventKind::Assigned {
                    crew: "A".into(),
                    reason: String::new(),
                },
            ),
            ev("c", &["b"], c.clone(), EventKind::Started),
            ev(
                "d",
                &["b"],
                d,
                EventKind::Cancelled {
                    reason: "dup".into(),
                },
            ),
        ];
        let mut rev = evs.clone();
        rev.reverse();
        let x = fold(&evs, &[], Priority::Normal, None, 10);
        let y = fold(&rev, &[], Priority::Normal, None, 10);
        assert_eq!(x, y);
        assert_eq!(x.0.status, Status::Cancelled);
    }

    #[test]
    fn cycles_are_superseded_not_looped() {
        let d = actor(Role::Dispatcher, None);
        let evs = vec![
            ev("a", &[], d.clone(), EventKind::Created),
            ev("x", &["y"], d.clone(), EventKind::Verified),
            ev("y", &["x"], d, EventKind::Verified),
        ];
        let (derived, timeline) = fold(&evs, &[], Priority::Normal, None, 10);
        assert_eq!(derived.status, Status::New);
        assert_eq!(timeline.len(), 3);
        assert!(matches!(timeline[1].outcome, Outcome::Superseded { .. }));
        assert!(matches!(timeline[2].outcome, Outcome::Superseded { .. }));
    }

    #[test]
    fn completion_judged_in_authors_view() {
        let d = actor(Role::Dispatcher, None);
        let a = actor(Role::Crew, Some("A"));
        let h = "ab".repeat(32);
        let evs = vec![
            ev("1", &[], d.clone(), EventKind::Created),
            ev(
                "2",
                &["1"],
                d.clone(),
                EventKind::Assigned {
                    crew: "A".into(),
                    reason: String::new(),
                },
            ),
            ev(
                "3",
                &["2"],
                d,
                EventKind::Assigned {
                    crew: "B".into(),
                    reason: String::new(),
                },
            ),
            ev(
                "4",
                &["2"],
                a,
                EventKind::Completed {
                    photos: vec![h.clone()],
                },
            ),
        ];
        let (derived, _) = fold(&evs, &[after_photo(&h)], Priority::Normal, None, 10);
        assert_eq!(derived.status, Status::Completed);
        assert_eq!(derived.completion.as_deref(), Some("4"));
        assert_eq!(derived.conflicts.len(), 1);
        assert_eq!(derived.conflicts[0].kind, "completed_while_reassigned");
        assert_eq!(derived.conflicts[0].events, vec!["4", "3"]);
    }
}
