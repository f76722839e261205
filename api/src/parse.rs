//! The parsers of untrusted input that do not fit an extractor: the `Range` header,
//! event cursors, multipart part numbers, `X-Kloudless-Metadata`, the File Picker's upload
//! chunks, OAuth scopes and origins. Public so that the fuzz targets (`fuzz/`) drive the same functions the routes
//! call; each one answers a Kloudless error (or `None`) for anything it cannot read, and
//! never panics.

use std::collections::HashMap;

use cloudbridge_shared::{storage::validate_name, ApiError, ItemRef};
use serde::Deserialize;

pub use crate::range::{parse as range, Spec};

/// An events cursor: a number this API returned, as a string.
pub fn cursor(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|c| *c >= 0).ok_or_else(|| {
        ApiError::invalid_parameters(
            "`cursor` must be a cursor this API returned (a number as a string).",
        )
    })
}

/// A multipart upload's `part_number` (1-based).
pub fn part_number(raw: Option<&str>) -> Result<u32, ApiError> {
    raw.and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::invalid_parameters("`part_number` is required (1 or more)."))
}

/// What `X-Kloudless-Metadata` says of an upload: the file's name and its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadMetadata {
    /// The file's name (checked as a name when the upload is planned).
    pub name: String,
    /// The folder it goes into.
    pub parent: ItemRef,
}

/// Reads `X-Kloudless-Metadata` (JSON; raw UTF-8 is accepted as well as the `\u`-escaped
/// JSON most SDKs send).
pub fn upload_metadata(raw: &[u8]) -> Result<UploadMetadata, ApiError> {
    #[derive(Deserialize)]
    struct Header {
        name: Option<String>,
        parent_id: Option<String>,
    }
    let meta: Header = serde_json::from_slice(raw)
        .map_err(|_| ApiError::invalid_parameters("X-Kloudless-Metadata is not valid JSON."))?;
    crate::extract::refuse_nul_in_json(raw, "X-Kloudless-Metadata")?;
    let name = meta
        .name
        .ok_or_else(|| ApiError::invalid_parameters("`name` is required."))?;
    Ok(UploadMetadata {
        name,
        parent: parent_path(meta.parent_id.as_deref())?,
    })
}

/// Longest `file_id` and `X-Picker-Id` accepted from the File Picker.
pub const MAX_DROP_ID: usize = 128;

/// What the query of one of the File Picker's upload chunks says
/// (`POST /drop/{app_id}?name&chunk&chunks&file_id&file_size[&link&link_options]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DropChunk {
    /// The file's name (a valid name).
    pub name: String,
    /// The picker's id of the file.
    pub file_id: String,
    /// The whole file's size.
    pub size: u64,
    /// This chunk, 0-based.
    pub chunk: u32,
    /// How many chunks the file is sent in (0 for an empty file; 1 when unchunked).
    pub chunks: u32,
    /// Make a link to the file once it is stored, with these options (a JSON object).
    pub link: Option<serde_json::Value>,
}

/// Reads the query of an upload chunk: `name`, `file_id` and `file_size` are required;
/// `chunk` and `chunks` come together (neither: a file sent whole); `link=true` may bring
/// `link_options`, a JSON object.
pub fn drop_chunk(q: &HashMap<String, String>) -> Result<DropChunk, ApiError> {
    let required = |name: &str| {
        q.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::invalid_parameters(format!("`{name}` is required.")))
    };
    let number = |name: &str, raw: &str| {
        raw.parse::<u64>()
            .map_err(|_| ApiError::invalid_parameters(format!("`{name}` must be a whole number.")))
    };
    let name = required("name")?.clone();
    validate_name(&name)?;
    let file_id = required("file_id")?.clone();
    if file_id.len() > MAX_DROP_ID || file_id.chars().any(char::is_control) {
        return Err(ApiError::invalid_parameters("`file_id` is not valid."));
    }
    let size = number("file_size", required("file_size")?)?;
    let (chunk, chunks) = match (q.get("chunk"), q.get("chunks")) {
        (None, None) => (0, 1),
        (Some(chunk), Some(chunks)) => {
            let small = |n: u64, name: &str| {
                u32::try_from(n)
                    .map_err(|_| ApiError::invalid_parameters(format!("`{name}` is too large.")))
            };
            (
                small(number("chunk", chunk)?, "chunk")?,
                small(number("chunks", chunks)?, "chunks")?,
            )
        }
        _ => {
            return Err(ApiError::invalid_parameters(
                "`chunk` and `chunks` go together.",
            ))
        }
    };
    if chunk >= chunks.max(1) {
        return Err(ApiError::invalid_parameters(format!(
            "`chunk` {chunk} is not one of the {chunks} chunks."
        )));
    }
    let link = match crate::extract::parse_bool(q.get("link").map(String::as_str), "link")? {
        Some(true) => Some(match q.get("link_options").filter(|o| !o.is_empty()) {
            None => serde_json::json!({}),
            Some(raw) => serde_json::from_str::<serde_json::Value>(raw)
                .ok()
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| {
                    ApiError::invalid_parameters("`link_options` must be a JSON object.")
                })?,
        }),
        _ => None,
    };
    Ok(DropChunk {
        name,
        file_id,
        size,
        chunk,
        chunks,
        link,
    })
}

