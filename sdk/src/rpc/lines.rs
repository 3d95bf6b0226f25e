//! The newline-delimited transport (stdio, and any byte stream through
//! [`Transport::lines`]): [`LineReader`] frames incoming
//! lines with a hard per-message size limit, [`LineSink`] writes each message plus `\n`.
//!
//! A line longer than the limit is not accumulated: once it crosses the limit its bytes are
//! counted and discarded until the next `\n`, keeping only a short prefix (used to guess
//! which request the oversized message answered). Memory stays at most `limit` plus the
//! read buffer.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::Sink;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};

use super::transport::{Inbound, Transport};
use crate::endpoint::{CloseReason, Endpoint};

/// Read buffer size.
const READ_BUFFER: usize = 64 * 1024;
/// Outgoing bytes buffered before a write is forced (a flush writes them anyway).
const WRITE_BUFFER: usize = 64 * 1024;

/// How many leading bytes of an oversized line are kept.
const PREFIX_KEEP: usize = 256;

/// One frame read from the stream.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame {
    /// A complete line without its terminator (`\n` or `\r\n`); never empty.
    Line(Vec<u8>),
    /// A line longer than the limit; its content was discarded.
    TooLarge {
        /// Total length of the discarded line in bytes.
        size: u64,
        /// The first bytes of the line.
        prefix: Vec<u8>,
    },
}

/// Reads [`Frame`]s from a buffered reader.
pub(crate) struct LineReader<R> {
    inner: R,
    limit: usize,
    buf: Vec<u8>,
    /// `Some` while discarding an oversized line: (bytes seen so far, kept prefix).
    discarding: Option<(u64, Vec<u8>)>,
    eof: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub(crate) fn new(inner: R, limit: usize) -> Self {
        LineReader { inner, limit: limit.max(1), buf: Vec::new(), discarding: None, eof: false }
    }

    /// The next frame, or `None` at end of stream. Empty lines are skipped.
    pub(crate) async fn next_frame(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            if self.eof {
                return Ok(None);
            }
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                self.eof = true;
                // A final line without a terminator still counts.
                if let Some(frame) = self.take_frame() {
                    return Ok(Some(frame));
                }
                return Ok(None);
            }
            let (chunk_len, complete) = match memchr::memchr(b'\n', available) {
                Some(i) => (i, true),
                None => (available.len(), false),
            };
            let chunk = &available[..chunk_len];
            if let Some((seen, prefix)) = &mut self.discarding {
                *seen += chunk_len as u64;
                let room = PREFIX_KEEP.saturating_sub(prefix.len());
                prefix.extend_from_slice(&chunk[..room.min(chunk.len())]);
            } else if self.buf.len() + chunk_len > self.limit {
                let mut prefix = std::mem::take(&mut self.buf);
                let seen = (prefix.len() + chunk_len) as u64;
                prefix.truncate(PREFIX_KEEP);
                let room = PREFIX_KEEP - prefix.len();
                prefix.extend_from_slice(&chunk[..room.min(chunk.len())]);
                self.discarding = Some((seen, prefix));
            } else {
                self.buf.extend_from_slice(chunk);
            }
            let consumed = chunk_len + usize::from(complete);
            self.inner.consume(consumed);
            if complete {
                if let Some(frame) = self.take_frame() {
                    return Ok(Some(frame));
                }
            }
        }
    }

    fn take_frame(&mut self) -> Option<Frame> {
        if let Some((size, prefix)) = self.discarding.take() {
            return Some(Frame::TooLarge { size, prefix });
        }
        let mut line = std::mem::take(&mut self.buf);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(Frame::Line(line))
    }
}

impl Transport {
    /// Newline-delimited JSON over a byte stream pair, with `max_message_size` enforced
    /// while reading (an oversized line is skipped without being held in memory).
    pub fn lines<R, W>(reader: R, writer: W, max_message_size: usize, endpoint: Endpoint) -> Self
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        lines_transport(reader, writer, max_message_size, endpoint)
    }
}

/// A newline-delimited [`Transport`] over `reader` and `writer`.
fn lines_transport<R, W>(reader: R, writer: W, limit: usize, endpoint: Endpoint) -> Transport
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let lines = LineReader::new(BufReader::with_capacity(READ_BUFFER, reader), limit);
    let inbound = futures_util::stream::unfold(Some(lines), |lines| async move {
        let mut lines = lines?;
        let item = match lines.next_frame().await {
            Ok(Some(Frame::Line(line))) => Inbound::Message(line),
            Ok(Some(Frame::TooLarge { size, prefix })) => Inbound::TooLarge { size, prefix },
            Ok(None) => return Some((Inbound::Closed(CloseReason::EndOfStream), None)),
            Err(e) => return Some((Inbound::Closed(CloseReason::io(&e)), None)),
        };
        Some((item, Some(lines)))
    });
    Transport::new(inbound, LineSink::new(writer), endpoint)
}

/// Writes each message followed by `\n`; batches writes until flushed.
pub(crate) struct LineSink<W> {
    inner: W,
    buf: Vec<u8>,
    written: usize,
}

impl<W: AsyncWrite + Unpin> LineSink<W> {
    pub(crate) fn new(inner: W) -> Self {
        LineSink { inner, buf: Vec::new(), written: 0 }
    }

    /// Writes the buffer out (not flushing `inner`).
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        if self.buf.capacity() > 4 * WRITE_BUFFER {
            self.buf = Vec::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> Sink<String> for LineSink<W> {
    type Error = io::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.buf.len() >= WRITE_BUFFER {
            ready!(this.poll_drain(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, message: String) -> io::Result<()> {
        let this = self.get_mut();
        this.buf.extend_from_slice(message.as_bytes());
        this.buf.push(b'\n');
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn frames(input: &[u8], limit: usize, buf_cap: usize) -> Vec<Frame> {
        let mut r = LineReader::new(BufReader::with_capacity(buf_cap, input), limit);
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().await.unwrap() {
            out.push(f);
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_and_enforces_limit() {
        for cap in [1, 3, 8, 4096] {
            let got = frames(b"{\"a\":1}\r\n\n  \nabcdefghijk\nxy\nlast", 8, cap).await;
            assert_eq!(
                got,
                vec![
                    Frame::Line(b"{\"a\":1}".to_vec()),
                    Frame::TooLarge { size: 11, prefix: b"abcdefghijk".to_vec() },
                    Frame::Line(b"xy".to_vec()),
                    Frame::Line(b"last".to_vec()),
                ],
                "buffer capacity {cap}"
            );
        }
    }

    #[tokio::test]
    async fn oversized_prefix_is_bounded() {
        let mut input = vec![b'x'; 10_000];
        input.push(b'\n');
        input.extend_from_slice(b"ok\n");
        let got = frames(&input, 100, 64).await;
        match &got[0] {
            Frame::TooLarge { size, prefix } => {
                assert_eq!(*size, 10_000);
                assert_eq!(prefix.len(), PREFIX_KEEP);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(got[1], Frame::Line(b"ok".to_vec()));
    }

    #[tokio::test]
    async fn sink_writes_one_line_per_message() {
        use futures_util::SinkExt;
        let mut out = Vec::new();
        let mut sink = LineSink::new(&mut out);
        sink.feed("{\"a\":1}".to_owned()).await.unwrap();
        sink.feed("{}".to_owned()).await.unwrap();
        sink.close().await.unwrap();
        assert_eq!(out, b"{\"a\":1}\n{}\n");
    }
}
