//! The application's side of a connect flow: who asks, where the user goes back, and
//! which services the requested scope allows.

use std::collections::HashMap;

use cloudbridge_connectors::service::{self as services, Api, Service};
use cloudbridge_shared::db;
use serde::{Deserialize, Serialize};

use super::OOB;
use crate::AppState;

/// What the application asked for, kept with the flow.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    /// `code` or `token` (popup).
    pub response_type: String,
    /// Where the browser goes back (or [`OOB`]).
    pub redirect_uri: String,
    /// The application's opaque `state`, returned as is.
    pub state: Option<String>,
    /// The requested scope, as sent.
    pub scope: String,
    /// Services the scope allows, in the order offered.
    pub services: Vec<String>,
    /// Popup flow: the window origin the result is posted to.
    pub origin: Option<String>,
    /// Popup flow: the widget's request id, returned as is.
    pub request_id: Option<String>,
    /// The URL of Cloudbridge's callback, as sent to the service.
    pub callback: String,
}

/// Why a request cannot start a flow.
pub enum Refusal {
    /// No verified redirect URI: say it on a page.
    Page(String),
    /// The redirect URI is verified: send the error there.
    Redirect {
        /// Where.
        redirect_uri: String,
        /// The application's state.
        state: Option<String>,
        /// OAuth error code.
        error: &'static str,
        /// What happened.
        description: String,
    },
}

/// Checks the query of `GET /v1/oauth`; returns the application id and the request.
pub async fn check(
    state: &AppState,
    q: &HashMap<String, String>,
    base: &str,
) -> Result<(String, Request), Refusal> {
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let page = |m: &str| Refusal::Page(m.to_string());
    let client_id = get("client_id")
        .or(get("app_id"))
        .ok_or_else(|| page("`client_id` is required."))?;
    let app = db::applications::get_any(&state.db, client_id)
        .await
        .map_err(|_| page("The application could not be read; try again."))?
        .filter(|a| a.active)
        .ok_or_else(|| page("No active application has this `client_id`."))?;
    let redirect_uri = get("redirect_uri").ok_or_else(|| page("`redirect_uri` is required."))?;
    let origin = get("origin").map(str::to_string);
    let allowed = db::providers::redirect_uris(&state.db, &app.id)
        .await
        .map_err(|_| page("The application could not be read; try again."))?;
    if redirect_uri == OOB {
        // The popup posts the token to `origin`: it must be one of the application's own,
        // a registered redirect URI's or a trusted domain, or this appliance's (the File
        // Picker it hosts, which hands tokens on only to trusted pages).
        let origin = origin
            .as_deref()
            .ok_or_else(|| page("The popup flow needs `origin`."))?;
        let registered = allowed
            .iter()
            .any(|uri| origin_of(uri).as_deref() == Some(origin));
        let ours = origin_of(base).as_deref() == Some(origin);
        if !registered && !ours && !app.trusted_domains.iter().any(|d| d == origin) {
            return Err(page(
                "`origin` is neither a trusted domain of the application nor the origin of a registered redirect URI.",
            ));
        }
    } else if !allowed.iter().any(|uri| uri == redirect_uri) {
        return Err(page(
            "`redirect_uri` is not registered for this application.",
        ));
    }
    let refuse = |error: &'static str, description: &str| Refusal::Redirect {
        redirect_uri: redirect_uri.to_string(),
        state: get("state").map(str::to_string),
        error,
        description: description.to_string(),
    };
    let response_type = get("response_type").unwrap_or("code");
    match response_type {
        "code" if redirect_uri != OOB => {}
        "token" if !app.implicit_grant_enabled => {
            return Err(refuse(
                "unauthorized_client",
                "The application does not allow the implicit (popup) flow.",
            ))
        }
        "token" => {}
        _ => {
            return Err(refuse(
                "unsupported_response_type",
                "`response_type` must be `code` (or `token` for the popup flow).",
            ))
        }
    }
    if redirect_uri == OOB && response_type != "token" {
        return Err(page("The popup flow needs `response_type=token`."));
    }
    let scope = get("scope").unwrap_or("any").to_string();
    let services = services_in(&scope);
    if services.is_empty() {
        return Err(refuse(
            "invalid_scope",
            if asks_for_calendars(&scope) {
                "The scope names no service this appliance can connect; its calendars are \
                 CalDAV servers (`caldav`)."
            } else {
                "The scope names no service this appliance can connect."
            },
        ));
    }
    Ok((
        app.id,
        Request {
            response_type: response_type.to_string(),
            redirect_uri: redirect_uri.to_string(),
            state: get("state").map(str::to_string),
            scope,
            services,
            origin,
            request_id: get("request_id").map(str::to_string),
            callback: format!("{base}/v1/oauth/callback"),
        },
    ))
}

