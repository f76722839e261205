//! The Kloudless v1 JSON shapes of our objects: the one place they are written.

use chrono::{DateTime, SecondsFormat, Utc};
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
    Entry,
};
use serde_json::{json, Value};

tokio::task_local! {
    static RAW_DATA: bool;
}

/// Runs `fut` with `X-Kloudless-Raw-Data` on or off for the entries it renders.
pub async fn with_raw_data<F: std::future::Future>(wanted: bool, fut: F) -> F::Output {
    RAW_DATA.scope(wanted, fut).await
}

/// True when the current request asked for raw service data.
pub fn raw_data_wanted() -> bool {
    RAW_DATA.try_with(|w| *w).unwrap_or(false)
}

/// ISO 8601 with `Z`.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| time(t).into())
}

/// An `object_list` page (`page` and `next_page`: numbers, or tokens of a service's paging).
pub fn list(
    api: &str,
    objects: Vec<Value>,
    page: impl Into<Value>,
    next_page: impl Into<Value>,
    total: Option<i64>,
) -> Value {
    let mut body = json!({
        "type": "object_list",
        "api": api,
        "count": objects.len(),
        "page": page.into(),
        "next_page": next_page.into(),
        "objects": objects,
    });
    if let Some(total) = total {
        body["total"] = total.into();
    }
    body
}

/// A page of rows counted in the database: past the last page is "not found" (the SDKs
/// stop paging on it), otherwise an `object_list` with `total` and `next_page`.
pub fn counted(
    api: &str,
    objects: Vec<Value>,
    paging: crate::extract::Paging,
    total: i64,
) -> Result<Value, cloudbridge_shared::ApiError> {
    if objects.is_empty() && paging.page > 1 {
        return Err(cloudbridge_shared::ApiError::not_found(
            "This page does not exist.",
        ));
    }
    let next = next_page(paging.page, paging.page_size, total);
    Ok(list(api, objects, paging.page, next, Some(total)))
}

/// The next page number given a total.
pub fn next_page(page: u32, page_size: u32, total: i64) -> Option<u32> {
    (i64::from(page) * i64::from(page_size) < total).then_some(page + 1)
}

/// An account (`api: core`).
pub fn account(a: &Account, base: &str) -> Value {
    json!({
        "id": a.id,
        "account": a.account,
        "service": a.service,
        "service_name": service_name(&a.service),
        "active": a.active,
        "enabled": a.enabled,
        "admin": a.admin,
        "internal_use": false,
        "apis": apis(&a.service),
        "effective_scope": format!("{}:normal.storage.default", a.service),
        "created": time(a.created_at),
        "modified": time(a.modified_at),
        "custom_properties": a.custom_properties,
        "api": "core",
        "type": "account",
        "href": format!("{base}/v1/accounts/{}", a.id),
    })
}

/// The friendly name of a service (its descriptor's), else the name as given.
pub fn service_name(service: &str) -> &str {
    cloudbridge_connectors::service::find(service).map_or(service, |s| s.display_name)
}

/// The Kloudless APIs a service's accounts answer (`["storage"]`).
pub fn apis(service: &str) -> Vec<&'static str> {
    cloudbridge_connectors::service::find(service)
        .map(|s| s.apis.iter().map(|api| api.as_str()).collect())
        .unwrap_or_default()
}

/// An application (`api: meta`).
pub fn application(a: &Application, base: &str) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "description": a.description,
        "logo_url": a.logo_url,
        "active": a.active,
        "implicit_grant_enabled": a.implicit_grant_enabled,
        "recent_enabled": a.recent_enabled,
        "events_grant_enabled": a.events_grant_enabled,
        "source": a.source,
        "trusted_domains": a.trusted_domains,
        "created": time(a.created_at),
        "modified": time(a.modified_at),
        "api": "meta",
        "type": "application",
        "href": format!("{base}/v1/applications/{}", a.id),
    })
}

/// An API key. The key itself is shown only when just created; later only its id.
pub fn api_key(k: &ApiKey, full_key: Option<&str>) -> Value {
    json!({
        "id": k.id,
        "key": full_key.map_or_else(|| format!("{}.********", k.id), str::to_string),
        "created": time(k.created_at),
        "modified": time(k.modified_at),
        "api": "meta",
        "type": "apikey",
    })
}

/// A webhook (`api: meta`).
pub fn webhook(w: &Webhook, base: &str) -> Value {
    json!({
        "id": w.id,
        "url": w.url,
        "application": w.application_id,
        "created": time(w.created_at),
        "modified": time(w.modified_at),
        "api": "meta",
        "type": "webhook",
        "href": format!("{base}/v1/applications/{}/webhooks/{}", w.application_id, w.id),
    })
}

