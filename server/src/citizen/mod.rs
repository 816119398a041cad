//! What citizens hold and do outside any login (design §6): the tracking code that is
//! their handle on a report. Open311 intake, the tracking page and support for an
//! existing report all go through here.
//!
//! - [`tracking`]: the codes themselves;
//! - [`track`]: what a code shows of its task (public fields, plain-words timeline,
//!   public photo derivatives), following merges to the surviving task;
//! - [`feedback`]: rating and "not fixed" within the feedback window, once per code;
//! - [`lookups`]: the per-address limit on tracking-code requests;
//! - [`duplicates`]: open reports of a category near a point, with their supporters.

pub mod duplicates;
pub mod feedback;
pub mod lookups;
pub mod track;
pub mod tracking;
