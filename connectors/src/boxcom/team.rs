//! A Box Enterprise through an admin's token: `GET /users` (the enterprise's managed
//! users, marker-paged), `GET /users/{id}`, `GET /users/{id}/memberships`,
//! `GET /groups`, `GET /groups/{id}` and `GET /groups/{id}/memberships` (offset-paged).
//! Users are named by their Box user id, what `As-User` takes.

use async_trait::async_trait;
use cloudbridge_shared::{
    team::{TeamGroup, TeamUser},
    ApiError,
};
use serde_json::Value;

use super::{wire, BoxStore};
use crate::team::{segment, Listed, Team};

/// Box's largest `limit` of these lists.
const MAX_LIMIT: u32 = 1000;
/// The user fields read (`role` is not among Box's defaults).
const USER_FIELDS: &str = "id,name,login,role,created_at,modified_at";

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn time(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// A Box user: `role` is Box's in the enterprise (`admin`, `coadmin`, `user`), or the
/// one given (a membership's).
fn user(v: &Value, role: Option<String>) -> Option<TeamUser> {
    Some(TeamUser {
        id: text(&v["id"])?,
        name: text(&v["name"]),
        email: text(&v["login"]),
        role: role
            .or_else(|| text(&v["role"]).map(|r| if r == "user" { "member".into() } else { r })),
        created: time(&v["created_at"]),
        modified: time(&v["modified_at"]),
    })
}

fn group(v: &Value, role: Option<String>) -> Option<TeamGroup> {
    Some(TeamGroup {
        id: text(&v["id"])?,
        name: text(&v["name"]),
        email: None,
        role,
    })
}

/// The next offset of an offset-paged answer, while `total_count` says there is more.
fn next_offset(answer: &Value, from: u64) -> Option<String> {
    let shown = answer["entries"].as_array().map_or(0, Vec::len) as u64;
    let total = answer["total_count"].as_u64()?;
    let next = from + shown;
    (shown > 0 && next < total).then(|| next.to_string())
}

fn offset(cursor: Option<&str>) -> Result<u64, ApiError> {
    cursor.map_or(Ok(0), |c| {
        c.parse()
            .map_err(|_| ApiError::invalid_parameters("Unknown page."))
    })
}

fn entries(answer: &Value) -> impl Iterator<Item = &Value> {
    answer["entries"].as_array().into_iter().flatten()
}

impl BoxStore {
    /// `GET path?query` with the admin's own access.
    async fn team_get(
        &self,
        path: &str,
        query: &[(&str, String)],
        missing: &str,
    ) -> Result<Value, ApiError> {
        let url = self.api_url(path);
        let response = self.team_api.send(|c| c.get(&url).query(query)).await?;
        wire::json(response).await.map_err(|f| {
            if f.status == 404 {
                ApiError::not_found(missing.to_string())
            } else {
                f.into()
            }
        })
    }

    /// One offset-paged page of `path`'s memberships, each read by `each`.
    async fn memberships_of<T>(
        &self,
        path: &str,
        cursor: Option<&str>,
        limit: u32,
        missing: &str,
        each: impl Fn(&Value) -> Option<T>,
    ) -> Result<Listed<T>, ApiError> {
        let from = offset(cursor)?;
        let query = [
            ("limit", limit.clamp(1, MAX_LIMIT).to_string()),
            ("offset", from.to_string()),
        ];
        let answer = self.team_get(path, &query, missing).await?;
        Ok(Listed {
            objects: entries(&answer).filter_map(each).collect(),
            next: next_offset(&answer, from),
        })
    }
}

const NO_USER: &str = "The enterprise has no user of this id.";
const NO_GROUP: &str = "The enterprise has no group of this id.";

#[async_trait]
impl Team for BoxStore {
    async fn users(&self, cursor: Option<&str>, limit: u32) -> Result<Listed<TeamUser>, ApiError> {
        let mut query = vec![
            ("usemarker", "true".to_string()),
            ("limit", limit.clamp(1, MAX_LIMIT).to_string()),
            ("fields", USER_FIELDS.to_string()),
        ];
        if let Some(marker) = cursor {
            query.push(("marker", marker.to_string()));
        }
        let answer = self.team_get("users", &query, NO_USER).await?;
        Ok(Listed {
            objects: entries(&answer).filter_map(|u| user(u, None)).collect(),
            next: text(&answer["next_marker"]),
        })
    }

    async fn user(&self, id: &str) -> Result<TeamUser, ApiError> {
        let path = format!("users/{}", segment(id));
        let found = self
            .team_get(&path, &[("fields", USER_FIELDS.to_string())], NO_USER)
            .await?;
        user(&found, None).ok_or_else(|| ApiError::not_found(NO_USER))
    }

    async fn memberships(
        &self,
        user: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamGroup>, ApiError> {
        let path = format!("users/{}/memberships", segment(user));
        self.memberships_of(&path, cursor, limit, NO_USER, |m| {
            group(&m["group"], text(&m["role"]))
        })
        .await
    }

    async fn groups(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamGroup>, ApiError> {
        self.memberships_of("groups", cursor, limit, NO_GROUP, |g| group(g, None))
            .await
    }

    async fn group(&self, id: &str) -> Result<TeamGroup, ApiError> {
        let found = self
            .team_get(&format!("groups/{}", segment(id)), &[], NO_GROUP)
            .await?;
        group(&found, None).ok_or_else(|| ApiError::not_found(NO_GROUP))
    }

    async fn members(
        &self,
        group: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamUser>, ApiError> {
        let path = format!("groups/{}/memberships", segment(group));
        self.memberships_of(&path, cursor, limit, NO_GROUP, |m| {
            user(&m["user"], text(&m["role"]))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn box_users_groups_and_offsets() {
        let u = user(
            &json!({"type": "user", "id": "11", "name": "Ann", "login": "ann@example.com",
                    "role": "user", "created_at": "2012-12-12T10:53:43-08:00"}),
            None,
        )
        .unwrap();
        assert_eq!(
            (u.id.as_str(), u.email.as_deref(), u.role.as_deref()),
            ("11", Some("ann@example.com"), Some("member"))
        );
        assert!(u.created.is_some());
        let page = json!({"total_count": 5, "entries": [{}, {}]});
        assert_eq!(next_offset(&page, 2).as_deref(), Some("4"));
        assert_eq!(next_offset(&page, 3), None);
        assert_eq!(
            next_offset(&json!({"total_count": 5, "entries": []}), 0),
            None
        );
        assert!(offset(Some("x")).is_err());
    }
}
