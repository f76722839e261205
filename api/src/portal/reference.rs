//! `/reference`: the API reference, one page made from the OpenAPI document the API serves
//! (`contract::json`, built from the handlers themselves, with the examples of
//! `examples`): every route grouped by tag, with its method, path, description,
//! parameters, a curl request and an example answer. Built once per process; public.
//!
//! Paths show Kloudless' parameter names (`{account_id}`, `{folder_id}`) where the router
//! uses short ones (`{acct}`, `{id}`).

use std::sync::LazyLock;

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response, routing::get, Router};
use serde_json::{json, Value};

use super::{
    session::Signed,
    view::{self, Frame},
    Portal,
};

/// One parameter of an operation.
pub struct Param {
    pub name: String,
    /// `path`, `query` or `header`.
    pub place: String,
    pub required: bool,
    pub description: String,
}

/// One operation.
pub struct Op {
    /// The operation id (the page's anchor).
    pub id: String,
    pub method: String,
    /// The path with Kloudless' parameter names.
    pub path: String,
    pub summary: String,
    pub description: String,
    /// What goes in `Authorization` (empty: nothing).
    pub auth: String,
    pub params: Vec<Param>,
    /// A curl command line.
    pub curl: String,
    /// The success status and its example body (empty when it has none).
    pub status: String,
    pub response: String,
}

/// The operations of one tag.
pub struct Group {
    pub tag: String,
    pub description: String,
    pub ops: Vec<Op>,
}

/// `reference.html`.
#[derive(Template)]
#[template(path = "portal/reference.html")]
pub struct Reference {
    pub frame: Frame,
    /// The API's base URL, for `BASE_URL`.
    pub base: String,
    pub groups: &'static [Group],
}

/// The reference, made once from the document.
static GROUPS: LazyLock<Vec<Group>> = LazyLock::new(|| {
    let doc: Value =
        serde_json::from_str(crate::contract::json()).expect("the OpenAPI document is JSON");
    groups(&doc)
});

/// `GET /reference`.
async fn show(State(portal): State<Portal>, signed: Option<Signed>) -> Response {
    let base = match portal.app.settings.api.public_url.trim_end_matches('/') {
        "" => format!("http://localhost:{}", portal.app.settings.api.bind.port()),
        url => url.to_string(),
    };
    let frame = signed
        .map(|s| Frame::signed(&s.session))
        .unwrap_or_default();
    view::render(
        StatusCode::OK,
        &Reference {
            frame,
            base,
            groups: &GROUPS,
        },
    )
}

/// The reference's route.
pub fn routes() -> Router<Portal> {
    Router::new().route("/reference", get(show))
}

/// Kloudless' name of the path parameter `name` that follows segment `before`.
fn kloudless_name(before: &str, name: &str) -> String {
    if !matches!(name, "acct" | "app" | "id" | "key" | "wid" | "did") {
        return name.to_string();
    }
    let noun = match before {
        "accounts" => "account",
        "applications" => "application",
        "folders" => "folder",
        "files" => "file",
        "links" | "l" => "link",
        "multipart" => "session",
        "tasks" => "task",
        "apikeys" => "key",
        "webhooks" => "webhook",
        "deliveries" => "delivery",
        "upload_locations" => "location",
        "flows" => "flow",
        _ => return name.to_string(),
    };
    format!("{noun}_id")
}

