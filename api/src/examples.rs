//! Examples of the contract's requests and responses, by operation id, added to the
//! OpenAPI document (`example` of each media type; curl headers a route needs besides
//! `Authorization` as `x-example-headers`). The objects are rendered by the same `wire`
//! functions the handlers answer with, from sample rows, so an example cannot drift from
//! the shape the API really sends.

use chrono::{DateTime, TimeZone, Utc};
use cloudbridge_shared::{
    db::{
        accounts::Account,
        api_keys::ApiKey,
        applications::Application,
        links::Link,
        upload_locations::UploadLocation,
        webhooks::{Attempt, Delivery, Webhook},
    },
    quota::Quota,
    storage::ItemKind,
    Entry, ItemPath,
};
use serde_json::{json, Value};
use utoipa::openapi::{extensions::ExtensionsBuilder, path::Operation, OpenApi, RefOr};

use crate::wire;

/// The base URL examples show.
const BASE: &str = "https://api.example.com";
/// The account of the examples.
const ACCOUNT: i64 = 1234;
/// The application of the examples.
const APP: &str = "Ap1cB4xYz0";

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 9, 30, 0)
        .single()
        .expect("a valid time")
}

fn account() -> Value {
    wire::account(
        &Account {
            id: ACCOUNT,
            application_id: APP.into(),
            service: "gdrive".into(),
            account: "ada@example.com".into(),
            active: true,
            enabled: true,
            admin: false,
            config: json!({}),
            secrets: None,
            needs_reauth: false,
            reauth_reason: None,
            custom_properties: json!({"team": "finance"}),
            created_at: at(2),
            modified_at: at(3),
            as_user: None,
        },
        BASE,
    )
}

fn application() -> Value {
    wire::application(
        &Application {
            id: APP.into(),
            name: "Invoices".into(),
            description: "Reads invoices from customers' drives".into(),
            logo_url: String::new(),
            active: true,
            implicit_grant_enabled: true,
            recent_enabled: true,
            events_grant_enabled: true,
            source: "developer".into(),
            trusted_domains: vec!["https://app.example.com".into()],
            created_at: at(1),
            modified_at: at(1),
        },
        BASE,
    )
}

fn api_key(full: bool) -> Value {
    let key = ApiKey {
        id: "Kx81aQ".into(),
        application_id: APP.into(),
        created_at: at(1),
        modified_at: at(1),
    };
    wire::api_key(&key, full.then_some("Kx81aQ.s3cr3tPartShownOnce"))
}

fn entry(path: &str, kind: ItemKind) -> Value {
    let file = kind == ItemKind::File;
    wire::entry(
        &Entry {
            id: None,
            parent_id: None,
            path: ItemPath::parse(path).expect("a valid example path"),
            kind,
            size: file.then_some(48_213),
            created: Some(at(4)),
            modified: Some(at(5)),
            mime_type: file.then(|| "application/pdf".into()),
            raw: None,
        },
        ACCOUNT,
        BASE,
    )
}

fn file() -> Value {
    entry("Invoices/2026-11.pdf", ItemKind::File)
}

fn folder() -> Value {
    entry("Invoices", ItemKind::Folder)
}

fn link() -> Value {
    wire::link(
        &Link {
            id: "Lq2mN8vR".into(),
            account_id: ACCOUNT,
            item_id: file()["id"].as_str().unwrap_or_default().into(),
            item_key: None,
            direct: false,
            active: true,
            password_hash: None,
            expiration: Some(at(30)),
            created_at: at(5),
            modified_at: at(5),
        },
        BASE,
    )
}

fn webhook() -> Value {
    wire::webhook(
        &Webhook {
            id: 7,
            application_id: APP.into(),
            url: "https://app.example.com/hooks/kloudless".into(),
            created_at: at(1),
            modified_at: at(1),
        },
        BASE,
    )
}

fn delivery() -> Value {
    let d = Delivery {
        id: 501,
        webhook_id: 7,
        account_id: ACCOUNT,
        state: "delivered".into(),
        generation: 1,
        attempts: 1,
        next_attempt_at: at(6),
        created_at: at(6),
        replayed_at: None,
        finished_at: Some(at(6)),
        last_status: Some(200),
        last_error: None,
        last_latency_ms: Some(42),
    };
    let attempt = Attempt {
        delivery_id: 501,
        at: at(6),
        status: Some(200),
        error: None,
        latency_ms: 42,
    };
    wire::delivery(&d, &[&attempt], APP, BASE)
}

