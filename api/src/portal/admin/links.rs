//! The one-time links: `/reset/{token}`, where an invited developer chooses its first
//! password or any developer a new one (the link works once, until it expires; using it
//! ends all the developer's sessions and signs it in), and "forgot password" (`/forgot`,
//! offered when mail is configured), which mails such a link and answers the same whether
//! or not the address has an account.

use askama::Template;
use axum::{
    extract::{ConnectInfo, Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Form,
};
use axum_extra::extract::CookieJar;
use cloudbridge_shared::db::{
    developer_links::{self, Purpose},
    developers,
};

use crate::portal::{
    auth::{self, Fields},
    session,
    view::{self, Frame},
    Portal,
};

/// `link.html`: choose a password.
#[derive(Template)]
#[template(path = "portal/link.html")]
pub struct ChoosePassword {
    pub frame: Frame,
    pub email: String,
    pub invite: bool,
    pub token: String,
    pub min_password: usize,
}

/// `forgot.html`.
#[derive(Template)]
#[template(path = "portal/forgot.html")]
pub struct Forgot {
    pub frame: Frame,
    pub email: String,
}

/// The link of `token`: under `portal.public_url`, or (for an admin to pass on, never for
/// a mail) the host the admin reached the portal at.
pub fn url(portal: &Portal, headers: &HeaderMap, token: &str) -> String {
    let base = portal.app.settings.portal.public_url.trim_end_matches('/');
    if !base.is_empty() {
        return format!("{base}/reset/{token}");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:8080");
    let scheme = if portal.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}/reset/{token}")
}

/// Mails the link of `token` to `email`; whether the mail server took it. Neither the link
/// nor the mail is logged.
pub async fn mail(
    portal: &Portal,
    email: &str,
    token: &str,
    purpose: Purpose,
    expires: &str,
) -> bool {
    let Some((mailer, base)) = portal.mail_links() else {
        return false;
    };
    let link = format!("{base}/reset/{token}");
    let (subject, what) = match purpose {
        Purpose::Invite => (
            "You are invited to the Cloudbridge developer portal",
            "You are invited to the Cloudbridge developer portal. To choose your password",
        ),
        Purpose::Reset => (
            "Reset your Cloudbridge developer portal password",
            "To choose a new password for the Cloudbridge developer portal",
        ),
    };
    let text = format!(
        "Hello,\n\n{what} ({email}), open this link. It works once, until {expires}:\n\n\
         {link}\n\nIf you did not expect this mail, ignore it: nothing changes until the \
         link is used.\n"
    );
    match mailer.send(email, subject, text).await {
        Ok(()) => {
            tracing::info!(purpose = ?purpose, "portal link mailed");
            true
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "portal link not mailed");
            false
        }
    }
}

/// The answer to a link that cannot be used (unknown, used, expired, replaced, or its
/// developer disabled: the same answer).
fn unusable() -> Response {
    view::message(
        StatusCode::NOT_FOUND,
        Frame::default(),
        "This link cannot be used",
        "It was used already, it expired, or a newer one replaced it. Ask the appliance's \
         admin for a new one.",
    )
}

fn choose_page(
    portal: &Portal,
    jar: CookieJar,
    status: StatusCode,
    link: &developer_links::Link,
    token: &str,
    error: Option<String>,
) -> Response {
    let (jar, csrf) = session::pre_csrf(jar, portal.secure_cookies);
    let page = ChoosePassword {
        frame: Frame {
            csrf,
            error,
            ..Frame::default()
        },
        email: link.email.clone(),
        invite: link.purpose == Purpose::Invite,
        token: token.to_string(),
        min_password: auth::MIN_PASSWORD,
    };
    (jar, view::render(status, &page)).into_response()
}

/// `GET /reset/{token}`.
pub async fn form(
    State(portal): State<Portal>,
    Path(token): Path<String>,
    jar: CookieJar,
) -> Response {
    match developer_links::find(&portal.app.db, &token).await {
        Ok(Some(link)) => choose_page(&portal, jar, StatusCode::OK, &link, &token, None),
        Ok(None) => unusable(),
        Err(e) => view::unavailable(e),
    }
}

