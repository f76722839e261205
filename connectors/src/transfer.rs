//! Byte streaming for the API tier, along a plan a worker made.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use cloudbridge_shared::{protocol::TransferPlan, ApiError};
use futures::{Stream, StreamExt};
use tokio::{fs::File, io::AsyncWriteExt};

use crate::local::refuse_symlinks;

/// The file a local plan points at, checked again on this side (no `..`, no symlinks).
async fn local_path(data_root: &Path, relative: &str) -> Result<PathBuf, ApiError> {
    cloudbridge_shared::ItemPath::parse(relative).map_err(|_| ApiError::internal("bad plan"))?;
    // A few stat calls: cheaper inline than a hop to the blocking pool.
    refuse_symlinks(data_root, relative)?;
    Ok(data_root.join(relative))
}

/// Opens the source of a download.
pub async fn open_download(data_root: &Path, plan: &TransferPlan) -> Result<File, ApiError> {
    match plan {
        TransferPlan::Local { relative, .. } => {
            let path = local_path(data_root, relative).await?;
            File::open(path).await.map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => ApiError::not_found("No file has this id."),
                _ => ApiError::internal(e),
            })
        }
    }
}

/// Writes an upload body chunk by chunk to its staging place; durable on success.
/// Returns the number of bytes written. The caller discards the staged bytes on error.
pub async fn write_upload<S, E>(
    data_root: &Path,
    plan: &TransferPlan,
    mut body: S,
    limit: u64,
) -> Result<u64, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let TransferPlan::Local { relative, .. } = plan;
    let path = local_path(data_root, relative).await?;
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await
        .map_err(ApiError::internal)?;
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("Upload interrupted: {e}")))?;
        written += chunk.len() as u64;
        if written > limit {
            return Err(ApiError::new(
                413,
                "request_too_large",
                "The upload is too large.",
            ));
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.sync_all().await.map_err(ApiError::internal)?;
    Ok(written)
}
