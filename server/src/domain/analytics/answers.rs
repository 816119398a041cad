//! The analytics endpoints' answers: the query parameters checked, the numbers computed
//! by the server's engine, and the body as JSON or, with `format=csv`, as CSV made from
//! the same rows. `crate::http::analytics` only reads the request and sends the answer.

use super::measures::{self, Engine, MeasureRow};
use super::{AnalyticsConfig, AnalyticsError, By, Filter, Scope};
use super::{evidence, export, period, scorecard};
use crate::base::time::now_millis;
use crate::domain::identity::Identity;
use crate::storage::{Db, DistrictStore};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Every query parameter the analytics endpoints take (each uses its own subset).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// First local day, `YYYY-MM-DD` (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last local day, included (default: today in the city's zone). At most 400 days.
    pub to: Option<String>,
    /// Only this district.
    pub district: Option<String>,
    /// Only this region.
    pub region: Option<String>,
    /// Only this category (service code).
    pub category: Option<String>,
    /// Only this priority.
    pub priority: Option<String>,
    /// Grouping: `district`, `region`, `category`, `crew`, `contractor`.
    pub by: Option<String>,
    /// Scorecard / evidence level (same values as `by`; the scorecard takes district, crew, contractor).
    pub level: Option<String>,
    /// Evidence: the unit's key ("" for tasks with none).
    pub key: Option<String>,
    /// Trend / evidence: a numeric measure name.
    pub measure: Option<String>,
    /// Trend: `day`, `week` or `month`.
    pub interval: Option<String>,
    /// Page size (evidence: default 100, gallery: 50; at most 1000).
    pub limit: Option<String>,
    /// Rows to skip.
    pub offset: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

impl Params {
    /// Checks the common parameters (dates, district, region, category, priority) into
    /// a [`Filter`] for the caller's districts.
    pub fn filter(&self, who: &Identity, tz: &TimeZone) -> Result<Filter, AnalyticsError> {
        let scope = Scope::of(who)?;
        let range = period::range(self.from.as_deref(), self.to.as_deref(), tz)?;
        let nonempty = |o: &Option<String>| o.clone().filter(|s| !s.is_empty());
        let priority = nonempty(&self.priority);
        if let Some(p) = priority
            .as_deref()
            .filter(|p| sync_core::task::Priority::parse(p).is_none())
        {
            return Err(AnalyticsError::BadRequest(format!(
                "unknown priority {p:?}: expected urgent, high, normal or low"
            )));
        }
        Ok(Filter {
            range,
            district: nonempty(&self.district),
            region: nonempty(&self.region),
            category: nonempty(&self.category),
            priority,
            scope,
        })
    }

    fn csv(&self) -> Result<bool, AnalyticsError> {
        match self.format.as_deref() {
            None | Some("") | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => Err(AnalyticsError::BadRequest(format!(
                "unknown format {other:?}: expected json or csv"
            ))),
        }
    }

    fn number(what: &str, v: &Option<String>) -> Result<Option<i64>, AnalyticsError> {
        v.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>().map_err(|_| {
                    AnalyticsError::BadRequest(format!(
                        "`{what}` must be a whole number, not {s:?}"
                    ))
                })
            })
            .transpose()
    }

    fn page(&self, default_limit: i64) -> Result<(i64, i64), AnalyticsError> {
        let limit = Self::number("limit", &self.limit)?.or(Some(default_limit));
        let offset = Self::number("offset", &self.offset)?;
        evidence::page(limit, offset)
    }

    /// An optional `by`/`level` value (absent or empty: none).
    fn unit(what: &str, v: &Option<String>) -> Result<Option<By>, AnalyticsError> {
        v.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| By::parse(what, s))
            .transpose()
    }
}

/// An answer's body.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// JSON.
    Json(Value),
    /// CSV, offered for download as `<name>.csv`.
    Csv {
        /// The file's name without `.csv`.
        name: &'static str,
        /// The text.
        body: String,
    },
}

