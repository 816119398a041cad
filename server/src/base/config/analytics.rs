//! Analytics settings (`[analytics]` in the config file; a few also from the environment):
//! the scorecard's weights and thresholds, and which engine computes measures.

use serde::Deserialize;

/// Analytics settings (`[analytics]` in the config file; a few also from the environment).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Scorecard weights.
    pub weights: Weights,
    /// Units scoring below this (0..100) are flagged.
    pub threshold: f64,
    /// Units with fewer completed tasks in the range are shown but not ranked.
    pub min_tasks: u64,
    /// The 90th-percentile acknowledgement time that earns the full ack component (min).
    pub ack_target_minutes: f64,
    /// Compute measures from the in-memory mirror of the facts (fast at a year of a big
    /// city; about 175 MB per million tasks) rather than with SQL over the table.
    pub in_memory: bool,
}

/// The scorecard's weights (any non-negative numbers; they are normalised over the
/// components a unit has data for).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Completion SLA compliance.
    pub sla: f64,
    /// One minus the reopen rate.
    pub reopen: f64,
    /// Satisfaction, (mean − 1) / 4.
    pub satisfaction: f64,
    /// Share of completions with before and after photos.
    pub photo: f64,
    /// Acknowledgement p90 against the target.
    pub ack: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            sla: 35.0,
            reopen: 20.0,
            satisfaction: 20.0,
            photo: 15.0,
            ack: 10.0,
        }
    }
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            weights: Weights::default(),
            threshold: 60.0,
            min_tasks: 10,
            ack_target_minutes: 30.0,
            in_memory: true,
        }
    }
}

impl Weights {
    /// Parses `sla=35,reopen=20,satisfaction=20,photo=15,ack=10` (missing names keep
    /// their current weight).
    pub fn parse_over(mut self, s: &str) -> Result<Weights, String> {
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("expected name=weight, got {part:?}"))?;
            let w: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("weight {v:?} is not a number"))?;
            if !(w.is_finite() && w >= 0.0) {
                return Err(format!("weight {w} must be a non-negative number"));
            }
            match k.trim() {
                "sla" => self.sla = w,
                "reopen" => self.reopen = w,
                "satisfaction" => self.satisfaction = w,
                "photo" => self.photo = w,
                "ack" => self.ack = w,
                other => return Err(format!("unknown weight {other:?}")),
            }
        }
        Ok(self)
    }
}
