//! The one state type of the API tier.

use std::{path::PathBuf, sync::Arc};

use cloudbridge_shared::Settings;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::pipeline::Pipeline;

/// Everything a handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// PostgreSQL pool: developers, applications, keys, accounts.
    pub db: PgPool,
    /// The request path to the workers.
    pub pipeline: Arc<Pipeline>,
    /// Settings of this process.
    pub settings: Arc<Settings>,
    /// Root of the `local` service's data (streamed by this tier).
    pub data_root: PathBuf,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}
