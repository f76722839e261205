//! Sharing permissions on the services that have them: what a connector provides
//! ([`Sharing`]: read an item's permissions, grant, change, revoke one) and the one
//! rule every connector follows to apply a caller's [`Change`] ([`apply`]).
//!
//! A `PATCH` grants the grantees it names that have no access yet and changes the role
//! of those that have; a `PUT` does the same and then revokes every permission it does
//! not name. The owner's permission always stays and keeps its role. Every entry is
//! checked against what the service can express before anything changes, so a request
//! refused for one entry changes nothing; the answer is the item's permissions as the
//! service reports them afterwards.

use async_trait::async_trait;
use cloudbridge_shared::{
    permissions::{Change, Grantee, Permission, Role, Target},
    ApiError, Entry,
};

/// A service's sharing model, as [`apply`] drives it. `item` is always an existing file
/// or folder of the account (found by the worker).
#[async_trait]
pub trait Sharing: Send + Sync {
    /// The service's name for messages (`Google Drive`).
    fn service(&self) -> &'static str;

    /// Whether the service can give `grantee` the role `role`: a 400 naming the service
    /// where it cannot.
    fn check(&self, grantee: &Grantee, role: Role) -> Result<(), ApiError>;

    /// Every permission of `item`, the owner's included.
    async fn list(&self, item: &Entry) -> Result<Vec<Permission>, ApiError>;

    /// Gives `grantee` (who has no permission on `item` yet) the role `role`.
    async fn grant(&self, item: &Entry, grantee: &Grantee, role: Role) -> Result<(), ApiError>;

    /// Changes the role of `existing` (not the owner's) to `role`.
    async fn update(&self, item: &Entry, existing: &Permission, role: Role)
        -> Result<(), ApiError>;

    /// Removes `existing` (not the owner's).
    async fn revoke(&self, item: &Entry, existing: &Permission) -> Result<(), ApiError>;
}

/// One step of a change, found before any is taken.
enum Step<'a> {
    Grant(&'a Grantee, Role),
    Update(&'a Permission, Role),
    Revoke(&'a Permission),
}

/// `item`'s permissions after `change` (read only when there is none).
pub async fn apply(
    sharing: &dyn Sharing,
    item: &Entry,
    change: Option<&Change>,
) -> Result<Vec<Permission>, ApiError> {
    let current = sharing.list(item).await?;
    let Some(change) = change else {
        return Ok(current);
    };
    let steps = plan(sharing, &current, change)?;
    if steps.is_empty() {
        return Ok(current);
    }
    if item.path.is_root() {
        return Err(ApiError::invalid_parameters(
            "The root folder cannot be shared.",
        ));
    }
    for step in &steps {
        match step {
            Step::Grant(grantee, role) => sharing.grant(item, grantee, *role).await?,
            Step::Update(existing, role) => sharing.update(item, existing, *role).await?,
            Step::Revoke(existing) => sharing.revoke(item, existing).await?,
        }
    }
    sharing.list(item).await
}

/// The steps that take `current` to what `change` asks, every entry checked.
fn plan<'a>(
    sharing: &dyn Sharing,
    current: &'a [Permission],
    change: &'a Change,
) -> Result<Vec<Step<'a>>, ApiError> {
    let mut steps = Vec::new();
    let mut named = vec![false; current.len()];
    for grant in &change.grants {
        let found = match &grant.target {
            Target::Grantee(grantee) => current.iter().position(|p| grantee.matches(p)),
            Target::Id(id) => Some(current.iter().position(|p| &p.id == id).ok_or_else(|| {
                ApiError::invalid_parameters(format!(
                    "No permission of this item has the id `{id}`."
                ))
            })?),
        };
        match (found, &grant.target) {
            (Some(at), _) => {
                named[at] = true;
                let existing = &current[at];
                if existing.role == Role::Owner || grant.role == Role::Owner {
                    if existing.role != grant.role {
                        return Err(ApiError::invalid_parameters(
                            "Ownership is not given or taken through this API: the owner's \
                             role stays `owner`, and no one else can be made one.",
                        ));
                    }
                    continue;
                }
                if existing.role != grant.role {
                    if let Some(grantee) = grantee_of(existing) {
                        sharing.check(&grantee, grant.role)?;
                    }
                    steps.push(Step::Update(existing, grant.role));
                }
            }
            (None, Target::Grantee(grantee)) => {
                if grant.role == Role::Owner {
                    return Err(ApiError::invalid_parameters(format!(
                        "{} ownership is not given through this API.",
                        sharing.service()
                    )));
                }
                sharing.check(grantee, grant.role)?;
                steps.push(Step::Grant(grantee, grant.role));
            }
            (None, Target::Id(_)) => unreachable!("an unknown id is refused above"),
        }
    }
    if change.replace {
        for (existing, named) in current.iter().zip(named) {
            if !named && existing.role != Role::Owner {
                steps.push(Step::Revoke(existing));
            }
        }
    }
    Ok(steps)
}