/// The path with Kloudless' names, and the renaming of each parameter.
fn rename(path: &str) -> (String, Vec<(String, String)>) {
    let mut renamed = Vec::new();
    let mut before = "";
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| {
            let out = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let new = kloudless_name(before, name);
                    renamed.push((name.to_string(), new.clone()));
                    format!("{{{new}}}")
                }
                None => segment.to_string(),
            };
            before = segment;
            out
        })
        .collect();
    (segments.join("/"), renamed)
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Quoted for a POSIX shell, between single quotes.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// An example of `schema` (`$ref`s resolved in `doc`), for operations without one.
fn derive(doc: &Value, schema: &Value, depth: u8) -> Value {
    if depth > 4 {
        return Value::Null;
    }
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return derive(doc, &doc["components"]["schemas"][name], depth + 1);
    }
    if let Some(first) = schema["oneOf"].as_array().and_then(|options| {
        options
            .iter()
            .find(|o| o["type"] != "null")
            .or(options.first())
    }) {
        return derive(doc, first, depth + 1);
    }
    match schema["type"].as_str() {
        Some("object") => {
            let fields = schema["properties"].as_object();
            Value::Object(
                fields
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), derive(doc, v, depth + 1)))
                    .collect(),
            )
        }
        Some("array") => json!([derive(doc, &schema["items"], depth + 1)]),
        Some("integer") | Some("number") => json!(0),
        Some("boolean") => json!(false),
        Some("string") => {
            // A constant written as a pattern (`^object_list$`) is its value.
            let constant = schema["pattern"]
                .as_str()
                .and_then(|p| p.strip_prefix('^')?.strip_suffix('$'))
                .filter(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            json!(constant.unwrap_or("string"))
        }
        _ => json!({}),
    }
}

/// The curl command of an operation.
fn curl(
    method: &str,
    path: &str,
    op: &Value,
    auth: Option<&str>,
    body: Option<(&str, &Value)>,
) -> String {
    // `{account_id}` becomes `$ACCOUNT_ID`, for the shell to fill in.
    let url: String = path
        .split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!("${}", name.to_uppercase()),
                None => s.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    let mut lines = vec![format!("curl -X {method} \"$BASE_URL{url}\"")];
    if let Some(auth) = auth {
        lines.push(format!("-H \"Authorization: {auth}\""));
    }
    if let Some(headers) = op["x-example-headers"].as_object() {
        for (name, value) in headers {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            lines.push(format!("-H {}", shell_quote(&format!("{name}: {value}"))));
        }
    }
    match body {
        Some(("application/json", example)) => {
            lines.push("-H 'Content-Type: application/json'".into());
            lines.push(format!("-d {}", shell_quote(&example.to_string())));
        }
        Some((content_type, example)) if content_type.ends_with("x-www-form-urlencoded") => {
            for (k, v) in example.as_object().into_iter().flatten() {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                lines.push(format!(
                    "--data-urlencode {}",
                    shell_quote(&format!("{k}={v}"))
                ));
            }
        }
        Some(_) => lines.push("--data-binary @file".into()),
        None => {}
    }
    lines.join(" \\\n  ")
}

/// What `Authorization` carries for an operation (its first scheme, `APIKey` first), and
/// how the page names every scheme it accepts.
fn authorization(op: &Value) -> (Option<&'static str>, String) {
    let schemes: Vec<&str> = op["security"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_object()?.keys().next().map(String::as_str))
        .collect();
    let header = |s: &str| match s {
        "api_key" => Some("APIKey $API_KEY"),
        "bearer" => Some("Bearer $TOKEN"),
        "developer_key" => Some("DeveloperKey $DEVELOPER_KEY"),
        _ => None,
    };
    let first = ["api_key", "bearer", "developer_key"]
        .into_iter()
        .find(|s| schemes.contains(s))
        .and_then(header);
    let named = schemes
        .iter()
        .filter_map(|s| header(s))
        .map(|h| h.split(' ').next().unwrap_or(h).to_string())
        .collect::<Vec<_>>()
        .join(" or ");
    (first, named)
}

