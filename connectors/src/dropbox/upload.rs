//! Writing a file: one `files/upload` for bodies up to [`UPLOAD_CHUNK`], an upload
//! session (`start`, `append_v2`…, `finish` with the last piece and the commit) for
//! larger ones. At most one chunk is held in memory; each chunk is kept until Dropbox
//! took it, so a rate-limited call is sent again whole.

use bytes::{Bytes, BytesMut};
use cloudbridge_shared::ApiError;
use futures::StreamExt;
use serde_json::{json, Value};

use super::client::{Client, Error};
use crate::transfer::ByteStream;

/// Size of the pieces of an upload session, and the largest body sent in one
/// `files/upload` (Dropbox takes up to 150 MiB per request; smaller pieces bound the
/// memory each upload holds).
pub const UPLOAD_CHUNK: usize = 8 << 20;

/// How an upload treats an existing file at its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A file there is a conflict (409), even one with the same contents.
    Add,
    /// A file there is replaced (same Dropbox id, new `rev`).
    Overwrite,
}

impl Mode {
    /// `CommitInfo` for `path`: never renamed by Dropbox (the name was settled when the
    /// upload was planned), no notification on the user's devices.
    pub fn commit(self, path: &str) -> Value {
        let (mode, strict) = match self {
            Mode::Add => ("add", true),
            Mode::Overwrite => ("overwrite", false),
        };
        json!({
            "path": path,
            "mode": mode,
            "autorename": false,
            "mute": true,
            "strict_conflict": strict,
        })
    }
}

/// A body cut into pieces of [`UPLOAD_CHUNK`] bytes, knowing which piece is the last.
struct Chunks {
    body: ByteStream,
    carry: Option<Bytes>,
    done: bool,
}

impl Chunks {
    /// The next piece and whether it is the last one; `None` after the last.
    async fn next(&mut self) -> Result<Option<(Bytes, bool)>, ApiError> {
        if self.done && self.carry.is_none() {
            return Ok(None);
        }
        let mut piece = BytesMut::new();
        loop {
            let frame = match self.carry.take() {
                Some(frame) => Some(frame),
                None if self.done => None,
                None => self
                    .body
                    .next()
                    .await
                    .transpose()
                    .map_err(|e| ApiError::bad_request(format!("Upload interrupted: {e}")))?,
            };
            let Some(mut frame) = frame else {
                self.done = true;
                return Ok(Some((piece.freeze(), true)));
            };
            let room = UPLOAD_CHUNK - piece.len();
            if frame.len() > room {
                self.carry = Some(frame.split_off(room));
            }
            piece.extend_from_slice(&frame);
            if piece.len() == UPLOAD_CHUNK {
                // Full: look ahead once to know whether anything follows.
                while self.carry.is_none() && !self.done {
                    match self
                        .body
                        .next()
                        .await
                        .transpose()
                        .map_err(|e| ApiError::bad_request(format!("Upload interrupted: {e}")))?
                    {
                        Some(next) if next.is_empty() => {}
                        Some(next) => self.carry = Some(next),
                        None => self.done = true,
                    }
                }
                let last = self.done && self.carry.is_none();
                return Ok(Some((piece.freeze(), last)));
            }
        }
    }
}

/// Writes `body` to the Dropbox path `path`; returns the bytes written and the new
/// file's metadata. A conflict is 409 `naming_conflict` naming `conflicting_id`.
pub async fn write(
    client: &Client,
    path: &str,
    mode: Mode,
    body: ByteStream,
    conflicting_id: &str,
) -> Result<(u64, Value), ApiError> {
    let conflict = |e: Error| -> ApiError {
        if e.has("conflict") {
            ApiError::naming_conflict("An item with this name already exists.", conflicting_id)
        } else {
            e.into()
        }
    };
    let mut chunks = Chunks {
        body,
        carry: None,
        done: false,
    };
    let (first, last) = chunks.next().await?.unwrap_or_default();
    let mut offset = first.len() as u64;
    if last {
        let metadata = client
            .upload("files/upload", &mode.commit(path), first)
            .await
            .map_err(conflict)?;
        return Ok((offset, metadata));
    }
    let started = client
        .upload(
            "files/upload_session/start",
            &json!({ "close": false }),
            first,
        )
        .await?;
    let session_id = started["session_id"]
        .as_str()
        .ok_or_else(|| ApiError::new(502, "bad_gateway", "Dropbox started no upload session."))?
        .to_string();
    loop {
        let (piece, last) = chunks.next().await?.unwrap_or((Bytes::new(), true));
        let cursor = json!({ "session_id": session_id, "offset": offset });
        let length = piece.len() as u64;
        if last {
            let arg = json!({ "cursor": cursor, "commit": mode.commit(path) });
            let metadata = client
                .upload("files/upload_session/finish", &arg, piece)
                .await
                .map_err(conflict)?;
            return Ok((offset + length, metadata));
        }
        let arg = json!({ "cursor": cursor, "close": false });
        client
            .upload("files/upload_session/append_v2", &arg, piece)
            .await?;
        offset += length;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pieces(frames: Vec<usize>) -> Vec<(usize, bool)> {
        let body = futures::stream::iter(
            frames
                .into_iter()
                .map(|n| Ok::<_, std::io::Error>(Bytes::from(vec![7u8; n]))),
        )
        .boxed();
        let mut chunks = Chunks {
            body,
            carry: None,
            done: false,
        };
        let mut out = Vec::new();
        while let Some((piece, last)) = chunks.next().await.unwrap() {
            out.push((piece.len(), last));
        }
        out
    }

    #[tokio::test]
    async fn bodies_are_cut_into_bounded_pieces_and_the_last_is_known() {
        const C: usize = UPLOAD_CHUNK;
        assert_eq!(pieces(vec![]).await, [(0, true)]);
        assert_eq!(pieces(vec![10, 20]).await, [(30, true)]);
        assert_eq!(pieces(vec![C]).await, [(C, true)]);
        assert_eq!(pieces(vec![C, 0]).await, [(C, true)]);
        assert_eq!(pieces(vec![C - 1, 2]).await, [(C, false), (1, true)]);
        assert_eq!(
            pieces(vec![2 * C + 5]).await,
            [(C, false), (C, false), (5, true)]
        );
        assert_eq!(pieces(vec![C, C]).await, [(C, false), (C, true)]);
    }
}
