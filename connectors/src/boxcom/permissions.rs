//! Sharing on Box: an item's owner (`owned_by`) and its collaborations
//! (`GET /files|folders/{id}/collaborations`, `POST /collaborations`,
//! `PUT` and `DELETE /collaborations/{id}`), as Kloudless permissions.
//!
//! Box collaborates with people by login (an address without a Box account gets a
//! pending invitation) and with groups by Box group id: groups are listed, but only
//! people are invited (Kloudless names grantees by address). Domains and anyone (shared
//! links, made with the Links API) are refused. Roles map as `editor` to writer,
//! `viewer` to reader and `previewer` to previewer; Box's other roles read as the
//! Kloudless role they come nearest to without overstating it (`co-owner` as writer,
//! `viewer uploader` as reader, `previewer uploader` and `uploader` as previewer), and
//! Box has no commenter. Collaborators are added without Box's notification e-mail.

use async_trait::async_trait;
use cloudbridge_shared::{
    permissions::{Grantee, GranteeKind, Permission, Role},
    storage::ItemKind,
    ApiError, Entry,
};
use serde_json::{json, Value};

use super::{paths::plural, wire, BoxStore, ROOT};
use crate::sharing::{known_role, people_only, Sharing};

/// Collaborations asked for per page.
const LIMIT: usize = 100;
/// Fields of a collaboration the connector reads.
const FIELDS: &str = "type,id,role,status,accessible_by,invite_email";

const SERVICE: &str = "Box";

fn box_role(role: Role) -> Option<&'static str> {
    match role {
        Role::Writer => Some("editor"),
        Role::Reader => Some("viewer"),
        Role::Previewer => Some("previewer"),
        Role::Owner | Role::Commenter => None,
    }
}

fn role_of(role: &str) -> Role {
    match role {
        "editor" | "co-owner" => Role::Writer,
        "viewer" | "viewer uploader" => Role::Reader,
        _ => Role::Previewer,
    }
}

/// Box's id of an entry (`0` for the root folder).
fn box_id(item: &Entry) -> &str {
    match &item.id {
        Some(id) if !item.path.is_root() => id,
        _ => ROOT,
    }
}

/// A collaboration as a permission (`None` for a rejected one, or one for neither a
/// user nor a group).
fn permission(c: &Value) -> Option<Permission> {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    if c["status"] == "rejected" {
        return None;
    }
    let who = &c["accessible_by"];
    let kind = match who["type"].as_str() {
        Some("group") => GranteeKind::Group,
        Some("user") => GranteeKind::User,
        None if c["invite_email"].is_string() => GranteeKind::User,
        _ => return None,
    };
    let email = match kind {
        GranteeKind::User => text(&who["login"]).or_else(|| text(&c["invite_email"])),
        _ => None,
    };
    Some(Permission {
        id: text(&c["id"])?,
        email,
        name: text(&who["name"]),
        role: role_of(c["role"].as_str()?),
        kind,
        domain: None,
    })
}

impl BoxStore {
    fn item_url(&self, item: &Entry, rest: &str) -> String {
        self.api_url(&format!("{}/{}{rest}", plural(item.kind), box_id(item)))
    }

    /// The item's owner.
    async fn owner(&self, item: &Entry) -> Result<Permission, ApiError> {
        let url = self.item_url(item, "");
        let response = self
            .api
            .send(|c| c.get(&url).query(&[("fields", "owned_by")]))
            .await?;
        let found = wire::json(response).await?;
        let owner = &found["owned_by"];
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        Ok(Permission {
            id: text(&owner["id"])
                .ok_or_else(|| ApiError::new(502, "bad_gateway", "Box named no owner."))?,
            email: text(&owner["login"]),
            name: text(&owner["name"]),
            role: Role::Owner,
            kind: GranteeKind::User,
            domain: None,
        })
    }

