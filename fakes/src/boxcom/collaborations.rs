//! Collaborations, written from Box's API reference: `GET
//! /2.0/files/{id}/collaborations` and `/2.0/folders/{id}/collaborations` (pending and
//! accepted ones, `limit` ≤ 1000 and `marker` paging), `POST /2.0/collaborations`
//! (`item`, `accessible_by` a user by `login` or `id`, `role`), `GET`, `PUT` (`role`)
//! and `DELETE /2.0/collaborations/{id}`.
//!
//! A login of a user the fake knows ([`Config::people`](super::Config::people)) makes an
//! accepted collaboration with that user; any other address a pending invitation
//! (`accessible_by` null, `invite_email`). Roles are `editor`, `viewer`, `previewer`,
//! `uploader`, `previewer uploader`, `viewer uploader` and `co-owner`. Refused as Box
//! does: a bad role or item type (400 `bad_request`), the owner as a collaborator and a
//! second collaboration for the same person on the same item (400
//! `user_already_collaborator`), an item or collaboration that is not there (404). Not
//! emulated: groups (an `accessible_by` group is 404), ownership transfer (`role`
//! `owner` in a `PUT` is 403), expiry, `can_view_path`, `is_access_only`, the
//! collaborations of items below a collaborated folder, notification e-mails, `fields`.

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{
    errors::BoxError,
    items::json_body,
    store::{time, Kind, User},
    AppState, World,
};

/// Roles a collaboration may have.
const ROLES: &[&str] = &[
    "editor",
    "viewer",
    "previewer",
    "uploader",
    "previewer uploader",
    "viewer uploader",
    "co-owner",
];

/// Who a collaboration is for.
#[derive(Clone, Debug)]
enum Who {
    /// A Box user.
    User(User),
    /// Someone invited by an address no user has.
    Invited(String),
}

/// One collaboration.
#[derive(Clone, Debug)]
pub struct Collaboration {
    id: String,
    kind: Kind,
    item: String,
    who: Who,
    role: String,
    created_at: DateTime<Utc>,
    modified_at: DateTime<Utc>,
}

/// Every collaboration of the account's items.
#[derive(Debug, Default)]
pub struct Collaborations {
    all: Vec<Collaboration>,
    next_id: u64,
}

impl Collaborations {
    /// `(login or invited address, role, status)` of the collaborations of the item `id`.
    pub fn of(&self, id: &str) -> Vec<(String, String, String)> {
        self.all
            .iter()
            .filter(|c| c.item == id)
            .map(|c| match &c.who {
                Who::User(u) => (u.login.clone(), c.role.clone(), "accepted".into()),
                Who::Invited(email) => (email.clone(), c.role.clone(), "pending".into()),
            })
            .collect()
    }
}

fn user_mini(u: &User) -> Value {
    json!({"type": "user", "id": u.id, "name": u.name, "login": u.login})
}

fn render(world: &World, c: &Collaboration) -> Value {
    let item = world
        .store
        .get(&c.item)
        .map_or(Value::Null, |n| world.store.mini(n));
    let (accessible_by, invite_email, status) = match &c.who {
        Who::User(u) => (user_mini(u), Value::Null, "accepted"),
        Who::Invited(email) => (Value::Null, json!(email), "pending"),
    };
    json!({
        "type": "collaboration",
        "id": c.id,
        "item": item,
        "accessible_by": accessible_by,
        "invite_email": invite_email,
        "role": c.role,
        "expires_at": null,
        "is_access_only": false,
        "status": status,
        "acknowledged_at": if status == "accepted" { json!(time(c.created_at)) } else { Value::Null },
        "created_by": user_mini(&world.store.user),
        "created_at": time(c.created_at),
        "modified_at": time(c.modified_at),
    })
}

