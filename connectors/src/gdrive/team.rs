//! A Google Workspace through an admin's token and the Admin SDK's Directory API
//! (`…/admin/directory/v1`, needing the `admin.directory.user.readonly` and
//! `admin.directory.group.readonly` scopes): `users?customer=my_customer`,
//! `users/{userKey}`, `groups?userKey=` (a user's groups), `groups?customer=my_customer`,
//! `groups/{groupKey}` and `groups/{groupKey}/members` (its users), paged by
//! `pageToken` / `nextPageToken`. Users are named by their Directory id.

use async_trait::async_trait;
use cloudbridge_shared::{
    team::{TeamGroup, TeamUser},
    ApiError,
};
use serde_json::Value;

use super::DriveStore;
use crate::team::{segment, Listed, Team};

/// The Directory API's largest `maxResults` of users, and of groups and members.
const MAX_USERS: u32 = 500;
const MAX_GROUPS: u32 = 200;

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn time(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// A Directory `User`: `admin` for super administrators, else `member`.
fn user(v: &Value) -> Option<TeamUser> {
    let admin = v["isAdmin"].as_bool().unwrap_or(false);
    Some(TeamUser {
        id: text(&v["id"])?,
        name: text(&v["name"]["fullName"]),
        email: text(&v["primaryEmail"]),
        role: Some(if admin { "admin" } else { "member" }.into()),
        created: time(&v["creationTime"]),
        modified: None,
    })
}

fn group(v: &Value) -> Option<TeamGroup> {
    Some(TeamGroup {
        id: text(&v["id"])?,
        name: text(&v["name"]),
        email: text(&v["email"]),
        role: None,
    })
}

/// A Directory `Member` that is a user (groups and the whole customer can be members
/// too): its role in the group in lower case (`owner`, `manager`, `member`).
fn member(v: &Value) -> Option<TeamUser> {
    if v["type"].as_str().is_some_and(|t| t != "USER") {
        return None;
    }
    Some(TeamUser {
        id: text(&v["id"])?,
        name: None,
        email: text(&v["email"]),
        role: text(&v["role"]).map(|r| r.to_lowercase()),
        created: None,
        modified: None,
    })
}

fn gone(e: ApiError, missing: &str) -> ApiError {
    if e.status == 404 {
        ApiError::not_found(missing.to_string())
    } else {
        e
    }
}

const NO_USER: &str = "The organisation has no user of this id.";
const NO_GROUP: &str = "The organisation has no group of this id.";

impl DriveStore {
    /// `GET …/admin/directory/v1/{tail}?query` as JSON; a 404 says `missing`.
    async fn directory(
        &self,
        tail: &str,
        query: &[(&str, String)],
        missing: &str,
    ) -> Result<Value, ApiError> {
        let url = self.drive.directory_url(tail);
        self.drive
            .json(|c| c.get(&url).query(query))
            .await
            .map_err(|e| gone(e, missing))
    }

    /// One page of a Directory list: the array `field` of each answer, read by `each`.
    #[allow(clippy::too_many_arguments)]
    async fn directory_page<T>(
        &self,
        tail: &str,
        mut query: Vec<(&str, String)>,
        field: &str,
        cursor: Option<&str>,
        max: u32,
        limit: u32,
        missing: &str,
        each: impl Fn(&Value) -> Option<T>,
    ) -> Result<Listed<T>, ApiError> {
        query.push(("maxResults", limit.clamp(1, max).to_string()));
        if let Some(token) = cursor {
            query.push(("pageToken", token.to_string()));
        }
        let answer = self.directory(tail, &query, missing).await?;
        Ok(Listed {
            objects: answer[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(each)
                .collect(),
            next: text(&answer["nextPageToken"]),
        })
    }
}

fn customer() -> Vec<(&'static str, String)> {
    vec![("customer", "my_customer".to_string())]
}

#[async_trait]
impl Team for DriveStore {
    async fn users(&self, cursor: Option<&str>, limit: u32) -> Result<Listed<TeamUser>, ApiError> {
        let query = [customer(), vec![("orderBy", "email".to_string())]].concat();
        self.directory_page(
            "users", query, "users", cursor, MAX_USERS, limit, NO_USER, user,
        )
        .await
    }

    async fn user(&self, id: &str) -> Result<TeamUser, ApiError> {
        let found = self
            .directory(&format!("users/{}", segment(id)), &[], NO_USER)
            .await?;
        user(&found).ok_or_else(|| ApiError::not_found(NO_USER))
    }

    async fn memberships(
        &self,
        user: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamGroup>, ApiError> {
        // Google answers an unknown user with an empty list: ask for the user first.
        if cursor.is_none() {
            self.user(user).await?;
        }
        let query = vec![("userKey", user.to_string())];
        self.directory_page(
            "groups", query, "groups", cursor, MAX_GROUPS, limit, NO_USER, group,
        )
        .await
    }

    async fn groups(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamGroup>, ApiError> {
        self.directory_page(
            "groups",
            customer(),
            "groups",
            cursor,
            MAX_GROUPS,
            limit,
            NO_GROUP,
            group,
        )
        .await
    }

    async fn group(&self, id: &str) -> Result<TeamGroup, ApiError> {
        let found = self
            .directory(&format!("groups/{}", segment(id)), &[], NO_GROUP)
            .await?;
        group(&found).ok_or_else(|| ApiError::not_found(NO_GROUP))
    }

    async fn members(
        &self,
        group: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamUser>, ApiError> {
        let tail = format!("groups/{}/members", segment(group));
        self.directory_page(
            &tail,
            Vec::new(),
            "members",
            cursor,
            MAX_GROUPS,
            limit,
            NO_GROUP,
            member,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn directory_shapes() {
        let u = user(&json!({"id": "1", "primaryEmail": "a@example.com", "isAdmin": true,
                             "name": {"fullName": "Ann A"}, "creationTime": "2020-01-01T00:00:00.000Z"}))
        .unwrap();
        assert_eq!(
            (u.role.as_deref(), u.name.as_deref()),
            (Some("admin"), Some("Ann A"))
        );
        assert!(u.created.is_some());
        let m =
            member(&json!({"id": "2", "email": "b@example.com", "role": "OWNER", "type": "USER"}))
                .unwrap();
        assert_eq!(m.role.as_deref(), Some("owner"));
        assert!(member(&json!({"id": "3", "type": "GROUP"})).is_none());
    }
}
