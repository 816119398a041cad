//! The process's TLS crypto provider. The server speaks TLS only as a client (to an
//! S3-compatible photo store, through object_store's reqwest), with rustls and the `ring`
//! provider — the same provider the phone library uses, so the workspace compiles one
//! crypto stack (no aws-lc). reqwest built without a bundled provider takes rustls'
//! process default, which must be installed before the first client is built.

/// Installs `ring` as rustls' process-wide default provider. Idempotent: a second call
/// (or one after another component installed the same) changes nothing.
pub fn install_crypto_provider() {
    // Err means a default is already installed; nothing to do.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
