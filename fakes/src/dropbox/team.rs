//! Dropbox Business teams, from Dropbox's team API reference: one team of the fake's
//! users, its admins, its groups, and the team routes that read them —
//! `team/members/list_v2` and `team/members/list/continue_v2`,
//! `team/members/get_info_v2` (`team_member_id`, `email` and `external_id` selectors;
//! `id_not_found` items), `team/groups/list` and `/continue`, `team/groups/get_info`
//! (`group_ids`; `id_not_found` items), `team/groups/members/list` and `/continue`
//! (409 `group_not_found`). Cursors carry their position and `limit`; `limit` must be
//! 1 to 1000 (a plain-text 400 otherwise).
//!
//! A team admin's token works on the team routes and, with `Dropbox-API-Select-User`
//! naming a member, on every user route as that member (see
//! [`Shared::begin`](super::state::Shared::begin)); another user's token on a team route
//! is a plain-text 400, as Dropbox answers a user token there. Here one token is both the
//! admin's user token and the team's (Dropbox issues team-linked tokens to team apps).

use std::sync::Arc;

use axum::{body::Bytes, extract::State, http::HeaderMap, response::Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    rpc::call,
    state::{random, Inner, Shared},
    wire::{self, Failure},
};

/// A member of the team.
#[derive(Debug, Clone)]
pub struct Member {
    /// `dbmid:…`, what `Dropbox-API-Select-User` takes.
    pub team_member_id: String,
    /// The member's user (`dbid:…`).
    pub account_id: String,
    /// A team admin.
    pub admin: bool,
}

/// A group of the team.
#[derive(Debug, Clone)]
pub struct Group {
    /// `g:…`
    pub group_id: String,
    /// Its name.
    pub name: String,
    /// Members by `team_member_id`, and whether each is an owner of the group.
    pub members: Vec<(String, bool)>,
}

/// The team (empty until a test makes one).
#[derive(Debug, Default)]
pub struct Team {
    /// Its members, in the order they joined.
    pub members: Vec<Member>,
    /// Its groups, in the order they were made.
    pub groups: Vec<Group>,
}

impl Team {
    /// The member whose user is `account_id`.
    pub fn member_of(&self, account_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.account_id == account_id)
    }

    /// The member `team_member_id`.
    pub fn member(&self, team_member_id: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.team_member_id == team_member_id)
    }
}

impl Inner {
    /// Adds user `account_id` to the team (as an admin if `admin`); returns their
    /// `team_member_id`.
    pub fn join_team(&mut self, account_id: &str, admin: bool) -> String {
        if let Some(m) = self.team.member_of(account_id) {
            return m.team_member_id.clone();
        }
        let team_member_id = format!("dbmid:{}", &random("")[..30]);
        self.team.members.push(Member {
            team_member_id: team_member_id.clone(),
            account_id: account_id.to_string(),
            admin,
        });
        team_member_id
    }

    /// Makes a group of `members` (`team_member_id`, owner); returns its id.
    pub fn add_group(&mut self, name: &str, members: &[(&str, bool)]) -> String {
        let group_id = format!("g:{}", &random("")[..24]);
        self.team.groups.push(Group {
            group_id: group_id.clone(),
            name: name.to_string(),
            members: members.iter().map(|(m, o)| (m.to_string(), *o)).collect(),
        });
        group_id
    }

    /// The `TeamMemberProfile` of `member`.
    fn profile(&self, member: &Member) -> Value {
        let user = &self.users[&member.account_id];
        let groups: Vec<&str> = self
            .team
            .groups
            .iter()
            .filter(|g| g.members.iter().any(|(m, _)| *m == member.team_member_id))
            .map(|g| g.group_id.as_str())
            .collect();
        json!({
            "team_member_id": member.team_member_id,
            "account_id": member.account_id,
            "email": user.email,
            "email_verified": true,
            "secondary_emails": [],
            "status": wire::tag("active"),
            "name": {
                "given_name": user.given_name,
                "surname": user.surname,
                "familiar_name": user.given_name,
                "display_name": format!("{} {}", user.given_name, user.surname),
                "abbreviated_name": "",
            },
            "membership_type": wire::tag("full"),
            "joined_on": "2024-01-01T00:00:00Z",
            "groups": groups,
            "member_folder_id": "1",
        })
    }

