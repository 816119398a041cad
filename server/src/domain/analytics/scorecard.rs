//! The scorecard: one score 0..100 per district, crew or contractor, from the measures
//! over the range, with a documented and configurable formula (`[analytics]` in the
//! config file, `TARMIM_SCORECARD_*` in the environment).
//!
//! Components, each 0..1 (null when the unit has no data for it):
//! - `sla` = completion SLA compliance (`sla_complete_pct` / 100);
//! - `reopen` = 1 − `reopen_rate`;
//! - `satisfaction` = (`rating_mean` − 1) / 4;
//! - `photo` = `photo_share` (completions with before and after photos);
//! - `ack` = min(1, target / `ack_p90_min`) (1 when p90 is 0).
//!
//! score = 100 × Σ wᵢ·cᵢ / Σ wᵢ over the components that are not null (so a unit is not
//! punished for a measure nobody could take, e.g. no ratings yet); null when none is.
//! A unit with fewer than `min_tasks` completions in the range is listed with its score
//! but not ranked (`rank` null, `insufficient` true) and not marked below the threshold;
//! the others are ranked by score (highest first; ties share the rank order by key).
//!
//! Beside the score (not in it), each line counts the citizens' **thanks** and
//! **complaints** filed in the range that name the unit: about a task of the unit (its
//! district, crew or contractor), or naming it in words (`about_unit` equal to the unit's
//! key or name, case aside); for districts also a message placed in or naming the
//! district. Messages are filtered like the facts (the caller's districts, a district,
//! region, category or priority, through the message's district, else its task's), so a
//! message with no district counts only for callers who see every district. A unit with
//! no line (no task in the range) shows none of its messages.

use super::measures::{self, MeasureRow};
use super::{AnalyticsConfig, AnalyticsError, By, Filter};
use crate::storage::Db;
use serde::Serialize;

/// One component's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Components {
    /// Completion SLA compliance, 0..1.
    pub sla: Option<f64>,
    /// 1 − reopen rate.
    pub reopen: Option<f64>,
    /// (mean rating − 1) / 4.
    pub satisfaction: Option<f64>,
    /// Before-and-after photo share.
    pub photo: Option<f64>,
    /// min(1, target / ack p90).
    pub ack: Option<f64>,
}

/// One unit's line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScoreRow {
    /// Unit key.
    pub key: String,
    /// Display name.
    pub label: String,
    /// 0..100, null with no data.
    pub score: Option<f64>,
    /// 1 = best; null when not ranked.
    pub rank: Option<u32>,
    /// Ranked and scoring under the threshold.
    pub below_threshold: bool,
    /// Too few completions to be ranked.
    pub insufficient: bool,
    /// The components.
    pub components: Components,
    /// Completions in the range.
    pub tasks: i64,
    /// Contractors only: confirmed penalties (and those under appeal) for facts in the
    /// range and the caller's districts, beside the measures; they do not enter the score.
    pub penalties: Option<i64>,
    /// Their amount (in the contractor's schedule's unit).
    pub penalty_amount: Option<i64>,
    /// Citizens' thanks naming the unit, filed in the range.
    pub thanks: i64,
    /// Citizens' complaints naming the unit, filed in the range.
    pub complaints: i64,
}

/// The formula as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Formula {
    /// Plain words.
    pub text: String,
    /// The weights in use.
    pub weights: serde_json::Value,
    /// Units scoring below are flagged.
    pub threshold: f64,
    /// Fewest completions to be ranked.
    pub min_tasks: u64,
    /// The ack p90 target, minutes.
    pub ack_target_minutes: f64,
}

/// The formula in force.
pub fn formula(cfg: &AnalyticsConfig) -> Formula {
    let w = cfg.weights;
    Formula {
        text: format!(
            "score = 100 × Σ wᵢ·cᵢ / Σ wᵢ over the components with data; components: \
             sla = completion SLA compliance, reopen = 1 − reopen rate, satisfaction = \
             (mean rating − 1) / 4, photo = share of completions with before and after \
             photos, ack = min(1, {} min / ack p90); units with fewer than {} completions \
             are not ranked",
            cfg.ack_target_minutes, cfg.min_tasks
        ),
        weights: serde_json::json!({
            "sla": w.sla, "reopen": w.reopen, "satisfaction": w.satisfaction,
            "photo": w.photo, "ack": w.ack,
        }),
        threshold: cfg.threshold,
        min_tasks: cfg.min_tasks,
        ack_target_minutes: cfg.ack_target_minutes,
    }
}

/// Components of one unit's measures.
pub fn components(m: &MeasureRow, cfg: &AnalyticsConfig) -> Components {
    Components {
        sla: m.sla_complete_pct.map(|p| p / 100.0),
        reopen: m.reopen_rate.map(|r| 1.0 - r),
        satisfaction: m.rating_mean.map(|r| (r - 1.0) / 4.0),
        photo: m.photo_share,
        ack: m.ack_p90_min.map(|p| {
            if p <= 0.0 {
                1.0
            } else {
                (cfg.ack_target_minutes / p).min(1.0)
            }
        }),
    }
}

