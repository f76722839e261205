//! Space usage and thumbnails: `users/get_space_usage` (RPC) and
//! `files/get_thumbnail_v2` (content download: argument in `Dropbox-API-Arg` or `arg`,
//! the image in the body, `PreviewResult` in `Dropbox-API-Result`).

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    rpc::{call, resolve},
    state::Shared,
    tree::{Node, Target, Tree},
    wire::{self, Failure, Lookup},
};
use crate::images::{self, Encoding, Fit};

/// Space of every user (Dropbox Basic's 2 GB).
pub const ALLOCATED: u64 = 2 << 30;
/// Files larger than this get no thumbnail (`unsupported_image`), as Dropbox documents.
const MAX_THUMBNAIL_SOURCE: usize = 20 << 20;
/// The extensions Dropbox makes thumbnails of.
const EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "tiff", "tif", "gif", "webp", "ppm", "bmp",
];

/// `users/get_space_usage`: the bytes of the user's files, of an individual allocation.
pub async fn get_space_usage(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "users/get_space_usage";
    call(&s, ROUTE, &headers, &body, |inner, account, _: ()| {
        Ok(json!({
            "used": inner.tree(account).used(),
            "allocation": {".tag": "individual", "allocated": ALLOCATED},
        }))
    })
}

/// `ThumbnailV2Arg`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThumbnailArg {
    resource: Value,
    #[serde(default)]
    format: Option<Value>,
    #[serde(default)]
    size: Option<Value>,
    #[serde(default)]
    mode: Option<Value>,
}

/// The `.tag` of an optional union argument, or its default.
fn tag_of<'a>(value: &'a Option<Value>, default: &'a str) -> &'a str {
    value
        .as_ref()
        .and_then(|v| v[".tag"].as_str())
        .unwrap_or(default)
}

/// `w{width}h{height}` as a size.
fn size_of(tag: &str) -> Option<(u32, u32)> {
    let (w, h) = tag.strip_prefix('w')?.split_once('h')?;
    let size = (w.parse().ok()?, h.parse().ok()?);
    const SIZES: &[(u32, u32)] = &[
        (32, 32),
        (64, 64),
        (128, 128),
        (256, 256),
        (480, 320),
        (640, 480),
        (960, 640),
        (1024, 768),
        (2048, 1536),
    ];
    SIZES.contains(&size).then_some(size)
}

/// `files/get_thumbnail_v2` (GET or POST).
pub async fn get_thumbnail_v2(
    State(s): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    const ROUTE: &str = "files/get_thumbnail_v2";
    let made = s.begin(ROUTE, &headers).and_then(|account| {
        let arg: ThumbnailArg =
            wire::header_arg(ROUTE, &headers, query.get("arg").map(String::as_str))?;
        let bad = |what: &str| {
            Failure::bad_input(ROUTE, format!("HTTP header \"Dropbox-API-Arg\": {what}"))
        };
        if arg.resource[".tag"] != "path" {
            return Err(bad("resource: only `path` resources are emulated"));
        }
        let path = arg.resource["path"]
            .as_str()
            .ok_or_else(|| bad("resource: missing `path`"))?;
        let encoding = match tag_of(&arg.format, "jpeg") {
            "jpeg" => Encoding::Jpeg,
            "png" => Encoding::Png,
            other => return Err(bad(&format!("format: unknown tag `{other}`"))),
        };
        let size = size_of(tag_of(&arg.size, "w64h64")).ok_or_else(|| bad("size: unknown tag"))?;
        let fit = match tag_of(&arg.mode, "strict") {
            "strict" => Fit::Within,
            "bestfit" => Fit::WithinEitherWay,
            "fitone_bestfit" => Fit::Cover,
            other => return Err(bad(&format!("mode: unknown tag `{other}`"))),
        };
        let mut inner = s.lock();
        let tree = inner.tree(&account);
        let lookup = |l: Lookup| wire::nest("path", l.value());
        let lower = match resolve(tree, ROUTE, path, lookup)? {
            Target::Root => return Err(Failure::endpoint(lookup(Lookup::NotFile))),
            Target::Path { lower, .. } => lower,
        };
        let item = tree
            .get(&lower)
            .ok_or_else(|| Failure::endpoint(lookup(Lookup::NotFound)))?;
        let Node::File(file) = &item.node else {
            return Err(Failure::endpoint(lookup(Lookup::NotFile)));
        };
        let extension = item
            .display
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        if !EXTENSIONS.contains(&extension.as_str()) {
            return Err(Failure::endpoint(wire::tag("unsupported_extension")));
        }
        if file.content.len() > MAX_THUMBNAIL_SOURCE {
            return Err(Failure::endpoint(wire::tag("unsupported_image")));
        }
        let image = images::thumbnail(&file.content, size, fit, encoding)
            .map_err(|_| Failure::endpoint(wire::tag("unsupported_image")))?;
        let result = json!({ "file_metadata": Tree::metadata(item), "link_metadata": null });
        Ok((image, result))
    });
    let (image, result) = match made {
        Ok(made) => made,
        Err(e) => return e.into_response(),
    };
    let mut response = image.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        "dropbox-api-result",
        HeaderValue::from_str(&wire::header_json(&result)).expect("header-safe JSON"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dropboxs_sizes_are_taken() {
        assert_eq!(size_of("w64h64"), Some((64, 64)));
        assert_eq!(size_of("w480h320"), Some((480, 320)));
        assert_eq!(size_of("w100h100"), None);
        assert_eq!(size_of("64"), None);
    }
}
