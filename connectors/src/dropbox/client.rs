//! Calls to Dropbox API v2 through [`oauth::Api`]: RPC routes (JSON in, JSON out),
//! content uploads (argument in `Dropbox-API-Arg`) and downloads, and Dropbox's error
//! answers turned into tags and Kloudless errors. A 409 `too_many_write_operations`
//! (namespace lock contention) is waited out like a 429.

use std::time::Duration;

use bytes::Bytes;
use cloudbridge_shared::{config::ProviderSettings, ApiError};
use serde_json::Value;

use crate::oauth::{self, Api};

/// Write-contention answers retried before the client sees a 429.
const CONTENTION_ATTEMPTS: u32 = 3;

/// One Dropbox account's API.
#[derive(Clone)]
pub struct Client {
    api: Api,
    rpc_base: String,
    content_base: String,
    /// The team member an admin's calls act as (`Dropbox-API-Select-User`).
    select_user: Option<String>,
}

/// Why a call failed.
#[derive(Debug)]
pub enum Error {
    /// The route's own error (409): the chain of its tags, outermost first, e.g.
    /// `["path", "conflict", "folder"]`.
    Endpoint(Vec<String>),
    /// Anything else, already a Kloudless error.
    Other(ApiError),
}

impl Error {
    /// True when the tags start with `prefix`.
    pub fn is(&self, prefix: &[&str]) -> bool {
        matches!(self, Error::Endpoint(tags) if tags.len() >= prefix.len()
            && tags.iter().zip(prefix).all(|(t, p)| t == p))
    }

    /// True when any tag is `tag`.
    pub fn has(&self, tag: &str) -> bool {
        matches!(self, Error::Endpoint(tags) if tags.iter().any(|t| t == tag))
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Other(e)
    }
}

impl From<Error> for ApiError {
    /// The Kloudless error of a route error nobody handled more precisely.
    fn from(e: Error) -> Self {
        let tags = match e {
            Error::Other(e) => return e,
            Error::Endpoint(tags) => tags,
        };
        let has = |t: &str| tags.iter().any(|x| x == t);
        if has("not_found") || has("not_file") || has("not_folder") {
            ApiError::not_found("No such file or folder.")
        } else if has("conflict") {
            ApiError::new(
                409,
                "naming_conflict",
                "An item with this name already exists.",
            )
        } else if has("malformed_path") || has("disallowed_name") {
            ApiError::invalid_parameters("Dropbox does not accept this name or path.")
        } else if has("cant_move_folder_into_itself") || has("duplicated_or_nested_paths") {
            ApiError::invalid_parameters("A folder cannot be moved or copied into itself.")
        } else if has("insufficient_space") || has("insufficient_quota") {
            ApiError::new(507, "insufficient_storage", "The Dropbox account is full.")
        } else if has("payload_too_large") {
            ApiError::new(413, "request_too_large", "The upload is too large.")
        } else if has("no_write_permission") || has("access_restricted") || has("team_folder") {
            ApiError::forbidden("Dropbox does not allow this here.")
        } else if has("too_many_write_operations") {
            oauth::rate_limited(Duration::from_secs(1))
        } else {
            ApiError::new(
                502,
                "bad_gateway",
                format!("Dropbox refused the request: {}", tags.join("/")),
            )
        }
    }
}

/// The tags of a Dropbox error value, outermost first: each union's `.tag`, into the
/// member's own value or a struct's `reason`.
pub fn tags(error: &Value) -> Vec<String> {
    let mut tags = Vec::new();
    let mut current = error;
    loop {
        let tag = current.get(".tag").and_then(Value::as_str);
        if let Some(tag) = tag {
            tags.push(tag.to_string());
        }
        let next = tag
            .and_then(|t| current.get(t))
            .filter(|v| v.get(".tag").is_some())
            .or_else(|| current.get("reason").filter(|v| v.is_object()));
        match next {
            Some(next) => current = next,
            None => return tags,
        }
    }
}

