//! HTTP to a CalDAV server (RFC 4791): requests with the account's basic auth through the
//! guarded client (the URL is one the client chose), answers mapped to Kloudless errors,
//! and the discovery of the calendar home (RFC 6764 §6: `current-user-principal`, then
//! `calendar-home-set`).

use cloudbridge_shared::ApiError;
use reqwest::{Method, StatusCode};
use url::Url;

use super::{xml, CaldavConfig, CaldavSecrets};
use crate::guard::Guard;

/// The namespaces of the PROPFIND and REPORT bodies.
pub const NAMESPACES: &str = r#"xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:ic="http://apple.com/ns/ical/""#;

/// A CalDAV server as one account's user.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    username: Option<String>,
    password: Option<String>,
}

impl Client {
    /// The server of an account, reached only where `guard` permits.
    pub fn new(
        config: &CaldavConfig,
        secrets: &CaldavSecrets,
        guard: &Guard,
    ) -> Result<Self, ApiError> {
        let mut base = guard.check_url(&config.url, "url")?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ApiError::invalid_parameters(
                "`url` must be an http or https URL.",
            ));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            http: guard.http().clone(),
            base,
            username: config.username.clone(),
            password: secrets.password.clone(),
        })
    }

    /// The account's URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `href` (a path the server sent, or a URL) on the server: 502 when it points at
    /// another origin, where the account's credentials are never sent.
    pub fn resolve(&self, href: &str) -> Result<Url, ApiError> {
        let url = self
            .base
            .join(href)
            .map_err(|_| ApiError::bad_gateway("The CalDAV server sent an invalid href."))?;
        if url.origin() != self.base.origin() {
            return Err(ApiError::bad_gateway(
                "The CalDAV server pointed at another server.",
            ));
        }
        Ok(url)
    }

    /// A request with the account's credentials.
    pub fn request(&self, method: &str, url: Url) -> Result<reqwest::RequestBuilder, ApiError> {
        let method = Method::from_bytes(method.as_bytes()).map_err(ApiError::internal)?;
        let mut request = self.http.request(method, url);
        if let Some(user) = &self.username {
            request = request.basic_auth(user, self.password.as_deref());
        }
        Ok(request)
    }

    /// Sends `request`; the answer when its status is a success, else the Kloudless error
    /// for it.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let response = request.send().await.map_err(crate::oauth::unreachable)?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(status_error(response.status()))
    }

    /// `PROPFIND` of `props` (XML elements with the [`NAMESPACES`] prefixes) on `url`.
    pub async fn propfind(
        &self,
        url: &Url,
        depth: &str,
        props: &str,
    ) -> Result<Vec<xml::Response>, ApiError> {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><d:propfind {NAMESPACES}><d:prop>{props}</d:prop></d:propfind>"#
        );
        let request = self
            .request("PROPFIND", url.clone())?
            .header("Depth", depth)
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(body);
        let response = self.send(request).await?;
        if response.status() != StatusCode::MULTI_STATUS {
            return Err(not_caldav(format_args!(
                "PROPFIND answered {}",
                response.status().as_u16()
            )));
        }
        let text = response.text().await.map_err(crate::oauth::unreachable)?;
        xml::multistatus(&text)
    }

    /// The account's calendar home: where its calendars are (the `calendar-home-set` of
    /// the URL itself, else of its `current-user-principal`). 400 when the server is no
    /// CalDAV server, 401 when it refuses the credentials.
    pub async fn calendar_home(&self) -> Result<Url, ApiError> {
        self.find_home().await.map_err(|e| match e.status {
            // Refused credentials, an unreachable or failing server: as they are.
            401 | 429 | 503 => e,
            s if s >= 500 => e,
            _ if e.code == "invalid_parameters" => e,
            _ => not_caldav("it does not answer PROPFIND as one"),
        })
    }

    async fn find_home(&self) -> Result<Url, ApiError> {
        let asked = "<d:current-user-principal/><c:calendar-home-set/><d:resourcetype/>";
        let found = self.propfind(&self.base, "0", asked).await?;
        let first = found.first();
        if let Some(home) = first.and_then(|r| r.href_in("calendar-home-set")) {
            return self.resolve(home);
        }
        let principal = first
            .and_then(|r| r.href_in("current-user-principal"))
            .ok_or_else(|| not_caldav("the URL names no current-user-principal"))?;
        let principal = self.resolve(principal)?;
        let found = self
            .propfind(&principal, "0", "<c:calendar-home-set/>")
            .await?;
        let home = found
            .first()
            .and_then(|r| r.href_in("calendar-home-set"))
            .ok_or_else(|| not_caldav("the principal has no calendar-home-set"))?;
        self.resolve(home)
    }
}

/// The answer for a URL that is no CalDAV server.
fn not_caldav(why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_parameters(format!("The URL is not a CalDAV server's: {why}."))
}

/// The Kloudless error for a CalDAV server's refusal.
pub fn status_error(status: StatusCode) -> ApiError {
    match status.as_u16() {
        401 | 403 => crate::oauth::service_unauthorized(),
        404 | 410 => ApiError::not_found("No such calendar or event at the CalDAV server."),
        409 | 412 => ApiError::new(
            409,
            "conflict",
            "The calendar or event changed at the CalDAV server meanwhile.",
        ),
        429 => crate::oauth::rate_limited(std::time::Duration::from_secs(1)),
        s if s >= 500 => ApiError::bad_gateway(format!("The CalDAV server answered {s}.")),
        s => ApiError::bad_gateway(format!("The CalDAV server refused the request ({s}).")),
    }
}
