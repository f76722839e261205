//! Box Enterprise, from Box's API reference: the account's user as the enterprise's
//! admin ([`Config::admin`](super::Config::admin)), its managed users
//! ([`Config::members`](super::Config::members)) each with files of their own, its groups
//! ([`Config::groups`](super::Config::groups)), and the routes reading them:
//! `GET /2.0/users` (offset paging with `offset`/`limit`, or marker paging with
//! `usemarker`/`marker`/`next_marker`; `fields`), `GET /2.0/users/{id}`,
//! `GET /2.0/users/{id}/memberships`, `GET /2.0/groups`, `GET /2.0/groups/{id}` and
//! `GET /2.0/groups/{id}/memberships` (offset paging, `limit` ≤ 1000). A user who is no
//! admin is answered 403 `access_denied_insufficient_permissions`, as Box does.
//!
//! `As-User: <user id>` on any authenticated call makes it the named managed user's
//! (their files, their `users/me`): the admin only, 403 otherwise, and 404 for a user
//! the enterprise does not have (see [`acting`]).

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use super::{errors::BoxError, store::User, AppState, Shared};

/// A group of the enterprise.
#[derive(Clone, Debug)]
pub struct Group {
    /// Numeric id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Members by user id, with their role in the group (`member` or `admin`).
    pub members: Vec<(String, String)>,
}

type Params = Query<std::collections::HashMap<String, String>>;

fn insufficient() -> BoxError {
    BoxError::new(
        StatusCode::FORBIDDEN,
        "access_denied_insufficient_permissions",
        "Access denied - insufficient permission",
    )
}

/// Every user of the enterprise: the admin first, then the members.
fn users(s: &Shared) -> Vec<(&User, &'static str)> {
    std::iter::once((&s.config.user, "admin"))
        .chain(s.config.members.iter().map(|u| (u, "user")))
        .collect()
}

fn user_json(user: &User, role: &str, fields: Option<&str>) -> Value {
    let full = json!({
        "type": "user", "id": user.id, "name": user.name, "login": user.login,
        "role": role, "status": "active",
        "created_at": "2024-01-01T00:00:00-08:00", "modified_at": "2024-01-02T00:00:00-08:00",
    });
    match fields {
        None => {
            json!({"type": "user", "id": user.id, "name": user.name, "login": user.login})
        }
        Some(fields) => {
            let mut picked = json!({"type": "user", "id": user.id});
            for f in fields.split(',').map(str::trim) {
                if let Some(v) = full.get(f) {
                    picked[f] = v.clone();
                }
            }
            picked
        }
    }
}

fn group_json(g: &Group) -> Value {
    json!({"type": "group", "id": g.id, "name": g.name, "group_type": "managed_group"})
}

/// The caller must be the enterprise's admin.
fn admin_only(s: &Shared) -> Result<(), BoxError> {
    if s.config.admin {
        Ok(())
    } else {
        Err(insufficient())
    }
}

fn number(q: &Params, name: &str, default: usize) -> Result<usize, BoxError> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| BoxError::bad_parameter(name, "must be a number")),
    }
}

/// An offset-paged collection of `all`.
fn offset_page(all: Vec<Value>, q: &Params) -> Result<Value, BoxError> {
    let limit = number(q, "limit", 100)?;
    if !(1..=1000).contains(&limit) {
        return Err(BoxError::bad_parameter("limit", "must be 1 to 1000"));
    }
    let offset = number(q, "offset", 0)?;
    let total = all.len();
    let entries: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    Ok(json!({"total_count": total, "limit": limit, "offset": offset, "entries": entries}))
}