/// The score of some components (null when none has data or all weights are 0).
pub fn score(c: &Components, cfg: &AnalyticsConfig) -> Option<f64> {
    let w = cfg.weights;
    let parts = [
        (c.sla, w.sla),
        (c.reopen, w.reopen),
        (c.satisfaction, w.satisfaction),
        (c.photo, w.photo),
        (c.ack, w.ack),
    ];
    let (sum, weights) = parts
        .iter()
        .filter_map(|(v, w)| v.map(|v| (v * w, *w)))
        .fold((0.0, 0.0), |(s, t), (v, w)| (s + v, t + w));
    (weights > 0.0).then(|| (100.0 * sum / weights * 100.0).round() / 100.0)
}

/// Ranks measured units.
pub fn rank(rows: Vec<MeasureRow>, cfg: &AnalyticsConfig) -> Vec<ScoreRow> {
    let mut out: Vec<ScoreRow> = rows
        .into_iter()
        .map(|m| {
            let c = components(&m, cfg);
            ScoreRow {
                score: score(&c, cfg),
                insufficient: u64::try_from(m.completed).unwrap_or(0) < cfg.min_tasks,
                key: m.key,
                label: m.label,
                rank: None,
                below_threshold: false,
                components: c,
                tasks: m.completed,
                penalties: None,
                penalty_amount: None,
                thanks: 0,
                complaints: 0,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let ranked = |r: &ScoreRow| !r.insufficient && r.score.is_some();
        ranked(b)
            .cmp(&ranked(a))
            .then(
                b.score
                    .unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&a.score.unwrap_or(f64::NEG_INFINITY)),
            )
            .then(a.key.cmp(&b.key))
    });
    let mut n = 0;
    for r in &mut out {
        if let (false, Some(s)) = (r.insufficient, r.score) {
            n += 1;
            r.rank = Some(n);
            r.below_threshold = s < cfg.threshold;
        }
    }
    out
}

/// `GET /api/v1/analytics/scorecard`.
pub async fn scorecard(
    db: &Db,
    engine: measures::Engine<'_>,
    f: &Filter,
    level: By,
    cfg: &AnalyticsConfig,
    now_ms: i64,
) -> Result<Vec<ScoreRow>, AnalyticsError> {
    if !matches!(level, By::District | By::Crew | By::Contractor) {
        return Err(AnalyticsError::BadRequest(format!(
            "unknown level {:?}: expected district, crew or contractor",
            level.as_str()
        )));
    }
    let rows = measures::measures(db, engine, f, level, now_ms).await?;
    // Tasks with no crew or contractor are not a unit to rank.
    let rows = rows.into_iter().filter(|r| !r.key.is_empty()).collect();
    let mut ranked = rank(rows, cfg);
    let named = crate::storage::analytics::named_messages(
        db,
        &f.facts(),
        level,
        f.range.start_ms,
        f.range.end_ms,
    )
    .await?;
    count_messages(&mut ranked, &named);
    if level == By::Contractor {
        let districts = match (&f.district, &f.scope) {
            (Some(d), _) => Some(vec![d.clone()]),
            (None, super::Scope::All) => None,
            (None, super::Scope::Districts(ds)) => Some(ds.clone()),
        };
        let totals = crate::storage::penalties::confirmed_totals(
            db,
            f.range.start_ms,
            f.range.end_ms,
            districts.as_deref(),
        )
        .await?;
        for r in &mut ranked {
            let t = totals.iter().find(|t| t.0 == r.key);
            r.penalties = Some(t.map_or(0, |t| t.1));
            r.penalty_amount = Some(t.map_or(0, |t| t.2));
        }
    }
    Ok(ranked)
}

/// Adds each thanks and complaint to the lines of the units it names (once per line).
fn count_messages(rows: &mut [ScoreRow], named: &[crate::storage::analytics::NamedMessage]) {
    for r in rows.iter_mut() {
        for m in named {
            let in_words = m.about_unit.as_deref().map(str::trim).is_some_and(|u| {
                u.eq_ignore_ascii_case(&r.key)
                    || (!r.label.is_empty() && u.eq_ignore_ascii_case(&r.label))
            });
            if m.unit.as_deref() == Some(r.key.as_str()) || in_words {
                match m.kind.as_str() {
                    "thanks" => r.thanks += 1,
                    "complaint" => r.complaints += 1,
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_components_are_left_out_of_the_weights() {
        let cfg = AnalyticsConfig::default();
        let c = Components {
            sla: Some(1.0),
            reopen: Some(0.5),
            ..Components::default()
        };
        // (35 × 1 + 20 × 0.5) / 55 = 0.8181…
        assert_eq!(score(&c, &cfg), Some(81.82));
        assert_eq!(score(&Components::default(), &cfg), None);
    }
}
