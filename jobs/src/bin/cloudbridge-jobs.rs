//! The worker process.

use cloudbridge_shared::{telemetry, Settings};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init_logging(&settings.log);
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            telemetry::shutdown_signal().await;
            shutdown.cancel();
        }
    });
    cloudbridge_jobs::run(settings, shutdown).await
}
