//! A webhook receiver written from the Kloudless v1 spec (§5.2), independent of
//! Cloudbridge's code: it checks `X-Kloudless-Signature` (base64 HMAC-SHA256 of the raw
//! body keyed with the application's API key), refuses unsigned requests with 401 and
//! answers `200` with the application id. Tests script what it does with the next
//! requests (fail, stall, throttle) and read what it received.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle};

/// What the receiver does with one request (after checking its signature).
#[derive(Clone)]
pub enum Act {
    /// Answers this status (body `oops`).
    Status(u16),
    /// 429 with `Retry-After: <seconds>`.
    TooMany(u64),
    /// 200 with a body other than the application id.
    WrongBody,
    /// Waits this long, then answers properly.
    Slow(Duration),
    /// Signals `arrived`, waits for `release`, then answers properly.
    Hold {
        arrived: Arc<Notify>,
        release: Arc<Notify>,
    },
}

/// One request received.
#[derive(Clone, Debug)]
pub struct Ping {
    /// When it arrived.
    pub at: Instant,
    /// The raw body.
    pub body: String,
    /// `Content-Type`.
    pub content_type: String,
    /// Whether the signature was right.
    pub signed: bool,
}

struct Inner {
    application: String,
    api_key: String,
    script: Mutex<VecDeque<Act>>,
    failing: Mutex<Option<u16>>,
    pings: Mutex<Vec<Ping>>,
}

/// A running receiver; stops on drop.
pub struct Receiver {
    /// Its webhook URL.
    pub url: String,
    /// Its port.
    pub port: u16,
    inner: Arc<Inner>,
    server: JoinHandle<()>,
}

fn expected_signature(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let signed = header("x-kloudless-signature") == expected_signature(&inner.api_key, &body);
    inner.pings.lock().unwrap().push(Ping {
        at: Instant::now(),
        body: String::from_utf8_lossy(&body).into_owned(),
        content_type: header("content-type"),
        signed,
    });
    if !signed {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let ok = (StatusCode::OK, inner.application.clone()).into_response();
    if let Some(status) = *inner.failing.lock().unwrap() {
        return (StatusCode::from_u16(status).unwrap(), "oops").into_response();
    }
    let act = inner.script.lock().unwrap().pop_front();
    match act {
        None => ok,
        Some(Act::Status(status)) => {
            (StatusCode::from_u16(status).unwrap(), "oops").into_response()
        }
        Some(Act::TooMany(secs)) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", secs.to_string())],
            "slow down",
        )
            .into_response(),
        Some(Act::WrongBody) => (StatusCode::OK, "not-the-application-id").into_response(),
        Some(Act::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            ok
        }
        Some(Act::Hold { arrived, release }) => {
            arrived.notify_one();
            release.notified().await;
            ok
        }
    }
}

impl Receiver {
    /// Starts a receiver for `application` (signed with `api_key`) on a free port.
    pub async fn start(application: &str, api_key: &str) -> Self {
        Self::start_on(0, application, api_key).await
    }

    /// Starts a receiver on `port` (0: a free one).
    pub async fn start_on(port: u16, application: &str, api_key: &str) -> Self {
        let inner = Arc::new(Inner {
            application: application.into(),
            api_key: api_key.into(),
            script: Mutex::new(VecDeque::new()),
            failing: Mutex::new(None),
            pings: Mutex::new(Vec::new()),
        });
        Self::serve(port, inner).await
    }

    async fn serve(port: u16, inner: Arc<Inner>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            inner,
            server,
        }
    }

    /// Stops listening (connections are refused) and returns a handle to start it again
    /// on the same port, with the same script and record.
    pub fn stop(self) -> Stopped {
        self.server.abort();
        Stopped {
            port: self.port,
            inner: self.inner.clone(),
        }
    }

    /// Queues what to do with the next requests.
    pub fn script(&self, acts: impl IntoIterator<Item = Act>) {
        self.inner.script.lock().unwrap().extend(acts);
    }

    /// Answers every request with `status` (`None`: back to normal).
    pub fn fail_with(&self, status: Option<u16>) {
        *self.inner.failing.lock().unwrap() = status;
    }

    /// Everything received so far, verification pings included.
    pub fn pings(&self) -> Vec<Ping> {
        self.inner.pings.lock().unwrap().clone()
    }

    /// The notifications received so far (non-empty bodies).
    pub fn notifications(&self) -> Vec<Ping> {
        self.pings()
            .into_iter()
            .filter(|p| !p.body.is_empty())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A stopped receiver (see [`Receiver::stop`]).
pub struct Stopped {
    port: u16,
    inner: Arc<Inner>,
}

impl Stopped {
    /// Listens again on the same port.
    pub async fn restart(self) -> Receiver {
        Receiver::serve(self.port, self.inner).await
    }
}
