//! Sharing on Dropbox: the members of a file (`sharing/*_file_member*`) or of a shared
//! folder (`sharing/share_folder`, then `sharing/*_folder_member*`), as Kloudless
//! permissions.
//!
//! Dropbox shares with people, by e-mail address (an address with no Dropbox account
//! becomes an invitee): groups (team groups have no address), domains and anyone (shared
//! links, made with the Links API) are refused. Access levels map as `owner` to owner,
//! `editor` to writer, `viewer` (who may comment) to commenter and `viewer_no_comment`
//! to reader; Dropbox has no previewer. A folder is shared on its first grant; a folder
//! inside a shared folder has the members of that one and cannot be shared on its own.
//! Members are added quietly (no Dropbox notification).

use std::time::Duration;

use async_trait::async_trait;
use cloudbridge_shared::{
    permissions::{Grantee, GranteeKind, Permission, Role},
    ApiError, Entry,
};
use serde_json::{json, Value};

use super::{client::Error, DropboxStore};
use crate::sharing::{known_role, people_only, Sharing};

/// Members asked for per page.
const LIMIT: u32 = 300;
/// Checks of an asynchronous sharing job before giving up.
const JOB_CHECKS: u32 = 20;

const SERVICE: &str = "Dropbox";

fn access_level(role: Role) -> Option<&'static str> {
    match role {
        Role::Writer => Some("editor"),
        Role::Commenter => Some("viewer"),
        Role::Reader => Some("viewer_no_comment"),
        Role::Owner | Role::Previewer => None,
    }
}

fn role_of(access: &Value) -> Option<Role> {
    match access[".tag"].as_str()? {
        "owner" => Some(Role::Owner),
        "editor" => Some(Role::Writer),
        "viewer" => Some(Role::Commenter),
        "viewer_no_comment" => Some(Role::Reader),
        // `traverse` and `no_access` give no access to the item's contents.
        _ => None,
    }
}

/// The permissions of one page of `SharedFileMembers` / `SharedFolderMembers`.
fn members(page: &Value) -> Vec<Permission> {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let mut found = Vec::new();
    for user in page["users"].as_array().into_iter().flatten() {
        let (Some(role), Some(id)) = (
            role_of(&user["access_type"]),
            text(&user["user"]["account_id"]),
        ) else {
            continue;
        };
        found.push(Permission {
            id,
            email: text(&user["user"]["email"]),
            name: text(&user["user"]["display_name"]),
            role,
            kind: GranteeKind::User,
            domain: None,
        });
    }
    for invitee in page["invitees"].as_array().into_iter().flatten() {
        let (Some(role), Some(email)) = (
            role_of(&invitee["access_type"]),
            text(&invitee["invitee"]["email"]),
        ) else {
            continue;
        };
        found.push(Permission {
            id: email.clone(),
            email: Some(email),
            name: None,
            role,
            kind: GranteeKind::User,
            domain: None,
        });
    }
    for group in page["groups"].as_array().into_iter().flatten() {
        let (Some(role), Some(id)) = (
            role_of(&group["access_type"]),
            text(&group["group"]["group_id"]),
        ) else {
            continue;
        };
        found.push(Permission {
            id,
            email: None,
            name: text(&group["group"]["group_name"]),
            role,
            kind: GranteeKind::Group,
            domain: None,
        });
    }
    found
}

/// The `MemberSelector` of an existing member: by account id for users, else by address.
fn selector(existing: &Permission) -> Value {
    match existing.id.strip_prefix("dbid:") {
        Some(_) => json!({".tag": "dropbox_id", "dropbox_id": existing.id}),
        None => {
            json!({".tag": "email", "email": existing.email.as_deref().unwrap_or(&existing.id)})
        }
    }
}

/// Where an item's members are kept.
enum Scope {
    /// A file, by its `id:`.
    File(String),
    /// A folder that is shared itself.
    Shared(String),
    /// A folder inside a shared folder (its members are that one's).
    Inside(String),
    /// A folder not shared (only the owner has it), by its `id:`, or the root (`None`).
    Unshared(Option<String>),
}

fn inside_shared(what: &str) -> ApiError {
    ApiError::invalid_parameters(format!(
        "Dropbox keeps the members of a folder inside a shared folder on the shared folder: \
         {what} there."
    ))
}

impl DropboxStore {
    /// Where `item`'s members are, as Dropbox says now.
    async fn scope(&self, item: &Entry) -> Result<Scope, ApiError> {
        let Some(id) = item.id.clone().filter(|_| !item.path.is_root()) else {
            return Ok(Scope::Unshared(None));
        };
        if item.kind == cloudbridge_shared::storage::ItemKind::File {
            return Ok(Scope::File(id));
        }
        let metadata = self
            .client
            .rpc("files/get_metadata", &json!({ "path": id }))
            .await?;
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        Ok(
            match (
                text(&metadata["shared_folder_id"]),
                text(&metadata["sharing_info"]["parent_shared_folder_id"]),
            ) {
                (Some(shared), _) => Scope::Shared(shared),
                (None, Some(parent)) => Scope::Inside(parent),
                (None, None) => Scope::Unshared(Some(id)),
            },
        )
    }

