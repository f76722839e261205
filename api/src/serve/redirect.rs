//! What a plain-HTTP port answers once HTTPS is configured: a permanent redirect (308) to
//! the same URL on HTTPS for a `GET` or `HEAD` without a body, and a Kloudless error
//! (403 `https_required`) for anything else, because a client that sent credentials or a
//! body in clear text should be told, not silently sent elsewhere to send them again. The
//! probes and metrics (`/health`, `/ready`, `/metrics`) are still served, as are requests
//! a trusted reverse proxy says arrived over HTTPS (it terminated TLS itself).

use axum::{
    extract::Request,
    http::{header, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use cloudbridge_shared::error::ApiError;
use ipnet::IpNet;

/// How a plain port of a door with HTTPS answers.
#[derive(Clone, Debug)]
pub struct HttpsOnly {
    /// Paths still served over plain HTTP.
    pub plain_paths: &'static [&'static str],
    /// The HTTPS listener's port (left out of redirects when 443).
    pub https_port: u16,
    /// `api.public_url`: when it is an `https://` URL, the base redirects go to.
    pub public_url: String,
    /// Reverse proxies believed about `X-Forwarded-Proto`.
    pub trusted_proxies: Vec<IpNet>,
}

impl HttpsOnly {
    /// The answer of the plain port to `request`, or `None` when the app serves it.
    pub fn answer(&self, request: &Request) -> Option<Response> {
        if self.plain_paths.contains(&request.uri().path()) || self.behind_tls(request) {
            return None;
        }
        let target = format!("{}{}", self.https_base(request), path_and_query(request));
        let id = uuid::Uuid::new_v4().to_string();
        let mut response = if is_plain_read(request) {
            let mut r = StatusCode::PERMANENT_REDIRECT.into_response();
            if let Ok(location) = HeaderValue::from_str(&target) {
                r.headers_mut().insert(header::LOCATION, location);
            }
            r
        } else {
            let message = format!(
                "This API is served over HTTPS only; send the request to {target} (it was not \
                 redirected because it had a body or was not a GET or HEAD)."
            );
            let body = ApiError::new(403, "https_required", message).body(&id);
            (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        };
        if let Ok(v) = HeaderValue::from_str(&id) {
            response.headers_mut().insert("x-request-id", v);
        }
        Some(response)
    }

    /// A trusted proxy in front says the client's connection was HTTPS.
    fn behind_tls(&self, request: &Request) -> bool {
        crate::forwarded::proto(
            request.headers(),
            request.extensions(),
            &self.trusted_proxies,
        ) == Some("https")
    }

    /// `https://host[:port]` the client should use.
    fn https_base(&self, request: &Request) -> String {
        if self.public_url.starts_with("https://") {
            return self.public_url.trim_end_matches('/').to_string();
        }
        // HTTP/2 says the host in the URI (`:authority`), HTTP/1.1 in `Host`.
        let host = match request.uri().authority() {
            Some(authority) if !request.headers().contains_key(header::HOST) => {
                authority.to_string()
            }
            _ => crate::forwarded::host(request.headers(), request.extensions(), &[]),
        };
        // The host without the plain port.
        let name = match host.rsplit_once(':') {
            Some((name, port)) if !port.contains(']') => name,
            _ => host.as_str(),
        };
        match self.https_port {
            443 => format!("https://{name}"),
            port => format!("https://{name}:{port}"),
        }
    }
}

/// A `GET` or `HEAD` that carries no body: safe to redirect.
fn is_plain_read(request: &Request) -> bool {
    let headers = request.headers();
    let body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    matches!(*request.method(), Method::GET | Method::HEAD) && !body
}

fn path_and_query(request: &Request) -> &str {
    request.uri().path_and_query().map_or("/", |pq| pq.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door(public_url: &str, https_port: u16) -> HttpsOnly {
        HttpsOnly {
            plain_paths: &["/health"],
            https_port,
            public_url: public_url.into(),
            trusted_proxies: Vec::new(),
        }
    }

    fn get(uri: &str, host: &str) -> Request {
        Request::builder()
            .uri(uri)
            .header("host", host)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    fn location(r: &Response) -> &str {
        r.headers()[header::LOCATION].to_str().unwrap()
    }

    #[test]
    fn a_read_is_sent_to_the_same_url_on_https() {
        let r = door("", 8443)
            .answer(&get("/v1/accounts?page=2", "api.example.com:8000"))
            .unwrap();
        assert_eq!(r.status(), 308);
        assert_eq!(
            location(&r),
            "https://api.example.com:8443/v1/accounts?page=2"
        );
        let h2 = Request::builder()
            .uri("http://api.example.com:8000/v1")
            .body(axum::body::Body::empty())
            .unwrap();
        let r = door("", 8443).answer(&h2).unwrap();
        assert_eq!(location(&r), "https://api.example.com:8443/v1");
        let r = door("", 443).answer(&get("/v1", "[::1]:80")).unwrap();
        assert_eq!(location(&r), "https://[::1]/v1");
        let r = door("https://files.example.com/", 443)
            .answer(&get("/v1", "10.0.0.1:8000"))
            .unwrap();
        assert_eq!(location(&r), "https://files.example.com/v1");
    }

    #[test]
    fn probes_stay_on_plain_http() {
        assert!(door("", 443).answer(&get("/health", "x")).is_none());
    }

    #[test]
    fn a_request_with_a_body_is_refused_not_redirected() {
        let post = Request::builder()
            .method("POST")
            .uri("/v1/accounts")
            .header("content-length", "2")
            .body(axum::body::Body::from("{}"))
            .unwrap();
        let r = door("", 443).answer(&post).unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.headers().get(header::LOCATION).is_none());
        let delete = Request::builder()
            .method("DELETE")
            .uri("/v1/accounts/1")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(door("", 443).answer(&delete).unwrap().status(), 403);
    }
}