fn operation(doc: &Value, path: &str, method: &str, op: &Value) -> Op {
    let (shown, renamed) = rename(path);
    let params = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let name = text(&p["name"]);
            let name = renamed
                .iter()
                .find(|(old, _)| *old == name)
                .map_or(name.clone(), |(_, new)| new.clone());
            Param {
                name,
                place: text(&p["in"]),
                required: p["required"].as_bool().unwrap_or(false),
                description: text(&p["description"]),
            }
        })
        .collect();
    let body = op["requestBody"]["content"].as_object().and_then(|c| {
        let (content_type, media) = c.iter().next()?;
        let example = match &media["example"] {
            Value::Null if content_type == "application/json" => derive(doc, &media["schema"], 0),
            Value::Null => Value::Null,
            example => example.clone(),
        };
        Some((content_type.clone(), example))
    });
    let (auth, auth_named) = authorization(op);
    let curl = curl(
        &method.to_uppercase(),
        &shown,
        op,
        auth,
        body.as_ref().map(|(t, e)| (t.as_str(), e)),
    );
    // A creation's answer is its 201, else the first success (or redirect).
    let success = op["responses"].as_object().and_then(|r| {
        r.iter()
            .filter(|(status, _)| status.starts_with('2') || status.starts_with('3'))
            .min_by_key(|(status, _)| (status.as_str() != "201", status.as_str()))
    });
    let (status, response) = match success {
        Some((status, answer)) => {
            let label = format!("{status} {}", text(&answer["description"]));
            let body = match answer["content"].as_object().and_then(|c| c.iter().next()) {
                Some((content_type, media)) if content_type == "application/json" => {
                    let example = match &media["example"] {
                        Value::Null => derive(doc, &media["schema"], 0),
                        example => example.clone(),
                    };
                    serde_json::to_string_pretty(&example).unwrap_or_default()
                }
                Some((content_type, _)) => format!("({content_type})"),
                None => String::new(),
            };
            (label, body)
        }
        None => (String::new(), String::new()),
    };
    Op {
        id: text(&op["operationId"]),
        method: method.to_uppercase(),
        path: shown,
        summary: text(&op["summary"]),
        description: text(&op["description"]),
        auth: auth_named,
        params,
        curl,
        status,
        response,
    }
}

/// The document's operations, grouped by tag in the document's order.
fn groups(doc: &Value) -> Vec<Group> {
    let mut groups: Vec<Group> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| Group {
            tag: text(&t["name"]),
            description: text(&t["description"]),
            ops: Vec::new(),
        })
        .collect();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            let op = &item[method];
            if op.is_null() {
                continue;
            }
            let tag = op["tags"][0].as_str().unwrap_or("other");
            let at = match groups.iter().position(|g| g.tag == tag) {
                Some(at) => at,
                None => {
                    groups.push(Group {
                        tag: tag.to_string(),
                        description: String::new(),
                        ops: Vec::new(),
                    });
                    groups.len() - 1
                }
            };
            groups[at].ops.push(operation(doc, path, method, op));
        }
    }
    groups.retain(|g| !g.ops.is_empty());
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_take_kloudless_parameter_names() {
        let (path, renamed) = rename("/v1/accounts/{acct}/storage/folders/{id}/contents");
        assert_eq!(
            path,
            "/v1/accounts/{account_id}/storage/folders/{folder_id}/contents"
        );
        assert_eq!(renamed[1], ("id".to_string(), "folder_id".to_string()));
        assert_eq!(rename("/widgets/{path}").0, "/widgets/{path}");
    }

    #[test]
    fn a_schema_without_example_gets_a_small_one() {
        let doc = json!({"components": {"schemas": {"L": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "pattern": "^object_list$"},
                "objects": {"type": "array", "items": {"type": "object"}},
                "count": {"type": "integer"},
            },
        }}}});
        let derived = derive(&doc, &json!({"$ref": "#/components/schemas/L"}), 0);
        assert_eq!(
            derived,
            json!({"type": "object_list", "objects": [{}], "count": 0})
        );
    }

    #[test]
    fn every_route_is_listed_with_a_curl_request() {
        let total: usize = GROUPS.iter().map(|g| g.ops.len()).sum();
        assert!(total >= 60, "{total} operations");
        let listing = GROUPS
            .iter()
            .flat_map(|g| &g.ops)
            .find(|o| o.id == "folders_contents")
            .unwrap();
        assert_eq!(
            listing.path,
            "/v1/accounts/{account_id}/storage/folders/{folder_id}/contents"
        );
        assert!(
            listing
                .curl
                .contains("$ACCOUNT_ID/storage/folders/$FOLDER_ID/contents"),
            "{}",
            listing.curl
        );
        assert!(listing.curl.contains("Authorization: APIKey $API_KEY"));
        assert!(listing.response.contains("object_list"));
    }
}
