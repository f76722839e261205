//! `GET /v1/accounts/{acct}/tasks/{id}`: a task while it runs, then its answer.

use axum::{extract::State, response::Response};
use cloudbridge_shared::{db, ApiError};

use crate::{auth::AppCaller, extract::Path, tasks, AppState};

/// `GET /v1/accounts/{acct}/tasks/{id}`
#[utoipa::path(
    get,
    path = "/accounts/{acct}/tasks/{id}",
    tag = "storage",
    summary = "Get a task",
    operation_id = "tasks_get",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 200, description = "The task, or the operation's own answer once done.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: AppCaller,
    Path((acct, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let task = db::tasks::get(&state.db, account.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("No task has this id."))?;
    Ok(tasks::answer(&task))
}
