//! What citizens hold and do outside any login (design §6): the tracking code that is
//! their handle on a report. Open311 intake, the tracking page and support for an
//! existing report all go through here.

pub mod duplicates;
pub mod tracking;
