//! `cloudbridge-fake-upstream`: a fake S3-compatible service with configurable latency,
//! errors and rate limiting, for load tests (see `cloudbridge_loadtest::upstream`).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use cloudbridge_loadtest::upstream::{self, Behaviour};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "A fake S3-compatible upstream with injected latency, errors and 429s")]
struct Args {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:9900")]
    bind: std::net::SocketAddr,
    #[command(flatten)]
    behaviour: Behaviour,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    eprintln!(
        "fake upstream on http://{} ({:?})",
        listener.local_addr()?,
        args.behaviour
    );
    upstream::serve(listener, args.behaviour).await?;
    Ok(())
}
