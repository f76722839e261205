//! Sharing on OneDrive: a `driveItem`'s permissions on Microsoft Graph
//! (`/items/{id}/permissions`, `POST /items/{id}/invite`, `POST /items/{id}/createLink`,
//! `PATCH` and `DELETE /items/{id}/permissions/{perm-id}`), as Kloudless permissions.
//!
//! People are invited by e-mail address (signed in, without Graph's invitation e-mail);
//! `anyone` is an anonymous sharing link (`view` for readers, `edit` for writers), whose
//! role changes by making the link again. Graph's roles are `owner`, `write` and `read`:
//! commenters and previewers have no equivalent, nor have domains. Groups are listed
//! where Graph reports them but not invited (Graph's invitations name people).
//! Organization-wide links read as `domain` (Graph does not name the domain), links for
//! specific people as the first person they name.

use async_trait::async_trait;
use cloudbridge_shared::{
    permissions::{Grantee, GranteeKind, Permission, Role},
    ApiError, Entry,
};
use reqwest::Method;
use serde_json::{json, Value};

use super::OneDrive;
use crate::sharing::{known_role, unsupported, Sharing};

/// Graph's id of an entry (`root` for the root folder).
fn graph_id(item: &Entry) -> &str {
    match &item.id {
        Some(id) if !item.path.is_root() => id,
        _ => "root",
    }
}

fn graph_role(role: Role) -> Option<&'static str> {
    match role {
        Role::Writer => Some("write"),
        Role::Reader => Some("read"),
        _ => None,
    }
}

/// The highest Kloudless role among Graph's `roles`.
fn role_of(roles: &Value) -> Role {
    let has = |r: &str| {
        roles
            .as_array()
            .is_some_and(|all| all.iter().any(|x| x.as_str() == Some(r)))
    };
    if has("owner") || has("sp.owner") {
        Role::Owner
    } else if has("write") || has("sp.member") {
        Role::Writer
    } else {
        Role::Reader
    }
}

/// The first identity (user or group) Graph names in a permission, and its kind.
fn identity(p: &Value) -> Option<(GranteeKind, &Value)> {
    let sets = [&p["grantedToV2"], &p["grantedTo"]];
    for set in sets {
        if set["group"].is_object() {
            return Some((GranteeKind::Group, &set["group"]));
        }
        if set["user"].is_object() {
            return Some((GranteeKind::User, &set["user"]));
        }
    }
    for list in [&p["grantedToIdentitiesV2"], &p["grantedToIdentities"]] {
        if let Some(first) = list.as_array().and_then(|l| l.first()) {
            if first["user"].is_object() {
                return Some((GranteeKind::User, &first["user"]));
            }
        }
    }
    None
}

/// A Graph permission as a Kloudless permission (`None` for one this API cannot name).
fn permission(p: &Value) -> Option<Permission> {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let id = text(&p["id"])?;
    let role = role_of(&p["roles"]);
    let scope = p["link"]["scope"].as_str();
    let kind_of_link = match scope {
        Some("anonymous") => Some(GranteeKind::Anyone),
        Some("organization") => Some(GranteeKind::Domain),
        _ => None,
    };
    if let Some(kind) = kind_of_link {
        return Some(Permission {
            id,
            email: None,
            name: None,
            role,
            kind,
            domain: None,
        });
    }
    let named = identity(p);
    let email = named
        .and_then(|(_, who)| text(&who["email"]))
        .or_else(|| text(&p["invitation"]["email"]));
    let kind = named.map_or(GranteeKind::User, |(kind, _)| kind);
    if named.is_none() && email.is_none() {
        return None;
    }
    Some(Permission {
        id,
        email,
        name: named.and_then(|(_, who)| text(&who["displayName"])),
        role,
        kind,
        domain: None,
    })
}

