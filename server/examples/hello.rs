//! The ceiling for the Open311 benchmark (`tests/bench/open311/run.sh`): a plain axum
//! server answering `POST /hello` and `GET /hello` with a fixed text, on the same tokio
//! runtime settings as `tarmim-server`. Usage: `hello [address]` (default 127.0.0.1:8138).

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8138".to_owned());
    let app = Router::new().route("/hello", get(hello).post(hello));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("hello on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}

async fn hello() -> &'static str {
    "hello"
}
