//! Storage API: the account's storage quota, as its service reports it.

use axum::extract::State;
use cloudbridge_shared::{protocol::Op, ApiError, Outcome};
use serde_json::Value;

use crate::{
    auth::AppCaller,
    extract::{Json, Path},
    routes::files::account_ref,
    wire, AppState,
};

/// `GET /v1/accounts/{acct}/storage/quota`: `{total, used, remaining}` in bytes (`total`
/// and `remaining` null where the service sets no limit or tells none); 501 on services
/// that report no quota.
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/quota",
    tag = "storage",
    summary = "Get the storage quota",
    operation_id = "quota_get",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
    ),
    responses(
        (status = 200, description = "The account's storage use, in bytes.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(acct): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let outcome = state
        .pipeline
        .call(Some(account_ref(&account)), Op::Quota)
        .await?;
    let Outcome::Quota { quota } = outcome else {
        return Err(ApiError::internal(format_args!(
            "unexpected outcome {outcome:?}"
        )));
    };
    Ok(Json(wire::quota(&quota, account.id)))
}
