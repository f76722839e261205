//! `GET /v1/public/services`: the services an application's users can connect, read by
//! the File Picker (no credentials) to build its service list and account menu; it shows
//! a saved account only when its service is listed (docs/widgets-protocol.md §3.4). The
//! list is what the hosted connect page offers for scope `any`
//! ([`connectable`](crate::oauth::request::connectable)).

use std::collections::HashMap;

use axum::{extract::State, Json};
use cloudbridge_connectors::{service::Api, Service};
use cloudbridge_shared::{db, ApiError};
use serde_json::{json, Value};

use crate::{extract::Query, wire, AppState};

/// One service as the picker reads it; `properties` when asked (newer pickers read the
/// folder capabilities there). Every storage service here lists and reads folders;
/// calendar services have no folders.
fn service(s: &Service, with_properties: bool) -> Value {
    let mut object = json!({
        "id": s.name,
        "name": s.name,
        "friendly_name": s.display_name,
        "logo_url": Value::Null,
        "category": s.category.as_str(),
        "apis": s.apis.iter().map(|api| api.as_str()).collect::<Vec<_>>(),
        "type": "service",
    });
    if with_properties && s.answers(Api::Storage) {
        let yes = json!([{ "result": true }]);
        object["properties"] = json!({
            "capabilities": {
                "storage.folders.list": yes,
                "storage.folders.read": yes,
            }
        });
    }
    object
}

/// The active application named by the query's `app_id` (400 without one, 404 for an
/// unknown or inactive one): the widgets' public endpoints answer only for those.
pub(super) async fn active_application(
    state: &AppState,
    q: &HashMap<String, String>,
) -> Result<db::applications::Application, ApiError> {
    let app_id = q
        .get("app_id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::invalid_parameters("`app_id` is required."))?;
    db::applications::get_any(&state.db, app_id)
        .await?
        .filter(|a| a.active)
        .ok_or_else(|| ApiError::not_found("No active application has this `app_id`."))
}

/// `GET /v1/public/services?app_id=…[&apis=storage][&retrieve_properties=true]`.
#[utoipa::path(
    get,
    path = "/public/services",
    tag = "widgets",
    summary = "Services an application's users can connect",
    operation_id = "public_services",
    params(
        ("app_id" = String, Query, min_length = 1, description = "The application id."),
        ("apis" = Option<String>, Query, description = "Comma-separated APIs (`storage`, `calendar`)."),
        ("retrieve_properties" = Option<bool>, Query, description = "Include each service's capabilities."),
    ),
    responses(
        (status = 200, description = "The services.", body = crate::contract::ObjectList),
        crate::contract::PublicErrors,
    ),
)]
pub async fn services(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    active_application(&state, &q).await?;
    // The services answering one of the APIs asked for (any, when none is).
    let asked = |s: &Service| {
        q.get("apis").is_none_or(|apis| {
            apis.split(',')
                .any(|a| s.apis.iter().any(|api| api.as_str() == a.trim()))
        })
    };
    let with_properties = q
        .get("retrieve_properties")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let objects: Vec<Value> = crate::oauth::request::connectable()
        .filter(|s| asked(s))
        .map(|s| service(s, with_properties))
        .collect();
    Ok(Json(wire::list(
        "core",
        objects,
        1,
        serde_json::Value::Null,
        None,
    )))
}
