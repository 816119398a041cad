//! `tarmim-server`: parses the command line, loads the configuration, runs the command.

use anyhow::Context;
use clap::Parser;
use server::base::config::Config;
use server::cli::{self, Cli};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env().context("loading the configuration")?;
    server::base::telemetry::init_logging(config.log_format);
    for warning in config.deprecations() {
        tracing::warn!("{warning}");
    }
    server::base::tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(cli::run(cli, config))?;
    Ok(())
}
