//! The Kloudless v1 webhook ping, as both the registration check (an empty, signed
//! POST) and delivery (`account=<id>`) send it: form-encoded, signed with
//! `X-Kloudless-Signature = base64(HMAC-SHA256(application API key, raw body))`, and
//! received only when the receiver answers `200` with the application id as its body.
//!
//! The [`Sender`] goes only where [`netguard`](crate::netguard) allows: names are resolved
//! and checked when a connection opens and the connection uses exactly those addresses;
//! redirects are not followed.

use std::time::{Duration, Instant};

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{config::WebhookSettings, netguard};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Kloudless-Signature";

/// Most bytes of a receiver's answer read (an application id is short).
const MAX_ANSWER_BYTES: usize = 4096;

/// Longest error text kept for the delivery log.
const MAX_ERROR_CHARS: usize = 500;

/// `base64(HMAC-SHA256(key, body))`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The body of a notification that `account` has new events.
pub fn ping_body(account: i64) -> String {
    format!("account={account}")
}

/// What came of one attempt to notify a receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Time from sending to the end of the answer (or the failure).
    pub latency: Duration,
    /// Why the attempt does not count as received; `None` when it does.
    pub error: Option<String>,
    /// The receiver's `Retry-After` on 429 and 503, as a delay from now.
    pub retry_after: Option<Duration>,
}

impl Answer {
    /// True when the receiver took the notification.
    pub fn received(&self) -> bool {
        self.error.is_none()
    }
}

/// Sends signed pings; one per process, cheap to share (connections are pooled).
#[derive(Clone, Debug)]
pub struct Sender {
    client: reqwest::Client,
    policy: netguard::Policy,
    timeout: Duration,
}

impl Sender {
    /// A sender with the timeout of `settings`, reaching only what `policy` permits.
    pub fn new(settings: &WebhookSettings, policy: netguard::Policy) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(netguard::Resolver::new(&policy))
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("cloudbridge-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            policy,
            timeout,
        })
    }

    /// POSTs `body` to `url`, signed with `key`, and checks that the receiver answers
    /// `200` with `application` as its body.
    pub async fn send(&self, url: &str, key: &[u8], application: &str, body: &str) -> Answer {
        let started = Instant::now();
        let failed = |error: String| Answer {
            status: None,
            latency: started.elapsed(),
            error: Some(error),
            retry_after: None,
        };
        let url = match url::Url::parse(url) {
            Ok(url) => url,
            Err(_) => return failed("The URL is not valid.".into()),
        };
        if let Err(refusal) = netguard::check_url(&url, &self.policy) {
            return failed(refusal.to_string());
        }
        let sent = self
            .client
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(SIGNATURE_HEADER, signature(key, body.as_bytes()))
            .body(body.to_string())
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => return failed(self.describe(&e)),
        };
        let status = response.status().as_u16();
        let retry_after = matches!(status, 429 | 503)
            .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let mut answer = Vec::new();
        let error = loop {
            match response.chunk().await {
                Ok(Some(chunk)) if answer.len() + chunk.len() <= MAX_ANSWER_BYTES => {
                    answer.extend_from_slice(&chunk)
                }
                Ok(Some(_)) => break Some("The answer is too long for an application id.".into()),
                Ok(None) => break None,
                Err(e) => break Some(self.describe(&e)),
            }
        };
        let error = error.or_else(|| {
            let text = String::from_utf8_lossy(&answer);
            if status != 200 {
                Some(format!("The receiver answered {status}."))
            } else if text.trim() != application {
                Some("The receiver answered 200 without the application id as its body.".into())
            } else {
                None
            }
        });
        Answer {
            status: Some(status),
            latency: started.elapsed(),
            error,
            retry_after,
        }
    }

    /// A transport error in words, without the URL (receivers put tokens in them).
    fn describe(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            return format!("No answer within {} ms.", self.timeout.as_millis());
        }
        let mut text = if e.is_connect() {
            "Could not connect".to_string()
        } else {
            "The request failed".to_string()
        };
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text.chars().take(MAX_ERROR_CHARS).collect()
    }
}

/// A `Retry-After` value (delay in seconds or an HTTP date) as a delay from `now`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_hmac_sha256() {
        // RFC 4231 test case 2.
        let sig = signature(b"Jefe", b"what do ya want for nothing?");
        let hex = STANDARD
            .decode(sig)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
