//! File contents over SFTP, chunk by chunk with a few requests in flight: a download
//! stream, an upload writer, and a copy on the server built from the two. Memory per
//! transfer stays below `DEPTH` requests of at most 128 KiB.

use std::{io, sync::Arc};

use bytes::Bytes;
use cloudbridge_shared::ApiError;
use futures::{
    future::BoxFuture,
    stream::{BoxStream, FuturesOrdered},
    FutureExt, StreamExt,
};
use russh_sftp::{
    client::error::Error as SftpError,
    protocol::{FileAttributes, OpenFlags, StatusCode},
};
use tokio::sync::OwnedSemaphorePermit;

use super::session::{sftp_error, Conn};

/// Requests in flight per transfer.
const DEPTH: usize = 8;

/// An open file handle, closed when dropped (in the background) or by [`FileHandle::close`].
struct FileHandle {
    conn: Arc<Conn>,
    handle: String,
    _slot: OwnedSemaphorePermit,
    open: bool,
}

impl FileHandle {
    async fn open(conn: &Arc<Conn>, path: &str, flags: OpenFlags) -> Result<Self, SftpError> {
        let slot = conn
            .handle_slot()
            .await
            .map_err(|e| SftpError::UnexpectedBehavior(e.message))?;
        let handle = conn
            .sftp()
            .open(path, flags, FileAttributes::empty())
            .await?
            .handle;
        Ok(Self {
            conn: conn.clone(),
            handle,
            _slot: slot,
            open: true,
        })
    }

    async fn close(mut self) -> Result<(), SftpError> {
        self.open = false;
        self.conn
            .sftp()
            .close(self.handle.as_str())
            .await
            .map(|_| ())
    }
}

impl Drop for FileHandle {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let (conn, handle) = (self.conn.clone(), std::mem::take(&mut self.handle));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = conn.sftp().close(handle).await;
            });
        }
    }
}

type ReadResult = (u32, Result<Vec<u8>, SftpError>);

/// A read in progress; offsets are absolute, `end` exclusive.
struct Reading {
    file: Option<FileHandle>,
    end: u64,
    requested: u64,
    delivered: u64,
    inflight: FuturesOrdered<BoxFuture<'static, ReadResult>>,
}

impl Reading {
    fn fill(&mut self) {
        let Some(file) = &self.file else { return };
        while self.inflight.len() < DEPTH && self.requested < self.end {
            let len = (self.end - self.requested).min(file.conn.read_len() as u64) as u32;
            let (conn, handle, offset) = (file.conn.clone(), file.handle.clone(), self.requested);
            self.inflight.push_back(
                async move {
                    let data = conn.sftp().read(handle, offset, len).await;
                    (len, data.map(|d| d.data))
                }
                .boxed(),
            );
            self.requested += len as u64;
        }
    }

    async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        // The handle is gone once the file was read to its end or failed.
        self.file.as_ref()?;
        if self.delivered >= self.end {
            let file = self.file.take()?;
            return file.close().await.err().map(|e| Err(io::Error::other(e)));
        }
        self.fill();
        let (wanted, result) = self.inflight.next().await?;
        let data = match result {
            Ok(data) if !data.is_empty() => Ok(data),
            Ok(_) => Err(io::Error::other("the file shrank while being read")),
            Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => {
                Err(io::Error::other("the file shrank while being read"))
            }
            Err(e) => Err(io::Error::other(e)),
        };
        let data = match data {
            Ok(data) => data,
            Err(e) => {
                self.file = None;
                return Some(Err(e));
            }
        };
        self.delivered += data.len() as u64;
        if (data.len() as u64) < wanted as u64 {
            // A short read: drop what was asked beyond it and go on right after it.
            self.inflight = FuturesOrdered::new();
            self.requested = self.delivered;
        }
        Some(Ok(Bytes::from(data)))
    }
}

