//! Sharing on Google Drive: the `permissions` of a file or folder (Drive API v3
//! `files/{id}/permissions`: list, create, update, delete), as Kloudless permissions.
//!
//! Every Kloudless grantee has a Drive type of the same name (`user`, `group`,
//! `domain`, `anyone`). Drive's roles map one to one, except that the shared-drive
//! roles `organizer` and `fileOrganizer` read as `writer`, and Drive has no previewer.
//! Ownership is not transferred. New users and groups are told by Drive's own
//! notification e-mail, as Drive does by default (it refuses to share silently with an
//! address that has no Google account).

use async_trait::async_trait;
use cloudbridge_shared::{
    permissions::{Grantee, GranteeKind, Permission, Role},
    ApiError, Entry,
};
use serde_json::{json, Value};

use super::DriveStore;
use crate::sharing::{known_role, Sharing};

/// The fields of a permission the connector reads.
const FIELDS: &str =
    "nextPageToken,permissions(id,type,role,emailAddress,domain,displayName,deleted)";

/// Drive's id of an entry (`root` for the root folder).
fn drive_id(item: &Entry) -> &str {
    match &item.id {
        Some(id) if !item.path.is_root() => id,
        _ => "root",
    }
}

fn drive_role(role: Role) -> Option<&'static str> {
    Some(match role {
        Role::Owner => "owner",
        Role::Writer => "writer",
        Role::Commenter => "commenter",
        Role::Reader => "reader",
        Role::Previewer => return None,
    })
}

/// A Drive permission resource as a Kloudless permission (`None` for a deleted
/// account's, or one of a type this API has no name for).
fn permission(p: &Value) -> Option<Permission> {
    if p["deleted"] == true {
        return None;
    }
    let text = |key: &str| {
        p[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let kind = match p["type"].as_str()? {
        "user" => GranteeKind::User,
        "group" => GranteeKind::Group,
        "domain" => GranteeKind::Domain,
        "anyone" => GranteeKind::Anyone,
        _ => return None,
    };
    let role = match p["role"].as_str()? {
        "owner" => Role::Owner,
        "organizer" | "fileOrganizer" | "writer" => Role::Writer,
        "commenter" => Role::Commenter,
        _ => Role::Reader,
    };
    let domain = text("domain");
    Some(Permission {
        id: text("id")?,
        email: text("emailAddress"),
        name: text("displayName").or_else(|| domain.clone()),
        role,
        kind,
        domain: (kind == GranteeKind::Domain).then_some(domain).flatten(),
    })
}

#[async_trait]
impl Sharing for DriveStore {
    fn service(&self) -> &'static str {
        "Google Drive"
    }

    fn check(&self, _: &Grantee, role: Role) -> Result<(), ApiError> {
        known_role(self.service(), role, drive_role(role))
    }

    async fn list(&self, item: &Entry) -> Result<Vec<Permission>, ApiError> {
        let url = self
            .drive
            .files_url(&format!("{}/permissions", drive_id(item)));
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .drive
                .json(|c| {
                    let mut query = vec![
                        ("fields", FIELDS),
                        ("pageSize", "100"),
                        ("supportsAllDrives", "true"),
                    ];
                    if let Some(token) = &token {
                        query.push(("pageToken", token.as_str()));
                    }
                    c.get(&url).query(&query)
                })
                .await?;
            found.extend(
                page["permissions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(permission),
            );
            match page["nextPageToken"].as_str() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => return Ok(found),
            }
        }
    }

    async fn grant(&self, item: &Entry, grantee: &Grantee, role: Role) -> Result<(), ApiError> {
        let role = drive_role(role).expect("checked");
        let mut body = json!({ "type": grantee.kind().as_str(), "role": role });
        match grantee {
            Grantee::User { email } | Grantee::Group { email } => {
                body["emailAddress"] = email.as_str().into()
            }
            Grantee::Domain { domain } => body["domain"] = domain.as_str().into(),
            Grantee::Anyone => {}
        }
        let url = self
            .drive
            .files_url(&format!("{}/permissions", drive_id(item)));
        self.drive
            .json(|c| {
                c.post(&url)
                    .query(&[("fields", "id"), ("supportsAllDrives", "true")])
                    .json(&body)
            })
            .await
            .map(drop)
    }

    async fn update(
        &self,
        item: &Entry,
        existing: &Permission,
        role: Role,
    ) -> Result<(), ApiError> {
        let body = json!({ "role": drive_role(role).expect("checked") });
        let url = self
            .drive
            .files_url(&format!("{}/permissions/{}", drive_id(item), existing.id));
        self.drive
            .json(|c| {
                c.patch(&url)
                    .query(&[("fields", "id"), ("supportsAllDrives", "true")])
                    .json(&body)
            })
            .await
            .map(drop)
    }

    async fn revoke(&self, item: &Entry, existing: &Permission) -> Result<(), ApiError> {
        let url = self
            .drive
            .files_url(&format!("{}/permissions/{}", drive_id(item), existing.id));
        self.drive
            .call(|c| c.delete(&url).query(&[("supportsAllDrives", "true")]))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_permissions_read_as_kloudless_ones() {
        let p = permission(
            &json!({"id": "0712", "type": "user", "role": "fileOrganizer",
            "emailAddress": "ann@example.com", "displayName": "Ann"}),
        )
        .unwrap();
        assert_eq!(
            (p.role, p.kind, p.email.as_deref(), p.name.as_deref()),
            (
                Role::Writer,
                GranteeKind::User,
                Some("ann@example.com"),
                Some("Ann")
            )
        );
        let d = permission(
            &json!({"id": "d1", "type": "domain", "role": "reader", "domain": "example.com"}),
        )
        .unwrap();
        assert_eq!(d.domain.as_deref(), Some("example.com"));
        let a = permission(&json!({"id": "anyoneWithLink", "type": "anyone", "role": "commenter"}))
            .unwrap();
        assert_eq!((a.kind, a.role), (GranteeKind::Anyone, Role::Commenter));
        assert!(
            permission(&json!({"id": "x", "type": "user", "role": "reader", "deleted": true}))
                .is_none()
        );
        assert!(permission(&json!({"id": "x", "type": "robot", "role": "reader"})).is_none());
    }
}