/// The grantee a reported permission is for, where it can be named as one.
fn grantee_of(p: &Permission) -> Option<Grantee> {
    use cloudbridge_shared::permissions::{Domain, Email, GranteeKind};
    let email = || p.email.as_deref().and_then(|e| Email::parse(e).ok());
    Some(match p.kind {
        GranteeKind::User => Grantee::User { email: email()? },
        GranteeKind::Group => Grantee::Group { email: email()? },
        GranteeKind::Domain => Grantee::Domain {
            domain: Domain::parse(p.domain.as_deref()?).ok()?,
        },
        GranteeKind::Anyone => Grantee::Anyone,
    })
}

/// The 400 of a grantee or role a service cannot express.
pub fn unsupported(service: &str, what: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_parameters(format!("{service} cannot share {what}."))
}

/// The check of a role: `mapped` is the service's own name for `role`, if it has one.
pub fn known_role(service: &str, role: Role, mapped: Option<&str>) -> Result<(), ApiError> {
    match mapped {
        Some(_) => Ok(()),
        None => Err(unsupported(
            service,
            format_args!("with the {} role", role.as_str()),
        )),
    }
}

/// The check of a grantee on services that share only with people, by e-mail address
/// (Dropbox, Box): groups (`groups` says why not), domains and anyone (a link, made with
/// the Links API) are refused.
pub fn people_only(service: &str, grantee: &Grantee, groups: &str) -> Result<(), ApiError> {
    match grantee {
        Grantee::User { .. } => Ok(()),
        Grantee::Group { .. } => Err(unsupported(
            service,
            format_args!("with a group by e-mail address ({groups})"),
        )),
        Grantee::Domain { .. } => Err(unsupported(service, "with a domain")),
        Grantee::Anyone => Err(unsupported(
            service,
            "with anyone this way (make a link with the Links API)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use cloudbridge_shared::{
        permissions::{Email, GranteeKind},
        storage::ItemKind,
        ItemPath,
    };
    use serde_json::json;

    use super::*;

    /// A service keeping permissions in memory, refusing domains, logging its calls.
    struct Memory {
        permissions: Mutex<Vec<Permission>>,
        calls: Mutex<Vec<String>>,
    }

    fn permission(id: &str, email: &str, role: Role) -> Permission {
        Permission {
            id: id.into(),
            email: Some(email.into()),
            name: None,
            role,
            kind: GranteeKind::User,
            domain: None,
        }
    }

    #[async_trait]
    impl Sharing for Memory {
        fn service(&self) -> &'static str {
            "Memory"
        }
        fn check(&self, grantee: &Grantee, _: Role) -> Result<(), ApiError> {
            match grantee {
                Grantee::Domain { .. } => Err(unsupported("Memory", "with a domain")),
                _ => Ok(()),
            }
        }
        async fn list(&self, _: &Entry) -> Result<Vec<Permission>, ApiError> {
            Ok(self.permissions.lock().unwrap().clone())
        }
        async fn grant(&self, _: &Entry, grantee: &Grantee, role: Role) -> Result<(), ApiError> {
            let email = grantee.email().unwrap().to_string();
            self.calls.lock().unwrap().push(format!("grant {email}"));
            let id = format!("p-{email}");
            self.permissions
                .lock()
                .unwrap()
                .push(permission(&id, &email, role));
            Ok(())
        }
        async fn update(&self, _: &Entry, p: &Permission, role: Role) -> Result<(), ApiError> {
            self.calls.lock().unwrap().push(format!("update {}", p.id));
            for q in self.permissions.lock().unwrap().iter_mut() {
                if q.id == p.id {
                    q.role = role;
                }
            }
            Ok(())
        }
        async fn revoke(&self, _: &Entry, p: &Permission) -> Result<(), ApiError> {
            self.calls.lock().unwrap().push(format!("revoke {}", p.id));
            self.permissions.lock().unwrap().retain(|q| q.id != p.id);
            Ok(())
        }
    }

    fn item(path: &str) -> Entry {
        Entry {
            path: ItemPath::parse(path).unwrap(),
            kind: ItemKind::File,
            size: Some(1),
            created: None,
            modified: None,
            mime_type: None,
            raw: None,
            id: None,
            parent_id: None,
        }
    }

    fn memory() -> Memory {
        Memory {
            permissions: Mutex::new(vec![
                permission("own", "me@example.com", Role::Owner),
                permission("p-ann@example.com", "ann@example.com", Role::Reader),
            ]),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn change(body: serde_json::Value, replace: bool) -> Change {
        Change::parse(&body, replace).unwrap()
    }

    #[tokio::test]
    async fn patch_adds_and_updates_put_also_removes_and_the_owner_stays() {
        let m = memory();
        let body = json!([{"role": "writer", "email": "ann@example.com"},
                          {"role": "reader", "email": "bob@example.com"}]);
        let after = apply(&m, &item("a"), Some(&change(body, false)))
            .await
            .unwrap();
        assert_eq!(after.len(), 3);
        assert_eq!(after[1].role, Role::Writer);
        // The same list again changes nothing; the owner sent back as owner is no change.
        let calls = m.calls.lock().unwrap().len();
        let same = json!([{"role": "owner", "email": "me@example.com"},
                          {"role": "writer", "email": "ann@example.com"}]);
        apply(&m, &item("a"), Some(&change(same, false)))
            .await
            .unwrap();
        assert_eq!(m.calls.lock().unwrap().len(), calls);
        let after = apply(&m, &item("a"), Some(&change(json!([]), true)))
            .await
            .unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].role, Role::Owner);
        assert_eq!(
            *m.calls.lock().unwrap(),
            [
                "update p-ann@example.com",
                "grant bob@example.com",
                "revoke p-ann@example.com",
                "revoke p-bob@example.com"
            ]
        );
    }

    #[tokio::test]
    async fn refused_entries_change_nothing() {
        let m = memory();
        for body in [
            json!([{"role": "reader", "email": "new@example.com"},
                   {"type": "domain", "role": "reader", "domain": "example.org"}]),
            json!([{"role": "writer", "email": "me@example.com"}]),
            json!([{"role": "owner", "email": "ann@example.com"}]),
            json!([{"role": "owner", "email": "new@example.com"}]),
            json!([{"role": "reader", "id": "nope"}]),
        ] {
            let e = apply(&m, &item("a"), Some(&change(body.clone(), true)))
                .await
                .unwrap_err();
            assert_eq!(e.status, 400, "{body}");
        }
        assert!(m.calls.lock().unwrap().is_empty());
        // Sharing the root folder is refused; reading it is not.
        let root = item("");
        assert_eq!(apply(&m, &root, None).await.unwrap().len(), 2);
        let body = json!([{"role": "reader", "email": "new@example.com"}]);
        let e = apply(&m, &root, Some(&change(body, false)))
            .await
            .unwrap_err();
        assert_eq!(e.status, 400);
        let _ = Email::parse("x@example.com").unwrap();
    }
}
