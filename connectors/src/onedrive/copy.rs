//! Graph copies are asynchronous: `POST …/copy` answers 202 with a monitor URL that
//! reports the job (`asyncJobStatus`). The monitor is pre-authorised: it is polled without
//! the bearer token and without following redirects (older Graph versions answer 303 to
//! the new item, which would need the token).

use std::{sync::LazyLock, time::Duration};

use cloudbridge_shared::ApiError;
use reqwest::StatusCode;
use serde_json::Value;

use super::graph;
use crate::oauth;

/// How long a copy is waited for before the client is told it is still running.
pub const COPY_WAIT: Duration = Duration::from_secs(25);
/// Longest pause between two polls.
const MAX_POLL: Duration = Duration::from_secs(2);

static MONITOR: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
});

/// Waits for the copy job at `monitor` to finish; the new item's id when Graph says it.
pub async fn wait(monitor: &str) -> Result<Option<String>, ApiError> {
    let deadline = tokio::time::Instant::now() + COPY_WAIT;
    let mut pause = Duration::from_millis(100);
    loop {
        let response = MONITOR
            .get(monitor)
            .send()
            .await
            .map_err(oauth::unreachable)?;
        let status = response.status();
        match status {
            StatusCode::SEE_OTHER => return Ok(None),
            StatusCode::OK | StatusCode::ACCEPTED => {
                let job: Value = graph::json(response).await?;
                match job["status"].as_str().unwrap_or("inProgress") {
                    "completed" => return Ok(job["resourceId"].as_str().map(str::to_string)),
                    "failed" | "cancelled" | "deleteFailed" => return Err(failed(&job)),
                    _ => {}
                }
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                pause = oauth::retry_after(&response).unwrap_or(pause);
            }
            _ => {
                return Err(graph::checked(response).await.err().unwrap_or_else(|| {
                    graph::bad_gateway(&format!("Unexpected copy monitor answer {status}."))
                }))
            }
        }
        if tokio::time::Instant::now() + pause > deadline {
            return Err(ApiError::new(
                504,
                "gateway_timeout",
                "OneDrive is still copying; the copy appears when it is done.",
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// The error of a failed copy job.
fn failed(job: &Value) -> ApiError {
    let code = job["error"]["code"].as_str().unwrap_or("");
    if code == "nameAlreadyExists" {
        return ApiError::new(409, "naming_conflict", "An item with this name exists.");
    }
    graph::bad_gateway(&format!("OneDrive could not copy the item ({code})."))
}
