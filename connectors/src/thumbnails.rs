//! Thumbnails of `local` accounts' images, made by a worker with the `image` crate and kept
//! on the data root (`.thumbnails/<account id>/`), from where the API tier streams them
//! like any local file.
//!
//! Everything is bounded: a file larger than `max_input_bytes` or an image of more than
//! `max_pixels` is refused (413) before it is decoded, decoding allocates at most 4 bytes a
//! pixel of that bound, `concurrency` thumbnails are made at once per process, and the
//! cache keeps to `max_cache_bytes` (all accounts together) by removing the thumbnails
//! used least recently. A cached thumbnail is named by what it was made of (the file's
//! path, inode, modification time and size, and the size and format asked for), so a
//! changed file never gets an old thumbnail; an account's cache goes with the account.
//! Only the common formats are read (PNG, JPEG, GIF, WebP, BMP), recognised by their
//! contents, not their names; any other file is 415.

use std::{
    fs,
    io::{BufReader, BufWriter, ErrorKind, Write},
    path::{Path, PathBuf},
    sync::Mutex,
    time::SystemTime,
};

use cloudbridge_shared::{
    config::LocalThumbnailSettings,
    thumbnail::{self, ImageFormat, ThumbnailSpec},
    ApiError, Entry,
};
use sha2::{Digest, Sha256};

/// Folder of the thumbnail cache, relative to the data root.
pub const CACHE_DIR: &str = ".thumbnails";

/// The image formats thumbnails are made of.
const READABLE: &[image::ImageFormat] = &[
    image::ImageFormat::Png,
    image::ImageFormat::Jpeg,
    image::ImageFormat::Gif,
    image::ImageFormat::WebP,
    image::ImageFormat::Bmp,
];

/// The cache folder of `account`, relative to the data root.
pub fn account_cache(account: i64) -> String {
    format!("{CACHE_DIR}/{account}")
}

/// Makes and caches the thumbnails of one process's workers.
#[derive(Debug)]
pub struct Thumbnailer {
    settings: LocalThumbnailSettings,
    /// Thumbnails made at once.
    slots: tokio::sync::Semaphore,
    /// What the cache holds, in bytes, as this process last counted it (`None` until
    /// the first thumbnail made); other processes add to the same cache, so it is
    /// counted again from the disk whenever it seems full.
    cached: Mutex<Option<u64>>,
}

impl Thumbnailer {
    /// A thumbnailer with these bounds.
    pub fn new(settings: LocalThumbnailSettings) -> Self {
        let slots = tokio::sync::Semaphore::new(settings.concurrency.max(1));
        Self {
            settings,
            slots,
            cached: Mutex::new(None),
        }
    }

