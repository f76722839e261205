//! The HTTP listeners: hyper-util's server (HTTP/1.1 and HTTP/2) with the bounds
//! `axum::serve` does not offer. A client has `api.header_read_timeout_ms` to send a
//! request's head (slowloris connections are closed; the same bound covers a TLS
//! handshake), a connection on which nothing moves for `api.idle_timeout_ms` is closed, and
//! heads up to 2 MiB are read so that the app, not hyper, answers an oversized one (a
//! Kloudless 431). Each request carries `ConnectInfo<SocketAddr>` (the peer), as the rate
//! limits and forwarded headers need, and [`OverTls`] when it came over HTTPS.
//!
//! [`serve_door`] serves one front door (the API, the developer portal): its plain port, and
//! when TLS is configured its HTTPS port too, which adds `Strict-Transport-Security` to every
//! answer while the plain port redirects.
//!
//! # Layout
//! - [`idle`]: the idle timeout, as a wrapper of the connection's stream.
//! - [`tls`]: [`Tls`], the rustls configuration both doors share.
//! - [`certs`]: the certificate resolver, reloaded on SIGHUP and when the files change.
//! - [`redirect`]: what a plain port answers once HTTPS is on.

mod certs;
mod idle;
mod redirect;
mod tls;

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    response::Response,
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{
        conn::auto,
        graceful::{GracefulShutdown, Watcher},
    },
};
use ipnet::IpNet;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceExt};

pub use redirect::HttpsOnly;
pub use tls::Tls;

/// A request extension: the request came over one of our HTTPS listeners.
#[derive(Clone, Copy, Debug)]
pub struct OverTls;

/// `Strict-Transport-Security` on every HTTPS answer: a year, this host only.
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

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

/// One front door: a plain listener and, when TLS is configured, an HTTPS one.
pub struct Door {
    /// The plain-HTTP listener (`api.bind`, `portal.bind`).
    pub plain: TcpListener,
    /// The HTTPS listener (`api.tls_bind`, `portal.tls_bind`) and its certificates.
    pub https: Option<(TcpListener, Tls)>,
    /// Paths the plain listener keeps serving itself once HTTPS is on (probes, metrics).
    pub plain_paths: &'static [&'static str],
    /// The configured public base URL (redirects go to it when it is `https://`).
    pub public_url: String,
    /// Reverse proxies believed when they say a plain request arrived over HTTPS.
    pub trusted_proxies: Vec<IpNet>,
}

impl Door {
    /// Binds `plain`, and `tls_bind` when `tls` is given.
    pub async fn bind(
        plain: SocketAddr,
        https: Option<(SocketAddr, Tls)>,
        plain_paths: &'static [&'static str],
        public_url: &str,
        trusted_proxies: &[IpNet],
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let plain = TcpListener::bind(plain)
            .await
            .with_context(|| format!("binding {plain}"))?;
        let https = match https {
            Some((addr, tls)) => Some((
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr}"))?,
                tls,
            )),
            None => None,
        };
        Ok(Self {
            plain,
            https,
            plain_paths,
            public_url: public_url.to_string(),
            trusted_proxies: trusted_proxies.to_vec(),
        })
    }

    /// The plain listener's address.
    pub fn plain_addr(&self) -> std::io::Result<SocketAddr> {
        self.plain.local_addr()
    }

    /// The HTTPS listener's address, when there is one.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }
}

/// Serves `app` (a `Router`, or one wrapped in layers) on the door's listeners until
/// `shutdown` fires, then waits for open connections to finish their requests (the caller
/// bounds that wait). With HTTPS the plain port answers as [`HttpsOnly`] says.
pub async fn serve_door<S>(
    door: Door,
    app: S,
    bounds: Bounds,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let Some((listener, tls)) = door.https else {
        return serve(door.plain, app, bounds, None, shutdown).await;
    };
    let policy = Arc::new(HttpsOnly {
        plain_paths: door.plain_paths,
        https_port: listener.local_addr()?.port(),
        public_url: door.public_url,
        trusted_proxies: door.trusted_proxies,
    });
    let served = app.clone();
    let plain_app = tower::service_fn(move |request: Request| {
        let policy = policy.clone();
        let app = served.clone();
        async move {
            match policy.answer(&request) {
                Some(answer) => Ok::<_, Infallible>(answer),
                None => app.oneshot(request).await,
            }
        }
    });
    let plain = serve(door.plain, plain_app, bounds, None, shutdown.clone());
    let https = serve(listener, app, bounds, Some(tls.acceptor()), shutdown);
    let (plain, https) = tokio::join!(plain, https);
    plain.and(https)
}

/// Serves `app` on `listener` (over TLS with `acceptor`) until `shutdown` fires, then waits
/// for open connections to finish their requests.
async fn serve<S>(
    listener: TcpListener,
    app: S,
    bounds: Bounds,
    acceptor: Option<TlsAcceptor>,
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
    let builder = Arc::new(builder);
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
        let secure = acceptor.is_some();
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            let extensions = request.extensions_mut();
            extensions.insert(axum::extract::ConnectInfo::<SocketAddr>(peer));
            if secure {
                extensions.insert(OverTls);
            }
            let answer = app.clone().oneshot(request);
            async move {
                let mut response = answer.await?;
                if secure {
                    response
                        .headers_mut()
                        .insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
                }
                Ok::<_, Infallible>(response)
            }
        });
        let io = idle::IdleStream::new(stream, bounds.idle_timeout);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let ended = match acceptor {
                None => connection(&builder, io, service, watcher).await,
                Some(acceptor) => {
                    // A handshake has the time of a request head.
                    match tokio::time::timeout(bounds.header_read_timeout, acceptor.accept(io))
                        .await
                    {
                        Ok(Ok(tls)) => connection(&builder, tls, service, watcher).await,
                        Ok(Err(e)) => Err(e.into()),
                        Err(_) => Err("TLS handshake timed out".into()),
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, peer = %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves one connection until it closes (or, after shutdown, finishes its requests).
async fn connection<I, S>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    service: S,
    watcher: Watcher,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    watcher.watch(connection).await
}