/// A notification of a webhook in its delivery log, with its latest attempts (oldest
/// first).
pub fn delivery(d: &Delivery, attempts: &[&Attempt], application: &str, base: &str) -> Value {
    let log: Vec<Value> = attempts
        .iter()
        .map(|a| {
            json!({
                "at": time(a.at),
                "status": a.status,
                "error": a.error,
                "latency_ms": a.latency_ms,
            })
        })
        .collect();
    json!({
        "id": d.id,
        "webhook": d.webhook_id,
        "account": d.account_id,
        "state": d.state,
        "attempts": d.attempts,
        "next_attempt": (d.state == "pending").then(|| time(d.next_attempt_at)),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "last_latency_ms": d.last_latency_ms,
        "created": time(d.created_at),
        "replayed": opt_time(d.replayed_at),
        "finished": opt_time(d.finished_at),
        "attempt_log": log,
        "api": "meta",
        "type": "webhook_delivery",
        "href": format!(
            "{base}/v1/applications/{application}/webhooks/{}/deliveries/{}",
            d.webhook_id, d.id
        ),
    })
}

/// A file or folder (`api: storage`).
pub fn entry(e: &Entry, account: i64, base: &str) -> Value {
    let id = e.wire_id();
    let kind = match e.kind {
        ItemKind::File => "file",
        ItemKind::Folder => "folder",
    };
    // Ids made of the service's own ids are of type `default`; of paths, `path`.
    let native = e.id.is_some() && !e.path.is_root();
    let id_type = if native { "default" } else { "path" };
    let parent = match (e.path.parent(), e.parent_ref()) {
        (Some(p), Some(parent)) => {
            let parent_type = if parent.path().is_some() {
                "path"
            } else {
                "default"
            };
            json!({"id": parent.id(), "name": p.name(), "type": "folder", "id_type": parent_type})
        }
        _ => Value::Null,
    };
    let path_id = e.path.id();
    let raw_id = match (&e.id, native) {
        (Some(raw), true) => raw.clone(),
        _ => format!("/{}", e.path.as_str()),
    };
    let mut body = json!({
        "id": id,
        "name": e.path.name(),
        "size": e.size,
        "created": opt_time(e.created),
        "modified": opt_time(e.modified),
        "type": kind,
        "api": "storage",
        "account": account,
        "parent": parent,
        "ancestors": null,
        "path": format!("/{}", e.path.as_str()),
        "mime_type": e.mime_type,
        "downloadable": e.kind == ItemKind::File,
        "raw_id": raw_id,
        "id_type": id_type,
        "ids": {"default": id, "path": path_id},
        "href": format!("{base}/v1/accounts/{account}/storage/{kind}s/{id}"),
    });
    if let Some(raw) = e.raw.as_ref().filter(|_| raw_data_wanted()) {
        body["raw"] = raw.clone();
    }
    if e.kind == ItemKind::Folder {
        body["can_create_folders"] = true.into();
        body["can_upload_files"] = true.into();
        body["can_list_recursively"] = false.into();
    }
    body
}

/// A file or folder of `account`: as [`entry`], and a folder says whether the account's
/// service lists it recursively (`can_list_recursively`).
pub fn account_entry(e: &Entry, account: &Account, base: &str) -> Value {
    service_entry(e, account.id, &account.service, base)
}

/// A file or folder of account `account` of `service` (see [`account_entry`]).
pub fn service_entry(e: &Entry, account: i64, service: &str, base: &str) -> Value {
    let mut body = entry(e, account, base);
    if e.kind == ItemKind::Folder {
        body["can_list_recursively"] =
            cloudbridge_connectors::service::lists_recursively(service).into();
    }
    body
}

/// An account's storage use (`api: storage`, `type: quota`): `total` is null where the
/// service sets no limit or tells none.
pub fn quota(q: &Quota, account: i64) -> Value {
    let mut body = json!({
        "total": q.total,
        "used": q.used,
        "remaining": q.remaining(),
        "account": account,
        "api": "storage",
        "type": "quota",
    });
    if let Some(raw) = q.raw.as_ref().filter(|_| raw_data_wanted()) {
        body["raw"] = raw.clone();
    }
    body
}

/// A shared link (`api: storage`); `password` only says whether one is set.
pub fn link(l: &Link, base: &str) -> Value {
    json!({
        "id": l.id,
        "file_id": l.item_id,
        "url": format!("{base}/l/{}", l.id),
        "account": l.account_id,
        "active": l.active,
        "direct": l.direct,
        "password": l.password_hash.is_some(),
        "expiration": opt_time(l.expiration),
        "created": time(l.created_at),
        "modified": time(l.modified_at),
        "api": "storage",
        "type": "link",
        "href": format!("{base}/v1/accounts/{}/storage/links/{}", l.account_id, l.id),
    })
}

/// An upload location (`api: meta`; Kloudless's `fe_upload_location`).
pub fn upload_location(l: &UploadLocation, base: &str) -> Value {
    json!({
        "id": l.id,
        "account": l.account_id,
        "parent_id": l.parent_id,
        "created": time(l.created_at),
        "api": "meta",
        "type": "fe_upload_location",
        "href": format!(
            "{base}/v1/applications/{}/upload_locations/{}",
            l.application_id, l.id
        ),
    })
}
