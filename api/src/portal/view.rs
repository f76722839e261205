//! The portal's pages (askama templates in `api/templates/portal/`, checked when the crate
//! compiles) and how they become responses.

use askama::Template;
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
};
use chrono::{DateTime, Utc};

/// What every page's frame shows: who is signed in (their e-mail and session CSRF token
/// for the sign-out form), the application the page is about, and a message.
#[derive(Default)]
pub struct Frame {
    /// The signed-in developer's e-mail.
    pub signed_in: Option<String>,
    /// Whether they are an appliance admin (the admin pages are linked).
    pub admin: bool,
    /// The application whose pages are shown, with its tabs.
    pub app: Option<AppTabs>,
    /// The session's CSRF token (empty when signed out).
    pub csrf: String,
    /// A note on what just happened.
    pub flash: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
}

impl Frame {
    /// The frame of a signed-in page.
    pub fn signed(session: &cloudbridge_shared::db::portal_sessions::Session) -> Self {
        Self {
            signed_in: Some(session.email.clone()),
            admin: session.admin,
            csrf: session.csrf.clone(),
            ..Self::default()
        }
    }

    /// The frame of a page of application `id` called `name`, on tab `tab`.
    pub fn of_app(
        session: &cloudbridge_shared::db::portal_sessions::Session,
        id: &str,
        name: &str,
        tab: Tab,
    ) -> Self {
        Self {
            app: Some(AppTabs {
                id: id.into(),
                name: name.into(),
                tab,
            }),
            ..Self::signed(session)
        }
    }
}

/// The pages of one application, shown as tabs above each of them.
pub struct AppTabs {
    /// The application's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The tab shown.
    pub tab: Tab,
}

impl AppTabs {
    /// The tabs as links, the shown one marked.
    pub fn links(&self) -> Vec<TabLink> {
        Tab::ALL
            .iter()
            .map(|&tab| TabLink {
                label: tab.label(),
                href: tab.href(&self.id),
                current: tab == self.tab,
            })
            .collect()
    }
}

/// One tab as a link.
pub struct TabLink {
    /// What it says.
    pub label: &'static str,
    /// Where it goes.
    pub href: String,
    /// Whether it is the page shown.
    pub current: bool,
}

/// One tab of an application's pages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Settings, redirect URIs, API keys.
    Overview,
    /// Connected accounts and their events.
    Accounts,
    /// Webhooks and their deliveries.
    Webhooks,
    /// Requests, errors, events and deliveries per day.
    Usage,
    /// Upload locations of the File Picker's computer uploads.
    Uploads,
    /// OAuth client ids and secrets per service.
    Services,
}

impl Tab {
    /// Every tab, in the order shown.
    pub const ALL: [Tab; 6] = [
        Tab::Overview,
        Tab::Accounts,
        Tab::Webhooks,
        Tab::Usage,
        Tab::Uploads,
        Tab::Services,
    ];

    /// What the tab says.
    pub fn label(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Accounts => "Accounts",
            Tab::Webhooks => "Webhooks",
            Tab::Usage => "Usage",
            Tab::Uploads => "Upload locations",
            Tab::Services => "Service keys",
        }
    }

    /// Where the tab of application `id` is.
    pub fn href(self, id: &str) -> String {
        let tail = match self {
            Tab::Overview => "",
            Tab::Accounts => "/accounts",
            Tab::Webhooks => "/webhooks",
            Tab::Usage => "/usage",
            Tab::Uploads => "/upload_locations",
            Tab::Services => "/services",
        };
        format!("/apps/{id}{tail}")
    }
}

/// `login.html`.
#[derive(Template)]
#[template(path = "portal/login.html")]
pub struct Login {
    pub frame: Frame,
    pub email: String,
    pub signup: bool,
    /// Whether "forgot password" is offered (mail is configured).
    pub forgot: bool,
}

/// `signup.html`.
#[derive(Template)]
#[template(path = "portal/signup.html")]
pub struct Signup {
    pub frame: Frame,
    pub email: String,
    pub min_password: usize,
}

/// `account.html`.
#[derive(Template)]
#[template(path = "portal/account.html")]
pub struct Account {
    pub frame: Frame,
    pub email: String,
    pub admin: bool,
    pub min_password: usize,
    /// The developer's DeveloperKeys.
    pub keys: Vec<DevKeyRow>,
    /// A DeveloperKey just made, shown this once.
    pub new_key: Option<String>,
}

/// One DeveloperKey (never the key itself).
pub struct DevKeyRow {
    pub id: i64,
    pub created: String,
}

/// One row of the applications list.
pub struct AppRow {
    pub id: String,
    pub name: String,
    pub active: bool,
    pub created: String,
}

/// `apps.html`.
#[derive(Template)]
#[template(path = "portal/apps.html")]
pub struct Apps {
    pub frame: Frame,
    pub apps: Vec<AppRow>,
}

/// One API key of an application (never the key itself).
pub struct KeyRow {
    pub id: String,
    pub created: String,
}

/// `app.html`.
#[derive(Template)]
#[template(path = "portal/app.html")]
pub struct App {
    pub frame: Frame,
    pub id: String,
    pub name: String,
    pub description: String,
    pub logo_url: String,
    pub active: bool,
    pub implicit_grant_enabled: bool,
    pub events_grant_enabled: bool,
    /// One per line.
    pub trusted_domains: String,
    /// One per line.
    pub redirect_uris: String,
    pub created: String,
    pub keys: Vec<KeyRow>,
    /// A key just made, shown this once.
    pub new_key: Option<String>,
}

/// `message.html`: a page that only says something.
#[derive(Template)]
#[template(path = "portal/message.html")]
pub struct Message {
    pub frame: Frame,
    pub heading: String,
    pub text: String,
}

/// A time as pages show it.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `page` rendered with `status`, never cached.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "portal page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown.",
            )
                .into_response()
        }
    }
}

/// A page saying `text` under `heading`.
pub fn message(status: StatusCode, frame: Frame, heading: &str, text: &str) -> Response {
    render(
        status,
        &Message {
            frame,
            heading: heading.into(),
            text: text.into(),
        },
    )
}

/// The page of something that is not there (or not the developer's: the same answer).
pub fn not_found(frame: Frame) -> Response {
    message(
        StatusCode::NOT_FOUND,
        frame,
        "Not found",
        "There is nothing here, or it is not yours.",
    )
}

/// The page of a form posted without its CSRF token.
pub fn forbidden() -> Response {
    message(
        StatusCode::FORBIDDEN,
        Frame::default(),
        "Form expired",
        "This form is stale or did not come from this portal. Go back, reload the page and try again.",
    )
}

/// The page of the database or another part being unavailable.
pub fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "portal request failed");
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        Frame::default(),
        "Try again in a moment",
        "The portal could not reach its database.",
    )
}
