//! Sharing routes (`api.dropboxapi.com/2/sharing/...`), written from Dropbox's
//! published `sharing` namespace: the members of files (`add_file_member`,
//! `list_file_members` and `/continue`, `update_file_member`, `remove_file_member_2`)
//! and shared folders (`share_folder` with `check_share_job_status`,
//! `add_folder_member`, `list_folder_members` and `/continue`, `update_folder_member`,
//! `remove_folder_member` with `check_remove_member_job_status`).
//!
//! Members are chosen by `MemberSelector` (`email` or `dropbox_id`): an address of a
//! user of the fake becomes that user (`users`, with `UserInfo`), any other address an
//! invitee (`invitees`, `InviteeInfo.email`). Access levels are `owner` (the item's
//! owner, listed first), `editor`, `viewer` and `viewer_no_comment`. Folders are shared
//! first (`share_folder`, answered `complete` at once unless `force_async`, then a job);
//! a shared folder's metadata then carries `shared_folder_id` and `sharing_info`, and
//! folders below it `sharing_info.parent_shared_folder_id`. `remove_folder_member`
//! always answers an `async_job_id`, complete when checked. Lists page by `limit` with a
//! `cursor`. Errors are the routes' own unions (`access_error/invalid_file`,
//! `bad_path/inside_shared_folder`, `bad_path/already_shared`, `member_error/not_a_member`,
//! `folder_owner`, `bad_member/invalid_email`, …).
//!
//! Not covered: groups, team policies, inherited members of items inside shared
//! folders, mounting folders in members' own Dropboxes, `actions` and `permissions`,
//! custom messages, `leave_a_copy`, transfer of ownership, `unshare_folder`, shared links.

use std::{collections::HashMap, sync::Arc};

use axum::{body::Bytes, extract::State, http::HeaderMap, response::Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    rpc::call,
    state::{Inner, Shared},
    tree::Node,
    wire::{nest, tag, Failure},
};

/// What a member may do (`AccessLevel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `owner`
    Owner,
    /// `editor`
    Editor,
    /// `viewer`
    Viewer,
    /// `viewer_no_comment`
    ViewerNoComment,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Owner => "owner",
            Level::Editor => "editor",
            Level::Viewer => "viewer",
            Level::ViewerNoComment => "viewer_no_comment",
        }
    }

    /// Parses an `AccessLevel` argument that must be given.
    fn required(route: &str, v: Option<&Value>) -> Result<Level, Failure> {
        match v {
            Some(v) => Level::parse(route, Some(v)),
            None => Err(Failure::bad_input(route, "access_level: missing")),
        }
    }

    /// Parses an `AccessLevel` argument that may be given (`owner` cannot).
    fn parse(route: &str, v: Option<&Value>) -> Result<Level, Failure> {
        let Some(v) = v else {
            return Ok(Level::Viewer);
        };
        match v.as_str().or_else(|| v[".tag"].as_str()) {
            Some("editor") => Ok(Level::Editor),
            Some("viewer") => Ok(Level::Viewer),
            Some("viewer_no_comment") => Ok(Level::ViewerNoComment),
            Some("owner") => Err(Failure::bad_input(
                route,
                "access_level: owner cannot be given",
            )),
            _ => Err(Failure::bad_input(route, "access_level: unknown tag")),
        }
    }
}

/// Who a member is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// A user of the fake, by account id.
    User(String),
    /// Someone invited by an address no user has.
    Invitee(String),
}

/// One member of a file or shared folder.
#[derive(Clone, Debug)]
pub struct Member {
    /// Who.
    pub who: Who,
    /// What they may do.
    pub level: Level,
}

#[derive(Debug)]
struct SharedFolder {
    owner: String,
    folder_id: String,
    members: Vec<Member>,
}

/// Everything shared, for every user.
#[derive(Debug, Default)]
pub struct Shares {
    /// Members of files (the owner not included), by owner and file `id:`.
    files: HashMap<(String, String), Vec<Member>>,
    /// Shared folders by `shared_folder_id`.
    folders: HashMap<String, SharedFolder>,
    /// Finished async jobs and what they answer.
    jobs: HashMap<String, Value>,
    next: u64,
}

impl Shares {
    fn fresh(&mut self) -> u64 {
        self.next += 1;
        8_452_819_200 + self.next
    }

    /// The `shared_folder_id` of the folder `folder_id` of `owner`, if it is shared.
    fn folder_share(&self, owner: &str, folder_id: &str) -> Option<String> {
        self.folders
            .iter()
            .find(|(_, f)| f.owner == owner && f.folder_id == folder_id)
            .map(|(id, _)| id.clone())
    }
}