/// Opens `path` for reading: its size, and its bytes (all, or the inclusive byte `range`,
/// already checked against the size) as a stream. The stream ends at the size seen at
/// opening; the handle closes at the end or when the stream is dropped.
pub async fn read(
    conn: &Arc<Conn>,
    path: &str,
    range: Option<(u64, u64)>,
) -> Result<(u64, BoxStream<'static, io::Result<Bytes>>), ApiError> {
    let file = FileHandle::open(conn, path, OpenFlags::READ)
        .await
        .map_err(sftp_error)?;
    let attrs = conn
        .sftp()
        .fstat(file.handle.as_str())
        .await
        .map_err(sftp_error)?
        .attrs;
    let length = attrs.size.unwrap_or(0);
    let (start, end) = range.map_or((0, length), |(start, last)| (start, last + 1));
    let state = Reading {
        file: Some(file),
        end: end.min(length),
        requested: start,
        delivered: start,
        inflight: FuturesOrdered::new(),
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        let item = state.next_chunk().await?;
        Some((item, state))
    });
    Ok((length, stream.boxed()))
}

/// Writes a new file (which must not exist yet) in order, a few requests in flight.
pub struct Writer {
    file: FileHandle,
    offset: u64,
    inflight: FuturesOrdered<BoxFuture<'static, Result<(), SftpError>>>,
}

impl Writer {
    /// Creates `path`; fails if something exists there.
    pub async fn create(conn: &Arc<Conn>, path: &str) -> Result<Self, ApiError> {
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE;
        let file = FileHandle::open(conn, path, flags)
            .await
            .map_err(sftp_error)?;
        Ok(Self {
            file,
            offset: 0,
            inflight: FuturesOrdered::new(),
        })
    }

    /// Sends `bytes` (waits while too many writes are unanswered).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        let max = self.file.conn.write_len() as usize;
        for piece in bytes.chunks(max) {
            while self.inflight.len() >= DEPTH {
                self.settle_one().await?;
            }
            let (conn, handle, offset) = (
                self.file.conn.clone(),
                self.file.handle.clone(),
                self.offset,
            );
            let data = piece.to_vec();
            self.inflight.push_back(
                async move { conn.sftp().write(handle, offset, data).await.map(|_| ()) }.boxed(),
            );
            self.offset += piece.len() as u64;
            self.send_now()?;
        }
        Ok(())
    }

    /// Polls the writes once: a request leaves only when its future is first polled, and
    /// must be on the wire before anything later on this handle (its close included).
    /// Takes the answers already in, in order.
    fn send_now(&mut self) -> Result<(), ApiError> {
        while let Some(Some(result)) = self.inflight.next().now_or_never() {
            result.map_err(sftp_error)?;
        }
        Ok(())
    }

    async fn settle_one(&mut self) -> Result<(), ApiError> {
        match self.inflight.next().await {
            Some(result) => result.map_err(sftp_error),
            None => Ok(()),
        }
    }

    /// Waits for every write and closes the file; returns the bytes written.
    pub async fn finish(mut self) -> Result<u64, ApiError> {
        while !self.inflight.is_empty() {
            self.settle_one().await?;
        }
        let written = self.offset;
        self.file.close().await.map_err(sftp_error)?;
        Ok(written)
    }
}

/// Copies the file `from` to the new file `to` on the server (through this process,
/// chunk by chunk: SFTP v3 has no server-side copy).
pub async fn copy(conn: &Arc<Conn>, from: &str, to: &str) -> Result<u64, ApiError> {
    let (_, mut source) = read(conn, from, None).await?;
    let mut writer = Writer::create(conn, to).await?;
    while let Some(chunk) = source.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                502,
                "bad_gateway",
                format!("Reading the source failed: {e}"),
            )
        })?;
        writer.write(&chunk).await?;
    }
    writer.finish().await
}

/// Whether an SFTP error says the item is missing.
pub fn is_missing(e: &SftpError) -> bool {
    matches!(e, SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile)
}
