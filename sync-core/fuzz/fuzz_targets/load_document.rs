//! Any bytes loaded as a task document: an error or a task whose view and fold work,
//! never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sync_core::task::TaskDoc;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut doc) = TaskDoc::load(data) {
        let _ = doc.view();
        let _ = doc.id();
        let _ = doc.save();
    }
});
