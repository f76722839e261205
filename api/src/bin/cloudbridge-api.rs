//! The API process (and its admin commands).

/// mimalloc: glibc malloc showed up at the top of request-path profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use cloudbridge_api::{
    admin::{self, Cli, Command},
    Application,
};
use cloudbridge_shared::{telemetry, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load()?;
    if let Some(Command::Admin { action }) = cli.command {
        return admin::run(&settings, action).await;
    }
    telemetry::init_logging(&settings.log);
    let app = Application::build(settings, telemetry::shutdown_token()).await?;
    app.run_until_stopped().await
}
