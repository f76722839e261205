//! The router: every route of the API tier and the layers around them.

use std::sync::Arc;

use axum::{
    extract::DefaultBodyLimit,
    handler::Handler,
    middleware::{from_fn, from_fn_with_state},
    routing::{get, post},
    Router,
};
use cloudbridge_shared::ApiError;
use tokio::sync::Semaphore;
use tower_http::cors::{Any, CorsLayer};

use crate::{middleware, AppState};

pub(crate) mod accounts;
mod api_keys;
mod app_oauth;
mod applications;
mod events;
mod files;
mod folders;
mod links;
mod lookup;
mod multipart;
mod ops;
mod properties;
mod raw;
mod relocate;
mod shared;
mod tasks;
mod webhook_deliveries;
mod webhooks;

/// Builds the router. Layers, outermost first: request id and error bodies, CORS,
/// in-flight limit, metrics (by route template), body limit.
pub fn router(state: AppState) -> Router {
    let slots = Arc::new(Semaphore::new(state.settings.max_in_flight()));
    let json_limit = state.settings.api.max_json_bytes;
    let v1 = Router::new()
        .route(
            "/applications",
            get(applications::list).post(applications::create),
        )
        .route(
            "/applications/{app}",
            get(applications::get)
                .patch(applications::update)
                .delete(applications::delete),
        )
        .route(
            "/applications/{app}/apikeys",
            get(api_keys::list).post(api_keys::create),
        )
        .route(
            "/applications/{app}/apikeys/{key}",
            axum::routing::delete(api_keys::delete),
        )
        .route(
            "/applications/{app}/redirect_uris",
            get(app_oauth::redirect_uris).put(app_oauth::set_redirect_uris),
        )
        .route(
            "/applications/{app}/service_keys",
            get(app_oauth::service_keys),
        )
        .route(
            "/applications/{app}/service_keys/{service}",
            axum::routing::put(app_oauth::set_service_key).delete(app_oauth::delete_service_key),
        )
        .route(
            "/applications/{app}/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/applications/{app}/webhooks/{wid}",
            get(webhooks::get).delete(webhooks::delete),
        )
        .route(
            "/applications/{app}/webhooks/{wid}/deliveries",
            get(webhook_deliveries::list),
        )
        .route(
            "/applications/{app}/webhooks/{wid}/deliveries/{did}",
            get(webhook_deliveries::get),
        )
        .route(
            "/applications/{app}/webhooks/{wid}/deliveries/{did}/replay",
            post(webhook_deliveries::replay),
        )
        .route(
            "/applications/{app}/webhooks/{wid}/replay",
            post(webhook_deliveries::replay_dead),
        )
        .route("/oauth", get(crate::oauth::authorize::start))
        .route("/oauth/flows/{id}", post(crate::oauth::authorize::choose))
        .route("/oauth/callback", get(crate::oauth::callback::finish))
        .route(
            "/oauth/token",
            get(crate::oauth::token::info).post(crate::oauth::token::exchange),
        )
        .route("/accounts", get(accounts::list).post(accounts::import))
        .route(
            "/accounts/{acct}/raw",
            post(raw::pass).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/accounts/{acct}",
            get(accounts::get)
                .patch(accounts::update)
                .delete(accounts::delete),
        )
        .route("/accounts/{acct}/storage/folders", post(folders::create))
        .route(
            "/accounts/{acct}/storage/folders/{id}",
            get(folders::get)
                .delete(folders::delete)
                .patch(relocate::handle::<true, false>),
        )
        .route(
            "/accounts/{acct}/storage/folders/{id}/copy",
            post(relocate::handle::<true, true>),
        )
        .route(
            "/accounts/{acct}/storage/folders/{id}/contents",
            get(folders::contents),
        )
        .route(
            "/accounts/{acct}/storage/files",
            post(files::upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/accounts/{acct}/storage/files/upload_url",
            post(files::upload_url),
        )
        .route(
            "/accounts/{acct}/storage/files/{id}",
            get(files::get)
                .put(files::replace.layer(DefaultBodyLimit::disable()))
                .delete(files::delete)
                .patch(relocate::handle::<false, false>),
        )
        .route(
            "/accounts/{acct}/storage/files/{id}/copy",
            post(relocate::handle::<false, true>),
        )
        .route(
            "/accounts/{acct}/storage/files/{id}/contents",
            get(files::download),
        )
        .route(
            "/accounts/{acct}/storage/files/{id}/thumbnail",
            get(files::thumbnail),
        )
        .route("/accounts/{acct}/storage/search", get(lookup::search))
        .route("/accounts/{acct}/storage/recent", get(lookup::recent))
        .route("/accounts/{acct}/tasks/{id}", get(tasks::get))
        .route("/accounts/{acct}/events", get(events::list))
        .route("/accounts/{acct}/events/latest", get(events::latest))
        .route(
            "/accounts/{acct}/encode_raw_id",
            post(lookup::encode_raw_id),
        )
        .route(
            "/accounts/{acct}/storage/files/{id}/properties",
            get(properties::get)
                .patch(properties::patch)
                .delete(properties::delete),
        )
        .route(
            "/accounts/{acct}/storage/links",
            get(links::list).post(links::create),
        )
        .route(
            "/accounts/{acct}/storage/multipart",
            post(multipart::create),
        )
        .route(
            "/accounts/{acct}/storage/multipart/{id}",
            get(multipart::get)
                .put(multipart::put_part)
                .delete(multipart::abort)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/accounts/{acct}/storage/multipart/{id}/complete",
            post(multipart::complete),
        )
        .route(
            "/accounts/{acct}/storage/links/{id}",
            get(links::get).patch(links::update).delete(links::delete),
        );
    Router::new()
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/ops/ping", get(ops::ping))
        .route("/l/{id}", get(shared::open).post(shared::unlock))
        .nest("/v1", v1)
        .fallback(|| async { ApiError::not_found("No such endpoint.") })
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(from_fn(middleware::http_metrics))
        .layer(from_fn_with_state(slots, middleware::in_flight_limit))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods(Any)
                .allow_headers(Any)
                .expose_headers(Any),
        )
        .layer(from_fn(middleware::request_context))
        .with_state(state)
}