    /// The thumbnail of local file `file` of `account` (its bytes at `source`) as `spec`
    /// asks: its path relative to `data_root`, made now unless it is in the cache.
    pub async fn thumbnail(
        &self,
        data_root: &Path,
        account: i64,
        source: PathBuf,
        file: &Entry,
        spec: ThumbnailSpec,
    ) -> Result<String, ApiError> {
        let size = file.size.unwrap_or(0);
        if size > self.settings.max_input_bytes {
            return Err(too_large(format!(
                "The file has {size} bytes; thumbnails are made of images up to {} bytes.",
                self.settings.max_input_bytes
            )));
        }
        let relative = format!(
            "{}/{}.{}",
            account_cache(account),
            cache_key(file, spec),
            spec.format.extension()
        );
        let target = data_root.join(&relative);
        if touch(&target) {
            return Ok(relative);
        }
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| ApiError::internal("thumbnail slots closed"))?;
        // Made by another request while this one waited for its slot.
        if touch(&target) {
            return Ok(relative);
        }
        let max_pixels = self.settings.max_pixels;
        let made = tokio::task::spawn_blocking(move || {
            make(&source, &target, spec, max_pixels).map(|()| file_size(&target))
        })
        .await
        .map_err(ApiError::internal)??;
        self.account_for(data_root, data_root.join(&relative), made)
            .await;
        Ok(relative)
    }

    /// Counts the new thumbnail `made` (of `bytes`) into the cache, and trims the cache
    /// when it is over its bound (never removing `made`, which is about to be served).
    async fn account_for(&self, data_root: &Path, made: PathBuf, bytes: u64) {
        let bound = self.settings.max_cache_bytes;
        let over = {
            let mut cached = self.cached.lock().expect("cache count lock");
            let total = cached.map_or(u64::MAX, |c| c.saturating_add(bytes));
            *cached = Some(total);
            total > bound
        };
        if !over {
            return;
        }
        let root = data_root.join(CACHE_DIR);
        let trimmed = tokio::task::spawn_blocking(move || trim(&root, bound, &made)).await;
        let mut cached = self.cached.lock().expect("cache count lock");
        match trimmed {
            Ok(Ok(left)) => *cached = Some(left),
            Ok(Err(e)) => tracing::warn!(error = %e, "thumbnail cache not trimmed"),
            Err(e) => tracing::warn!(error = %e, "thumbnail cache not trimmed"),
        }
    }
}

/// What a cached thumbnail is named by: the file as it is now and what was asked.
fn cache_key(file: &Entry, spec: ThumbnailSpec) -> String {
    let raw = file.raw.as_ref();
    let inode = raw.and_then(|r| r["inode"].as_u64()).unwrap_or(0);
    let modified = file
        .modified
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0);
    let mut hash = Sha256::new();
    hash.update(file.path.as_str().as_bytes());
    hash.update([0]);
    for n in [
        inode,
        modified as u64,
        file.size.unwrap_or(0),
        u64::from(spec.size),
    ] {
        hash.update(n.to_le_bytes());
    }
    hash.update(spec.format.extension().as_bytes());
    format!("{:x}", hash.finalize())
}

/// Marks a cached thumbnail as just used; false when there is none.
fn touch(path: &Path) -> bool {
    match fs::File::options().write(true).open(path) {
        Ok(file) => {
            let _ = file.set_modified(SystemTime::now());
            true
        }
        Err(_) => false,
    }
}

fn file_size(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

fn too_large(message: String) -> ApiError {
    ApiError::new(413, "request_too_large", message)
}

fn not_an_image() -> ApiError {
    thumbnail::unsupported(
        "Thumbnails are made of PNG, JPEG, GIF, WebP and BMP images; this file is none.",
    )
}

/// An image reader of `source`, its format recognised by its first bytes.
fn reader(source: &Path) -> Result<image::ImageReader<BufReader<fs::File>>, ApiError> {
    let file = fs::File::open(source).map_err(|e| match e.kind() {
        ErrorKind::NotFound => ApiError::not_found("No file has this id."),
        _ => ApiError::internal(e),
    })?;
    let reader = image::ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(ApiError::internal)?;
    match reader.format() {
        Some(format) if READABLE.contains(&format) => Ok(reader),
        _ => Err(not_an_image()),
    }
}

/// Makes the thumbnail of `source` at `target` (blocking): the image's size is read
/// from its header and checked before it is decoded.
fn make(
    source: &Path,
    target: &Path,
    spec: ThumbnailSpec,
    max_pixels: u64,
) -> Result<(), ApiError> {
    let (width, height) = reader(source)?
        .into_dimensions()
        .map_err(|_| not_an_image())?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(too_large(format!(
            "The image has {pixels} pixels ({width} × {height}); thumbnails are made of \
             images up to {max_pixels} pixels."
        )));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(max_pixels.saturating_mul(4));
    let mut decoder = reader(source)?;
    decoder.limits(limits);
    let image = decoder.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => too_large(format!(
            "Decoding this image ({width} × {height}) would take more memory than \
             thumbnails may."
        )),
        _ => thumbnail::unsupported("The image could not be read: it is damaged or cut."),
    })?;
    let image = if width > spec.size || height > spec.size {
        image.thumbnail(spec.size, spec.size)
    } else {
        image
    };
    write_atomically(target, |out| match spec.format {
        ImageFormat::Png => image.write_to(out, image::ImageFormat::Png),
        // JPEG has no alpha channel.
        ImageFormat::Jpeg => {
            image::DynamicImage::ImageRgb8(image.to_rgb8()).write_to(out, image::ImageFormat::Jpeg)
        }
    })
}