/// The item an argument names (`id:…` or a path) in `account`'s Dropbox: its `id:`,
/// lower-cased path and whether it is a folder.
fn item(inner: &mut Inner, account: &str, raw: &str) -> Option<(String, String, bool)> {
    let tree = inner.tree(account);
    let lower = match raw.strip_prefix("id:") {
        Some(_) => tree.find_id(raw)?,
        None => raw.to_lowercase(),
    };
    let found = tree.get(&lower)?;
    Some((found.id.clone(), lower, matches!(found.node, Node::Folder)))
}

/// The shared folder holding `lower` (or being it), if any: its id.
fn share_around(inner: &mut Inner, account: &str, lower: &str) -> Option<String> {
    let mut at = lower.to_string();
    loop {
        let id = inner.tree(account).get(&at).map(|i| i.id.clone());
        if let Some(id) = id {
            if let Some(share) = inner.shares.folder_share(account, &id) {
                return Some(share);
            }
        }
        match at.rfind('/') {
            Some(0) | None => return None,
            Some(i) => at.truncate(i),
        }
    }
}

/// Adds `shared_folder_id` and `sharing_info` to a folder's metadata where it is
/// shared or inside a shared folder (`files/get_metadata`).
pub fn annotate(inner: &mut Inner, account: &str, metadata: &mut Value) {
    let Some(lower) = metadata["path_lower"].as_str().map(str::to_string) else {
        return;
    };
    let Some(id) = metadata["id"].as_str().map(str::to_string) else {
        return;
    };
    let own = inner.shares.folder_share(account, &id);
    let parent = lower
        .rfind('/')
        .filter(|&i| i > 0)
        .and_then(|i| share_around(inner, account, &lower[..i]));
    if own.is_none() && parent.is_none() {
        return;
    }
    let mut info = json!({ "read_only": false, "traverse_only": false, "no_access": false });
    if let Some(parent) = &parent {
        info["parent_shared_folder_id"] = parent.clone().into();
    }
    if metadata[".tag"] == "folder" {
        if let Some(own) = own {
            metadata["shared_folder_id"] = own.clone().into();
            info["shared_folder_id"] = own.into();
        }
    } else {
        info["modified_by"] = account.into();
    }
    metadata["sharing_info"] = info;
}

/// The member a `MemberSelector` names (`None`: the selector is not usable).
fn member_of(inner: &Inner, selector: &Value) -> Option<Who> {
    match selector[".tag"].as_str()? {
        "email" => {
            let email = selector["email"].as_str()?.to_lowercase();
            let at = email.find('@')?;
            if at == 0 || !email[at + 1..].contains('.') {
                return None;
            }
            Some(
                match inner
                    .users
                    .values()
                    .find(|u| u.email.to_lowercase() == email)
                {
                    Some(user) => Who::User(user.account_id.clone()),
                    None => Who::Invitee(email),
                },
            )
        }
        "dropbox_id" => {
            let id = selector["dropbox_id"].as_str()?;
            inner
                .users
                .contains_key(id)
                .then(|| Who::User(id.to_string()))
        }
        _ => None,
    }
}

/// A member as the lists show it.
fn render(inner: &Inner, who: &Who, level: Level) -> (bool, Value) {
    let access = tag(level.tag());
    match who {
        Who::User(account) => {
            let user = &inner.users[account];
            let info = json!({
                "account_id": user.account_id,
                "email": user.email,
                "display_name": format!("{} {}", user.given_name, user.surname),
                "same_team": false,
            });
            (
                true,
                json!({"access_type": access, "user": info, "permissions": [], "is_inherited": false}),
            )
        }
        Who::Invitee(email) => (
            false,
            json!({"access_type": access, "invitee": {".tag": "email", "email": email},
                   "permissions": [], "is_inherited": false}),
        ),
    }
}

/// One page of the members of an item (the owner first), from `offset`.
fn members_page(
    inner: &Inner,
    owner: &str,
    members: &[Member],
    offset: usize,
    limit: usize,
    cursor: impl Fn(usize) -> String,
) -> Value {
    let all: Vec<(Who, Level)> = std::iter::once((Who::User(owner.to_string()), Level::Owner))
        .chain(members.iter().map(|m| (m.who.clone(), m.level)))
        .collect();
    let (mut users, mut invitees) = (Vec::new(), Vec::new());
    for (who, level) in all.iter().skip(offset).take(limit) {
        match render(inner, who, *level) {
            (true, v) => users.push(v),
            (false, v) => invitees.push(v),
        }
    }
    let mut page = json!({"users": users, "groups": [], "invitees": invitees});
    if offset + limit < all.len() {
        page["cursor"] = cursor(offset + limit).into();
    }
    page
}