fn answer(result: Result<Value, BoxError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /2.0/users`: the enterprise's users.
pub async fn list_users(State(s): AppState, q: Params) -> Response {
    answer((|| {
        admin_only(&s)?;
        let fields = q.get("fields").map(String::as_str);
        let all: Vec<Value> = users(&s)
            .into_iter()
            .map(|(u, role)| user_json(u, role, fields))
            .collect();
        if q.get("usemarker").is_some_and(|v| v == "true") {
            let limit = number(&q, "limit", 100)?.clamp(1, 1000);
            let from = match q.get("marker") {
                None => 0,
                Some(m) => m
                    .strip_prefix("m")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| BoxError::bad_parameter("marker", "invalid marker"))?,
            };
            let to = (from + limit).min(all.len());
            let next = (to < all.len()).then(|| format!("m{to}"));
            let entries = all.get(from..to).unwrap_or_default().to_vec();
            return Ok(json!({"limit": limit, "entries": entries, "next_marker": next}));
        }
        offset_page(all, &q)
    })())
}

/// `GET /2.0/users/{id}`.
pub async fn get_user(State(s): AppState, Path(id): Path<String>, q: Params) -> Response {
    answer((|| {
        let (u, role) = users(&s)
            .into_iter()
            .find(|(u, _)| u.id == id)
            .ok_or_else(BoxError::not_found)?;
        if u.id != s.config.user.id {
            admin_only(&s)?;
        }
        Ok(user_json(u, role, q.get("fields").map(String::as_str)))
    })())
}

fn membership(s: &Shared, g: &Group, user: &str, role: &str) -> Option<Value> {
    let (u, _) = users(s).into_iter().find(|(u, _)| u.id == user)?;
    Some(json!({
        "type": "group_membership", "id": format!("{}-{}", g.id, u.id),
        "user": user_json(u, "", None), "group": group_json(g), "role": role,
    }))
}

/// `GET /2.0/users/{id}/memberships`: the user's groups.
pub async fn user_memberships(State(s): AppState, Path(id): Path<String>, q: Params) -> Response {
    answer((|| {
        admin_only(&s)?;
        if !users(&s).iter().any(|(u, _)| u.id == id) {
            return Err(BoxError::not_found());
        }
        let all: Vec<Value> = s
            .config
            .groups
            .iter()
            .filter_map(|g| {
                let (_, role) = g.members.iter().find(|(m, _)| *m == id)?;
                membership(&s, g, &id, role)
            })
            .collect();
        offset_page(all, &q)
    })())
}

/// `GET /2.0/groups`.
pub async fn list_groups(State(s): AppState, q: Params) -> Response {
    answer((|| {
        admin_only(&s)?;
        offset_page(s.config.groups.iter().map(group_json).collect(), &q)
    })())
}

fn group_of<'a>(s: &'a Shared, id: &str) -> Result<&'a Group, BoxError> {
    admin_only(s)?;
    s.config
        .groups
        .iter()
        .find(|g| g.id == id)
        .ok_or_else(BoxError::not_found)
}

/// `GET /2.0/groups/{id}`.
pub async fn get_group(State(s): AppState, Path(id): Path<String>) -> Response {
    answer(group_of(&s, &id).map(group_json))
}

/// `GET /2.0/groups/{id}/memberships`: its members.
pub async fn group_memberships(State(s): AppState, Path(id): Path<String>, q: Params) -> Response {
    answer((|| {
        let g = group_of(&s, &id)?;
        let all = g
            .members
            .iter()
            .filter_map(|(user, role)| membership(&s, g, user, role))
            .collect();
        offset_page(all, &q)
    })())
}

/// The managed user an `As-User` value names: `Ok(None)` without one; 403 for a caller
/// who is no admin, 404 for a user the enterprise does not have.
pub fn acting(s: &Shared, header: Option<&str>) -> Result<Option<String>, BoxError> {
    let Some(id) = header else {
        return Ok(None);
    };
    admin_only(s)?;
    if id == s.config.user.id {
        return Ok(None);
    }
    s.config
        .members
        .iter()
        .any(|u| u.id == id)
        .then(|| Some(id.to_string()))
        .ok_or_else(BoxError::not_found)
}
