//! The worker process.

use cloudbridge_shared::{telemetry, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init_logging(&settings.log);
    cloudbridge_jobs::run(settings, telemetry::shutdown_token()).await
}