fn limit_of(route: &str, limit: Option<u64>, default: u64, max: u64) -> Result<usize, Failure> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(Failure::bad_input(
            route,
            format!("limit: {limit} is not within 1 and {max}"),
        ));
    }
    Ok(limit as usize)
}

/// A list cursor: what is listed and from where.
fn cursor(kind: &str, key: &str, offset: usize, limit: usize) -> String {
    format!("{kind}|{key}|{offset}|{limit}")
}

fn parse_cursor(route: &str, raw: &str, kind: &str) -> Result<(String, usize, usize), Failure> {
    let bad = || Failure::bad_input(route, "Invalid \"cursor\" parameter");
    let mut parts = raw.split('|');
    if parts.next() != Some(kind) {
        return Err(bad());
    }
    let key = parts.next().ok_or_else(bad)?.to_string();
    let offset = parts.next().and_then(|o| o.parse().ok()).ok_or_else(bad)?;
    let limit = parts.next().and_then(|o| o.parse().ok()).ok_or_else(bad)?;
    Ok((key, offset, limit))
}

// ---- files ----

/// The file an argument names, or the route's `access_error`.
fn file_of(inner: &mut Inner, account: &str, raw: &str) -> Result<String, Failure> {
    match item(inner, account, raw) {
        Some((id, _, false)) => Ok(id),
        Some((_, _, true)) => Err(Failure::endpoint(nest("access_error", tag("is_folder")))),
        None => Err(Failure::endpoint(nest("access_error", tag("invalid_file")))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddFileMemberArg {
    file: String,
    members: Vec<Value>,
    #[serde(default)]
    custom_message: Option<String>,
    #[serde(default)]
    quiet: bool,
    #[serde(default)]
    access_level: Option<Value>,
    #[serde(default)]
    add_message_as_comment: bool,
}

/// `sharing/add_file_member`.
pub async fn add_file_member(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/add_file_member";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: AddFileMemberArg| {
            let _ = (arg.custom_message, arg.quiet, arg.add_message_as_comment);
            let level = Level::parse(ROUTE, arg.access_level.as_ref())?;
            let file = file_of(inner, account, &arg.file)?;
            let mut results = Vec::new();
            for selector in &arg.members {
                let who = member_of(inner, selector);
                let result = match who {
                    None => json!({".tag": "member_error", "member_error": tag("invalid_member")}),
                    Some(Who::User(id)) if id == account => {
                        json!({".tag": "member_error", "member_error": tag("invalid_member")})
                    }
                    Some(who) => {
                        let members = inner
                            .shares
                            .files
                            .entry((account.to_string(), file.clone()))
                            .or_default();
                        match members.iter_mut().find(|m| m.who == who) {
                            Some(m) => m.level = level,
                            None => members.push(Member { who, level }),
                        }
                        json!({".tag": "success", "success": tag(level.tag())})
                    }
                };
                results.push(json!({"member": selector, "result": result}));
            }
            Ok(Value::Array(results))
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListFileMembersArg {
    file: String,
    #[serde(default)]
    actions: Option<Value>,
    #[serde(default = "yes")]
    include_inherited: bool,
    #[serde(default)]
    limit: Option<u64>,
}

fn yes() -> bool {
    true
}

fn file_page(inner: &Inner, account: &str, file: &str, offset: usize, limit: usize) -> Value {
    let empty = Vec::new();
    let members = inner
        .shares
        .files
        .get(&(account.to_string(), file.to_string()))
        .unwrap_or(&empty);
    members_page(inner, account, members, offset, limit, |next| {
        cursor("file", file, next, limit)
    })
}

/// `sharing/list_file_members`.
pub async fn list_file_members(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/list_file_members";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ListFileMembersArg| {
            let _ = (arg.actions, arg.include_inherited);
            let limit = limit_of(ROUTE, arg.limit, 100, 300)?;
            let file = file_of(inner, account, &arg.file)?;
            Ok(file_page(inner, account, &file, 0, limit))
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinueArg {
    cursor: String,
}

/// `sharing/list_file_members/continue`.
pub async fn list_file_members_continue(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/list_file_members/continue";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ContinueArg| {
            let (file, offset, limit) = parse_cursor(ROUTE, &arg.cursor, "file")?;
            file_of(inner, account, &file)?;
            Ok(file_page(inner, account, &file, offset, limit))
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMemberArg {
    file: String,
    member: Value,
    #[serde(default)]
    access_level: Option<Value>,
}

/// The position of the member `selector` names among a file's members.
fn file_member(
    inner: &mut Inner,
    account: &str,
    file: &str,
    selector: &Value,
) -> Result<usize, Failure> {
    let who = member_of(inner, selector).ok_or_else(|| Failure::endpoint(tag("invalid_member")))?;
    inner
        .shares
        .files
        .get(&(account.to_string(), file.to_string()))
        .and_then(|members| members.iter().position(|m| m.who == who))
        .ok_or_else(|| Failure::endpoint(tag("no_explicit_access")))
}

/// `sharing/update_file_member`.
pub async fn update_file_member(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/update_file_member";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: FileMemberArg| {
            let level = Level::required(ROUTE, arg.access_level.as_ref())?;
            let file = file_of(inner, account, &arg.file)?;
            let at = file_member(inner, account, &file, &arg.member)?;
            let key = (account.to_string(), file);
            inner.shares.files.get_mut(&key).expect("found")[at].level = level;
            Ok(json!({"access_level": tag(level.tag())}))
        },
    )
}

/// `sharing/remove_file_member_2`.
pub async fn remove_file_member(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/remove_file_member_2";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: FileMemberArg| {
            if arg.access_level.is_some() {
                return Err(Failure::bad_input(ROUTE, "unknown field 'access_level'"));
            }
            let file = file_of(inner, account, &arg.file)?;
            let at = match file_member(inner, account, &file, &arg.member) {
                Ok(at) => at,
                Err(_) => {
                    return Ok(
                        json!({".tag": "member_error", "member_error": tag("no_explicit_access")}),
                    )
                }
            };
            let key = (account.to_string(), file);
            inner.shares.files.get_mut(&key).expect("found").remove(at);
            Ok(json!({".tag": "success"}))
        },
    )
}

// ---- folders ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareFolderArg {
    path: String,
    #[serde(default)]
    force_async: bool,
    #[serde(default)]
    acl_update_policy: Option<Value>,
    #[serde(default)]
    member_policy: Option<Value>,
    #[serde(default)]
    shared_link_policy: Option<Value>,
    #[serde(default)]
    viewer_info_policy: Option<Value>,
    #[serde(default)]
    access_inheritance: Option<Value>,
    #[serde(default)]
    actions: Option<Value>,
    #[serde(default)]
    link_settings: Option<Value>,
}

/// `SharedFolderMetadata` of a shared folder.
fn folder_metadata(inner: &mut Inner, account: &str, share: &str) -> Value {
    let folder = &inner.shares.folders[share];
    let folder_id = folder.folder_id.clone();
    let tree = inner.tree(account);
    let (name, lower) = match tree.find_id(&folder_id) {
        Some(lower) => {
            let display = tree.get(&lower).expect("found").display.clone();
            let name = display.rsplit('/').next().unwrap_or_default().to_string();
            (name, lower)
        }
        None => (String::new(), String::new()),
    };
    json!({
        "access_type": tag("owner"),
        "is_inside_team_folder": false,
        "is_team_folder": false,
        "name": name,
        "path_lower": lower,
        "policy": {
            "acl_update_policy": tag("editors"),
            "shared_link_policy": tag("anyone"),
            "viewer_info_policy": tag("enabled"),
        },
        "preview_url": format!("https://www.dropbox.com/scl/fo/{share}"),
        "shared_folder_id": share,
        "time_invited": super::wire::timestamp(chrono::Utc::now()),
        "access_inheritance": tag("inherit"),
    })
}

/// `sharing/share_folder`.
pub async fn share_folder(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/share_folder";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ShareFolderArg| {
            let _ = (
                arg.acl_update_policy,
                arg.member_policy,
                arg.shared_link_policy,
            );
            let _ = (arg.viewer_info_policy, arg.access_inheritance, arg.actions);
            let _ = arg.link_settings;
            let bad_path = |what: &str| Failure::endpoint(nest("bad_path", tag(what)));
            let (id, lower, folder) =
                item(inner, account, &arg.path).ok_or_else(|| bad_path("invalid_path"))?;
            if !folder {
                return Err(bad_path("is_file"));
            }
            if let Some(share) = inner.shares.folder_share(account, &id) {
                let metadata = folder_metadata(inner, account, &share);
                return Err(Failure::endpoint(nest(
                    "bad_path",
                    json!({".tag": "already_shared", "already_shared": metadata}),
                )));
            }
            if share_around(inner, account, &lower).is_some() {
                return Err(bad_path("inside_shared_folder"));
            }
            let below: Vec<String> = inner
                .tree(account)
                .children(&lower, true)
                .iter()
                .map(|i| i.id.clone())
                .collect();
            if below
                .iter()
                .any(|id| inner.shares.folder_share(account, id).is_some())
            {
                return Err(bad_path("contains_shared_folder"));
            }
            let share = inner.shares.fresh().to_string();
            inner.shares.folders.insert(
                share.clone(),
                SharedFolder {
                    owner: account.to_string(),
                    folder_id: id,
                    members: Vec::new(),
                },
            );
            let metadata = folder_metadata(inner, account, &share);
            if arg.force_async {
                let job = format!("dbjid:{}", inner.shares.fresh());
                let mut done = metadata;
                done[".tag"] = "complete".into();
                inner.shares.jobs.insert(job.clone(), done);
                return Ok(json!({".tag": "async_job_id", "async_job_id": job}));
            }
            let mut complete = metadata;
            complete[".tag"] = "complete".into();
            Ok(complete)
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobArg {
    async_job_id: String,
}

/// What a finished job answers (every job of the fake is finished when checked).
fn check_job(inner: &Inner, job: &str) -> Result<Value, Failure> {
    inner
        .shares
        .jobs
        .get(job)
        .cloned()
        .ok_or_else(|| Failure::endpoint(tag("invalid_async_job_id")))
}

/// `sharing/check_share_job_status`.
pub async fn check_share_job_status(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/check_share_job_status";
    call(&s, ROUTE, &headers, &body, |inner, _, arg: JobArg| {
        check_job(inner, &arg.async_job_id)
    })
}

/// `sharing/check_remove_member_job_status`.
pub async fn check_remove_member_job_status(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/check_remove_member_job_status";
    call(&s, ROUTE, &headers, &body, |inner, _, arg: JobArg| {
        check_job(inner, &arg.async_job_id)
    })
}

/// The shared folder `id` of `account`, or the route's `access_error/invalid_id`.
fn shared(inner: &Inner, account: &str, id: &str) -> Result<(), Failure> {
    match inner.shares.folders.get(id) {
        Some(f) if f.owner == account => Ok(()),
        _ => Err(Failure::endpoint(nest("access_error", tag("invalid_id")))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddFolderMemberArg {
    shared_folder_id: String,
    members: Vec<Value>,
    #[serde(default)]
    quiet: bool,
    #[serde(default)]
    custom_message: Option<String>,
}

/// `sharing/add_folder_member`.
pub async fn add_folder_member(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/add_folder_member";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: AddFolderMemberArg| {
            let _ = (arg.quiet, arg.custom_message);
            shared(inner, account, &arg.shared_folder_id)?;
            let mut added = Vec::new();
            for add in &arg.members {
                let level = Level::parse(ROUTE, add.get("access_level"))?;
                let bad = |what: &str| Failure::endpoint(nest("bad_member", tag(what)));
                let who = member_of(inner, &add["member"]).ok_or_else(|| {
                    if add["member"][".tag"] == "dropbox_id" {
                        bad("invalid_dropbox_id")
                    } else {
                        bad("invalid_email")
                    }
                })?;
                if who == Who::User(account.to_string()) {
                    return Err(bad("invalid_email"));
                }
                added.push(Member { who, level });
            }
            let folder = inner
                .shares
                .folders
                .get_mut(&arg.shared_folder_id)
                .expect("checked");
            for member in added {
                match folder.members.iter_mut().find(|m| m.who == member.who) {
                    Some(m) => m.level = member.level,
                    None => folder.members.push(member),
                }
            }
            Ok(Value::Null)
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListFolderMembersArg {
    shared_folder_id: String,
    #[serde(default)]
    actions: Option<Value>,
    #[serde(default)]
    limit: Option<u64>,
}

fn folder_page(inner: &Inner, share: &str, offset: usize, limit: usize) -> Value {
    let folder = &inner.shares.folders[share];
    members_page(
        inner,
        &folder.owner,
        &folder.members,
        offset,
        limit,
        |next| cursor("folder", share, next, limit),
    )
}

/// `sharing/list_folder_members`.
pub async fn list_folder_members(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/list_folder_members";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ListFolderMembersArg| {
            let _ = arg.actions;
            let limit = limit_of(ROUTE, arg.limit, 1000, 1000)?;
            shared(inner, account, &arg.shared_folder_id)?;
            Ok(folder_page(inner, &arg.shared_folder_id, 0, limit))
        },
    )
}

/// `sharing/list_folder_members/continue`.
pub async fn list_folder_members_continue(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/list_folder_members/continue";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ContinueArg| {
            let (share, offset, limit) = parse_cursor(ROUTE, &arg.cursor, "folder")?;
            shared(inner, account, &share)?;
            Ok(folder_page(inner, &share, offset, limit))
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderMemberArg {
    shared_folder_id: String,
    member: Value,
    #[serde(default)]
    access_level: Option<Value>,
    #[serde(default)]
    leave_a_copy: Option<bool>,
}

/// The position of the member `selector` names in the shared folder `share`; the
/// owner is `None`.
fn folder_member(
    inner: &Inner,
    account: &str,
    share: &str,
    selector: &Value,
) -> Result<Option<usize>, Failure> {
    let not_member = || Failure::endpoint(nest("member_error", tag("not_a_member")));
    let who = member_of(inner, selector).ok_or_else(not_member)?;
    if who == Who::User(account.to_string()) {
        return Ok(None);
    }
    inner.shares.folders[share]
        .members
        .iter()
        .position(|m| m.who == who)
        .map(Some)
        .ok_or_else(not_member)
}

/// `sharing/update_folder_member`.
pub async fn update_folder_member(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/update_folder_member";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: FolderMemberArg| {
            if arg.leave_a_copy.is_some() {
                return Err(Failure::bad_input(ROUTE, "unknown field 'leave_a_copy'"));
            }
            let level = Level::required(ROUTE, arg.access_level.as_ref())?;
            shared(inner, account, &arg.shared_folder_id)?;
            let at = folder_member(inner, account, &arg.shared_folder_id, &arg.member)?
                .ok_or_else(|| Failure::endpoint(tag("no_permission")))?;
            let folder = inner
                .shares
                .folders
                .get_mut(&arg.shared_folder_id)
                .expect("checked");
            folder.members[at].level = level;
            Ok(json!({"access_level": tag(level.tag())}))
        },
    )
}

/// `sharing/remove_folder_member`: always an async job.
pub async fn remove_folder_member(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "sharing/remove_folder_member";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: FolderMemberArg| {
            if arg.access_level.is_some() {
                return Err(Failure::bad_input(ROUTE, "unknown field 'access_level'"));
            }
            if arg.leave_a_copy.is_none() {
                return Err(Failure::bad_input(ROUTE, "missing field 'leave_a_copy'"));
            }
            shared(inner, account, &arg.shared_folder_id)?;
            let at = folder_member(inner, account, &arg.shared_folder_id, &arg.member)?
                .ok_or_else(|| Failure::endpoint(tag("folder_owner")))?;
            let folder = inner
                .shares
                .folders
                .get_mut(&arg.shared_folder_id)
                .expect("checked");
            folder.members.remove(at);
            let job = format!("dbjid:{}", inner.shares.fresh());
            inner
                .shares
                .jobs
                .insert(job.clone(), json!({".tag": "complete"}));
            Ok(json!({".tag": "async_job_id", "async_job_id": job}))
        },
    )
}

/// The members of the item at `path` (`/a/b`, any case) of `account`, owner first, as
/// `(email, access level)`: a test's view of what is shared.
pub fn members(inner: &mut Inner, account: &str, path: &str) -> Vec<(String, String)> {
    let Some((id, _, folder)) = item(inner, account, &path.to_lowercase()) else {
        return Vec::new();
    };
    let members = if folder {
        match inner.shares.folder_share(account, &id) {
            Some(share) => inner.shares.folders[&share].members.clone(),
            None => Vec::new(),
        }
    } else {
        inner
            .shares
            .files
            .get(&(account.to_string(), id))
            .cloned()
            .unwrap_or_default()
    };
    let email = |who: &Who| match who {
        Who::User(account) => inner.users[account].email.clone(),
        Who::Invitee(email) => email.clone(),
    };
    std::iter::once((inner.users[account].email.clone(), "owner".to_string()))
        .chain(
            members
                .iter()
                .map(|m| (email(&m.who), m.level.tag().to_string())),
        )
        .collect()
}
