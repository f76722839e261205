//! Thumbnails (`GET /2.0/files/{id}/thumbnail.{png|jpg}`) and the placeholder images
//! Box sends instead: in Box's sizes (32, 94, 160, 320), chosen by `min_width`,
//! `min_height`, `max_width` and `max_height`; 202 with `Retry-After` and a `Location` of
//! a placeholder while Box is "still making" one (the first requests after an upload, as
//! many as [`super::Config::pending_thumbnails`] says), 302 to a placeholder for a file
//! it makes none of (anything that is not an image the fake decodes).

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use super::{errors::BoxError, store::Kind, AppState};
use crate::images::{self, Encoding, Fit};

/// Box's thumbnail sizes.
const SIZES: &[u32] = &[32, 94, 160, 320];

/// The size that `min_*` and `max_*` allow: the smallest reaching the minimums within
/// the maximums, else the largest within the maximums, else the smallest of all.
fn size_for(q: &HashMap<String, String>) -> Result<u32, BoxError> {
    let bound = |key: &str, default: u32| -> Result<u32, BoxError> {
        match q.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| BoxError::bad_parameter(key, "must be a whole number")),
        }
    };
    let least = bound("min_width", 0)?.max(bound("min_height", 0)?);
    let most = bound("max_width", u32::MAX)?.min(bound("max_height", u32::MAX)?);
    let mut allowed = SIZES.iter().copied().filter(|&s| s <= most);
    Ok(allowed
        .clone()
        .find(|&s| s >= least)
        .or_else(|| allowed.next_back())
        .unwrap_or(SIZES[0]))
}

/// `GET /2.0/files/{id}/thumbnail.{extension}` (routed as `/2.0/files/{id}/{thumbnail}`).
pub async fn thumbnail(
    State(s): AppState,
    Path((id, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, BoxError> {
    let encoding = match name.as_str() {
        "thumbnail.png" => Encoding::Png,
        "thumbnail.jpg" => Encoding::Jpeg,
        _ => return Err(BoxError::not_found()),
    };
    let size = size_for(&q)?;
    let placeholder = format!("{}/placeholder/{size}.png", s.base);
    let content = {
        let mut world = s.world();
        let content = world.store.item(&id, Kind::File)?.content.clone();
        if world.pending_thumbnails > 0 {
            world.pending_thumbnails -= 1;
            let mut response = StatusCode::ACCEPTED.into_response();
            let h = response.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            h.insert(
                header::LOCATION,
                HeaderValue::from_str(&placeholder).expect("a valid URL"),
            );
            return Ok(response);
        }
        content
    };
    match images::thumbnail(&content, (size, size), Fit::Within, encoding) {
        Ok(image) => {
            let mime = match encoding {
                Encoding::Png => "image/png",
                Encoding::Jpeg => "image/jpeg",
            };
            Ok(([(header::CONTENT_TYPE, mime)], image).into_response())
        }
        Err(images::Unmade::NotAnImage) => {
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&placeholder).expect("a valid URL"),
            );
            Ok(response)
        }
    }
}

/// `GET /placeholder/{size}.png`: a grey square, as Box's placeholder icons are served
/// (no token needed).
pub async fn placeholder(Path(name): Path<String>) -> Response {
    let size = name
        .strip_suffix(".png")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| SIZES.contains(n));
    let Some(size) = size else {
        return BoxError::not_found().into_response();
    };
    let image = image::RgbImage::from_pixel(size, size, image::Rgb([200, 200, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    if image.write_to(&mut out, image::ImageFormat::Png).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, "image/png")], out.into_inner()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_bounds() {
        let q = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(size_for(&q(&[])).unwrap(), 32);
        assert_eq!(
            size_for(&q(&[("min_width", "94"), ("min_height", "94")])).unwrap(),
            94
        );
        assert_eq!(size_for(&q(&[("min_width", "100")])).unwrap(), 160);
        assert_eq!(size_for(&q(&[("min_width", "500")])).unwrap(), 320);
        assert_eq!(
            size_for(&q(&[("min_width", "500"), ("max_width", "200")])).unwrap(),
            160
        );
        assert!(size_for(&q(&[("min_width", "x")])).is_err());
    }
}