fn answer<T: Serialize>(
    csv: bool,
    rows: &[T],
    template: &T,
    name: &'static str,
    json: impl FnOnce() -> Value,
) -> Answer {
    if csv {
        Answer::Csv {
            name,
            body: export::csv(rows, template),
        }
    } else {
        Answer::Json(json())
    }
}

/// One CSV line of a trend.
#[derive(Debug, Clone, Default, Serialize)]
struct TrendLine {
    key: String,
    label: String,
    period: String,
    value: Option<f64>,
}

/// One cell of the kind × channel figure.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindChannel {
    /// `request`, `violation`, `complaint`, `criticism`, `suggestion`, `idea`, `thanks`.
    pub kind: String,
    /// `web`, `open311`, `call_centre`, `crew` (a crew's phone field report),
    /// `dispatcher`, `other`.
    pub channel: String,
    /// Reports or messages filed in the range.
    pub count: i64,
}

/// Every kind, in the figure's order.
pub const KINDS: [&str; 7] = [
    "request",
    "violation",
    "complaint",
    "criticism",
    "suggestion",
    "idea",
    "thanks",
];

/// Every channel, in the figure's order.
pub const CHANNELS: [&str; 6] = [
    "web",
    "open311",
    "call_centre",
    "crew",
    "dispatcher",
    "other",
];

/// What the analytics endpoints use: the store, the engine, the city's zone (and its
/// name, shown in answers) and the analytics settings (the scorecard's formula).
#[derive(Clone, Copy)]
pub struct Analytics<'a> {
    /// The store.
    pub db: &'a Db,
    /// The SQL or in-memory engine.
    pub engine: Engine<'a>,
    /// The city's time zone.
    pub zone: &'a TimeZone,
    /// Its IANA name.
    pub timezone: &'a str,
    /// Analytics settings.
    pub config: &'a AnalyticsConfig,
}