    /// A `TeamMemberInfoV2`.
    fn member_info(&self, member: &Member) -> Value {
        let roles = if member.admin {
            json!([{"role_id": "pid_dbtmr:admin", "name": "Team admin",
                    "description": "Can manage the team."}])
        } else {
            json!([])
        };
        json!({ "profile": self.profile(member), "roles": roles })
    }
}

/// The caller must be a team admin: a user token is refused on team routes.
fn admin_only(inner: &Inner, route: &str, account: &str) -> Result<(), Failure> {
    match inner.team.member_of(account) {
        Some(m) if m.admin => Ok(()),
        _ => Err(Failure::bad_input(
            route,
            "This API function operates on a team, but the OAuth 2 access token you \
             provided is only for a single Dropbox account.",
        )),
    }
}

/// Checks a `limit` (1 to 1000, `default` when absent).
fn limit_of(route: &str, limit: Option<u32>, default: u32) -> Result<usize, Failure> {
    match limit.unwrap_or(default) {
        l @ 1..=1000 => Ok(l as usize),
        l => Err(Failure::bad_input(
            route,
            format!("request body: limit: {l} is not within range [1, 1000]"),
        )),
    }
}

/// A cursor of list `kind` (of group `of`, for group members) at `offset`.
fn cursor(kind: &str, of: &str, offset: usize, limit: usize) -> String {
    format!("{kind}|{of}|{offset}|{limit}")
}

fn parse_cursor(route: &str, raw: &str, kind: &str) -> Result<(String, usize, usize), Failure> {
    let bad = || Failure::endpoint(wire::tag("invalid_cursor"));
    let parts: Vec<&str> = raw.split('|').collect();
    let [k, of, offset, limit] = parts.as_slice() else {
        return Err(bad());
    };
    if *k != kind {
        return Err(bad());
    }
    let _ = route;
    Ok((
        of.to_string(),
        offset.parse().map_err(|_| bad())?,
        limit.parse().map_err(|_| bad())?,
    ))
}

/// The page of `all` at `offset`, with the cursor of the next.
fn page(
    all: Vec<Value>,
    field: &str,
    next: impl Fn(usize) -> String,
    offset: usize,
    limit: usize,
) -> Value {
    let end = (offset + limit).min(all.len());
    let more = end < all.len();
    let items: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    json!({ field: items, "cursor": next(end), "has_more": more })
}

fn members_page(inner: &Inner, offset: usize, limit: usize) -> Value {
    let all = inner
        .team
        .members
        .iter()
        .map(|m| inner.member_info(m))
        .collect();
    page(
        all,
        "members",
        |at| cursor("members", "", at, limit),
        offset,
        limit,
    )
}

fn group_summary(g: &Group) -> Value {
    json!({
        "group_name": g.name, "group_id": g.group_id,
        "group_management_type": wire::tag("company_managed"),
        "member_count": g.members.len(),
    })
}

fn groups_page(inner: &Inner, offset: usize, limit: usize) -> Value {
    let all = inner.team.groups.iter().map(group_summary).collect();
    page(
        all,
        "groups",
        |at| cursor("groups", "", at, limit),
        offset,
        limit,
    )
}

