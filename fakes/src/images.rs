//! Thumbnails the fakes make of their stored files, with the `image` crate: decoded,
//! scaled down to a service's box, encoded as PNG or JPEG.

use std::io::Cursor;

/// How an image is fitted into a `width` × `height` box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// Inside the box.
    Within,
    /// Inside the box or its transpose, whichever is oriented like the image.
    WithinEitherWay,
    /// Covering the box or its transpose (the smaller side fills it).
    Cover,
}

/// The encoding of a thumbnail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
}

/// Why no thumbnail was made.
#[derive(Debug, PartialEq, Eq)]
pub enum Unmade {
    /// The bytes are no image the fake reads.
    NotAnImage,
}

/// A thumbnail of `bytes` fitted to `width` × `height` as `fit` says (never enlarged).
pub fn thumbnail(
    bytes: &[u8],
    (width, height): (u32, u32),
    fit: Fit,
    encoding: Encoding,
) -> Result<Vec<u8>, Unmade> {
    let image = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| Unmade::NotAnImage)?
        .decode()
        .map_err(|_| Unmade::NotAnImage)?;
    let portrait = image.height() > image.width();
    let (w, h) = match fit {
        Fit::Within => (width, height),
        Fit::WithinEitherWay | Fit::Cover if portrait == (height > width) => (width, height),
        Fit::WithinEitherWay | Fit::Cover => (height, width),
    };
    let scaled = match fit {
        _ if image.width() <= w && image.height() <= h => image,
        Fit::Cover => {
            let factor = f64::max(
                f64::from(w) / f64::from(image.width()),
                f64::from(h) / f64::from(image.height()),
            )
            .min(1.0);
            let nw = ((f64::from(image.width()) * factor).round() as u32).max(1);
            let nh = ((f64::from(image.height()) * factor).round() as u32).max(1);
            image.thumbnail_exact(nw, nh)
        }
        _ => image.thumbnail(w, h),
    };
    let mut out = Cursor::new(Vec::new());
    let written = match encoding {
        Encoding::Png => scaled.write_to(&mut out, image::ImageFormat::Png),
        Encoding::Jpeg => image::DynamicImage::ImageRgb8(scaled.to_rgb8())
            .write_to(&mut out, image::ImageFormat::Jpeg),
    };
    written.map_err(|_| Unmade::NotAnImage)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb([9, 99, 199]));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn size_of(bytes: &[u8]) -> (u32, u32) {
        let image = image::load_from_memory(bytes).unwrap();
        (image.width(), image.height())
    }

    #[test]
    fn images_are_fitted_and_never_enlarged() {
        let tall = png(100, 400);
        let within = thumbnail(&tall, (64, 32), Fit::Within, Encoding::Png).unwrap();
        assert_eq!(size_of(&within), (8, 32));
        let either = thumbnail(&tall, (64, 32), Fit::WithinEitherWay, Encoding::Jpeg).unwrap();
        assert_eq!(size_of(&either), (16, 64));
        let cover = thumbnail(&tall, (64, 32), Fit::Cover, Encoding::Png).unwrap();
        assert_eq!(size_of(&cover), (32, 128));
        let small = thumbnail(&png(10, 10), (64, 64), Fit::Within, Encoding::Png).unwrap();
        assert_eq!(size_of(&small), (10, 10));
        assert_eq!(
            thumbnail(b"plain text", (64, 64), Fit::Within, Encoding::Png),
            Err(Unmade::NotAnImage)
        );
    }
}