/// Services a Kloudless scope allows, word by word (each word's OAuth services first):
/// `any`, `all` allow every service the hosted page connects (OAuth and credentials);
/// `storage`, `any.storage` the storage services, `calendar`, `calendar:normal` (the
/// Meeting Scheduler's), `any.calendar` the calendar services; `gdrive`,
/// `gdrive.storage`, `gdrive:admin`, `webdav:normal.storage` (the File Picker's
/// spelling) name one, by its name or an alias (`skydrive`), given as its canonical
/// name. Words for other APIs (`salesforce.crm`) name nothing.
pub fn services_in(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in scope.split_whitespace() {
        for s in named_by(word) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
    }
    out
}

/// The services one scope word names: `<svc>[:<mode>][.<api>[…]]`, where `<svc>` is a
/// service (by its name or an alias), `any` / `all` (every service), or an API (`storage`,
/// `calendar`: the services answering it), and `<api>` (`storage`, `calendar`, or `basic`,
/// which the picker asks for alongside) keeps the services answering it.
fn named_by(word: &str) -> Vec<&'static str> {
    let (head, rest) = word.split_at(word.find(['.', ':']).unwrap_or(word.len()));
    let api = rest
        .split_once('.')
        .map(|(_, api)| api.split(['.', ':', '"']).next().unwrap_or(""));
    let api_named = |name: &str| match name {
        "storage" => Some(Api::Storage),
        "calendar" => Some(Api::Calendar),
        _ => None,
    };
    let wanted = match api {
        None | Some("" | "basic") => None,
        Some(name) => match api_named(name) {
            Some(api) => Some(api),
            None => return Vec::new(),
        },
    };
    let offered = connectable().filter(|s| wanted.is_none_or(|api| s.answers(api)));
    match head {
        "any" | "all" => offered.map(|s| s.name).collect(),
        "storage" | "calendar" => offered
            .filter(|s| api_named(head).is_some_and(|api| s.answers(api)))
            .map(|s| s.name)
            .collect(),
        // An alias (Kloudless' `skydrive`) names its service.
        named => match services::find(named) {
            Some(service) => offered
                .filter(|s| std::ptr::eq(*s, service))
                .map(|s| s.name)
                .collect(),
            None => Vec::new(),
        },
    }
}

/// The services the hosted connect page connects, in the order it offers them: the
/// OAuth services, then those connected by credentials (not `local`, an appliance
/// folder only an application's API key creates). The File Picker lists these.
pub fn connectable() -> impl Iterator<Item = &'static Service> {
    services::oauth().chain(services::credentials())
}

/// Whether a scope asks for calendars (Kloudless' calendar API, `google_calendar`…):
/// when it names nothing this appliance connects, the refusal says which calendars it does.
fn asks_for_calendars(scope: &str) -> bool {
    scope
        .split(|c: char| c.is_whitespace() || c == '.' || c == ':')
        .any(|part| part.contains("calendar"))
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    match url.origin() {
        url::Origin::Tuple(..) => Some(url.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_name_services() {
        let every: Vec<String> = connectable().map(|s| s.name.to_string()).collect();
        assert!(every.iter().any(|s| s == "webdav"), "{every:?}");
        assert!(!every.iter().any(|s| s == "local"), "{every:?}");
        let storage: Vec<String> = every.iter().filter(|s| *s != "caldav").cloned().collect();
        assert_eq!(services_in("any"), every);
        assert_eq!(services_in("all"), every);
        assert_eq!(services_in("any.storage"), storage);
        assert_eq!(services_in("storage"), storage);
        assert_eq!(services_in("any:normal.storage.default"), storage);
        for calendars in [
            "calendar",
            "calendar:normal",
            "any.calendar",
            "caldav.calendar",
        ] {
            assert_eq!(services_in(calendars), ["caldav"], "{calendars}");
        }
        assert!(services_in("caldav.storage").is_empty());
        assert!(services_in("storage.calendar").is_empty());
        assert!(services_in("salesforce.crm").is_empty());
        assert!(services_in("").is_empty());
        assert!(services_in("local").is_empty());
        for s in &storage {
            assert_eq!(services_in(&format!("{s}.storage {s}")), vec![s.clone()]);
            // The File Picker's spelling.
            assert_eq!(
                services_in(&format!("{s}:normal.storage {s}:normal.basic")),
                vec![s.clone()]
            );
            assert_eq!(services_in(&format!("{s}:admin")), vec![s.clone()]);
        }
        assert_eq!(services_in("skydrive:normal.storage"), vec!["onedrive"]);
        assert_eq!(services_in("sftp webdav"), vec!["sftp", "webdav"]);
        assert_eq!(
            services_in(r#"gdrive.storage."https://www.googleapis.com/auth/drive":raw"#),
            vec!["gdrive"]
        );
    }

    #[test]
    fn calendars_are_named_in_the_refusal() {
        for scope in ["google_calendar", "outlook_calendar", "gdrive.calendar"] {
            assert!(services_in(scope).is_empty(), "{scope}");
            assert!(asks_for_calendars(scope), "{scope}");
        }
        assert_eq!(services_in("calendar gdrive"), vec!["caldav", "gdrive"]);
        assert!(!asks_for_calendars("any salesforce.crm"));
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://app.example/cb?x=1").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:9/cb").as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(origin_of("urn:x"), None);
    }
}
