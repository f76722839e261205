//! `s3` and `s3_compatible`: one bucket (optionally under a root prefix) per account.
//! Folders are key prefixes ending in `/` (created as empty marker objects). Served by
//! [`DalStore`](crate::dal::DalStore) with presigned transfers: neither file contents nor
//! credentials pass through Redis, and an upload becomes visible only when its PUT completes.

use cloudbridge_shared::{protocol::AccountRef, ApiError};
use opendal::Operator;
use serde::Deserialize;

use crate::{
    service::{self, Api, Category, Connect, Service, Staging},
    Context, Storage,
};

/// `s3`: a bucket on Amazon S3.
pub static SERVICE: Service = S3;

/// `s3_compatible`: a bucket on another S3 API (MinIO, Ceph, R2, …) at its `endpoint`.
pub static COMPATIBLE: Service = Service {
    name: "s3_compatible",
    display_name: "S3 Compatible Storage",
    ..S3
};

/// What the two services share.
const S3: Service = Service {
    name: "s3",
    aliases: &[],
    display_name: "Amazon S3",
    apis: &[Api::Storage],
    category: Category::ObjectStore,
    connect: Connect::Credentials,
    capabilities: service::OBJECT_STORE_CAPABILITIES,
    staging: Staging::NotOnService,
    colour: "#ef6c00",
    open,
    item_key: service::no_item_key,
    names_by_id: false,
};

fn open(ctx: &Context, account: &AccountRef) -> Result<Box<dyn Storage>, ApiError> {
    crate::dal::open(ctx, account, SERVICE.capabilities)
}

/// Non-secret configuration of an S3 account.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct S3Config {
    /// Bucket.
    pub bucket: String,
    /// Region (`us-east-1` when absent).
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint (`https://s3.<region>.amazonaws.com` when absent).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Key prefix the account is confined to.
    #[serde(default)]
    pub root: Option<String>,
    /// Virtual-host-style addressing instead of path style.
    #[serde(default)]
    pub virtual_host_style: bool,
}

/// Credentials of an S3 account (sealed at rest).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct S3Secrets {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// The operator of an S3 account, connecting only where `guard` permits.
pub fn operator(
    config: &S3Config,
    secrets: &S3Secrets,
    guard: &crate::guard::Guard,
) -> Result<Operator, ApiError> {
    crate::install_transport();
    let mut builder = opendal::services::S3::default()
        .bucket(&config.bucket)
        .region(config.region.as_deref().unwrap_or("us-east-1"))
        .access_key_id(&secrets.access_key_id)
        .secret_access_key(&secrets.secret_access_key)
        .root(&format!(
            "/{}",
            config.root.as_deref().unwrap_or("").trim_matches('/')
        ))
        .disable_config_load()
        .disable_ec2_metadata();
    if let Some(endpoint) = &config.endpoint {
        guard.check_url(endpoint, "endpoint")?;
        builder = builder.endpoint(endpoint);
    }
    if config.virtual_host_style {
        builder = builder.enable_virtual_host_style();
    }
    Operator::new(builder)
        .map(|op| guard.operator(op))
        .map_err(|e| ApiError::invalid_parameters(format!("Invalid S3 settings: {e}")))
}
