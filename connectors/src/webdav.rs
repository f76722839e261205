//! `webdav`: a WebDAV server (URL, basic auth), optionally under a root folder. Served by
//! [`DalStore`](crate::dal::DalStore) with proxied transfers: the API tier opens the server
//! with the account's sealed credentials.
//!
//! Tested against `rclone serve webdav`. (wsgidav 4 mangles a MOVE destination whose folder
//! name holds `#`, so uploads into such folders land elsewhere there.)

use cloudbridge_shared::{protocol::AccountRef, ApiError};
use opendal::Operator;
use serde::{Deserialize, Serialize};

use crate::{
    service::{self, Api, Category, Connect, Service, Staging},
    Context, Storage,
};

/// `webdav`.
pub static SERVICE: Service = Service {
    name: "webdav",
    aliases: &[],
    display_name: "WebDAV",
    apis: &[Api::Storage],
    category: Category::FileStore,
    connect: Connect::Credentials,
    capabilities: service::BASIC_CAPABILITIES,
    staging: Staging::HiddenFile,
    colour: "#6a1b9a",
    open,
    item_key: service::no_item_key,
    names_by_id: false,
};

fn open(ctx: &Context, account: &AccountRef) -> Result<Box<dyn Storage>, ApiError> {
    crate::dal::open(ctx, account, SERVICE.capabilities)
}

/// Non-secret configuration of a WebDAV account.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WebdavConfig {
    /// Server URL (`https://dav.example.com/remote.php/dav`).
    pub url: String,
    /// User name.
    #[serde(default)]
    pub username: Option<String>,
    /// Folder the account is confined to.
    #[serde(default)]
    pub root: Option<String>,
}

/// Credentials of a WebDAV account (sealed at rest).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WebdavSecrets {
    /// Password.
    #[serde(default)]
    pub password: Option<String>,
}

/// The operator of a WebDAV account, connecting only where `guard` permits.
pub fn operator(
    config: &WebdavConfig,
    secrets: &WebdavSecrets,
    guard: &crate::guard::Guard,
) -> Result<Operator, ApiError> {
    crate::install_transport();
    let url = guard.check_url(&config.url, "url")?;
    let mut builder = opendal::services::Webdav::default()
        .endpoint(url.as_str().trim_end_matches('/'))
        .root(&format!(
            "/{}",
            config.root.as_deref().unwrap_or("").trim_matches('/')
        ));
    if let Some(user) = &config.username {
        builder = builder.username(user);
    }
    if let Some(password) = &secrets.password {
        builder = builder.password(password);
    }
    Operator::new(builder)
        .map(|op| guard.operator(op))
        .map_err(|e| ApiError::invalid_parameters(format!("Invalid WebDAV settings: {e}")))
}

/// A streaming `PUT` of `path` (relative to the account root), for uploads: OpenDAL's
/// WebDAV writer holds a whole file in memory before sending it, this does not. Sent with
/// `guard`'s client, where `guard` permits.
pub fn put_request(
    guard: &crate::guard::Guard,
    config: &WebdavConfig,
    secrets: &WebdavSecrets,
    path: &str,
) -> Result<reqwest::RequestBuilder, ApiError> {
    let mut url = guard.check_url(&config.url, "url")?;
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|_| ApiError::internal("WebDAV URL cannot be a base"))?;
        segments.pop_if_empty();
        let root = config.root.as_deref().unwrap_or("");
        // `push` percent-encodes each segment (spaces, `#`, `?`, `%`, unicode).
        for segment in root
            .split('/')
            .chain(path.split('/'))
            .filter(|s| !s.is_empty())
        {
            segments.push(segment);
        }
    }
    let mut request = guard.http().put(url);
    if let Some(user) = &config.username {
        request = request.basic_auth(user, secrets.password.as_deref());
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_urls_encode_every_segment() {
        let config = WebdavConfig {
            url: "http://dav.example.com/remote.php/dav/".into(),
            username: Some("u".into()),
            root: Some("/team/".into()),
        };
        let secrets = WebdavSecrets {
            password: Some("p".into()),
        };
        let guard = crate::guard::Guard::new(cloudbridge_shared::netguard::Policy::any()).unwrap();
        let request = put_request(&guard, &config, &secrets, "Docs & ü #?%/a b.txt")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            request.url().as_str(),
            "http://dav.example.com/remote.php/dav/team/Docs%20&%20%C3%BC%20%23%3F%25/a%20b.txt"
        );
        assert!(request.headers().contains_key("authorization"));
    }
}
