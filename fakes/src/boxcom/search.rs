//! `GET /2.0/search`, from Box's API reference ("Search for content").
//!
//! Covered: `query` (required: 400 `bad_request` without it; every whitespace-separated
//! term must occur in the name, ignoring case), `content_types` (only `name` is indexed
//! here: other content types find nothing more), `type` (`file`, `folder`; `web_link`
//! finds nothing), `ancestor_folder_ids` (comma-separated; everything below them; 404 for
//! a folder the user does not have), `trash_content` (`non_trashed_only`, the default;
//! trashed items are never found), `offset` (above 10000 a 400) and `limit` (default 30,
//! at most 200), `fields`; answers `{type: search_results_items, total_count, limit,
//! offset, entries}` in the standard representation (`path_collection` included), in the
//! order items were made rather than by relevance. The other filters are accepted and
//! ignored.

use std::collections::HashMap;

use axum::{
    extract::{Query, State},
    http::StatusCode,
    Json,
};
use serde_json::{json, Value};

use super::{
    errors::BoxError,
    store::{Kind, ROOT},
    AppState,
};

/// `GET /2.0/search`.
pub async fn search(
    State(s): AppState,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, BoxError> {
    let mut world = s.world();
    world.counters.searches += 1;
    let store = &world.store;
    let query = q.get("query").map(|t| t.trim()).unwrap_or_default();
    if query.is_empty() {
        return Err(BoxError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Either `query` or `mdfilters` must be given.",
        ));
    }
    let number = |name: &str, default: usize| match q.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().map_err(|_| {
            BoxError::bad_parameter(name, format!("Invalid value '{v}'. Must be a number."))
        }),
    };
    let offset = number("offset", 0)?;
    if offset > 10_000 {
        return Err(BoxError::bad_parameter(
            "offset",
            "Queries with an offset above 10000 are rejected.",
        ));
    }
    let limit = number("limit", 30)?.clamp(1, 200);
    let ancestors: Vec<&str> = q
        .get("ancestor_folder_ids")
        .map(|ids| ids.split(',').filter(|id| !id.is_empty()).collect())
        .unwrap_or_default();
    for id in &ancestors {
        store.item(id, Kind::Folder)?;
    }
    let names = q
        .get("content_types")
        .is_none_or(|types| types.split(',').any(|t| t == "name"));
    let kind = match q.get("type").map(String::as_str) {
        None | Some("") => None,
        Some("file") => Some(Some(Kind::File)),
        Some("folder") => Some(Some(Kind::Folder)),
        Some("web_link") => Some(None),
        Some(other) => {
            return Err(BoxError::bad_parameter(
                "type",
                format!("Invalid value '{other}'."),
            ))
        }
    };
    let terms: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let found: Vec<_> = store
        .items()
        .into_iter()
        .filter(|n| names && kind.is_none_or(|k| k == Some(n.kind)))
        .filter(|n| {
            let name = n.name.to_lowercase();
            terms.iter().all(|t| name.contains(t.as_str()))
        })
        .filter(|n| {
            let under = |a: &str| a != n.id && store.is_within(&n.id, a);
            if ancestors.is_empty() {
                under(ROOT)
            } else {
                ancestors.iter().any(|a| under(a))
            }
        })
        .collect();
    let fields = q.get("fields").map(String::as_str);
    let entries: Vec<Value> = found
        .iter()
        .skip(offset)
        .take(limit)
        .map(|n| store.render(n, fields, store.full(n)))
        .collect();
    Ok(Json(json!({
        "type": "search_results_items",
        "total_count": found.len(),
        "limit": limit,
        "offset": offset,
        "entries": entries,
    })))
}
