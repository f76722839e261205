//! The few HTML pages the API tier serves to people (shared links, the connect flow).

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
};

/// `s` safe inside HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The pages' look: one card, readable on a phone and in the widgets' popup, nothing
/// loaded from elsewhere.
const STYLE: &str = "<style>\
:root{color-scheme:light dark;--ink:#202124;--muted:#5f6368;--line:#dadce0;--accent:#1a73e8;--card:#fff;--ground:#f5f6f7}\
@media (prefers-color-scheme:dark){:root{--ink:#e8eaed;--muted:#9aa0a6;--line:#3c4043;--accent:#8ab4f8;--card:#202124;--ground:#171717}}\
*{box-sizing:border-box}\
body{margin:0;min-height:100vh;background:var(--ground);color:var(--ink);\
font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;display:flex;justify-content:center;align-items:flex-start}\
main{background:var(--card);margin:5vh 16px;padding:24px 28px;border:1px solid var(--line);border-radius:12px;width:100%;max-width:520px}\
h1{font-size:22px;margin:0 0 12px}\
p{margin:0 0 14px}\
label{font-weight:600;font-size:14px}\
input,textarea{width:100%;margin-top:4px;padding:9px 11px;font:inherit;color:inherit;background:transparent;\
border:1px solid var(--line);border-radius:8px}\
input:focus,textarea:focus{outline:2px solid var(--accent);outline-offset:1px}\
button{font:inherit;padding:9px 16px;margin:4px 6px 4px 0;border-radius:8px;border:1px solid var(--line);\
background:transparent;color:inherit;cursor:pointer}\
button[type=submit]:first-of-type,button[value=allow],button[name=service]{background:var(--accent);border-color:var(--accent);color:#fff}\
@media (prefers-color-scheme:dark){button[type=submit]:first-of-type,button[value=allow],button[name=service]{color:#202124}}\
button[name=service]{display:block;width:100%;text-align:left}\
a{color:var(--accent)}\
</style>";

/// A page with an (already escaped) `title` and `body`, never cached.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
         {STYLE}</head><body><main>{body}</main></body></html>"
    );
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
