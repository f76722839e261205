//! The parsers of untrusted input that do not fit an extractor: the `Range` header,
//! event cursors, multipart part numbers, `X-Kloudless-Metadata`, OAuth scopes and
//! origins. Public so that the fuzz targets (`fuzz/`) drive the same functions the routes
//! call; each one answers a Kloudless error (or `None`) for anything it cannot read, and
//! never panics.

use cloudbridge_shared::{ApiError, ItemPath};
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
    pub parent: ItemPath,
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

/// The folder a `parent_id` names (`root` when absent).
pub fn parent_path(parent_id: Option<&str>) -> Result<ItemPath, ApiError> {
    ItemPath::from_id(parent_id.unwrap_or("root")).map_err(|_| {
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