    /// A collaboration call (`method` on `/collaborations[/{id}]`) with a JSON body.
    async fn collaboration(
        &self,
        method: reqwest::Method,
        tail: &str,
        body: Option<&Value>,
    ) -> Result<(), ApiError> {
        let url = self.api_url(&format!("collaborations{tail}"));
        let response = self
            .api
            .send(|c| {
                let request = c
                    .request(method.clone(), &url)
                    .query(&[("fields", "id"), ("notify", "false")]);
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
        if response.status().as_u16() == 204 {
            return Ok(());
        }
        match wire::json(response).await {
            Ok(_) => Ok(()),
            Err(f) if f.status == 400 && f.code == "user_already_collaborator" => {
                Err(ApiError::invalid_parameters(
                    "Box says this person already collaborates on the item.",
                ))
            }
            Err(f) if f.status == 400 => Err(ApiError::invalid_parameters(format!(
                "Box refused the collaboration ({}): {}",
                f.code, f.message
            ))),
            Err(f) => Err(f.into()),
        }
    }
}

#[async_trait]
impl Sharing for BoxStore {
    fn service(&self) -> &'static str {
        SERVICE
    }

    fn check(&self, grantee: &Grantee, role: Role) -> Result<(), ApiError> {
        people_only(SERVICE, grantee, "it names groups by id")?;
        known_role(SERVICE, role, box_role(role))
    }

    async fn list(&self, item: &Entry) -> Result<Vec<Permission>, ApiError> {
        let mut found = vec![self.owner(item).await?];
        let url = self.item_url(item, "/collaborations");
        let limit = LIMIT.to_string();
        let (mut offset, mut marker) = (0usize, None::<String>);
        loop {
            let response = self
                .api
                .send(|c| {
                    let mut query = vec![("fields", FIELDS.to_string()), ("limit", limit.clone())];
                    match &marker {
                        Some(marker) => query.push(("marker", marker.clone())),
                        None => query.push(("offset", offset.to_string())),
                    }
                    c.get(&url).query(&query)
                })
                .await?;
            let page = wire::json(response).await?;
            let entries = page["entries"].as_array().cloned().unwrap_or_default();
            found.extend(entries.iter().filter_map(permission));
            // Files page by marker, folders by offset.
            if let Some(next) = page["next_marker"].as_str().filter(|m| !m.is_empty()) {
                marker = Some(next.to_string());
                continue;
            }
            offset += entries.len();
            let total = page["total_count"].as_u64().unwrap_or(0) as usize;
            if marker.is_some() || entries.is_empty() || offset >= total {
                return Ok(found);
            }
        }
    }

    async fn grant(&self, item: &Entry, grantee: &Grantee, role: Role) -> Result<(), ApiError> {
        let kind = match item.kind {
            ItemKind::File => "file",
            ItemKind::Folder => "folder",
        };
        let body = json!({
            "item": { "type": kind, "id": box_id(item) },
            "accessible_by": { "type": "user", "login": grantee.email().expect("checked") },
            "role": box_role(role).expect("checked"),
        });
        self.collaboration(reqwest::Method::POST, "", Some(&body))
            .await
    }

    async fn update(&self, _: &Entry, existing: &Permission, role: Role) -> Result<(), ApiError> {
        known_role(SERVICE, role, box_role(role))?;
        let body = json!({ "role": box_role(role) });
        self.collaboration(
            reqwest::Method::PUT,
            &format!("/{}", existing.id),
            Some(&body),
        )
        .await
    }

    async fn revoke(&self, _: &Entry, existing: &Permission) -> Result<(), ApiError> {
        self.collaboration(reqwest::Method::DELETE, &format!("/{}", existing.id), None)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collaborations_read_as_permissions() {
        let user = permission(&json!({"type": "collaboration", "id": "791", "role": "editor",
            "status": "accepted",
            "accessible_by": {"type": "user", "id": "5", "name": "Ann", "login": "ann@example.com"}}))
        .unwrap();
        assert_eq!(
            (user.role, user.kind, user.email.as_deref()),
            (Role::Writer, GranteeKind::User, Some("ann@example.com"))
        );
        let pending = permission(&json!({"id": "792", "role": "viewer uploader",
            "status": "pending", "accessible_by": null, "invite_email": "new@example.com"}))
        .unwrap();
        assert_eq!(
            (pending.role, pending.email.as_deref()),
            (Role::Reader, Some("new@example.com"))
        );
        let group = permission(
            &json!({"id": "793", "role": "co-owner", "status": "accepted",
            "accessible_by": {"type": "group", "id": "9", "name": "Team"}}),
        )
        .unwrap();
        assert_eq!((group.kind, group.role), (GranteeKind::Group, Role::Writer));
        assert!(
            permission(&json!({"id": "794", "role": "viewer", "status": "rejected",
            "accessible_by": {"type": "user", "id": "6"}}))
            .is_none()
        );
    }
}