impl Analytics<'_> {
    /// `GET /api/v1/analytics/measures`.
    pub async fn measures(&self, who: &Identity, p: &Params) -> Result<Answer, AnalyticsError> {
        let f = p.filter(who, self.zone)?;
        let by = By::parse("by", p.by.as_deref().unwrap_or("district"))?;
        let csv = p.csv()?;
        let rows = measures::measures(self.db, self.engine, &f, by, now_millis()).await?;
        Ok(answer(
            csv,
            &rows,
            &MeasureRow::default(),
            "measures",
            || {
                json!({
                    "by": by.as_str(),
                    "from": f.range.from.to_string(),
                    "to": f.range.to.to_string(),
                    "timezone": self.timezone,
                    "rows": rows,
                })
            },
        ))
    }

    /// `GET /api/v1/analytics/trend`.
    pub async fn trend(&self, who: &Identity, p: &Params) -> Result<Answer, AnalyticsError> {
        let f = p.filter(who, self.zone)?;
        let measure = p.measure.clone().unwrap_or_else(|| "received".into());
        measures::check_measure(&measure)?;
        let interval = period::Interval::parse(p.interval.as_deref().unwrap_or("day"))?;
        let by = Params::unit("by", &p.by)?;
        let csv = p.csv()?;
        let buckets = period::buckets(&f.range, interval, self.zone)?;
        let series = measures::trend(
            self.db,
            self.engine,
            &f,
            by,
            &buckets,
            &measure,
            now_millis(),
        )
        .await?;
        let lines: Vec<TrendLine> = series
            .iter()
            .flat_map(|s| {
                s.points.iter().map(|pt| TrendLine {
                    key: s.key.clone(),
                    label: s.label.clone(),
                    period: pt.period.clone(),
                    value: pt.value,
                })
            })
            .collect();
        Ok(answer(csv, &lines, &TrendLine::default(), "trend", || {
            json!({
                "measure": measure,
                "interval": interval.as_str(),
                "from": f.range.from.to_string(),
                "to": f.range.to.to_string(),
                "timezone": self.timezone,
                "series": series,
            })
        }))
    }

    /// `GET /api/v1/analytics/scorecard`.
    pub async fn scorecard(&self, who: &Identity, p: &Params) -> Result<Answer, AnalyticsError> {
        let f = p.filter(who, self.zone)?;
        let level = By::parse("level", p.level.as_deref().unwrap_or("district"))?;
        let csv = p.csv()?;
        let cfg = self.config;
        let rows = scorecard::scorecard(self.db, self.engine, &f, level, cfg, now_millis()).await?;
        Ok(answer(
            csv,
            &rows,
            &scorecard::ScoreRow::default(),
            "scorecard",
            || {
                json!({
                    "level": level.as_str(),
                    "from": f.range.from.to_string(),
                    "to": f.range.to.to_string(),
                    "formula": scorecard::formula(cfg),
                    "rows": rows,
                })
            },
        ))
    }

    /// `GET /api/v1/analytics/messages`: reports and messages filed in the range by kind
    /// and channel (the figure "messages by kind × channel").
    pub async fn messages(&self, who: &Identity, p: &Params) -> Result<Answer, AnalyticsError> {
        let f = p.filter(who, self.zone)?;
        let csv = p.csv()?;
        let rows: Vec<KindChannel> = crate::storage::analytics::kind_by_channel(
            self.db,
            &f.facts(),
            f.range.start_ms,
            f.range.end_ms,
        )
        .await?
        .into_iter()
        .map(|(kind, channel, count)| KindChannel {
            kind,
            channel,
            count,
        })
        .collect();
        Ok(answer(
            csv,
            &rows,
            &KindChannel::default(),
            "messages",
            || {
                json!({
                    "from": f.range.from.to_string(),
                    "to": f.range.to.to_string(),
                    "kinds": KINDS,
                    "channels": CHANNELS,
                    "rows": rows,
                })
            },
        ))
    }

    /// `GET /api/v1/analytics/tasks`.
    pub async fn tasks(&self, who: &Identity, p: &Params) -> Result<Answer, AnalyticsError> {
        let f = p.filter(who, self.zone)?;
        let level = Params::unit("level", &p.level)?;
        let measure = p.measure.clone().unwrap_or_else(|| "received".into());
        let (limit, offset) = p.page(100)?;
        let csv = p.csv()?;
        let rows = evidence::tasks(
            self.db,
            &f,
            level,
            p.key.as_deref(),
            &measure,
            limit,
            offset,
            self.zone,
            now_millis(),
        )
        .await?;
        Ok(answer(
            csv,
            &rows,
            &evidence::TaskRow::default(),
            "tasks",
            || json!({"measure": measure, "limit": limit, "offset": offset, "rows": rows}),
        ))
    }

    /// `GET /api/v1/analytics/gallery`.
    pub async fn gallery(&self, who: &Identity, p: &Params) -> Result<Answer, AnalyticsError> {
        let f = p.filter(who, self.zone)?;
        let (limit, offset) = p.page(50)?;
        let csv = p.csv()?;
        let rows = evidence::gallery(self.db, &f, limit, offset, self.zone).await?;
        Ok(answer(
            csv,
            &rows,
            &evidence::GalleryRow::default(),
            "gallery",
            || json!({"limit": limit, "offset": offset, "rows": rows}),
        ))
    }

    /// `GET /api/v1/analytics/districts`: the caller's districts as a GeoJSON
    /// FeatureCollection (for the choropleth).
    pub async fn districts(&self, who: &Identity) -> Result<Value, AnalyticsError> {
        let scope = Scope::of(who)?;
        let features: Vec<Value> = self
            .db
            .districts()
            .await?
            .iter()
            .filter(|d| scope.sees(&d.code))
            .map(crate::domain::districts::feature)
            .collect();
        Ok(json!({"type": "FeatureCollection", "features": features}))
    }
}
