//! Who is signed in, and the CSRF check of every form.
//!
//! A session is a random cookie (`cb_session`: `HttpOnly`, `SameSite=Lax`, `Secure` under
//! TLS) kept in PostgreSQL as its digest, with a CSRF token that every form of the session
//! carries. Before signing in, the sign-in and sign-up forms carry the value of a second
//! random cookie (`cb_csrf`, double submit), so another site cannot post them either.

use axum::{
    extract::FromRequestParts,
    http::request::Parts,
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use cloudbridge_shared::{
    db::portal_sessions::{self, Session},
    secret::random_token,
};

use super::{view, Portal};

/// The session cookie.
pub const SESSION: &str = "cb_session";
/// The cookie the signed-out forms' CSRF token is checked against.
pub const PRE_CSRF: &str = "cb_csrf";

/// A cookie of the portal: host-only, whole site, not readable by scripts.
pub fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build()
}

/// The cookie that ends `name`.
pub fn removal(name: &'static str) -> Cookie<'static> {
    Cookie::build((name, "")).path("/").build()
}

/// `a == b` in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A signed-in developer: the session and its cookie's value.
pub struct Signed {
    /// The session.
    pub session: Session,
    /// The cookie's value (what signing out ends).
    pub token: String,
}

impl Signed {
    /// Whether a form's `csrf` is this session's.
    pub fn csrf_ok(&self, form_csrf: Option<&str>) -> bool {
        form_csrf.is_some_and(|c| same(c, &self.session.csrf))
    }
}

impl FromRequestParts<Portal> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(SESSION).map(|c| c.value().to_string()) else {
            return Err(Redirect::to("/login").into_response());
        };
        let idle = portal.app.settings.portal.session_idle_secs;
        match portal_sessions::touch(&portal.app.db, &token, idle).await {
            Ok(Some(session)) => Ok(Self { session, token }),
            // Expired, signed out elsewhere, or the developer disabled.
            Ok(None) => Err((
                jar.remove(removal(SESSION)),
                Redirect::to("/login?expired=1"),
            )
                .into_response()),
            Err(e) => Err(view::unavailable(e)),
        }
    }
}

/// A form posted by a signed-in developer, with the session's CSRF token (else refused,
/// 403): what every state-changing page of a session takes.
pub struct Posted {
    /// Who posted it.
    pub signed: Signed,
    /// Its fields (without `csrf`).
    pub form: std::collections::HashMap<String, String>,
}

impl axum::extract::FromRequest<Portal> for Posted {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        portal: &Portal,
    ) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, portal).await?;
        let request = axum::extract::Request::from_parts(parts, body);
        let axum::Form(mut form) =
            axum::Form::<std::collections::HashMap<String, String>>::from_request(request, portal)
                .await
                .map_err(|_| view::forbidden())?;
        if !signed.csrf_ok(form.remove("csrf").as_deref()) {
            return Err(view::forbidden());
        }
        Ok(Self { signed, form })
    }
}

/// Starts a session for `developer`: the cookie to set.
pub async fn start(
    portal: &Portal,
    developer: i64,
) -> Result<Cookie<'static>, cloudbridge_shared::ApiError> {
    let token = random_token(32);
    let csrf = random_token(24);
    let idle = portal.app.settings.portal.session_idle_secs;
    portal_sessions::create(&portal.app.db, developer, &token, &csrf, idle).await?;
    Ok(cookie(SESSION, token, portal.secure_cookies))
}

/// The signed-out forms' CSRF token: the cookie's, or a new one to set.
pub fn pre_csrf(jar: CookieJar, secure: bool) -> (CookieJar, String) {
    if let Some(value) = jar.get(PRE_CSRF).map(|c| c.value().to_string()) {
        if value.len() >= 32 {
            return (jar, value);
        }
    }
    let value = random_token(24);
    (jar.add(cookie(PRE_CSRF, value.clone(), secure)), value)
}

/// Whether a signed-out form's `csrf` matches its cookie.
pub fn pre_csrf_ok(jar: &CookieJar, form_csrf: Option<&str>) -> bool {
    match (jar.get(PRE_CSRF), form_csrf) {
        (Some(cookie), Some(form)) => !form.is_empty() && same(cookie.value(), form),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        assert!(!same("", "a"));
    }
}
