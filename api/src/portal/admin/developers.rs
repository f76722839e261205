//! `/admin/developers`: every developer of the appliance, with a search; invitations (a
//! developer made without a password, and a one-time link to choose one), disabling and
//! enabling, and password resets (the same kind of link). A link is shown to the admin to
//! pass on, and mailed too when mail is configured and the admin asks for it.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use cloudbridge_shared::db::{
    developer_links::{self, Purpose},
    developers,
};

use super::{links, Admin, AdminPosted};
use crate::portal::{
    auth,
    session::Signed,
    view::{self, Frame},
    Portal,
};

/// Most developers one page lists (the search narrows it).
const SHOWN: i64 = 200;

/// One developer in the list.
pub struct Row {
    pub id: i64,
    pub email: String,
    pub admin: bool,
    pub disabled: bool,
    /// Invited and has not chosen a password yet.
    pub invited: bool,
    /// The developer of `bootstrap_developer_key` (a key, never a sign-in).
    pub bootstrap: bool,
    pub applications: i64,
    pub created: String,
    /// The admin looking at the page (who cannot disable themselves).
    pub me: bool,
}

/// A link just issued, shown to the admin to pass on.
pub struct Issued {
    pub email: String,
    pub url: String,
    pub expires: String,
    /// Whether it was mailed as well (and whether that worked).
    pub mailed: Option<bool>,
}

/// `admin_developers.html`.
#[derive(Template)]
#[template(path = "portal/admin_developers.html")]
pub struct Developers {
    pub frame: Frame,
    pub search: String,
    pub developers: Vec<Row>,
    pub total: i64,
    /// Whether links can be mailed (mail and the portal's public URL configured).
    pub can_mail: bool,
    pub issued: Option<Issued>,
}

/// What the page says besides the list.
#[derive(Default)]
struct Said {
    flash: Option<String>,
    error: Option<String>,
    issued: Option<Issued>,
}

async fn page(
    portal: &Portal,
    signed: &Signed,
    search: &str,
    status: StatusCode,
    said: Said,
) -> Response {
    let (found, total) = match developers::list(&portal.app.db, search, SHOWN).await {
        Ok(found) => found,
        Err(e) => return view::unavailable(e),
    };
    let me = signed.session.developer_id;
    view::render(
        status,
        &Developers {
            frame: Frame {
                flash: said.flash,
                error: said.error,
                ..Frame::signed(&signed.session)
            },
            search: search.to_string(),
            developers: found
                .into_iter()
                .map(|d| Row {
                    me: d.id == me,
                    bootstrap: d.email == crate::startup::BOOTSTRAP_EMAIL,
                    id: d.id,
                    email: d.email,
                    admin: d.admin,
                    disabled: d.disabled,
                    invited: !d.has_password,
                    applications: d.applications,
                    created: view::when(d.created_at),
                })
                .collect(),
            total,
            can_mail: portal.mail_links().is_some(),
            issued: said.issued,
        },
    )
}

/// `GET /admin/developers?q=…`.
pub async fn list(
    State(portal): State<Portal>,
    Admin(signed): Admin,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let search = q.get("q").map(String::as_str).unwrap_or_default();
    page(&portal, &signed, search, StatusCode::OK, Said::default()).await
}

/// Issues a link of `purpose` to `developer` (`email`), mails it when `mail` and mail is
/// possible, and shows it.
async fn issue_and_show(
    portal: &Portal,
    signed: &Signed,
    headers: &HeaderMap,
    (developer, email): (i64, &str),
    purpose: Purpose,
    mail: bool,
) -> Response {
    let settings = &portal.app.settings.portal;
    let ttl = match purpose {
        Purpose::Invite => settings.invite_ttl_secs,
        Purpose::Reset => settings.reset_ttl_secs,
    };
    let by = Some(signed.session.developer_id);
    let token = match developer_links::issue(&portal.app.db, developer, purpose, by, ttl).await {
        Ok(token) => token,
        Err(e) => return view::unavailable(e),
    };
    let expires = view::when(chrono::Utc::now() + chrono::Duration::seconds(ttl as i64));
    let mailed = if mail && portal.mail_links().is_some() {
        Some(links::mail(portal, email, &token, purpose, &expires).await)
    } else {
        None
    };
    let flash = match purpose {
        Purpose::Invite => format!("{email} is invited."),
        Purpose::Reset => format!("A password reset link for {email} is ready."),
    };
    let issued = Issued {
        email: email.to_string(),
        url: links::url(portal, headers, &token),
        expires,
        mailed,
    };
    let said = Said {
        flash: Some(flash),
        issued: Some(issued),
        ..Said::default()
    };
    page(portal, signed, "", StatusCode::OK, said).await
}

