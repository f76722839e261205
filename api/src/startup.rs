//! Building and running the API process.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use cloudbridge_shared::{db, telemetry, Settings};
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

use crate::{
    cache::TtlCache,
    pipeline::Pipeline,
    routes,
    serve::{Door, Tls},
    state::Shared,
    AppState,
};

/// What the API's plain port still serves itself once HTTPS is on: probes and Prometheus
/// scrape plain HTTP inside a cluster.
const PLAIN_PATHS: &[&str] = &["/health", "/ready", "/metrics"];

/// A bound, ready-to-serve API process.
pub struct Application {
    /// The API's listeners: plain, and HTTPS when `tls` is configured.
    door: Door,
    /// The developer portal's listeners, likewise.
    portal: Door,
    /// The certificates, when TLS is configured (watched for changes while serving).
    tls: Option<Tls>,
    state: AppState,
    /// Stops accepting requests.
    shutdown: CancellationToken,
    /// Stops the reply listener and samplers, once in-flight requests are done.
    background: CancellationToken,
    /// Writes the usage counts in batches (and the last ones at shutdown).
    usage: cloudbridge_shared::usage::Flusher,
}

/// The e-mail of the developer that `bootstrap_developer_key` belongs to.
pub const BOOTSTRAP_EMAIL: &str = "bootstrap@cloudbridge.local";

impl Application {
    /// Connects PostgreSQL and Redis, applies migrations, ensures the bootstrap developer,
    /// and binds the API port (`:0` picks a free one), and the HTTPS port when `tls` is
    /// configured (a certificate or key that does not load is an error naming the file).
    /// `shutdown` stops it.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        // First: a bad certificate should not wait for the database to be said.
        let tls = Tls::from_settings(&settings.tls)?;
        let pool = db::pool(&settings.database)?;
        db::migrate(&pool).await.context("applying migrations")?;
        if let Some(key) = &settings.bootstrap_developer_key {
            db::developers::ensure_with_key(&pool, BOOTSTRAP_EMAIL, key.expose()).await?;
        }
        let background = CancellationToken::new();
        let pipeline = Pipeline::start(&settings, background.clone())?;
        let door = Door::bind(
            settings.api.bind,
            tls.clone().map(|tls| (settings.api.tls_bind, tls)),
            PLAIN_PATHS,
            &settings.api.public_url,
            &settings.api.trusted_proxies,
        )
        .await?;
        // The portal's plain port serves nothing itself once HTTPS is on; its redirects
        // go to the host asked for (the API's public URL is another port).
        let portal = Door::bind(
            settings.portal.bind,
            tls.clone().map(|tls| (settings.portal.tls_bind, tls)),
            &[],
            "",
            &settings.api.trusted_proxies,
        )
        .await
        .context("the developer portal")?;
        let cache_ttl = Duration::from_millis(settings.api.auth_cache_ms);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()?;
        let connectors =
            cloudbridge_connectors::Context::for_process(&settings, pool.clone(), http.clone())?;
        // The recorder first: the limits register their metrics at zero.
        let metrics = telemetry::init_metrics();
        let limits = crate::limits::Limits::start(&settings, background.clone());
        let bundles = crate::bundles::Bundles::load(&settings.widgets.bundles_dir);
        let usage = Arc::new(cloudbridge_shared::usage::Usage::new(
            settings.usage.enabled,
        ));
        let flusher =
            cloudbridge_shared::usage::Flusher::start(usage.clone(), pool.clone(), &settings.usage);
        let state = AppState::new(Shared {
            webhooks: cloudbridge_shared::webhook::Sender::new(
                &settings.webhooks,
                settings.network.webhooks(),
            )?,
            cipher: connectors.cipher.clone(),
            http,
            connectors,
            callers: Arc::new(TtlCache::new(cache_ttl)),
            accounts: Arc::new(TtlCache::new(cache_ttl)),
            db: pool,
            pipeline,
            data_root: settings.local.data_root.clone(),
            settings: Arc::new(settings),
            metrics,
            limits,
            bundles,
            usage,
        });
        crate::middleware::register_metrics();
        Ok(Self {
            door,
            portal,
            tls,
            state,
            shutdown,
            background,
            usage: flusher,
        })
    }

    /// The bound address (plain HTTP).
    pub fn addr(&self) -> SocketAddr {
        self.door.plain_addr().expect("bound listener")
    }

    /// The bound port (plain HTTP).
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// The HTTPS port, when TLS is configured.
    pub fn tls_port(&self) -> Option<u16> {
        self.door.https_addr().map(|addr| addr.port())
    }

    /// The developer portal's plain address.
    pub fn portal_addr(&self) -> SocketAddr {
        self.portal.plain_addr().expect("bound listener")
    }

    /// Serves until the shutdown token fires, then lets in-flight requests finish
    /// within the configured grace period.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let grace = Duration::from_millis(self.state.settings.api.shutdown_grace_ms);
        let bounds = crate::serve::Bounds::from_settings(&self.state.settings.api);
        let portal = crate::portal::Portal::start(self.state.clone(), self.background.clone())?;
        let portal = NormalizePathLayer::trim_trailing_slash().layer(crate::portal::router(portal));
        let app = NormalizePathLayer::trim_trailing_slash().layer(routes::router(self.state));
        tracing::info!(
            addr = %self.door.plain_addr()?,
            tls_addr = self.door.https_addr().map(|a| a.to_string()),
            "api listening"
        );
        tracing::info!(
            addr = %self.portal.plain_addr()?,
            tls_addr = self.portal.https_addr().map(|a| a.to_string()),
            "portal listening"
        );
        if let Some(tls) = &self.tls {
            tls.watch(self.shutdown.clone());
        }
        let api = crate::serve::serve_door(self.door, app, bounds, self.shutdown.clone());
        let portal = crate::serve::serve_door(self.portal, portal, bounds, self.shutdown.clone());
        let server = async { tokio::try_join!(api, portal).map(|_| ()) };
        let shutdown = self.shutdown;
        // In-flight requests still need their replies while the server drains.
        let _stop_background = self.background.drop_guard();
        let served = tokio::select! {
            result = server => result.context("serving HTTP"),
            _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!("shutdown grace period over; dropping open connections");
                Ok(())
            }
        };
        // The requests served since the last flush.
        self.usage.finish().await;
        served
    }
}
