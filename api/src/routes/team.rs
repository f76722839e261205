//! Team API of admin accounts (`/team/users`, `/team/groups` and below), read at the
//! account's service by a worker: Google Workspace (Directory API), Microsoft 365
//! (Graph), Dropbox Business teams and Box Enterprise. Services without a team answer
//! 501, accounts that are not admin accounts 403 (`Only administrators can perform this
//! action.`, Kloudless' words).
//!
//! Lists are `object_list`s in the service's own paging: `next_page` is an opaque token
//! (sealed with `secrets.keys`, good only for that account's list) to pass back as
//! `page`; a `page` given by number walks there from the first page.

use std::collections::HashMap;

use axum::extract::State;
use cloudbridge_shared::{
    protocol::Op,
    storage::Position,
    team::{Answer, MemberId, Query, TeamGroup, TeamUser},
    ApiError, Outcome,
};
use serde_json::{json, Value};

use crate::{
    auth::AppCaller,
    extract::{Json, Paging, Path, Query as QueryString},
    page_token,
    routes::files::account_ref,
    wire, AppState,
};

/// Entries per page unless `page_size` says otherwise, and the most it may say.
const DEFAULT_PAGE_SIZE: u32 = 100;
const MAX_PAGE_SIZE: u32 = 1000;

/// A user on the wire.
fn user(u: &TeamUser) -> Value {
    json!({
        "id": u.id, "name": u.name, "email": u.email, "role": u.role,
        "created": u.created.map(wire::time), "modified": u.modified.map(wire::time),
        "api": "team", "type": "user",
    })
}

/// A group on the wire.
fn group(g: &TeamGroup) -> Value {
    json!({
        "id": g.id, "name": g.name, "email": g.email, "role": g.role,
        "api": "team", "type": "group",
    })
}

/// Runs `query` for account `acct` and answers it: one object, or a page of a list as
/// `q`'s `page` and `page_size` ask.
async fn team(
    state: &AppState,
    caller: &AppCaller,
    acct: &str,
    query: Query,
    q: &HashMap<String, String>,
) -> Result<Json<Value>, ApiError> {
    let raw_page = q.get("page").map(String::as_str).unwrap_or_default();
    let cipher = state.cipher.as_deref();
    let token =
        query.is_list() && cipher.is_some() && !raw_page.bytes().all(|b| b.is_ascii_digit());
    let paging = Paging::parse(
        (!token).then_some(raw_page),
        q.get("page_size").map(String::as_str),
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    )?;
    let mut account = caller.account(state, acct).await?;
    // The Team API reads the admin's organisation, never as a member.
    account.as_user = None;
    let scope = query.scope();
    let (number, cursor) = match cipher.filter(|_| token) {
        Some(cipher) => {
            let (number, at) = page_token::open(cipher, account.id, &scope, raw_page)?;
            (number, at.cursor)
        }
        None => (paging.page, None),
    };
    let op = Op::Team {
        query,
        page_size: paging.page_size,
        cursor: cursor.clone(),
        skip_pages: if cursor.is_some() { 0 } else { number - 1 },
    };
    let answer = match state.pipeline.call(Some(account_ref(&account)), op).await? {
        Outcome::Team { answer } => answer,
        other => {
            return Err(ApiError::internal(format_args!(
                "unexpected outcome {other:?}"
            )))
        }
    };
    let next_page: Value = match (answer.next(), cipher) {
        (Some(next), Some(cipher)) => {
            let at = Position {
                cursor: Some(next.to_string()),
                skip: 0,
            };
            page_token::seal(cipher, account.id, &scope, number + 1, at).into()
        }
        (Some(_), None) => (number + 1).into(),
        (None, _) => Value::Null,
    };
    let this_page: Value = if token {
        raw_page.into()
    } else {
        number.into()
    };
    let objects = match &answer {
        Answer::User { user: u } => return Ok(Json(user(u))),
        Answer::Group { group: g } => return Ok(Json(group(g))),
        Answer::Users { users, .. } => users.iter().map(user).collect(),
        Answer::Groups { groups, .. } => groups.iter().map(group).collect(),
    };
    Ok(Json(wire::list(
        "team", objects, this_page, next_page, None,
    )))
}

