//! Signing up, in and out, and changing one's password.

use std::collections::HashMap;

use axum::{
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Form,
};
use axum_extra::extract::CookieJar;
use cloudbridge_shared::db::{developers, portal_sessions};

use super::{
    session::{self, Posted, Signed},
    view::{self, Frame},
    Portal,
};

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 10;
/// Longest password accepted (hashing cost stays bounded).
const MAX_PASSWORD: usize = 256;

/// A form's fields.
pub(super) type Fields = HashMap<String, String>;

/// Field `name` of `form` (empty when absent).
pub(super) fn field<'a>(form: &'a Fields, name: &str) -> &'a str {
    form.get(name).map(String::as_str).unwrap_or_default()
}

/// What is wrong with a chosen password, if anything.
pub(super) fn password_problem(password: &str) -> Option<String> {
    let chars = password.chars().count();
    (chars < MIN_PASSWORD || password.len() > MAX_PASSWORD)
        .then(|| format!("A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters."))
}

/// The sign-in page, with `error` when the last attempt failed.
fn login_page(
    portal: &Portal,
    jar: CookieJar,
    status: StatusCode,
    email: &str,
    error: Option<String>,
    flash: Option<String>,
) -> Response {
    let (jar, csrf) = session::pre_csrf(jar, portal.secure_cookies);
    let page = view::Login {
        frame: Frame {
            csrf,
            flash,
            error,
            ..Frame::default()
        },
        email: email.into(),
        signup: portal.app.settings.portal.signup,
        forgot: portal.mail_links().is_some(),
    };
    (jar, view::render(status, &page)).into_response()
}

/// `GET /login`.
pub async fn login_form(
    State(portal): State<Portal>,
    jar: CookieJar,
    Query(q): Query<Fields>,
) -> Response {
    let flash = q
        .contains_key("expired")
        .then(|| "Your session ended; sign in again.".to_string());
    login_page(&portal, jar, StatusCode::OK, "", None, flash)
}

/// `POST /login`: e-mail and password, throttled per account and per address.
pub async fn login(
    State(portal): State<Portal>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<Fields>,
) -> Response {
    if !session::pre_csrf_ok(&jar, form.get("csrf").map(String::as_str)) {
        return view::forbidden();
    }
    let email = developers::normalise_email(field(&form, "email"));
    let password = field(&form, "password");
    let client = portal.client(&headers, peer);
    if let Err(wait) = portal.throttle_login(&email, client) {
        return login_page(
            &portal,
            jar,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            Some(wait),
            None,
        );
    }
    let found = match developers::login(&portal.app.db, &email).await {
        Ok(found) => found,
        Err(e) => return view::unavailable(e),
    };
    // An unknown address costs a hash too, so that timing does not tell who has an account.
    let hash = found
        .as_ref()
        .and_then(|f| f.password_hash.clone())
        .unwrap_or_else(|| portal.decoy_hash.clone());
    let matches = match portal
        .app
        .limits
        .hashing
        .verify(password.to_string(), hash)
        .await
    {
        Ok(matches) => matches,
        Err(e) => return view::unavailable(e.body("portal")),
    };
    let developer = match found {
        Some(f) if matches && !f.disabled && f.password_hash.is_some() => f.id,
        _ => {
            let refused = "That e-mail and password do not match an account.".to_string();
            return login_page(
                &portal,
                jar,
                StatusCode::UNAUTHORIZED,
                &email,
                Some(refused),
                None,
            );
        }
    };
    enter(&portal, jar, developer).await
}

/// Signs `developer` in: a new session, and on to their applications.
pub(super) async fn enter(portal: &Portal, jar: CookieJar, developer: i64) -> Response {
    match session::start(portal, developer).await {
        Ok(cookie) => (
            jar.remove(session::removal(session::PRE_CSRF)).add(cookie),
            Redirect::to("/apps"),
        )
            .into_response(),
        Err(e) => view::unavailable(e.body("portal")),
    }
}

/// The sign-up page.
fn signup_page(
    portal: &Portal,
    jar: CookieJar,
    status: StatusCode,
    email: &str,
    error: Option<String>,
) -> Response {
    if !portal.app.settings.portal.signup {
        return view::message(
            StatusCode::NOT_FOUND,
            Frame::default(),
            "Sign-up is off",
            "Developers of this appliance are invited by its admin.",
        );
    }
    let (jar, csrf) = session::pre_csrf(jar, portal.secure_cookies);
    let page = view::Signup {
        frame: Frame {
            csrf,
            error,
            ..Frame::default()
        },
        email: email.into(),
        min_password: MIN_PASSWORD,
    };
    (jar, view::render(status, &page)).into_response()
}

/// `GET /signup`.
pub async fn signup_form(State(portal): State<Portal>, jar: CookieJar) -> Response {
    signup_page(&portal, jar, StatusCode::OK, "", None)
}

