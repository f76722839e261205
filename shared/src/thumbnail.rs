//! Thumbnails: what a client asks for ([`ThumbnailSpec`]: a size bound and an image
//! format, parsed from the query) and where the API tier reads the image a worker planned
//! ([`ThumbnailPlan`]).

use serde::{Deserialize, Serialize};

use crate::{error::ApiError, protocol::TransferPlan};

/// The size bound when the client names none, in pixels.
pub const DEFAULT_SIZE: u32 = 256;
/// The largest size bound a client may ask for, in pixels.
pub const MAX_SIZE: u32 = 2048;

/// The image format of a thumbnail (`image_format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// PNG (the default).
    #[default]
    Png,
    /// JPEG.
    Jpeg,
}

impl ImageFormat {
    /// Its MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
        }
    }

    /// The usual file extension (`png`, `jpg`).
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpg",
        }
    }
}

/// A thumbnail as a client asks for it: neither side larger than `size` pixels, in
/// `format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ThumbnailSpec {
    /// The bound of the longer side, 1 to [`MAX_SIZE`].
    pub size: u32,
    /// The image format.
    pub format: ImageFormat,
}

impl Default for ThumbnailSpec {
    fn default() -> Self {
        Self {
            size: DEFAULT_SIZE,
            format: ImageFormat::Png,
        }
    }
}

impl ThumbnailSpec {
    /// Parses the `size` and `image_format` query parameters (either may be absent).
    pub fn parse(size: Option<&str>, format: Option<&str>) -> Result<Self, ApiError> {
        let size = match size {
            None => DEFAULT_SIZE,
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_SIZE).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid_parameters(format!(
                        "`size` is a whole number of pixels from 1 to {MAX_SIZE}."
                    ))
                })?,
        };
        let format = match format.map(|f| f.trim().to_ascii_lowercase()).as_deref() {
            None | Some("png") => ImageFormat::Png,
            Some("jpeg" | "jpg") => ImageFormat::Jpeg,
            Some(_) => {
                return Err(ApiError::invalid_parameters(
                    "`image_format` is `png` or `jpeg`.",
                ))
            }
        };
        Ok(Self { size, format })
    }
}

/// Where the API tier reads a thumbnail from, as a worker planned it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ThumbnailPlan {
    /// The image's bytes: a file on the data root (`local`'s cache), an HTTP request
    /// authorised by itself (a URL the service signed), or the account's service itself.
    pub plan: TransferPlan,
    /// Its MIME type when the plan fixes it; otherwise the service's answer tells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// The 415 of a file the service makes no thumbnail of.
pub fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::new(415, "unsupported_media_type", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_formats_are_parsed_with_defaults() {
        assert_eq!(
            ThumbnailSpec::parse(None, None).unwrap(),
            Default::default()
        );
        let spec = ThumbnailSpec::parse(Some("64"), Some("JPEG")).unwrap();
        assert_eq!((spec.size, spec.format), (64, ImageFormat::Jpeg));
        assert_eq!(
            ThumbnailSpec::parse(Some("2048"), Some("jpg"))
                .unwrap()
                .size,
            2048
        );
        for bad in ["0", "2049", "-1", "1.5", "", "big"] {
            let e = ThumbnailSpec::parse(Some(bad), None).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (400, "invalid_parameters"));
        }
        let e = ThumbnailSpec::parse(None, Some("gif")).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(ImageFormat::Jpeg.mime(), "image/jpeg");
        assert_eq!(unsupported("x").status, 415);
    }
}