/// `POST /admin/developers`: invites `email` (a developer without a password, and a link
/// to choose one).
pub async fn invite(
    State(portal): State<Portal>,
    headers: HeaderMap,
    AdminPosted(posted): AdminPosted,
) -> Response {
    let signed = &posted.signed;
    let email = developers::normalise_email(posted.form.get("email").map_or("", |e| e));
    let refuse = |status, error: &str| {
        let said = Said {
            error: Some(error.to_string()),
            ..Said::default()
        };
        page(&portal, signed, "", status, said)
    };
    if !auth::plausible_email(&email) {
        return refuse(StatusCode::BAD_REQUEST, "Enter an e-mail address.").await;
    }
    let developer = match developers::invite(&portal.app.db, &email).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            let error = "A developer with this e-mail exists; issue a password reset instead.";
            return refuse(StatusCode::CONFLICT, error).await;
        }
        Err(e) => return view::unavailable(e),
    };
    let mail = posted.form.get("mail").is_some_and(|m| m == "true");
    let target = (developer, email.as_str());
    issue_and_show(&portal, signed, &headers, target, Purpose::Invite, mail).await
}

/// `POST /admin/developers/{id}/reset`: a one-time link to choose a new password.
pub async fn reset(
    State(portal): State<Portal>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    AdminPosted(posted): AdminPosted,
) -> Response {
    let signed = &posted.signed;
    let developer = match developers::get(&portal.app.db, id).await {
        Ok(Some(d)) => d,
        Ok(None) => return view::not_found(Frame::signed(&signed.session)),
        Err(e) => return view::unavailable(e),
    };
    let mail = posted.form.get("mail").is_some_and(|m| m == "true");
    let target = (developer.id, developer.email.as_str());
    issue_and_show(&portal, signed, &headers, target, Purpose::Reset, mail).await
}

/// Disables or enables developer `id`: disabled, its sessions end, signing in and its
/// DeveloperKeys are refused at once (this process forgets the key it verified; other API
/// processes within `api.auth_cache_ms`).
async fn set_disabled(portal: &Portal, signed: &Signed, id: i64, disabled: bool) -> Response {
    if disabled && id == signed.session.developer_id {
        let said = Said {
            error: Some("You cannot disable your own account.".into()),
            ..Said::default()
        };
        return page(portal, signed, "", StatusCode::BAD_REQUEST, said).await;
    }
    let email = match developers::get(&portal.app.db, id).await {
        Ok(Some(d)) => d.email,
        Ok(None) => return view::not_found(Frame::signed(&signed.session)),
        Err(e) => return view::unavailable(e),
    };
    if let Err(e) = developers::set_disabled(&portal.app.db, id, disabled).await {
        return view::unavailable(e);
    }
    portal
        .app
        .callers
        .invalidate(|_, c| matches!(c, crate::auth::Caller::Developer(d) if *d == id));
    tracing::info!(
        developer.id = id,
        admin.id = signed.session.developer_id,
        disabled,
        "developer disabled or enabled"
    );
    let flash = if disabled {
        format!("{email} is disabled: signed out, and their DeveloperKeys are refused.")
    } else {
        format!("{email} is enabled again.")
    };
    let said = Said {
        flash: Some(flash),
        ..Said::default()
    };
    page(portal, signed, "", StatusCode::OK, said).await
}

/// `POST /admin/developers/{id}/disable`.
pub async fn disable(
    State(portal): State<Portal>,
    Path(id): Path<i64>,
    AdminPosted(posted): AdminPosted,
) -> Response {
    set_disabled(&portal, &posted.signed, id, true).await
}

/// `POST /admin/developers/{id}/enable`.
pub async fn enable(
    State(portal): State<Portal>,
    Path(id): Path<i64>,
    AdminPosted(posted): AdminPosted,
) -> Response {
    set_disabled(&portal, &posted.signed, id, false).await
}
