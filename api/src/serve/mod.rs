//! The HTTP listener: hyper-util's server (HTTP/1.1 and HTTP/2) with the bounds
//! `axum::serve` does not offer. A client has `api.header_read_timeout_ms` to send a
//! request's head (slowloris connections are closed), a connection on which nothing moves
//! for `api.idle_timeout_ms` is closed, and heads up to 2 MiB are read so that the app,
//! not hyper, answers an oversized one (a Kloudless 431). Each request carries
//! `ConnectInfo<SocketAddr>` (the peer), as the rate limits and forwarded headers need.
//!
//! # Layout
//! - [`idle`]: the idle timeout, as a wrapper of the connection's stream.

mod idle;

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use axum::{extract::Request, response::Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceExt};

/// Largest request head hyper reads (beyond, hyper itself answers 431). Well above
/// `api.max_header_bytes`, so that the app's own limit answers first.
const MAX_HEAD_BYTES: usize = 2 << 20;

/// Connection bounds of the listener.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Time allowed for a request's head, from when the connection waits for one.
    pub header_read_timeout: Duration,
    /// A connection with no byte read or written for this long is closed.
    pub idle_timeout: Duration,
}

impl Bounds {
    /// The bounds of `settings`.
    pub fn from_settings(settings: &cloudbridge_shared::config::ApiSettings) -> Self {
        Self {
            header_read_timeout: Duration::from_millis(settings.header_read_timeout_ms.max(1)),
            idle_timeout: Duration::from_millis(settings.idle_timeout_ms.max(1)),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` fires, then waits for open connections to
/// finish their requests (the caller bounds that wait).
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    bounds: Bounds,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(bounds.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(request)
        });
        let io = TokioIo::new(idle::IdleStream::new(stream, bounds.idle_timeout));
        let connection = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, peer = %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