#[async_trait]
impl Sharing for OneDrive {
    fn service(&self) -> &'static str {
        "OneDrive"
    }

    fn check(&self, grantee: &Grantee, role: Role) -> Result<(), ApiError> {
        match grantee {
            Grantee::User { .. } | Grantee::Anyone => {}
            Grantee::Group { .. } => {
                return Err(unsupported(
                    self.service(),
                    "with a group here (it invites people by e-mail address)",
                ))
            }
            Grantee::Domain { .. } => return Err(unsupported(self.service(), "with a domain")),
        }
        known_role(self.service(), role, graph_role(role))
    }

    async fn list(&self, item: &Entry) -> Result<Vec<Permission>, ApiError> {
        let mut url = self.graph.item(graph_id(item), "/permissions");
        let mut found = Vec::new();
        loop {
            let page = self.graph.get(&url).await?;
            found.extend(
                page["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(permission),
            );
            match page["@odata.nextLink"].as_str() {
                Some(next) if self.graph.owns(next) => url = next.to_string(),
                Some(_) => return Err(super::graph::bad_gateway("Graph paged to another host.")),
                None => return Ok(found),
            }
        }
    }

    async fn grant(&self, item: &Entry, grantee: &Grantee, role: Role) -> Result<(), ApiError> {
        let role = graph_role(role).expect("checked");
        let id = graph_id(item);
        let (url, body) = match grantee {
            Grantee::Anyone => (
                self.graph.item(id, "/createLink"),
                json!({
                    "type": if role == "write" { "edit" } else { "view" },
                    "scope": "anonymous",
                }),
            ),
            _ => (
                self.graph.item(id, "/invite"),
                json!({
                    "recipients": [{ "email": grantee.email().expect("checked") }],
                    "roles": [role],
                    "requireSignIn": true,
                    "sendInvitation": false,
                }),
            ),
        };
        self.graph
            .call(Method::POST, &url, Some(&body))
            .await
            .map(drop)
    }

    async fn update(
        &self,
        item: &Entry,
        existing: &Permission,
        role: Role,
    ) -> Result<(), ApiError> {
        if existing.kind == GranteeKind::Anyone {
            // A link's kind is fixed when it is made: a new one replaces it.
            self.revoke(item, existing).await?;
            return self.grant(item, &Grantee::Anyone, role).await;
        }
        known_role(self.service(), role, graph_role(role))?;
        let url = self.graph.item(
            graph_id(item),
            &format!("/permissions/{}", super::graph::segment(&existing.id)),
        );
        let body = json!({ "roles": [graph_role(role)] });
        self.graph
            .call(Method::PATCH, &url, Some(&body))
            .await
            .map(drop)
    }

    async fn revoke(&self, item: &Entry, existing: &Permission) -> Result<(), ApiError> {
        let url = self.graph.item(
            graph_id(item),
            &format!("/permissions/{}", super::graph::segment(&existing.id)),
        );
        self.graph.call(Method::DELETE, &url, None).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_permissions_read_as_kloudless_ones() {
        let owner = permission(&json!({"id": "o", "roles": ["owner"],
            "grantedToV2": {"user": {"id": "u1", "displayName": "Me", "email": "me@example.com"}}}))
        .unwrap();
        assert_eq!((owner.role, owner.kind), (Role::Owner, GranteeKind::User));
        assert_eq!(owner.name.as_deref(), Some("Me"));
        let invited = permission(&json!({"id": "i", "roles": ["read"],
            "invitation": {"email": "ann@example.com", "signInRequired": true}}))
        .unwrap();
        assert_eq!(invited.email.as_deref(), Some("ann@example.com"));
        let link = permission(&json!({"id": "l", "roles": ["write"],
            "link": {"scope": "anonymous", "type": "edit"}}))
        .unwrap();
        assert_eq!((link.kind, link.role), (GranteeKind::Anyone, Role::Writer));
        let group = permission(&json!({"id": "g", "roles": ["read"],
            "grantedToV2": {"group": {"id": "g1", "displayName": "Team"}}}))
        .unwrap();
        assert_eq!(
            (group.kind, group.name.as_deref()),
            (GranteeKind::Group, Some("Team"))
        );
        assert!(permission(&json!({"id": "x", "roles": ["read"]})).is_none());
    }
}