/// One handler: its name, route, operation id, summary, description, the OpenAPI
/// parameters beyond the account, and the query made of its path parameters.
macro_rules! team_route {
    ($name:ident, $path:literal, $op_id:literal, $summary:literal, $what:literal,
     [$($param:tt)*], |$acct:ident $(, $id:ident)?| $query:expr) => {
        #[doc = concat!("`GET /v1", $path, "`: ", $what)]
        #[utoipa::path(
            get,
            path = $path,
            tag = "team",
            summary = $summary,
            operation_id = $op_id,
            params(
                ("acct" = String, Path, description = "Id of an admin account, or `me` with its bearer token."),
                $($param)*
            ),
            responses(
                (status = 200, description = $what, body = crate::contract::JsonObject),
                crate::contract::ServiceErrors,
            ),
            security(("bearer" = []), ("api_key" = [])),
        )]
        pub async fn $name(
            State(state): State<AppState>,
            caller: AppCaller,
            Path(params): Path<HashMap<String, String>>,
            QueryString(q): QueryString<HashMap<String, String>>,
        ) -> Result<Json<Value>, ApiError> {
            let param = |name: &str| params.get(name).cloned().unwrap_or_default();
            let $acct = param("acct");
            $(let $id = param("id");)?
            team(&state, &caller, &$acct, $query, &q).await
        }
    };
}

team_route!(
    list_users,
    "/accounts/{acct}/team/users",
    "team_users_list",
    "List the team's users",
    "A page of the organisation's users (`{id, name, email, role}`).",
    [
        ("page" = Option<String>, Query, description = "A page number, or a `next_page` value of this list."),
        ("page_size" = Option<u32>, Query, description = "Entries per page (1 to 1000, default 100; the service may give fewer)."),
    ],
    |acct| Query::Users
);

team_route!(
    get_user,
    "/accounts/{acct}/team/users/{id}",
    "team_users_get",
    "Get a team user",
    "One user of the organisation.",
    [(
        "id" = String,
        Path,
        description = "The user's id, as the Team API lists it."
    ),],
    |acct, id| Query::User {
        user: MemberId::parse(&id, "user id")?
    }
);

team_route!(
    list_memberships,
    "/accounts/{acct}/team/users/{id}/memberships",
    "team_users_memberships",
    "List a user's groups",
    "A page of the groups the user belongs to (`role`: theirs in each, where the service tells).",
    [
        ("id" = String, Path, description = "The user's id, as the Team API lists it."),
        ("page" = Option<String>, Query, description = "A page number, or a `next_page` value of this list."),
        ("page_size" = Option<u32>, Query, description = "Entries per page (1 to 1000, default 100; the service may give fewer)."),
    ],
    |acct, id| Query::Memberships {
        user: MemberId::parse(&id, "user id")?
    }
);

team_route!(
    list_groups,
    "/accounts/{acct}/team/groups",
    "team_groups_list",
    "List the team's groups",
    "A page of the organisation's groups (`{id, name, email}`).",
    [
        ("page" = Option<String>, Query, description = "A page number, or a `next_page` value of this list."),
        ("page_size" = Option<u32>, Query, description = "Entries per page (1 to 1000, default 100; the service may give fewer)."),
    ],
    |acct| Query::Groups
);

team_route!(
    get_group,
    "/accounts/{acct}/team/groups/{id}",
    "team_groups_get",
    "Get a team group",
    "One group of the organisation.",
    [(
        "id" = String,
        Path,
        description = "The group's id, as the Team API lists it."
    ),],
    |acct, id| Query::Group {
        group: MemberId::parse(&id, "group id")?
    }
);

team_route!(
    list_members,
    "/accounts/{acct}/team/groups/{id}/members",
    "team_groups_members",
    "List a group's members",
    "A page of the group's users (`role`: theirs in the group, where the service tells).",
    [
        ("id" = String, Path, description = "The group's id, as the Team API lists it."),
        ("page" = Option<String>, Query, description = "A page number, or a `next_page` value of this list."),
        ("page_size" = Option<u32>, Query, description = "Entries per page (1 to 1000, default 100; the service may give fewer)."),
    ],
    |acct, id| Query::Members {
        group: MemberId::parse(&id, "group id")?
    }
);
