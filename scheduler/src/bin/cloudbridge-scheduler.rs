//! The scheduler process.

/// mimalloc: glibc malloc showed up at the top of request-path profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cloudbridge_shared::{telemetry, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init_logging(&settings.log);
    cloudbridge_scheduler::run(settings, telemetry::shutdown_token()).await
}
