//! The router: every route of the API tier and the layers around them.

use std::sync::Arc;

use axum::{
    extract::DefaultBodyLimit,
    middleware::{from_fn, from_fn_with_state},
    Router,
};
use cloudbridge_shared::ApiError;
use tokio::sync::Semaphore;
use tower_http::cors::{AllowHeaders, Any, CorsLayer};
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouter},
    routes,
};

use crate::{middleware, AppState};

pub(crate) mod accounts;
pub(crate) mod api_keys;
pub(crate) mod app_oauth;
pub(crate) mod applications;
mod bundles;
mod drop;
mod events;
mod files;
mod folders;
mod links;
mod lookup;
mod multipart;
mod ops;
mod permissions;
mod properties;
mod public;
mod quota;
mod raw;
mod relocate;
mod shared;
mod tasks;
mod team;
mod thumbnails;
pub(crate) mod upload_locations;
pub(crate) mod usage;
pub(crate) mod webhook_deliveries;
pub(crate) mod webhooks;
mod widgets;

/// Every route, each registered with its handler's documentation (so the OpenAPI
/// document in [`crate::contract`] lists exactly what the router serves). Register routes
/// here only through [`routes!`], one path per call: a route added any other way would be
/// served undocumented.
pub fn routes() -> OpenApiRouter<AppState> {
    let unlimited = |(schemas, paths, method): UtoipaMethodRouter<AppState>| {
        (schemas, paths, method.layer(DefaultBodyLimit::disable()))
    };
    let v1 = OpenApiRouter::new()
        .routes(routes!(applications::list, applications::create))
        .routes(routes!(
            applications::get,
            applications::update,
            applications::delete
        ))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::delete))
        .routes(routes!(
            app_oauth::redirect_uris,
            app_oauth::set_redirect_uris
        ))
        .routes(routes!(usage::get))
        .routes(routes!(app_oauth::service_keys))
        .routes(routes!(
            app_oauth::set_service_key,
            app_oauth::delete_service_key
        ))
        .routes(routes!(upload_locations::list, upload_locations::create))
        .routes(routes!(upload_locations::get, upload_locations::delete))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::delete))
        .routes(routes!(webhook_deliveries::list))
        .routes(routes!(webhook_deliveries::get))
        .routes(routes!(webhook_deliveries::replay))
        .routes(routes!(webhook_deliveries::replay_dead))
        .routes(routes!(crate::oauth::authorize::start))
        .routes(routes!(crate::oauth::authorize::choose))
        .routes(routes!(crate::oauth::credentials::submit))
        .routes(routes!(crate::oauth::callback::finish))
        .routes(routes!(
            crate::oauth::token::info,
            crate::oauth::token::exchange
        ))
        .routes(routes!(accounts::list, accounts::import))
        .routes(unlimited(routes!(raw::pass)))
        .routes(routes!(accounts::get, accounts::update, accounts::delete))
        .routes(routes!(folders::create))
        .routes(routes!(
            folders::get,
            folders::delete,
            relocate::move_folder
        ))
        .routes(routes!(relocate::copy_folder))
        .routes(routes!(folders::contents))
        .routes(unlimited(routes!(files::upload)))
        .routes(routes!(files::upload_url))
        .routes(routes!(files::get, files::delete, relocate::move_file))
        .routes(unlimited(routes!(files::replace)))
        .routes(routes!(relocate::copy_file))
        .routes(routes!(files::download))
        .routes(routes!(thumbnails::get))
        .routes(routes!(quota::get))
        .routes(routes!(lookup::search))
        .routes(routes!(lookup::recent))
        .routes(routes!(tasks::get))
        .routes(routes!(events::list))
        .routes(routes!(events::latest))
        .routes(routes!(lookup::encode_raw_id))
        .routes(routes!(lookup::convert_id))
        .routes(routes!(
            properties::get,
            properties::patch,
            properties::delete
        ))
        .routes(routes!(
            permissions::get_file,
            permissions::put_file,
            permissions::patch_file
        ))
        .routes(routes!(
            permissions::get_folder,
            permissions::put_folder,
            permissions::patch_folder
        ))
        .routes(routes!(team::list_users))
        .routes(routes!(team::get_user))
        .routes(routes!(team::list_memberships))
        .routes(routes!(team::list_groups))
        .routes(routes!(team::get_group))
        .routes(routes!(team::list_members))
        .routes(routes!(links::list, links::create))
        .routes(routes!(multipart::create))
        .routes(unlimited(routes!(
            multipart::get,
            multipart::put_part,
            multipart::abort
        )))
        .routes(routes!(multipart::complete))
        .routes(routes!(links::get, links::update, links::delete))
        .routes(routes!(public::services))
        .routes(routes!(crate::contract::serve));
    OpenApiRouter::new()
        .routes(routes!(ops::health))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::ping))
        .routes(routes!(shared::open, shared::unlock))
        .routes(routes!(widgets::iexd))
        .routes(routes!(bundles::serve))
        .routes(routes!(widgets::picker_config))
        .routes(routes!(widgets::explorer_config))
        .routes(unlimited(routes!(
            drop::config,
            drop::upload::upload,
            drop::abort
        )))
        .nest("/v1", v1)
}

/// Builds the router. Layers, outermost first: request id and error bodies, header size,
/// CORS, rate limits, in-flight limit, metrics (by route template), usage (by
/// application), body limit.
pub fn router(state: AppState) -> Router {
    let slots = Arc::new(Semaphore::new(state.settings.max_in_flight()));
    let json_limit = state.settings.api.max_json_bytes;
    let header_limit = state.settings.api.max_header_bytes;
    let (routes, _) = routes().split_for_parts();
    routes
        .fallback(|| async { ApiError::not_found("No such endpoint.") })
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(from_fn_with_state(state.clone(), crate::usage::count))
        .layer(from_fn(middleware::http_metrics))
        .layer(from_fn_with_state(slots, middleware::in_flight_limit))
        .layer(from_fn_with_state(state.clone(), crate::limits::rate_limit))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods(Any)
                // `*` would not cover `Authorization`, which the widgets send.
                .allow_headers(AllowHeaders::mirror_request())
                .expose_headers(Any),
        )
        .layer(from_fn_with_state(header_limit, middleware::header_limit))
        .layer(from_fn(middleware::request_context))
        .with_state(state)
}
