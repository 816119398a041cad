//! What citizens hold and do outside any login (design §6): the tracking code that is
//! their handle on a report. Open311 intake, the tracking page and support for an
//! existing report all go through here.
//!
//! - [`codes`]: the tracking codes themselves;
//! - [`contacts`]: citizens' contact details as personal data (forget, unsubscribe, the
//!   retention sweep, checks at intake);
//! - [`public_view`]: what a code shows of its task (public fields, plain-words timeline,
//!   public photo derivatives), following merges to the surviving task;
//! - [`feedback`]: rating and "not fixed" within the feedback window, once per code;
//! - [`lookups`]: the per-address limit on tracking-code requests;
//! - [`duplicates`]: open reports of a category near a point, with their supporters;
//! - [`status`]: a task's public status, open or closed;
//! - [`report`]: the citizens' own report page — every kind of message, filed through
//!   the same intake as Open311 (field kinds) or as a message;
//! - [`messages`]: complaints, criticism, suggestions, ideas and thanks: department
//!   inboxes, staff answers the tracking page shows.
//!
//! Their rows are in [`crate::storage::citizens`].

pub mod codes;
pub mod contacts;
pub mod duplicates;
pub mod feedback;
pub mod lookups;
pub mod messages;
pub mod public_view;
pub mod report;
pub mod status;

use crate::base::config::open311::Open311Config;
use crate::domain::dispatch::Dispatch;
use crate::domain::photo::Photos;

/// What the citizens' flows (the tracking page, feedback, Open311) use: the dispatch
/// engine they edit tasks through, the photo pipeline, the Open311 settings, the city's
/// time zone, what the public pages need to point at, and the key callers are hashed
/// with.
#[derive(Clone, Copy)]
pub struct Citizens<'a> {
    /// The task lifecycle (store, hub, server-side edits).
    pub dispatch: &'a Dispatch,
    /// Photo verification, storage and derivatives.
    pub photos: &'a Photos,
    /// Open311 settings.
    pub open311: &'a Open311Config,
    /// The city's time zone.
    pub zone: &'a jiff::tz::TimeZone,
    /// The map tile URL the public pages use, if any.
    pub tile_url: &'a Option<String>,
    /// The report page's settings (limits, where messages go).
    pub report: &'a crate::base::config::report::ReportConfig,
    /// The key of callers' hashes: a report filed with a phone number is linked to it,
    /// so the call centre's desk finds it by the number.
    pub caller_key: &'a crate::domain::callcentre::callers::CallerKey,
}
