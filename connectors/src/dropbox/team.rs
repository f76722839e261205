//! A Dropbox Business team through the team routes of an admin's team token:
//! `team/members/list_v2` (and `list/continue_v2`), `team/members/get_info_v2`,
//! `team/groups/list` (and `/continue`), `team/groups/get_info` and
//! `team/groups/members/list` (and `/continue`). Users are named by their
//! `team_member_id`, what `Dropbox-API-Select-User` takes; a member's groups are those
//! their profile lists, read with `team/groups/get_info`.

use async_trait::async_trait;
use cloudbridge_shared::{
    team::{TeamGroup, TeamUser},
    ApiError,
};
use serde_json::{json, Value};

use super::{client::Error, DropboxStore};
use crate::team::{Listed, Team};

/// Dropbox's largest `limit` of the team lists.
const MAX_LIMIT: u32 = 1000;

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn time(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// A `TeamMemberProfile` (or a group's `MemberProfile`) as a user; `role` as given.
fn user(profile: &Value, role: Option<String>) -> Option<TeamUser> {
    Some(TeamUser {
        id: text(&profile["team_member_id"])?,
        name: text(&profile["name"]["display_name"]),
        email: text(&profile["email"]),
        role,
        created: time(&profile["joined_on"]).or_else(|| time(&profile["invited_on"])),
        modified: None,
    })
}

/// A `TeamMemberInfoV2`: its profile, and `admin` when one of its roles is the team
/// admin's.
fn member(info: &Value) -> Option<TeamUser> {
    let admin = info["roles"].as_array().into_iter().flatten().any(|r| {
        r["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case("team admin"))
    });
    let role = if admin { "admin" } else { "member" };
    user(&info["profile"], Some(role.into()))
}

/// A `GroupSummary` or `GroupFullInfo` as a group.
fn group(summary: &Value) -> Option<TeamGroup> {
    Some(TeamGroup {
        id: text(&summary["group_id"])?,
        name: text(&summary["group_name"]),
        email: None,
        role: None,
    })
}

/// The page of a list answer, and its cursor when `has_more`.
fn page<T>(answer: &Value, field: &str, each: impl Fn(&Value) -> Option<T>) -> Listed<T> {
    Listed {
        objects: answer[field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(each)
            .collect(),
        next: answer["has_more"]
            .as_bool()
            .unwrap_or(false)
            .then(|| text(&answer["cursor"]))
            .flatten(),
    }
}

fn no_user() -> ApiError {
    ApiError::not_found("The team has no user of this id.")
}

fn no_group() -> ApiError {
    ApiError::not_found("The team has no group of this id.")
}

impl DropboxStore {
    /// A list route's first page (`arg`) or, from `cursor`, its `continue` route's page.
    async fn team_page(
        &self,
        route: &str,
        next_route: &str,
        arg: Value,
        cursor: Option<&str>,
    ) -> Result<Value, Error> {
        match cursor {
            None => self.team.rpc(route, &arg).await,
            Some(cursor) => {
                self.team
                    .rpc(next_route, &json!({ "cursor": cursor }))
                    .await
            }
        }
    }

    /// The `TeamMemberInfoV2` of member `id`.
    async fn member_info(&self, id: &str) -> Result<Value, ApiError> {
        let arg = json!({"members": [{".tag": "team_member_id", "team_member_id": id}]});
        let answer = self.team.rpc("team/members/get_info_v2", &arg).await?;
        let found = &answer["members_info"][0];
        match found[".tag"].as_str() {
            Some("member_info") => Ok(found.clone()),
            _ => Err(no_user()),
        }
    }

    /// The `GroupFullInfo` of each of `ids` that exists.
    async fn groups_info(&self, ids: &[&str]) -> Result<Vec<TeamGroup>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let arg = json!({".tag": "group_ids", "group_ids": ids});
        let answer = match self.team.rpc("team/groups/get_info", &arg).await {
            Ok(answer) => answer,
            Err(e) if e.has("group_not_found") => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        Ok(answer
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g[".tag"] == "group_info")
            .filter_map(group)
            .collect())
    }
}

#[async_trait]
impl Team for DropboxStore {
    async fn users(&self, cursor: Option<&str>, limit: u32) -> Result<Listed<TeamUser>, ApiError> {
        let arg = json!({"limit": limit.clamp(1, MAX_LIMIT), "include_removed": false});
        let answer = self
            .team_page(
                "team/members/list_v2",
                "team/members/list/continue_v2",
                arg,
                cursor,
            )
            .await?;
        Ok(page(&answer, "members", member))
    }

    async fn user(&self, id: &str) -> Result<TeamUser, ApiError> {
        member(&self.member_info(id).await?).ok_or_else(no_user)
    }

    async fn memberships(
        &self,
        user: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamGroup>, ApiError> {
        // The profile lists the groups whole: paged here by position.
        let info = self.member_info(user).await?;
        let ids: Vec<&str> = info["profile"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let from: usize = match cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| ApiError::invalid_parameters("Unknown page."))?,
        };
        let to = from.saturating_add(limit.max(1) as usize).min(ids.len());
        let slice = ids.get(from..to).unwrap_or_default();
        Ok(Listed {
            objects: self.groups_info(slice).await?,
            next: (to < ids.len()).then(|| to.to_string()),
        })
    }

    async fn groups(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamGroup>, ApiError> {
        let arg = json!({"limit": limit.clamp(1, MAX_LIMIT)});
        let answer = self
            .team_page("team/groups/list", "team/groups/list/continue", arg, cursor)
            .await?;
        Ok(page(&answer, "groups", group))
    }

    async fn group(&self, id: &str) -> Result<TeamGroup, ApiError> {
        self.groups_info(&[id])
            .await?
            .into_iter()
            .next()
            .ok_or_else(no_group)
    }

    async fn members(
        &self,
        group: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Listed<TeamUser>, ApiError> {
        let arg = json!({
            "group": {".tag": "group_id", "group_id": group},
            "limit": limit.clamp(1, MAX_LIMIT),
        });
        let answer = self
            .team_page(
                "team/groups/members/list",
                "team/groups/members/list/continue",
                arg,
                cursor,
            )
            .await
            .map_err(|e| {
                if e.has("group_not_found") {
                    no_group()
                } else {
                    e.into()
                }
            })?;
        Ok(page(&answer, "members", |m| {
            user(
                &m["profile"],
                m["access_type"][".tag"].as_str().map(str::to_string),
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_groups_read_dropbox_shapes() {
        let info = json!({
            "profile": {"team_member_id": "dbmid:1", "email": "a@example.com",
                        "name": {"display_name": "Ann A"}, "joined_on": "2024-01-02T03:04:05Z"},
            "roles": [{"role_id": "pid_dbtmr:x", "name": "Team admin"}],
        });
        let u = member(&info).unwrap();
        assert_eq!(
            (u.id.as_str(), u.role.as_deref(), u.name.as_deref()),
            ("dbmid:1", Some("admin"), Some("Ann A"))
        );
        assert!(u.created.is_some());
        let listed = page(
            &json!({"groups": [{"group_id": "g:1", "group_name": "Eng"}, {"group_name": "no id"}],
                    "cursor": "c", "has_more": true}),
            "groups",
            group,
        );
        assert_eq!(listed.objects.len(), 1);
        assert_eq!(listed.next.as_deref(), Some("c"));
        let last = page(
            &json!({"groups": [], "cursor": "c", "has_more": false}),
            "groups",
            group,
        );
        assert_eq!(last.next, None);
    }
}