fn upload_location() -> Value {
    wire::upload_location(
        &UploadLocation {
            id: 3,
            application_id: APP.into(),
            account_id: ACCOUNT,
            parent_id: folder()["id"].as_str().unwrap_or_default().into(),
            created_at: at(2),
        },
        BASE,
    )
}

fn list(api: &str, objects: Vec<Value>) -> Value {
    let total = objects.len() as i64;
    wire::list(api, objects, 1, serde_json::Value::Null, Some(total))
}

fn event() -> Value {
    json!({
        "id": "42",
        "account": ACCOUNT,
        "action": "-",
        "type": "add",
        "modified": wire::time(at(6)),
        "user_id": null,
        "ip": null,
        "metadata": file(),
    })
}

fn multipart() -> Value {
    json!({
        "id": 88,
        "account": ACCOUNT,
        "parent_id": folder()["id"],
        "name": "video.mp4",
        "size": 104_857_600,
        "part_size": 10_485_760,
        "parallel_uploads": true,
        "overwrite": false,
        "created": wire::time(at(6)),
        "expires": wire::time(at(7)),
        "api": "storage",
        "type": "multipart",
        "href": format!("{BASE}/v1/accounts/{ACCOUNT}/storage/multipart/88"),
    })
}

fn token() -> Value {
    json!({
        "access_token": "Bt7sQ2xLw9",
        "token_type": "Bearer",
        "account_id": ACCOUNT,
        "client_id": APP,
        "scope": "gdrive:normal.storage.default",
    })
}

/// An item's permissions as the permissions routes answer them (the same type, rendered
/// the same way).
fn permissions() -> Value {
    use cloudbridge_shared::permissions::{GranteeKind, Permission, Role};
    let user = |id: &str, email: &str, name: &str, role| Permission {
        id: id.into(),
        email: Some(email.into()),
        name: Some(name.into()),
        role,
        kind: GranteeKind::User,
        domain: None,
    };
    json!({"permissions": [
        user("0412", "ada@example.com", "Ada Lovelace", Role::Owner),
        user("7781", "grace@example.com", "Grace Hopper", Role::Reader),
    ]})
}

/// One operation's examples.
#[derive(Default)]
struct Example {
    /// The request body.
    request: Option<Value>,
    /// The body of the first success answer.
    response: Option<Value>,
    /// Headers the request needs besides `Authorization`.
    headers: Option<Value>,
}

fn ex(request: Option<Value>, response: Value) -> Example {
    Example {
        request,
        response: Some(response),
        headers: None,
    }
}