/// JSON for an HTTP header: every character from U+007F up as `\uXXXX` (UTF-16 units),
/// as Dropbox requires of `Dropbox-API-Arg`.
pub fn header_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c as u32) < 0x7f {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Reads a failed answer.
async fn failure(response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    match status {
        409 => match serde_json::from_str::<Value>(&text) {
            Ok(body) => Error::Endpoint(tags(&body["error"])),
            Err(_) => Error::Other(ApiError::new(
                502,
                "bad_gateway",
                "Dropbox answered 409 without an error body.",
            )),
        },
        401 => Error::Other(oauth::service_unauthorized()),
        403 => Error::Other(ApiError::forbidden(
            "Dropbox denied access to this resource.",
        )),
        _ => {
            // 400s are plain text saying what was wrong with the request: our bug.
            tracing::warn!(status, body = %text.chars().take(300).collect::<String>(), "dropbox call failed");
            Error::Other(ApiError::new(
                502,
                "bad_gateway",
                format!("Dropbox answered {status}."),
            ))
        }
    }
}

impl Client {
    /// The client of an account whose service is at `provider`'s URLs.
    pub fn new(api: Api, provider: &ProviderSettings) -> Self {
        let base = |url: &str| format!("{}/2/", url.trim_end_matches('/'));
        Self {
            api,
            rpc_base: base(&provider.api_url),
            content_base: base(&provider.content_url),
            select_user: None,
        }
    }

    /// This client acting as the team member `user` (a `team_member_id`) of the admin
    /// whose team token it holds, or as the token's own user (`None`).
    pub fn acting_as(mut self, user: Option<String>) -> Self {
        self.select_user = user;
        self
    }

    /// Sends the request `build` makes until it is not write contention; returns a
    /// successful answer.
    async fn call<F>(&self, build: F) -> Result<reqwest::Response, Error>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let mut attempt = 0;
        let build = |http: &reqwest::Client| match &self.select_user {
            Some(user) => build(http).header("Dropbox-API-Select-User", user),
            None => build(http),
        };
        loop {
            let response = self.api.send(&build).await?;
            if response.status().is_success() {
                return Ok(response);
            }
            let error = failure(response).await;
            if !error.has("too_many_write_operations") {
                return Err(error);
            }
            attempt += 1;
            let wait = Duration::from_millis(250 << attempt);
            if attempt >= CONTENTION_ATTEMPTS {
                return Err(oauth::rate_limited(wait).into());
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn json(response: reqwest::Response) -> Result<Value, Error> {
        let bytes = response.bytes().await.map_err(oauth::unreachable)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::Other(ApiError::new(
                502,
                "bad_gateway",
                format!("Dropbox answered with invalid JSON: {e}"),
            ))
        })
    }

    /// Calls an RPC route (`files/get_metadata`…) with its argument (`Null`: none).
    pub async fn rpc(&self, route: &str, arg: &Value) -> Result<Value, Error> {
        let url = format!("{}{route}", self.rpc_base);
        let body = match arg {
            Value::Null => None,
            arg => Some(Bytes::from(arg.to_string())),
        };
        let response = self
            .call(|http| {
                let request = http.post(&url);
                match &body {
                    Some(body) => request
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body.clone()),
                    None => request,
                }
            })
            .await?;
        Self::json(response).await
    }

    /// Calls a content-upload route with its argument and one body (sent again as is if
    /// the call is retried).
    pub async fn upload(&self, route: &str, arg: &Value, body: Bytes) -> Result<Value, Error> {
        let url = format!("{}{route}", self.content_base);
        let arg = header_json(arg);
        let response = self
            .call(|http| {
                http.post(&url)
                    .header("Dropbox-API-Arg", &arg)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(body.clone())
            })
            .await?;
        Self::json(response).await
    }

    /// Calls a content-download route (`files/get_thumbnail_v2`…) with its argument; the
    /// answer's body is the content.
    pub async fn fetch(&self, route: &str, arg: &Value) -> Result<reqwest::Response, Error> {
        let url = format!("{}{route}", self.content_base);
        let arg = header_json(arg);
        self.call(|http| {
            http.post(&url)
                .header("Dropbox-API-Arg", &arg)
                .timeout(oauth::TRANSFER_TIMEOUT)
        })
        .await
    }

    /// Starts `files/download` of `path` (a Dropbox path), optionally of an inclusive
    /// byte range; the answer's body is the file.
    pub async fn download(
        &self,
        path: &str,
        range: Option<(u64, u64)>,
    ) -> Result<reqwest::Response, Error> {
        let url = format!("{}files/download", self.content_base);
        let arg = header_json(&serde_json::json!({ "path": path }));
        self.call(|http| {
            let request = http
                .post(&url)
                .header("Dropbox-API-Arg", &arg)
                .timeout(oauth::TRANSFER_TIMEOUT);
            match range {
                Some((start, end)) => {
                    request.header(reqwest::header::RANGE, format!("bytes={start}-{end}"))
                }
                None => request,
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_follow_unions_and_reasons() {
        let e =
            json!({".tag": "path", "path": {".tag": "conflict", "conflict": {".tag": "folder"}}});
        assert_eq!(tags(&e), ["path", "conflict", "folder"]);
        let e = json!({".tag": "path", "reason": {".tag": "insufficient_space"}, "upload_session_id": "s"});
        assert_eq!(tags(&e), ["path", "insufficient_space"]);
        let e = json!({".tag": "incorrect_offset", "correct_offset": 5});
        assert_eq!(tags(&e), ["incorrect_offset"]);
        let error = Error::Endpoint(tags(
            &json!({".tag": "path_lookup", "path_lookup": {".tag": "not_found"}}),
        ));
        assert!(error.is(&["path_lookup", "not_found"]) && !error.is(&["path"]));
        assert_eq!(ApiError::from(error).status, 404);
    }

    #[test]
    fn header_json_escapes_everything_above_ascii() {
        let v = json!({"path": "/Docs & ü #?%/😀"});
        let text = header_json(&v);
        assert!(text.is_ascii(), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }
}
