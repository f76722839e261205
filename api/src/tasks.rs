//! Long operations run as tasks when the client asks (`X-Kloudless-Async: true`, or
//! `return_type=task`): the API process that received the request runs the operation in
//! the background, keeps its row in PostgreSQL fresh while it runs, and stores the answer
//! (status and body) for `GET /v1/accounts/{acct}/tasks/{id}`.

use std::{collections::HashMap, future::Future, panic::AssertUnwindSafe, time::Duration};

use axum::{
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use cloudbridge_shared::{
    db::{
        self,
        tasks::{Task, HEARTBEAT_SECS},
    },
    request_id, ApiError,
};
use futures::FutureExt;
use serde_json::{json, Value};

use crate::{extract::Json, AppState};

/// What an operation that may run as a task answers.
pub type Answer = Result<(StatusCode, Value), ApiError>;

/// True when the client asked for a task instead of waiting.
pub fn wanted(headers: &HeaderMap, query: &HashMap<String, String>) -> bool {
    let header = headers
        .get("x-kloudless-async")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    header || query.get("return_type").is_some_and(|v| v == "task")
}

/// Runs `operation` now, or as a task of `account` when `deferred`.
pub async fn run<F>(
    state: &AppState,
    account: i64,
    deferred: bool,
    operation: F,
) -> Result<Response, ApiError>
where
    F: Future<Output = Answer> + Send + 'static,
{
    if !deferred {
        let (status, body) = operation.await?;
        return Ok((status, Json(body)).into_response());
    }
    let task = db::tasks::create(&state.db, account).await?;
    let (pool, id) = (state.db.clone(), task.id.clone());
    let request = request_id::current();
    let raw = crate::wire::raw_data_wanted();
    tokio::spawn(request_id::scope(request.clone(), async move {
        let heartbeat = tokio::spawn({
            let (pool, id) = (pool.clone(), id.clone());
            async move {
                let mut every = tokio::time::interval(Duration::from_secs(HEARTBEAT_SECS));
                every.tick().await;
                loop {
                    every.tick().await;
                    let _ = db::tasks::touch(&pool, &id).await;
                }
            }
        });
        let answer = AssertUnwindSafe(crate::wire::with_raw_data(raw, operation))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(ApiError::internal("panic while running a task")));
        heartbeat.abort();
        let (success, result) = match answer {
            Ok((status, body)) => (true, json!({"status": status.as_u16(), "body": body})),
            Err(e) => (false, json!({"status": e.status, "body": e.body(&request)})),
        };
        if let Err(e) = db::tasks::finish(&pool, &id, success, result).await {
            tracing::error!(error = %e, task = %id, "task result not stored");
        }
    }));
    Ok((StatusCode::ACCEPTED, Json(render(&task))).into_response())
}

/// A task that has not finished.
pub fn render(task: &Task) -> Value {
    json!({
        "id": task.id,
        "account": task.account_id,
        "state": task.state,
        "status": task.state,
        "created": crate::wire::time(task.created_at),
        "modified": crate::wire::time(task.modified_at),
        "api": "storage",
        "type": "task",
    })
}

/// What `GET …/tasks/{id}` answers: the task while it runs, then the operation's own answer.
pub fn answer(task: &Task) -> Response {
    let Some(result) = &task.result else {
        return Json(render(task)).into_response();
    };
    let status = result["status"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // The operation's answer as it would have been given (a 201 is reported as 200: the
    // task, not the item, is what this request reads).
    let status = if status.is_success() {
        StatusCode::OK
    } else {
        status
    };
    (status, Json(result["body"].clone())).into_response()
}