fn group_members_page(
    inner: &Inner,
    group: &str,
    offset: usize,
    limit: usize,
) -> Result<Value, Failure> {
    let g = inner
        .team
        .groups
        .iter()
        .find(|g| g.group_id == group)
        .ok_or_else(|| Failure::endpoint(wire::tag("group_not_found")))?;
    let all = g
        .members
        .iter()
        .filter_map(|(m, owner)| {
            let member = inner.team.member(m)?;
            let access = if *owner { "owner" } else { "member" };
            Some(json!({ "profile": inner.profile(member), "access_type": wire::tag(access) }))
        })
        .collect();
    Ok(page(
        all,
        "members",
        |at| cursor("group_members", group, at, limit),
        offset,
        limit,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListArg {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    include_removed: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinueArg {
    cursor: String,
}

/// `team/members/list_v2`.
pub async fn members_list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "team/members/list_v2";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ListArg| {
            admin_only(inner, ROUTE, account)?;
            let _ = arg.include_removed;
            let limit = limit_of(ROUTE, arg.limit, 1000)?;
            Ok(members_page(inner, 0, limit))
        },
    )
}

/// `team/members/list/continue_v2`.
pub async fn members_continue(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "team/members/list/continue_v2";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ContinueArg| {
            admin_only(inner, ROUTE, account)?;
            let (_, offset, limit) = parse_cursor(ROUTE, &arg.cursor, "members")?;
            Ok(members_page(inner, offset, limit))
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetInfoArg {
    members: Vec<Value>,
}

/// `team/members/get_info_v2`.
pub async fn members_get_info(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "team/members/get_info_v2";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: GetInfoArg| {
            admin_only(inner, ROUTE, account)?;
            let infos: Vec<Value> = arg
                .members
                .iter()
                .map(|selector| {
                    let tag = selector[".tag"].as_str().unwrap_or_default();
                    let wanted = selector[tag].as_str().unwrap_or_default();
                    let found = inner.team.members.iter().find(|m| match tag {
                        "team_member_id" => m.team_member_id == wanted,
                        "email" => inner.users[&m.account_id]
                            .email
                            .eq_ignore_ascii_case(wanted),
                        _ => false,
                    });
                    match found {
                        Some(m) => {
                            let mut info = inner.member_info(m);
                            info[".tag"] = "member_info".into();
                            info
                        }
                        None => json!({".tag": "id_not_found", "id_not_found": wanted}),
                    }
                })
                .collect();
            Ok(json!({ "members_info": infos }))
        },
    )
}

/// `team/groups/list`.
pub async fn groups_list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "team/groups/list";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ListArg| {
            admin_only(inner, ROUTE, account)?;
            let limit = limit_of(ROUTE, arg.limit, 1000)?;
            Ok(groups_page(inner, 0, limit))
        },
    )
}

/// `team/groups/list/continue`.
pub async fn groups_continue(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "team/groups/list/continue";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ContinueArg| {
            admin_only(inner, ROUTE, account)?;
            let (_, offset, limit) = parse_cursor(ROUTE, &arg.cursor, "groups")?;
            Ok(groups_page(inner, offset, limit))
        },
    )
}

/// `team/groups/get_info` (`GroupsSelector`: only `group_ids` here).
pub async fn groups_get_info(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "team/groups/get_info";
    call(&s, ROUTE, &headers, &body, |inner, account, arg: Value| {
        admin_only(inner, ROUTE, account)?;
        if arg[".tag"] != "group_ids" {
            return Err(Failure::bad_input(ROUTE, "request body: unknown selector"));
        }
        let items: Vec<Value> = arg["group_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(
                |id| match inner.team.groups.iter().find(|g| g.group_id == id) {
                    Some(g) => {
                        let mut info = group_summary(g);
                        info[".tag"] = "group_info".into();
                        info["created"] = 1_700_000_000_000u64.into();
                        info
                    }
                    None => json!({".tag": "id_not_found", "id_not_found": id}),
                },
            )
            .collect();
        Ok(Value::Array(items))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMembersArg {
    group: Value,
    #[serde(default)]
    limit: Option<u32>,
}

/// `team/groups/members/list`.
pub async fn group_members_list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "team/groups/members/list";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: GroupMembersArg| {
            admin_only(inner, ROUTE, account)?;
            let limit = limit_of(ROUTE, arg.limit, 1000)?;
            let group = match arg.group[".tag"].as_str() {
                Some("group_id") => arg.group["group_id"].as_str().unwrap_or_default(),
                _ => {
                    return Err(Failure::bad_input(
                        ROUTE,
                        "request body: group: unknown selector",
                    ))
                }
            };
            group_members_page(inner, group, 0, limit)
        },
    )
}

/// `team/groups/members/list/continue`.
pub async fn group_members_continue(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "team/groups/members/list/continue";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ContinueArg| {
            admin_only(inner, ROUTE, account)?;
            let (group, offset, limit) = parse_cursor(ROUTE, &arg.cursor, "group_members")?;
            group_members_page(inner, &group, offset, limit)
        },
    )
}