fn bad(message: &str) -> BoxError {
    BoxError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn role_of(body: &Value) -> Result<String, BoxError> {
    match body["role"].as_str() {
        Some(role) if ROLES.contains(&role) => Ok(role.to_string()),
        _ => Err(BoxError::bad_parameter("role", "Invalid value for role")),
    }
}

/// `GET /2.0/files/{id}/collaborations` and `/2.0/folders/{id}/collaborations`.
pub async fn list<const FOLDER: bool>(
    State(s): AppState,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, BoxError> {
    let world = s.world();
    let kind = if FOLDER { Kind::Folder } else { Kind::File };
    world.store.item(&id, kind)?;
    let limit: usize = match q.get("limit").map(|l| l.parse()) {
        None => 100,
        Some(Ok(l)) if (1..=1000).contains(&l) => l,
        Some(_) => return Err(BoxError::bad_parameter("limit", "Invalid value for limit")),
    };
    let start: usize = match q.get("marker").map(|m| m.parse()) {
        None => 0,
        Some(Ok(m)) => m,
        Some(Err(_)) => return Err(BoxError::bad_parameter("marker", "Invalid marker")),
    };
    let mine: Vec<&Collaboration> = world
        .collaborations
        .all
        .iter()
        .filter(|c| c.item == id && c.kind == kind)
        .collect();
    let entries: Vec<Value> = mine
        .iter()
        .skip(start)
        .take(limit)
        .map(|c| render(&world, c))
        .collect();
    let next = (start + limit < mine.len()).then(|| (start + limit).to_string());
    Ok(Json(json!({
        "entries": entries,
        "limit": limit,
        "next_marker": next,
    })))
}

/// `POST /2.0/collaborations`
pub async fn create(State(s): AppState, body: Bytes) -> Result<Response, BoxError> {
    let body = json_body(&body)?;
    let mut world = s.world();
    let kind = match body["item"]["type"].as_str() {
        Some("file") => Kind::File,
        Some("folder") => Kind::Folder,
        _ => {
            return Err(BoxError::bad_parameter(
                "item.type",
                "Invalid value for item",
            ))
        }
    };
    let item = body["item"]["id"]
        .as_str()
        .ok_or_else(|| BoxError::bad_parameter("item.id", "Missing item id"))?
        .to_string();
    world.store.item(&item, kind)?;
    let role = role_of(&body)?;
    let by = &body["accessible_by"];
    let who = match (by["type"].as_str(), by["login"].as_str(), by["id"].as_str()) {
        (Some("group"), _, _) => return Err(BoxError::not_found()),
        (Some("user"), Some(login), _) => {
            let login = login.to_lowercase();
            if !login.contains('@') {
                return Err(BoxError::bad_parameter(
                    "accessible_by.login",
                    "Invalid login",
                ));
            }
            if login == world.store.user.login.to_lowercase() {
                return Err(already());
            }
            match s
                .config
                .people
                .iter()
                .find(|p| p.login.to_lowercase() == login)
            {
                Some(user) => Who::User(user.clone()),
                None => Who::Invited(login),
            }
        }
        (Some("user"), None, Some(id)) => {
            if id == world.store.user.id {
                return Err(already());
            }
            Who::User(
                s.config
                    .people
                    .iter()
                    .find(|p| p.id == id)
                    .cloned()
                    .ok_or_else(BoxError::not_found)?,
            )
        }
        _ => return Err(bad("accessible_by needs a type and a login or id")),
    };
    let same = |c: &Collaboration| {
        c.item == item
            && match (&c.who, &who) {
                (Who::User(a), Who::User(b)) => a.id == b.id,
                (Who::Invited(a), Who::Invited(b)) => a == b,
                _ => false,
            }
    };
    if world.collaborations.all.iter().any(same) {
        return Err(already());
    }
    world.collaborations.next_id += 13;
    let now = Utc::now();
    let made = Collaboration {
        id: (200_000_000 + world.collaborations.next_id).to_string(),
        kind,
        item,
        who,
        role,
        created_at: now,
        modified_at: now,
    };
    let rendered = render(&world, &made);
    world.collaborations.all.push(made);
    Ok((StatusCode::CREATED, Json(rendered)).into_response())
}

fn already() -> BoxError {
    BoxError::new(
        StatusCode::BAD_REQUEST,
        "user_already_collaborator",
        "User is already a collaborator",
    )
}

/// The position of collaboration `id` (404 when there is none).
fn find(world: &World, id: &str) -> Result<usize, BoxError> {
    world
        .collaborations
        .all
        .iter()
        .position(|c| c.id == id)
        .ok_or_else(BoxError::not_found)
}

/// `GET /2.0/collaborations/{id}`
pub async fn get(State(s): AppState, Path(id): Path<String>) -> Result<Json<Value>, BoxError> {
    let world = s.world();
    let at = find(&world, &id)?;
    Ok(Json(render(&world, &world.collaborations.all[at])))
}

/// `PUT /2.0/collaborations/{id}`
pub async fn update(
    State(s): AppState,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, BoxError> {
    let body = json_body(&body)?;
    let mut world = s.world();
    let at = find(&world, &id)?;
    if body["role"] == "owner" {
        return Err(BoxError::new(
            StatusCode::FORBIDDEN,
            "access_denied_insufficient_permissions",
            "Ownership transfer is not available",
        ));
    }
    let role = role_of(&body)?;
    let c = &mut world.collaborations.all[at];
    c.role = role;
    c.modified_at = Utc::now();
    let c = c.clone();
    Ok(Json(render(&world, &c)))
}

/// `DELETE /2.0/collaborations/{id}`
pub async fn delete(State(s): AppState, Path(id): Path<String>) -> Result<StatusCode, BoxError> {
    let mut world = s.world();
    let at = find(&world, &id)?;
    world.collaborations.all.remove(at);
    Ok(StatusCode::NO_CONTENT)
}
