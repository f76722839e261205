//! Building and running the API process.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use cloudbridge_shared::{db, telemetry, Settings};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

use crate::{cache::TtlCache, pipeline::Pipeline, routes, state::Shared, AppState};

/// A bound, ready-to-serve API process.
pub struct Application {
    listener: TcpListener,
    /// The developer portal's listener.
    portal: TcpListener,
    state: AppState,
    /// Stops accepting requests.
    shutdown: CancellationToken,
    /// Stops the reply listener and samplers, once in-flight requests are done.
    background: CancellationToken,
}

/// The e-mail of the developer that `bootstrap_developer_key` belongs to.
pub const BOOTSTRAP_EMAIL: &str = "bootstrap@cloudbridge.local";

impl Application {
    /// Connects PostgreSQL and Redis, applies migrations, ensures the bootstrap developer,
    /// and binds the API port (`:0` picks a free one). `shutdown` stops it.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let pool = db::pool(&settings.database)?;
        db::migrate(&pool).await.context("applying migrations")?;
        if let Some(key) = &settings.bootstrap_developer_key {
            db::developers::ensure_with_key(&pool, BOOTSTRAP_EMAIL, key.expose()).await?;
        }
        let background = CancellationToken::new();
        let pipeline = Pipeline::start(&settings, background.clone())?;
        let listener = TcpListener::bind(settings.api.bind)
            .await
            .with_context(|| format!("binding {}", settings.api.bind))?;
        let portal = TcpListener::bind(settings.portal.bind)
            .await
            .with_context(|| format!("binding the portal's {}", settings.portal.bind))?;
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
        });
        crate::middleware::register_metrics();
        Ok(Self {
            listener,
            portal,
            state,
            shutdown,
            background,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// The developer portal's bound address.
    pub fn portal_addr(&self) -> SocketAddr {
        self.portal.local_addr().expect("bound listener")
    }

    /// Serves until the shutdown token fires, then lets in-flight requests finish
    /// within the configured grace period.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let grace = Duration::from_millis(self.state.settings.api.shutdown_grace_ms);
        let bounds = crate::serve::Bounds::from_settings(&self.state.settings.api);
        let portal = crate::portal::Portal::start(self.state.clone(), self.background.clone());
        let portal = NormalizePathLayer::trim_trailing_slash().layer(crate::portal::router(portal));
        let app = NormalizePathLayer::trim_trailing_slash().layer(routes::router(self.state));
        tracing::info!(addr = %self.listener.local_addr()?, "api listening");
        tracing::info!(addr = %self.portal.local_addr()?, "portal listening");
        let api = crate::serve::serve(self.listener, app, bounds, self.shutdown.clone());
        let portal = crate::serve::serve(self.portal, portal, bounds, self.shutdown.clone());
        let server = async { tokio::try_join!(api, portal).map(|_| ()) };
        let shutdown = self.shutdown;
        // In-flight requests still need their replies while the server drains.
        let _stop_background = self.background.drop_guard();
        tokio::select! {
            result = server => result.context("serving HTTP"),
            _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!("shutdown grace period over; dropping open connections");
                Ok(())
            }
        }
    }
}