    /// Every page of a members list (`route`, then `route/continue`).
    async fn all_members(&self, route: &str, arg: Value) -> Result<Vec<Permission>, ApiError> {
        let mut page = self.client.rpc(route, &arg).await.map_err(access)?;
        let mut found = Vec::new();
        loop {
            found.extend(members(&page));
            match page["cursor"].as_str() {
                Some(cursor) if !cursor.is_empty() => {
                    let next = json!({ "cursor": cursor });
                    page = self
                        .client
                        .rpc(&format!("{route}/continue"), &next)
                        .await
                        .map_err(access)?;
                }
                _ => return Ok(found),
            }
        }
    }

    /// The account's own user as the owner of what it has not shared.
    async fn owner(&self) -> Result<Permission, ApiError> {
        let me = self
            .client
            .rpc("users/get_current_account", &Value::Null)
            .await?;
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        Ok(Permission {
            id: text(&me["account_id"]).unwrap_or_default(),
            email: text(&me["email"]),
            name: text(&me["name"]["display_name"]),
            role: Role::Owner,
            kind: GranteeKind::User,
            domain: None,
        })
    }

    /// Waits for an asynchronous job (`check_route`) to complete; returns its answer.
    async fn finish(&self, launched: Value, check_route: &str) -> Result<Value, ApiError> {
        if launched[".tag"] != "async_job_id" {
            return Ok(launched);
        }
        let job = json!({ "async_job_id": launched["async_job_id"] });
        for attempt in 0..JOB_CHECKS {
            let status = self.client.rpc(check_route, &job).await?;
            match status[".tag"].as_str() {
                Some("in_progress") => {
                    tokio::time::sleep(Duration::from_millis(100 << attempt.min(4))).await
                }
                Some("failed") => {
                    return Err(Error::Endpoint(super::client::tags(&status["failed"])).into())
                }
                _ => return Ok(status),
            }
        }
        Err(ApiError::gateway_timeout())
    }

    /// The `shared_folder_id` of a folder, sharing it first if it is not shared yet.
    async fn share(&self, folder_id: &str) -> Result<String, ApiError> {
        let arg = json!({ "path": folder_id, "force_async": false });
        let launched = self
            .client
            .rpc("sharing/share_folder", &arg)
            .await
            .map_err(|e| {
                if e.has("inside_shared_folder") {
                    inside_shared("share it")
                } else if e.has("contains_shared_folder") {
                    ApiError::invalid_parameters(
                        "Dropbox does not share a folder that holds a shared folder.",
                    )
                } else {
                    e.into()
                }
            })?;
        let shared = self
            .finish(launched, "sharing/check_share_job_status")
            .await?;
        shared["shared_folder_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ApiError::new(502, "bad_gateway", "Dropbox named no shared folder."))
    }
}

/// A members call's failure: one refused for the member is a 400 naming Dropbox.
fn access(e: Error) -> ApiError {
    if e.has("invalid_file") || e.has("invalid_id") {
        ApiError::not_found("No such file or folder.")
    } else if e.has("no_explicit_access") {
        ApiError::invalid_parameters(
            "This member has access through a shared folder holding the item: change it there.",
        )
    } else if e.has("bad_member") || e.has("invalid_member") || e.has("not_a_member") {
        ApiError::invalid_parameters("Dropbox refused this member.")
    } else if e.has("no_permission") || e.has("folder_owner") {
        ApiError::forbidden("Dropbox does not allow this change of members.")
    } else {
        e.into()
    }
}

/// The error of a `member_error` result of a per-member file action.
fn member_result(result: &Value) -> Result<(), ApiError> {
    match result[".tag"].as_str() {
        Some("member_error") => Err(access(Error::Endpoint(super::client::tags(
            &result["member_error"],
        )))),
        _ => Ok(()),
    }
}

#[async_trait]
impl Sharing for DropboxStore {
    fn service(&self) -> &'static str {
        SERVICE
    }

    fn check(&self, grantee: &Grantee, role: Role) -> Result<(), ApiError> {
        people_only(SERVICE, grantee, "it shares with people")?;
        known_role(SERVICE, role, access_level(role))
    }

