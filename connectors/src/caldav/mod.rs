//! `caldav`: calendars on a CalDAV server (RFC 4791; iCloud, Fastmail, Nextcloud,
//! Radicale…), connected with a URL, a user name and a password. Its accounts answer the
//! Calendar API only: the storage operations answer 501.
//!
//! Tested against Radicale 3.

use async_trait::async_trait;
use cloudbridge_shared::{
    protocol::{AccountRef, TransferPlan},
    storage::{Capabilities, ItemKind, Page},
    ApiError, Entry, ItemPath,
};
use serde::{Deserialize, Serialize};

use crate::{
    service::{self, Api, Category, Connect, Service, Staging},
    Context, Storage,
};

pub mod client;
pub mod xml;

/// `caldav`.
pub static SERVICE: Service = Service {
    name: "caldav",
    aliases: &[],
    display_name: "CalDAV",
    apis: &[Api::Calendar],
    category: Category::Calendar,
    connect: Connect::Credentials,
    capabilities: &[],
    staging: Staging::NotOnService,
    colour: "#2e7d32",
    open,
    item_key: service::no_item_key,
    names_by_id: false,
};

/// Non-secret configuration of a CalDAV account.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CaldavConfig {
    /// The server's URL: its root, a principal or a calendar home
    /// (`https://caldav.example.com/dav/`).
    pub url: String,
    /// User name.
    #[serde(default)]
    pub username: Option<String>,
}

/// Credentials of a CalDAV account (sealed at rest).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CaldavSecrets {
    /// Password.
    #[serde(default)]
    pub password: Option<String>,
}

fn open(ctx: &Context, account: &AccountRef) -> Result<Box<dyn Storage>, ApiError> {
    let config: CaldavConfig = serde_json::from_value(account.config.clone())
        .map_err(|e| ApiError::internal(format_args!("stored settings: {e}")))?;
    let secrets: CaldavSecrets = crate::open_secrets(account, ctx.cipher.as_deref())?;
    Ok(Box::new(Caldav {
        client: client::Client::new(&config, &secrets, &ctx.guard)?,
    }))
}

/// One CalDAV account.
pub struct Caldav {
    client: client::Client,
}

/// The answer of every storage operation.
fn no_storage() -> ApiError {
    ApiError::not_implemented(
        "CalDAV accounts answer the Calendar API (`/cal/…`), not the storage API.",
    )
}

#[async_trait]
impl Storage for Caldav {
    fn capabilities(&self) -> Capabilities {
        Vec::new()
    }

    /// Finds the calendar home: the server answers CalDAV and takes the credentials.
    async fn validate(&self) -> Result<(), ApiError> {
        self.client.calendar_home().await.map(|_| ())
    }

    async fn metadata(&self, _: &ItemPath) -> Result<Entry, ApiError> {
        Err(no_storage())
    }

    async fn list(&self, _: &ItemPath, _: u32, _: u32) -> Result<Page, ApiError> {
        Err(no_storage())
    }

    async fn list_all(&self, _: &ItemPath) -> Result<Vec<Entry>, ApiError> {
        Err(no_storage())
    }

    async fn create_folder(
        &self,
        _: &ItemPath,
        _: &str,
        _: bool,
    ) -> Result<(Entry, bool), ApiError> {
        Err(no_storage())
    }

    async fn remove(&self, _: &Entry, _: bool) -> Result<(), ApiError> {
        Err(no_storage())
    }

    async fn relocate(
        &self,
        _: &Entry,
        _: ItemKind,
        _: &ItemPath,
        _: bool,
    ) -> Result<Entry, ApiError> {
        Err(no_storage())
    }

    async fn relocate_to(&self, _: &Entry, _: &ItemPath, _: bool) -> Result<Entry, ApiError> {
        Err(no_storage())
    }

    async fn plan_download(&self, _: &ItemPath) -> Result<(TransferPlan, Entry), ApiError> {
        Err(no_storage())
    }

    async fn plan_upload(&self, _: &ItemPath, _: &str, _: bool) -> Result<TransferPlan, ApiError> {
        Err(no_storage())
    }

    async fn commit_upload(
        &self,
        _: &str,
        _: &ItemPath,
        _: &str,
        _: bool,
    ) -> Result<Entry, ApiError> {
        Err(no_storage())
    }

    async fn abort_upload(&self, _: &str) -> Result<(), ApiError> {
        Err(no_storage())
    }
}
