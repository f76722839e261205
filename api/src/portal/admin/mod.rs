//! The appliance admin's pages (`/admin`, only for a developer flagged admin: anyone else
//! is answered 404, as if there were nothing there) and the one-time links they issue.
//!
//! # Layout
//! - `developers`: the developers, invitations, disabling, password resets.
//! - `links`: the invitation and reset links (`/reset/{token}`) and "forgot password".
//! - `status`: PostgreSQL, Redis, queues, workers, scheduler, and links to Grafana and
//!   Prometheus.
//! - [`mail`]: the portal's outgoing mail.

mod developers;
mod links;
pub mod mail;
mod status;

use axum::{
    extract::{FromRequest, FromRequestParts},
    http::request::Parts,
    response::{Redirect, Response},
    routing::{get, post},
    Router,
};

use super::{
    session::{Posted, Signed},
    view::{self, Frame},
    Portal,
};

/// A signed-in appliance admin (anyone else: the 404 page).
pub struct Admin(pub Signed);

impl FromRequestParts<Portal> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, Response> {
        match Signed::from_request_parts(parts, portal).await {
            Ok(signed) if signed.session.admin => Ok(Self(signed)),
            Ok(signed) => Err(view::not_found(Frame::signed(&signed.session))),
            Err(_) => Err(view::not_found(Frame::default())),
        }
    }
}

/// A form posted by an appliance admin, with its CSRF token.
pub struct AdminPosted(pub Posted);

impl FromRequest<Portal> for AdminPosted {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        portal: &Portal,
    ) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        // Not an admin: 404 before the form is even read.
        Admin::from_request_parts(&mut parts, portal).await?;
        let request = axum::extract::Request::from_parts(parts, body);
        Posted::from_request(request, portal).await.map(Self)
    }
}

/// The admin pages, the one-time links and "forgot password".
pub fn routes() -> Router<Portal> {
    Router::new()
        .route(
            "/admin",
            get(|_: Admin| async { Redirect::to("/admin/developers") }),
        )
        .route(
            "/admin/developers",
            get(developers::list).post(developers::invite),
        )
        .route("/admin/developers/{id}/disable", post(developers::disable))
        .route("/admin/developers/{id}/enable", post(developers::enable))
        .route("/admin/developers/{id}/reset", post(developers::reset))
        .route("/admin/status", get(status::show))
        .route("/reset/{token}", get(links::form).post(links::choose))
        .route("/forgot", get(links::forgot_form).post(links::forgot))
}
