//! Parts of multipart uploads, staged on the shared data root (`.multipart/<session>/<n>`)
//! until the client completes the upload; then they are streamed, in order, to the service
//! like any upload. A part becomes visible only once written whole (temp file + rename), so
//! a client that dies mid-part leaves nothing that counts.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use cloudbridge_shared::ApiError;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

/// Folder under the data root that holds the sessions' parts.
pub const PARTS_DIR: &str = ".multipart";

/// The layout of one session's parts.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Total size of the file.
    pub size: u64,
    /// Size of every part but the last.
    pub part_size: u64,
}

impl Layout {
    /// How many parts make the file (at least one, possibly empty).
    pub fn count(&self) -> u32 {
        self.size.div_ceil(self.part_size).max(1) as u32
    }

    /// The exact size part `n` (1-based) must have, or `None` when there is no such part.
    pub fn expected(&self, n: u32) -> Option<u64> {
        let count = self.count();
        match n {
            0 => None,
            n if n < count => Some(self.part_size),
            n if n == count => Some(self.size - u64::from(count - 1) * self.part_size),
            _ => None,
        }
    }
}

/// The folder of session `id`'s parts.
pub fn session_dir(data_root: &Path, id: i64) -> PathBuf {
    data_root.join(PARTS_DIR).join(id.to_string())
}

/// Writes part `n` of session `id` from `body`; it must be exactly the expected size.
/// Writing a part again replaces it.
pub async fn write_part<S, E>(
    data_root: &Path,
    id: i64,
    layout: Layout,
    n: u32,
    mut body: S,
) -> Result<u64, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let expected = layout.expected(n).ok_or_else(|| {
        ApiError::invalid_parameters(format!(
            "`part_number` must be between 1 and {}.",
            layout.count()
        ))
    })?;
    let dir = session_dir(data_root, id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(ApiError::internal)?;
    let temp = dir.join(format!(".{n}.{}", uuid::Uuid::new_v4()));
    let result = async {
        let mut file = tokio::fs::File::create(&temp)
            .await
            .map_err(ApiError::internal)?;
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request(format!("Upload interrupted: {e}")))?;
            written += chunk.len() as u64;
            if written > expected {
                break;
            }
            file.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        if written != expected {
            return Err(ApiError::invalid_parameters(format!(
                "Part {n} must have exactly {expected} bytes."
            )));
        }
        file.sync_all().await.map_err(ApiError::internal)?;
        tokio::fs::rename(&temp, dir.join(n.to_string()))
            .await
            .map_err(ApiError::internal)?;
        Ok(written)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&temp).await;
    }
    result
}

/// The part numbers not yet received whole.
pub async fn missing(data_root: &Path, id: i64, layout: Layout) -> Vec<u32> {
    let dir = session_dir(data_root, id);
    let mut missing = Vec::new();
    for n in 1..=layout.count() {
        let size = tokio::fs::metadata(dir.join(n.to_string()))
            .await
            .map(|m| m.len())
            .ok();
        if size != layout.expected(n) {
            missing.push(n);
        }
    }
    missing
}

/// All parts, in order, as one byte stream.
pub fn read(
    data_root: &Path,
    id: i64,
    layout: Layout,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static {
    let dir = session_dir(data_root, id);
    futures::stream::iter(1..=layout.count())
        .then(move |n| {
            let path = dir.join(n.to_string());
            async move {
                let file = tokio::fs::File::open(path).await?;
                Ok::<_, std::io::Error>(tokio_util::io::ReaderStream::with_capacity(
                    file,
                    256 * 1024,
                ))
            }
        })
        .try_flatten()
        .boxed()
}

/// Removes a session's parts (nothing to do when there are none).
pub async fn remove(data_root: &Path, id: i64) -> Result<(), ApiError> {
    match tokio::fs::remove_dir_all(session_dir(data_root, id)).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ApiError::internal(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_file_exactly() {
        let l = Layout {
            size: 25,
            part_size: 10,
        };
        assert_eq!(l.count(), 3);
        assert_eq!(
            (1..=4).map(|n| l.expected(n)).collect::<Vec<_>>(),
            [Some(10), Some(10), Some(5), None]
        );
        assert_eq!(l.expected(0), None);
        let empty = Layout {
            size: 0,
            part_size: 10,
        };
        assert_eq!((empty.count(), empty.expected(1)), (1, Some(0)));
        let even = Layout {
            size: 20,
            part_size: 10,
        };
        assert_eq!((even.count(), even.expected(2)), (2, Some(10)));
    }
}