/// `POST /signup`: a new developer, signed in at once.
pub async fn signup(
    State(portal): State<Portal>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<Fields>,
) -> Response {
    if !portal.app.settings.portal.signup {
        return signup_page(&portal, jar, StatusCode::NOT_FOUND, "", None);
    }
    if !session::pre_csrf_ok(&jar, form.get("csrf").map(String::as_str)) {
        return view::forbidden();
    }
    let email = developers::normalise_email(field(&form, "email"));
    let password = field(&form, "password");
    let again = |jar, status, error: String| signup_page(&portal, jar, status, &email, Some(error));
    if let Err(wait) = portal.throttle_signup(portal.client(&headers, peer)) {
        return again(jar, StatusCode::TOO_MANY_REQUESTS, wait);
    }
    if !plausible_email(&email) {
        return again(
            jar,
            StatusCode::BAD_REQUEST,
            "Enter an e-mail address.".into(),
        );
    }
    if let Some(problem) = password_problem(password) {
        return again(jar, StatusCode::BAD_REQUEST, problem);
    }
    let hash = match portal.app.limits.hashing.hash(password.to_string()).await {
        Ok(hash) => hash,
        Err(e) => return view::unavailable(e.body("portal")),
    };
    let developer = match developers::sign_up(&portal.app.db, &email, &hash).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            return again(
                jar,
                StatusCode::CONFLICT,
                "An account with this e-mail exists; sign in instead.".into(),
            )
        }
        Err(e) => return view::unavailable(e),
    };
    enter(&portal, jar, developer).await
}

/// Something@something, of a sane length.
pub(super) fn plausible_email(email: &str) -> bool {
    email.len() <= 254
        && email.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `POST /logout`.
pub async fn logout(
    State(portal): State<Portal>,
    jar: CookieJar,
    Posted { signed, .. }: Posted,
) -> Response {
    if let Err(e) = portal_sessions::delete(&portal.app.db, &signed.token).await {
        return view::unavailable(e);
    }
    (
        jar.remove(session::removal(session::SESSION)),
        Redirect::to("/login"),
    )
        .into_response()
}

/// What the account page says besides the account.
#[derive(Default)]
struct Said {
    flash: Option<String>,
    error: Option<String>,
    new_key: Option<String>,
}

async fn account_page(
    portal: &Portal,
    signed: &Signed,
    status: StatusCode,
    said: Said,
) -> Response {
    let keys = match developers::keys(&portal.app.db, signed.session.developer_id).await {
        Ok(keys) => keys,
        Err(e) => return view::unavailable(e),
    };
    view::render(
        status,
        &view::Account {
            frame: Frame {
                flash: said.flash,
                error: said.error,
                ..Frame::signed(&signed.session)
            },
            email: signed.session.email.clone(),
            admin: signed.session.admin,
            min_password: MIN_PASSWORD,
            keys: keys
                .into_iter()
                .map(|k| view::DevKeyRow {
                    id: k.id,
                    created: view::when(k.created_at),
                })
                .collect(),
            new_key: said.new_key,
        },
    )
}

/// `GET /account`.
pub async fn account(State(portal): State<Portal>, signed: Signed) -> Response {
    account_page(&portal, &signed, StatusCode::OK, Said::default()).await
}

/// `POST /account/keys`: a new DeveloperKey, shown once.
pub async fn new_developer_key(
    State(portal): State<Portal>,
    Posted { signed, .. }: Posted,
) -> Response {
    match developers::new_key(&portal.app.db, signed.session.developer_id).await {
        Ok(key) => {
            let said = Said {
                new_key: Some(key),
                ..Said::default()
            };
            account_page(&portal, &signed, StatusCode::OK, said).await
        }
        Err(e) => view::unavailable(e),
    }
}

/// `POST /account/keys/{id}/revoke`: the management API refuses the key at once.
pub async fn revoke_developer_key(
    State(portal): State<Portal>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    Posted { signed, .. }: Posted,
) -> Response {
    let dev = signed.session.developer_id;
    match developers::revoke_key(&portal.app.db, dev, id).await {
        Ok(true) => {
            portal
                .app
                .callers
                .invalidate(|_, c| matches!(c, crate::auth::Caller::Developer(d) if *d == dev));
            Redirect::to("/account").into_response()
        }
        Ok(false) => view::not_found(Frame::signed(&signed.session)),
        Err(e) => view::unavailable(e),
    }
}

/// `POST /account/password`: the current password, then the new one; other sessions end.
pub async fn change_password(
    State(portal): State<Portal>,
    Posted { signed, form }: Posted,
) -> Response {
    let refuse = |status, e: &str| {
        let said = Said {
            error: Some(e.to_string()),
            ..Said::default()
        };
        account_page(&portal, &signed, status, said)
    };
    let current = match developers::login(&portal.app.db, &signed.session.email).await {
        Ok(Some(found)) => found.password_hash.unwrap_or_default(),
        Ok(None) => return view::not_found(Frame::default()),
        Err(e) => return view::unavailable(e),
    };
    let hashing = &portal.app.limits.hashing;
    match hashing
        .verify(field(&form, "current").to_string(), current)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "The current password is not right.",
            )
            .await
        }
        Err(e) => return view::unavailable(e.body("portal")),
    }
    let password = field(&form, "password");
    if let Some(problem) = password_problem(password) {
        return refuse(StatusCode::BAD_REQUEST, &problem).await;
    }
    let hash = match hashing.hash(password.to_string()).await {
        Ok(hash) => hash,
        Err(e) => return view::unavailable(e.body("portal")),
    };
    let keep = cloudbridge_shared::secret::digest(&signed.token);
    match developers::change_password(&portal.app.db, signed.session.developer_id, &hash, &keep)
        .await
    {
        Ok(()) => {
            let said = Said {
                flash: Some("Password changed; your other sessions are signed out.".into()),
                ..Said::default()
            };
            account_page(&portal, &signed, StatusCode::OK, said).await
        }
        Err(e) => view::unavailable(e),
    }
}