/// `POST /reset/{token}`: the new password; the link is used up, all the developer's
/// sessions end, and it is signed in.
pub async fn choose(
    State(portal): State<Portal>,
    Path(token): Path<String>,
    jar: CookieJar,
    Form(form): Form<Fields>,
) -> Response {
    if !session::pre_csrf_ok(&jar, form.get("csrf").map(String::as_str)) {
        return view::forbidden();
    }
    let link = match developer_links::find(&portal.app.db, &token).await {
        Ok(Some(link)) => link,
        Ok(None) => return unusable(),
        Err(e) => return view::unavailable(e),
    };
    let password = auth::field(&form, "password");
    if let Some(problem) = auth::password_problem(password) {
        return choose_page(
            &portal,
            jar,
            StatusCode::BAD_REQUEST,
            &link,
            &token,
            Some(problem),
        );
    }
    let hash = match portal.app.limits.hashing.hash(password.to_string()).await {
        Ok(hash) => hash,
        Err(e) => return view::unavailable(e.body("portal")),
    };
    // Used at most once, even by two submissions at the same time.
    match developer_links::redeem(&portal.app.db, &token, &hash).await {
        Ok(Some(link)) => {
            tracing::info!(developer.id = link.developer_id, purpose = ?link.purpose, "portal link used");
            auth::enter(&portal, jar, link.developer_id).await
        }
        Ok(None) => unusable(),
        Err(e) => view::unavailable(e),
    }
}

/// The "forgot password" page, or 404 when mail is not configured.
fn forgot_page(
    portal: &Portal,
    jar: CookieJar,
    status: StatusCode,
    email: &str,
    (flash, error): (Option<String>, Option<String>),
) -> Response {
    if portal.mail_links().is_none() {
        return view::not_found(Frame::default());
    }
    let (jar, csrf) = session::pre_csrf(jar, portal.secure_cookies);
    let page = Forgot {
        frame: Frame {
            csrf,
            flash,
            error,
            ..Frame::default()
        },
        email: email.to_string(),
    };
    (jar, view::render(status, &page)).into_response()
}

/// `GET /forgot`.
pub async fn forgot_form(State(portal): State<Portal>, jar: CookieJar) -> Response {
    forgot_page(&portal, jar, StatusCode::OK, "", (None, None))
}

/// `POST /forgot`: throttled like signing in; the same answer whether or not the address
/// has an account (looking it up, issuing the link and mailing it happen after answering).
pub async fn forgot(
    State(portal): State<Portal>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<Fields>,
) -> Response {
    if portal.mail_links().is_none() {
        return view::not_found(Frame::default());
    }
    if !session::pre_csrf_ok(&jar, form.get("csrf").map(String::as_str)) {
        return view::forbidden();
    }
    let email = developers::normalise_email(auth::field(&form, "email"));
    if let Err(wait) = portal.throttle_login(&email, portal.client(&headers, peer)) {
        let said = (None, Some(wait));
        return forgot_page(&portal, jar, StatusCode::TOO_MANY_REQUESTS, &email, said);
    }
    if auth::plausible_email(&email) {
        tokio::spawn(send_reset(portal.clone(), email.clone()));
    }
    let done = "If an account has this address, a link to choose a new password is on its \
                way. It works once, for a limited time."
        .to_string();
    forgot_page(&portal, jar, StatusCode::OK, &email, (Some(done), None))
}

/// Mails a reset link to `email` if an enabled developer has it.
async fn send_reset(portal: Portal, email: String) {
    let developer = match developers::login(&portal.app.db, &email).await {
        Ok(Some(found)) if !found.disabled => found.id,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e, "password reset not sent");
            return;
        }
    };
    let ttl = portal.app.settings.portal.reset_ttl_secs;
    let token =
        match developer_links::issue(&portal.app.db, developer, Purpose::Reset, None, ttl).await {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(error = %e, "password reset not sent");
                return;
            }
        };
    let expires = view::when(chrono::Utc::now() + chrono::Duration::seconds(ttl as i64));
    mail(&portal, &email, &token, Purpose::Reset, &expires).await;
}
