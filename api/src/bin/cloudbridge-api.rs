//! The API process (and its admin commands).

use clap::Parser;
use cloudbridge_api::{
    admin::{self, Cli, Command},
    Application,
};
use cloudbridge_shared::{telemetry, Settings};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load()?;
    if let Some(Command::Admin { action }) = cli.command {
        return admin::run(&settings, action).await;
    }
    telemetry::init_logging(&settings.log);
    let shutdown = CancellationToken::new();
    let app = Application::build(settings, shutdown.clone()).await?;
    tokio::spawn(async move {
        telemetry::shutdown_signal().await;
        shutdown.cancel();
    });
    app.run_until_stopped().await
}