    async fn list(&self, item: &Entry) -> Result<Vec<Permission>, ApiError> {
        let limit = json!(LIMIT);
        match self.scope(item).await? {
            Scope::File(file) => {
                let arg = json!({ "file": file, "include_inherited": true, "limit": limit });
                self.all_members("sharing/list_file_members", arg).await
            }
            Scope::Shared(shared) | Scope::Inside(shared) => {
                let arg = json!({ "shared_folder_id": shared, "limit": limit });
                self.all_members("sharing/list_folder_members", arg).await
            }
            Scope::Unshared(_) => Ok(vec![self.owner().await?]),
        }
    }

    async fn grant(&self, item: &Entry, grantee: &Grantee, role: Role) -> Result<(), ApiError> {
        let level = access_level(role).expect("checked");
        let member = json!({ ".tag": "email", "email": grantee.email().expect("checked") });
        let shared = match self.scope(item).await? {
            Scope::File(file) => {
                let arg = json!({ "file": file, "members": [member],
                                  "access_level": { ".tag": level }, "quiet": true });
                let results = self
                    .client
                    .rpc("sharing/add_file_member", &arg)
                    .await
                    .map_err(access)?;
                for result in results.as_array().into_iter().flatten() {
                    member_result(&result["result"])?;
                }
                return Ok(());
            }
            Scope::Shared(shared) => shared,
            Scope::Inside(_) => return Err(inside_shared("share it")),
            Scope::Unshared(None) => {
                return Err(ApiError::invalid_parameters(
                    "The root folder cannot be shared.",
                ))
            }
            Scope::Unshared(Some(folder)) => self.share(&folder).await?,
        };
        let arg = json!({ "shared_folder_id": shared, "quiet": true,
            "members": [{ "member": member, "access_level": { ".tag": level } }] });
        self.client
            .rpc("sharing/add_folder_member", &arg)
            .await
            .map_err(access)?;
        Ok(())
    }

    async fn update(
        &self,
        item: &Entry,
        existing: &Permission,
        role: Role,
    ) -> Result<(), ApiError> {
        known_role(SERVICE, role, access_level(role))?;
        let (route, mut arg) = match self.scope(item).await? {
            Scope::File(file) => ("sharing/update_file_member", json!({ "file": file })),
            Scope::Shared(shared) => (
                "sharing/update_folder_member",
                json!({ "shared_folder_id": shared }),
            ),
            Scope::Inside(_) | Scope::Unshared(_) => return Err(inside_shared("change them")),
        };
        arg["member"] = selector(existing);
        arg["access_level"] = json!({ ".tag": access_level(role) });
        self.client.rpc(route, &arg).await.map_err(access)?;
        Ok(())
    }

    async fn revoke(&self, item: &Entry, existing: &Permission) -> Result<(), ApiError> {
        match self.scope(item).await? {
            Scope::File(file) => {
                let arg = json!({ "file": file, "member": selector(existing) });
                let result = self
                    .client
                    .rpc("sharing/remove_file_member_2", &arg)
                    .await
                    .map_err(access)?;
                member_result(&result)
            }
            Scope::Shared(shared) => {
                let arg = json!({ "shared_folder_id": shared, "member": selector(existing),
                                  "leave_a_copy": false });
                let launched = self
                    .client
                    .rpc("sharing/remove_folder_member", &arg)
                    .await
                    .map_err(access)?;
                self.finish(launched, "sharing/check_remove_member_job_status")
                    .await
                    .map(drop)
            }
            Scope::Inside(_) | Scope::Unshared(_) => Err(inside_shared("remove them")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_read_as_permissions() {
        let page = json!({
            "users": [
                {"access_type": {".tag": "owner"}, "user": {"account_id": "dbid:1",
                 "email": "me@example.com", "display_name": "Me", "same_team": false}},
                {"access_type": {".tag": "viewer_no_comment"}, "user": {"account_id": "dbid:2",
                 "email": "ann@example.com", "display_name": "Ann", "same_team": false}},
                {"access_type": {".tag": "traverse"}, "user": {"account_id": "dbid:3"}},
            ],
            "invitees": [{"access_type": {".tag": "viewer"},
                          "invitee": {".tag": "email", "email": "new@example.com"}}],
            "groups": [{"access_type": {".tag": "editor"},
                        "group": {"group_id": "g:1", "group_name": "Team"}}],
        });
        let found = members(&page);
        let roles: Vec<_> = found
            .iter()
            .map(|p| (p.id.as_str(), p.role, p.kind))
            .collect();
        assert_eq!(
            roles,
            [
                ("dbid:1", Role::Owner, GranteeKind::User),
                ("dbid:2", Role::Reader, GranteeKind::User),
                ("new@example.com", Role::Commenter, GranteeKind::User),
                ("g:1", Role::Writer, GranteeKind::Group),
            ]
        );
        assert_eq!(selector(&found[1])[".tag"], "dropbox_id");
        assert_eq!(selector(&found[2])["email"], "new@example.com");
    }
}