/// The examples of operation `id`, if it has any.
fn example(id: &str) -> Option<Example> {
    let folder_id = folder()["id"].clone();
    Some(match id {
        "accounts_list" => ex(None, list("core", vec![account()])),
        "accounts_get" | "accounts_update" => ex(
            (id == "accounts_update").then(|| json!({"custom_properties": {"team": "finance"}})),
            account(),
        ),
        "accounts_import" => ex(
            Some(json!({
                "service": "s3",
                "account": "invoices-bucket",
                "credentials": {"access_key_id": "AKIA…", "secret_access_key": "…"},
                "config": {"bucket": "invoices-bucket", "region": "eu-west-1"},
            })),
            account(),
        ),
        "folders_contents" => ex(None, list("storage", vec![file(), folder()])),
        "folders_get" => ex(None, folder()),
        "folders_create" => ex(
            Some(json!({"parent_id": "root", "name": "Invoices"})),
            folder(),
        ),
        "relocate_move_folder" => ex(
            Some(json!({"parent_id": "root", "name": "Invoices 2026"})),
            folder(),
        ),
        "relocate_copy_folder" => ex(
            Some(json!({"parent_id": "root", "name": "Invoices (copy)"})),
            folder(),
        ),
        "files_get" | "files_replace" => ex(None, file()),
        "files_upload" => Example {
            response: Some(file()),
            headers: Some(json!({
                "X-Kloudless-Metadata": json!({"parent_id": folder_id, "name": "2026-11.pdf"}).to_string(),
                "Content-Type": "application/octet-stream",
            })),
            ..Example::default()
        },
        "relocate_move_file" => ex(
            Some(json!({"parent_id": folder_id, "name": "2026-11 (paid).pdf"})),
            file(),
        ),
        "relocate_copy_file" => ex(
            Some(json!({"parent_id": folder_id, "name": "2026-11 (copy).pdf"})),
            file(),
        ),
        "files_upload_url" => ex(
            Some(json!({"parent_id": folder_id, "name": "2026-11.pdf"})),
            json!({
                "url": "https://upload.example.com/…",
                "method": "PUT",
                "headers": {},
                "id": file()["id"],
                "account": ACCOUNT,
                "expires_in": 900,
                "api": "storage",
                "type": "upload_url",
            }),
        ),
        "properties_get" | "properties_patch" => ex(
            (id == "properties_patch").then(|| json!([{"key": "status", "value": "paid"}])),
            json!({"properties": [{
                "key": "status", "value": "paid",
                "created": wire::time(at(6)), "modified": wire::time(at(6)),
            }]}),
        ),
        "files_permissions_get"
        | "files_permissions_put"
        | "files_permissions_patch"
        | "folders_permissions_get"
        | "folders_permissions_put"
        | "folders_permissions_patch" => ex(
            (!id.ends_with("_get"))
                .then(|| json!([{"type": "user", "role": "reader", "email": "grace@example.com"}])),
            permissions(),
        ),
        "lookup_recent" | "lookup_search" => ex(None, list("storage", vec![file()])),
        "quota_get" => ex(
            None,
            wire::quota(
                &Quota {
                    total: Some(16 << 30),
                    used: 5 << 30,
                    raw: None,
                },
                ACCOUNT,
            ),
        ),
        "lookup_encode_raw_id" | "lookup_convert_id" => ex(
            Some(json!({"raw_id": "/Invoices/2026-11.pdf"})),
            json!({
                "id": file()["id"], "raw_id": "/Invoices/2026-11.pdf", "type": "file",
                "account": ACCOUNT, "api": "storage",
            }),
        ),
        "links_list" => ex(None, list("storage", vec![link()])),
        "links_get" => ex(None, link()),
        "links_create" => ex(
            Some(
                json!({"file_id": file()["id"], "direct": false, "expiration": wire::time(at(30))}),
            ),
            link(),
        ),
        "links_update" => ex(Some(json!({"active": false})), link()),
        "multipart_create" => ex(
            Some(json!({"parent_id": folder_id, "name": "video.mp4", "size": 104_857_600})),
            multipart(),
        ),
        "multipart_get" => ex(None, multipart()),
        "multipart_put_part" => ex(
            None,
            json!({"id": 88, "part_number": 1, "size": 10_485_760, "api": "storage", "type": "multipart_part"}),
        ),
        "multipart_complete" => ex(None, file()),
        "events_list" => ex(
            None,
            json!({
                "type": "object_list", "api": "events", "objects": [event()], "count": 1,
                "cursor": "43", "remaining": 0,
            }),
        ),
        "events_latest" => ex(None, json!({"cursor": "43"})),
        "applications_list" => ex(None, list("meta", vec![application()])),
        "applications_get" => ex(None, application()),
        "applications_create" => ex(
            Some(
                json!({"name": "Invoices", "description": "Reads invoices from customers' drives"}),
            ),
            application(),
        ),
        "applications_update" => ex(
            Some(
                json!({"trusted_domains": ["https://app.example.com"], "implicit_grant_enabled": true}),
            ),
            application(),
        ),
        "api_keys_list" => ex(None, list("meta", vec![api_key(false)])),
        "api_keys_create" => ex(None, api_key(true)),
        "app_oauth_redirect_uris" | "app_oauth_set_redirect_uris" => ex(
            (id == "app_oauth_set_redirect_uris")
                .then(|| json!({"redirect_uris": ["https://app.example.com/oauth/callback"]})),
            json!({
                "id": APP, "redirect_uris": ["https://app.example.com/oauth/callback"],
                "type": "redirect_uris",
            }),
        ),
        "app_oauth_service_keys" => ex(
            None,
            list(
                "meta",
                vec![
                    json!({"id": "gdrive", "service": "gdrive", "client_id": "1234.apps.googleusercontent.com", "type": "service_key"}),
                ],
            ),
        ),
        "app_oauth_set_service_key" => ex(
            Some(json!({"client_id": "1234.apps.googleusercontent.com", "client_secret": "…"})),
            json!({"id": "gdrive", "service": "gdrive", "client_id": "1234.apps.googleusercontent.com", "type": "service_key"}),
        ),
        "upload_locations_list" => ex(None, list("meta", vec![upload_location()])),
        "upload_locations_get" => ex(None, upload_location()),
        "upload_locations_create" => ex(
            Some(json!({"account": ACCOUNT, "parent_id": folder_id})),
            upload_location(),
        ),
        "webhooks_list" => ex(None, list("meta", vec![webhook()])),
        "webhooks_get" => ex(None, webhook()),
        "webhooks_create" => ex(
            Some(json!({"url": "https://app.example.com/hooks/kloudless"})),
            webhook(),
        ),
        "webhook_deliveries_list" => ex(None, list("meta", vec![delivery()])),
        "webhook_deliveries_get" | "webhook_deliveries_replay" => ex(None, delivery()),
        "oauth_token_info" => ex(None, token()),
        "oauth_token_exchange" => ex(
            Some(json!({
                "grant_type": "authorization_code", "code": "Cd9…", "client_id": APP,
                "client_secret": "Kx81aQ.…", "redirect_uri": "https://app.example.com/oauth/callback",
            })),
            token(),
        ),
        "ops_health" => ex(None, json!({"status": "ok"})),
        "ops_ready" => ex(
            None,
            json!({"postgres": true, "redis": true, "reply_channel": true}),
        ),
        "ops_ping" => ex(
            None,
            json!({"worker": "jobs-1-42-requests-0a1b2c3d", "round_trip_ms": 1.4}),
        ),
        _ => return None,
    })
}

