//! Compressed-change bombs over sync, for `tests/suites/hostile.sh` (issue 16, point 2),
//! through `POST /api/v1/sync/exchange`:
//! - `one`: a change chunk whose DEFLATE data (about 4 MiB) inflates to 4 GiB;
//! - `many`: 64 copies of a valid change of a few kilobytes that decodes to 15 MiB
//!   (within the per-change limit; together about 1 GiB).
//!
//! Exits 0 when the server refuses the push with the typed "inflates to more than"
//! refusal, 1 otherwise.
//!
//! Usage: `sync_bomb <base URL> <bearer token> [device id] [one|many]`.

use tarmim_testing::bombs::{deflate_bomb, inflating_change, push_exchange};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(base), Some(token)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: sync_bomb <base URL> <token> [device id] [one|many]");
        std::process::exit(2);
    };
    let device = args.get(3).map_or("hostile-phone", String::as_str);
    let changes = match args.get(4).map_or("one", String::as_str) {
        "many" => vec![inflating_change(15 << 20); 64],
        _ => vec![deflate_bomb(4096)],
    };
    let size: usize = changes.iter().map(Vec::len).sum();
    eprintln!("bomb: {} change(s), {size} bytes", changes.len());
    match push_exchange(base, token, device, "T-BOMB", changes).await {
        Ok(message) => {
            println!("refused: {message}");
            let typed = message.contains("inflates to more than");
            std::process::exit(if typed { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
