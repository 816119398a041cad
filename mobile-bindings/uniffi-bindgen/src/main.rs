//! `uniffi-bindgen`: UniFFI's command-line generator, built from the same `uniffi` crate as
//! the library so the generated bindings always match its scaffolding.
//!
//! `cargo run -p uniffi-bindgen -- generate --library target/debug/libtarmim_mobile.so
//! --language kotlin --out-dir <dir> --no-format`

fn main() {
    uniffi::uniffi_bindgen_main()
}