/// Every operation of `doc`, by method.
fn operations(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

/// Adds the examples to `doc`'s operations.
pub fn apply(doc: &mut OpenApi) {
    for op in operations(doc) {
        let Some(example) = op.operation_id.as_deref().and_then(example) else {
            continue;
        };
        if let (Some(value), Some(RefOr::T(body))) = (example.request, op.request_body.as_mut()) {
            for content in body.content.values_mut() {
                if let RefOr::T(content) = content {
                    content.example = Some(value.clone());
                }
            }
        }
        if let Some(value) = example.response {
            // A creation's example goes with its 201, else with the first success.
            let success = op
                .responses
                .responses
                .iter_mut()
                .filter(|(status, _)| status.starts_with('2'))
                .min_by_key(|(status, _)| (status.as_str() != "201", status.to_string()));
            if let Some((_, RefOr::T(response))) = success {
                for content in response.content.values_mut() {
                    if let RefOr::T(content) = content {
                        if content.example.is_none() {
                            content.example = Some(value.clone());
                        }
                    }
                }
            }
        }
        if let Some(headers) = example.headers {
            let extensions = ExtensionsBuilder::new()
                .add("x-example-headers", headers)
                .build();
            match op.extensions.as_mut() {
                Some(existing) => existing.merge(extensions),
                None => op.extensions = Some(extensions),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples reach the document (a renamed operation loses its example: noticed).
    #[test]
    fn most_operations_carry_an_example_in_the_document() {
        let doc: Value = serde_json::from_str(crate::contract::json()).unwrap();
        let mut ids = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                if let Some(id) = op["operationId"].as_str() {
                    ids.push(id.to_string());
                }
            }
        }
        let with = ids.iter().filter(|id| example(id).is_some()).count();
        assert!(
            with >= 50,
            "{with} of {} operations have examples",
            ids.len()
        );
        let folders = &doc["paths"]["/v1/accounts/{acct}/storage/folders/{id}/contents"]["get"];
        let shown = &folders["responses"]["200"]["content"]["application/json"]["example"];
        assert_eq!(shown["type"], "object_list");
        assert_eq!(shown["objects"][0]["type"], "file");
    }
}
