//! An idle timeout for a connection: reading or writing fails with `TimedOut` once no byte
//! has moved either way for the timeout. Reads and writes share one clock, so a long
//! download (bytes going out, none coming in) is not idle.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    time::{Instant, Sleep},
};

/// A stream closed by its reader or writer after `timeout` without progress.
pub struct IdleStream {
    io: TcpStream,
    timeout: Duration,
    /// When a byte last moved.
    last: Instant,
    /// Fires at `last + timeout` or earlier (then it is pushed back).
    timer: Pin<Box<Sleep>>,
}

impl IdleStream {
    /// `io` with an idle `timeout`.
    pub fn new(io: TcpStream, timeout: Duration) -> Self {
        let now = Instant::now();
        Self {
            io,
            timeout,
            last: now,
            timer: Box::pin(tokio::time::sleep_until(now + timeout)),
        }
    }

    /// After an operation that is pending: an error once the connection is idle too long.
    fn poll_idle<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = self.last + self.timeout;
            if deadline <= Instant::now() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                )));
            }
            // Bytes moved since the timer was set: wait for the new deadline.
            self.timer.as_mut().reset(deadline);
        }
    }

    /// What a write gave: progress when bytes went out, the idle check when pending.
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Pending => self.poll_idle(cx),
            ready => {
                let moved = matches!(ready, Poll::Ready(Ok(n)) if n > 0);
                self.progressed(ready, moved)
            }
        }
    }

    /// What an operation gave, noting progress.
    fn progressed<T>(&mut self, result: Poll<io::Result<T>>, moved: bool) -> Poll<io::Result<T>> {
        if moved {
            self.last = Instant::now();
        }
        result
    }
}

impl AsyncRead for IdleStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending => this.poll_idle(cx),
            ready => {
                let moved = buf.filled().len() > before;
                this.progressed(ready, moved)
            }
        }
    }
}

impl AsyncWrite for IdleStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.wrote(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.wrote(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending => this.poll_idle(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
