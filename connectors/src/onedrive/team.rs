//! A Microsoft 365 organisation on Graph, through an admin's token: `GET /users`,
//! `GET /users/{id}`, `GET /users/{id}/memberOf` (its groups), `GET /groups`,
//! `GET /groups/{id}` and `GET /groups/{id}/members` (its users), paged by Graph's
//! `@odata.nextLink` (the cursor, which must stay on the configured Graph host). Users
//! are named by their Graph id, what `/users/{id}/drive` takes.

use async_trait::async_trait;
use cloudbridge_shared::{
    team::{TeamGroup, TeamUser},
    ApiError,
};
use serde_json::Value;

use super::{
    graph::{self, segment},
    OneDrive,
};
use crate::team::{Listed, Team};

/// Graph's largest `$top` of directory lists.
const MAX_TOP: u32 = 999;
const USER_FIELDS: &str = "id,displayName,mail,userPrincipalName,createdDateTime";
const GROUP_FIELDS: &str = "id,displayName,mail";

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// A directory object of `@odata.type` `kind` (`user`, `group`), when it says one.
fn is(v: &Value, kind: &str) -> bool {
    v["@odata.type"]
        .as_str()
        .is_none_or(|t| t == format!("#microsoft.graph.{kind}"))
}

fn user(v: &Value) -> Option<TeamUser> {
    if !is(v, "user") {
        return None;
    }
    Some(TeamUser {
        id: text(&v["id"])?,
        name: text(&v["displayName"]),
        email: text(&v["mail"]).or_else(|| text(&v["userPrincipalName"])),
        role: None,
        created: v["createdDateTime"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc)),
        modified: None,
    })
}

fn group(v: &Value) -> Option<TeamGroup> {
    if !is(v, "group") {
        return None;
    }
    Some(TeamGroup {
        id: text(&v["id"])?,
        name: text(&v["displayName"]),
        email: text(&v["mail"]),
        role: None,
    })
}

impl OneDrive {
    /// One page of the directory list at `path` (`/users`…), from the first or from
    /// `link` (a nextLink Graph gave); 404s say `missing`.
    async fn directory<T>(
        &self,
        path: &str,
        fields: &str,
        link: Option<&str>,
        top: u32,
        missing: &str,
        each: impl Fn(&Value) -> Option<T>,
    ) -> Result<Listed<T>, ApiError> {
        let url = match link {
            Some(link) if self.team.owns(link) => link.to_string(),
            Some(_) => return Err(ApiError::invalid_parameters("Unknown page.")),
            None => self.team.url(&format!(
                "{path}?$select={fields}&$top={}",
                top.clamp(1, MAX_TOP)
            )),
        };
        let page = self.team.get(&url).await.map_err(|e| gone(e, missing))?;
        Ok(Listed {
            objects: page["value"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(each)
                .collect(),
            next: text(&page["@odata.nextLink"]),
        })
    }

    async fn one(&self, path: &str, fields: &str, missing: &str) -> Result<Value, ApiError> {
        self.team
            .get(&self.team.url(&format!("{path}?$select={fields}")))
            .await
            .map_err(|e| gone(e, missing))
    }
}

/// A 404 says what was missing.
fn gone(e: ApiError, missing: &str) -> ApiError {
    if e.status == 404 {
        ApiError::not_found(missing.to_string())
    } else {
        e
    }
}

const NO_USER: &str = "The organisation has no user of this id.";
const NO_GROUP: &str = "The organisation has no group of this id.";

#[async_trait]
impl Team for OneDrive {
    async fn users(&self, cursor: Option<&str>, limit: u32) -> Result<Listed<TeamUser>, ApiError> {
        self.directory("/users", USER_FIELDS, cursor, limit, NO_USER, user)
            .await
    }

    async fn user(&self, id: &str) -> Result<TeamUser, ApiError> {
        let found = self
            .one(&format!("/users/{}", segment(id)), USER_FIELDS, NO_USER)
            .await?;
        user(&found).ok_or_else(|| graph::bad_gateway("Graph answered no user."))
    }

    async fn memberships(
        &self,
        user: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamGroup>, ApiError> {
        let path = format!("/users/{}/memberOf", segment(user));
        self.directory(&path, GROUP_FIELDS, cursor, limit, NO_USER, group)
            .await
    }

    async fn groups(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamGroup>, ApiError> {
        self.directory("/groups", GROUP_FIELDS, cursor, limit, NO_GROUP, group)
            .await
    }

    async fn group(&self, id: &str) -> Result<TeamGroup, ApiError> {
        let found = self
            .one(&format!("/groups/{}", segment(id)), GROUP_FIELDS, NO_GROUP)
            .await?;
        group(&found).ok_or_else(|| graph::bad_gateway("Graph answered no group."))
    }

    async fn members(
        &self,
        group: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamUser>, ApiError> {
        let path = format!("/groups/{}/members", segment(group));
        self.directory(&path, USER_FIELDS, cursor, limit, NO_GROUP, user)
            .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn directory_objects_of_the_other_kind_are_left_out() {
        let u = json!({"@odata.type": "#microsoft.graph.user", "id": "1",
                       "displayName": "Ann", "userPrincipalName": "ann@contoso.com"});
        assert_eq!(user(&u).unwrap().email.as_deref(), Some("ann@contoso.com"));
        assert!(group(&u).is_none());
        let role = json!({"@odata.type": "#microsoft.graph.directoryRole", "id": "2"});
        assert!(group(&role).is_none() && user(&role).is_none());
        let g = json!({"id": "3", "displayName": "Eng", "mail": "eng@contoso.com"});
        assert_eq!(group(&g).unwrap().name.as_deref(), Some("Eng"));
    }
}