/// Writes `target` through a temporary file in its folder, renamed into place once
/// complete: a reader never sees half a thumbnail.
fn write_atomically(
    target: &Path,
    write: impl FnOnce(&mut BufWriter<fs::File>) -> image::ImageResult<()>,
) -> Result<(), ApiError> {
    let folder = target.parent().expect("a cached thumbnail has a folder");
    fs::create_dir_all(folder).map_err(ApiError::internal)?;
    let temporary = folder.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let written = fs::File::create(&temporary)
        .map_err(ApiError::internal)
        .and_then(|file| {
            let mut out = BufWriter::new(file);
            write(&mut out).map_err(ApiError::internal)?;
            out.flush().map_err(ApiError::internal)
        })
        .and_then(|()| fs::rename(&temporary, target).map_err(ApiError::internal));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// Counts the thumbnails under `root` and, when they take more than `bound` bytes,
/// removes the least recently used but `spared` until a quarter of the bound is free
/// again (blocking); returns what is left.
fn trim(root: &Path, bound: u64, spared: &Path) -> std::io::Result<u64> {
    let mut files = Vec::new();
    for folder in fs::read_dir(root)? {
        let folder = folder?;
        if !folder.file_type()?.is_dir() {
            continue;
        }
        for item in fs::read_dir(folder.path())? {
            let item = item?;
            let meta = match item.metadata() {
                Ok(meta) if meta.is_file() => meta,
                _ => continue,
            };
            let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            files.push((used, meta.len(), item.path()));
        }
    }
    let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
    if total <= bound {
        return Ok(total);
    }
    let keep = bound - bound / 4;
    files.sort_unstable();
    for (_, len, path) in files {
        if total <= keep {
            break;
        }
        if path == spared {
            continue;
        }
        match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => total -= len,
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use cloudbridge_shared::{storage::ItemKind, ItemPath};

    use super::*;

    fn bounds_of(t: &Thumbnailer) -> u64 {
        t.settings.max_cache_bytes
    }

    fn settings() -> LocalThumbnailSettings {
        cloudbridge_shared::Settings::default().local.thumbnails
    }

    /// A `width` × `height` PNG (a gradient) at `path`; its entry.
    fn png(path: &Path, width: u32, height: u32) -> Entry {
        let image = image::RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
        });
        image.save(path).unwrap();
        let meta = fs::metadata(path).unwrap();
        Entry {
            path: ItemPath::parse("pictures/a.png").unwrap(),
            kind: ItemKind::File,
            size: Some(meta.len()),
            created: None,
            modified: meta.modified().ok().map(Into::into),
            mime_type: Some("image/png".into()),
            raw: Some(serde_json::json!({ "inode": 1 })),
            id: None,
            parent_id: None,
        }
    }

    #[tokio::test]
    async fn thumbnails_keep_the_aspect_ratio_and_are_cached() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.png");
        let entry = png(&source, 400, 200);
        let t = Thumbnailer::new(settings());
        let spec = ThumbnailSpec {
            size: 100,
            format: ImageFormat::Jpeg,
        };
        let relative = t
            .thumbnail(dir.path(), 7, source.clone(), &entry, spec)
            .await
            .unwrap();
        assert!(relative.starts_with(".thumbnails/7/"), "{relative}");
        let made = image::open(dir.path().join(&relative)).unwrap();
        assert_eq!((made.width(), made.height()), (100, 50));
        let first = fs::metadata(dir.path().join(&relative)).unwrap();
        // Asked again: the same file, not made again.
        let again = t
            .thumbnail(dir.path(), 7, source.clone(), &entry, spec)
            .await
            .unwrap();
        assert_eq!(again, relative);
        use std::os::unix::fs::MetadataExt;
        let second = fs::metadata(dir.path().join(&again)).unwrap();
        assert_eq!(first.ino(), second.ino());
        // A small image is not enlarged.
        let big = ThumbnailSpec {
            size: 1000,
            format: ImageFormat::Png,
        };
        let relative = t
            .thumbnail(dir.path(), 7, source, &entry, big)
            .await
            .unwrap();
        let kept = image::open(dir.path().join(relative)).unwrap();
        assert_eq!((kept.width(), kept.height()), (400, 200));
    }

    #[tokio::test]
    async fn too_large_and_unreadable_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.png");
        let entry = png(&source, 300, 300);
        let spec = ThumbnailSpec::default();
        let mut bounds = settings();
        bounds.max_pixels = 300 * 299;
        let e = Thumbnailer::new(bounds.clone())
            .thumbnail(dir.path(), 1, source.clone(), &entry, spec)
            .await
            .unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (413, "request_too_large"));
        bounds.max_input_bytes = entry.size.unwrap() - 1;
        let e = Thumbnailer::new(bounds)
            .thumbnail(dir.path(), 1, source.clone(), &entry, spec)
            .await
            .unwrap_err();
        assert_eq!(e.status, 413);

        let text = dir.path().join("notes.png");
        fs::write(&text, "not an image at all").unwrap();
        let e = Thumbnailer::new(settings())
            .thumbnail(dir.path(), 1, text, &entry, spec)
            .await
            .unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (415, "unsupported_media_type"));
        // A PNG cut short is recognised, but cannot be read.
        let cut = dir.path().join("cut.png");
        fs::write(&cut, &fs::read(&source).unwrap()[..200]).unwrap();
        let e = Thumbnailer::new(settings())
            .thumbnail(dir.path(), 1, cut, &entry, spec)
            .await
            .unwrap_err();
        assert_eq!(e.status, 415, "{e:?}");
        assert!(
            !dir.path().join(CACHE_DIR).join("1").exists() || {
                fs::read_dir(dir.path().join(CACHE_DIR).join("1"))
                    .unwrap()
                    .next()
                    .is_none()
            }
        );
    }

    #[tokio::test]
    async fn the_cache_keeps_to_its_bound_removing_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.png");
        let entry = png(&source, 64, 64);
        let mut bounds = settings();
        let t0 = Thumbnailer::new(bounds.clone());
        let spec = |size| ThumbnailSpec {
            size,
            format: ImageFormat::Png,
        };
        let one = t0
            .thumbnail(dir.path(), 1, source.clone(), &entry, spec(64))
            .await
            .unwrap();
        let each = file_size(&dir.path().join(&one));
        // Room for three of them.
        bounds.max_cache_bytes = each * 3 + each / 2;
        let t = Thumbnailer::new(bounds);
        let mut made = vec![one];
        for size in [63, 62, 61, 60, 59] {
            std::thread::sleep(std::time::Duration::from_millis(10));
            made.push(
                t.thumbnail(dir.path(), 1, source.clone(), &entry, spec(size))
                    .await
                    .unwrap(),
            );
        }
        let kept: u64 = made.iter().map(|r| file_size(&dir.path().join(r))).sum();
        assert!(kept <= bounds_of(&t), "{kept} bytes kept");
        assert!(
            dir.path().join(made.last().unwrap()).exists(),
            "the newest stays"
        );
        assert!(!dir.path().join(&made[0]).exists(), "the oldest went");
    }
}