/// The folder a `parent_id` names (`root` when absent).
pub fn parent_path(parent_id: Option<&str>) -> Result<ItemRef, ApiError> {
    ItemRef::from_id(parent_id.unwrap_or("root")).map_err(|_| {
        ApiError::new(
            400,
            "invalid_parent_folder",
            "The parent folder id is not valid.",
        )
    })
}

pub use crate::oauth::request::{origin_of as origin, services_in as scope_services};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_numbers_this_api_gave() {
        assert_eq!(cursor("42").unwrap(), 42);
        assert_eq!(cursor("0").unwrap(), 0);
        for bad in ["", "-1", "abc", "1.5", "99999999999999999999"] {
            assert_eq!(cursor(bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn part_numbers_start_at_one() {
        assert_eq!(part_number(Some("3")).unwrap(), 3);
        for bad in [None, Some("0"), Some("-1"), Some("x"), Some("4294967296")] {
            assert_eq!(part_number(bad).unwrap_err().status, 400, "{bad:?}");
        }
    }

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn drop_chunks_say_which_part_of_which_file() {
        let base = [("name", "a b.txt"), ("file_id", "o_1"), ("file_size", "12")];
        let mut q = query(&base);
        q.extend(query(&[("chunk", "1"), ("chunks", "3")]));
        let c = drop_chunk(&q).unwrap();
        assert_eq!(
            (c.name.as_str(), c.size, c.chunk, c.chunks),
            ("a b.txt", 12, 1, 3)
        );
        assert_eq!(c.link, None);
        // Sent whole, or empty.
        let whole = drop_chunk(&query(&base)).unwrap();
        assert_eq!((whole.chunk, whole.chunks), (0, 1));
        let mut empty = query(&base);
        empty.extend(query(&[
            ("chunk", "0"),
            ("chunks", "0"),
            ("file_size", "0"),
        ]));
        assert_eq!(drop_chunk(&empty).unwrap().chunks, 0);
        // With a link.
        let mut linked = query(&base);
        linked.extend(query(&[
            ("link", "true"),
            ("link_options", r#"{"direct":true}"#),
        ]));
        assert_eq!(drop_chunk(&linked).unwrap().link.unwrap()["direct"], true);
    }

    #[test]
    fn drop_chunks_refuse_what_does_not_add_up() {
        let base = [("name", "a.txt"), ("file_id", "o_1"), ("file_size", "12")];
        let long = "x".repeat(MAX_DROP_ID + 1);
        for bad in [
            vec![("chunk", "3"), ("chunks", "3")],
            vec![("chunk", "1")],
            vec![("chunk", "-1"), ("chunks", "3")],
            vec![("chunks", "99999999999"), ("chunk", "0")],
            vec![("file_size", "many")],
            vec![("file_size", "")],
            vec![("name", "../x")],
            vec![("name", "")],
            vec![("file_id", long.as_str())],
            vec![("link", "maybe")],
            vec![("link", "true"), ("link_options", "[1]")],
            vec![("link", "true"), ("link_options", "{")],
        ] {
            let mut q = query(&base);
            q.extend(query(&bad));
            assert_eq!(drop_chunk(&q).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn upload_metadata_names_a_file_in_a_folder() {
        let meta = upload_metadata(br#"{"name": "a.txt", "parent_id": "root"}"#).unwrap();
        assert_eq!((meta.name.as_str(), meta.parent.is_root()), ("a.txt", true));
        let raw = "{\"name\": \"ü.txt\"}".as_bytes();
        assert_eq!(upload_metadata(raw).unwrap().name, "ü.txt");
        assert_eq!(upload_metadata(b"{}").unwrap_err().status, 400);
        assert_eq!(upload_metadata(b"not json").unwrap_err().status, 400);
        let e = upload_metadata(br#"{"name": "a", "parent_id": "%%"}"#).unwrap_err();
        assert_eq!(e.code, "invalid_parent_folder");
    }
}
