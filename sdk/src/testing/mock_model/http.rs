//! The little HTTP/1.1 the mock model needs: parse one request (fixed-length or chunked body),
//! write a fixed-length reply or the head of an event stream. Every response closes the
//! connection (`Connection: close`); Codex opens a new connection per request anyway.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request head (request line + headers) accepted.
pub(super) const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest request body accepted (requests carry the whole conversation, images included).
pub(super) const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A parsed request line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RequestHead {
    pub(super) method: String,
    pub(super) target: String,
    /// Names lower-cased, values trimmed, in order.
    pub(super) headers: Vec<(String, String)>,
}

impl RequestHead {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|value| value.split(',').any(|coding| coding.trim().eq_ignore_ascii_case("chunked")))
    }

    /// Whether the client waits for `100 Continue` before sending the body.
    pub(super) fn expects_continue(&self) -> bool {
        self.header("expect").is_some_and(|value| value.eq_ignore_ascii_case("100-continue"))
    }

    /// The target without its query string.
    pub(super) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads one line (through `\n`) into `line`, reading at most `limit` bytes.
/// Returns `false` at end of stream before any byte.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, line: &mut Vec<u8>, limit: usize) -> io::Result<bool> {
    line.clear();
    let read = (&mut *reader).take(limit as u64).read_until(b'\n', line).await?;
    if read == 0 {
        return Ok(false);
    }
    if line.last() != Some(&b'\n') {
        return Err(if read >= limit {
            invalid("request line or header too long")
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside the request head")
        });
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(true)
}

/// Reads a request head. `Ok(None)` when the connection closes before a request starts.
pub(super) async fn read_head<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Option<RequestHead>> {
    let mut budget = MAX_HEAD_BYTES;
    let mut line = Vec::new();
    // Tolerate empty lines before the request line (RFC 9112 §2.2).
    loop {
        if !read_line(reader, &mut line, budget).await? {
            return Ok(None);
        }
        budget = budget.saturating_sub(line.len() + 2);
        if !line.is_empty() {
            break;
        }
        if budget == 0 {
            return Err(invalid("request head too long"));
        }
    }
    let request_line =
        String::from_utf8(std::mem::take(&mut line)).map_err(|_| invalid("request line is not UTF-8"))?;
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(format!("malformed request line {request_line:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(invalid(format!("unsupported HTTP version {version:?}")));
    }
    let mut headers = Vec::new();
    loop {
        if budget == 0 {
            return Err(invalid("request head too long"));
        }
        if !read_line(reader, &mut line, budget).await? {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside the request head"));
        }
        budget = budget.saturating_sub(line.len() + 2);
        if line.is_empty() {
            break;
        }
        let text = std::str::from_utf8(&line).map_err(|_| invalid("header is not UTF-8"))?;
        let (name, value) = text.split_once(':').ok_or_else(|| invalid(format!("malformed header line {text:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(Some(RequestHead { method: method.to_owned(), target: target.to_owned(), headers }))
}

/// Reads the body announced by `head`: chunked, `Content-Length`, or none.
pub(super) async fn read_body<R: AsyncBufRead + Unpin>(reader: &mut R, head: &RequestHead) -> io::Result<Vec<u8>> {
    if head.is_chunked() {
        return read_chunked(reader).await;
    }
    let Some(length) = head.header("content-length") else {
        return Ok(Vec::new());
    };
    let length: usize = length.parse().map_err(|_| invalid(format!("bad Content-Length {length:?}")))?;
    if length > MAX_BODY_BYTES {
        return Err(invalid(format!("body of {length} bytes exceeds the mock's limit")));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    Ok(body)
}

async fn read_chunked<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = Vec::new();
    loop {
        if !read_line(reader, &mut line, 1024).await? {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a chunked body"));
        }
        let text = std::str::from_utf8(&line).map_err(|_| invalid("chunk size is not UTF-8"))?;
        let size_text = text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid(format!("bad chunk size {text:?}")))?;
        if size == 0 {
            break;
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(invalid("chunked body exceeds the mock's limit"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf).await?;
        if &crlf != b"\r\n" {
            return Err(invalid("chunk not followed by CRLF"));
        }
    }
    // Trailer fields, up to the empty line.
    let mut budget = MAX_HEAD_BYTES;
    loop {
        if !read_line(reader, &mut line, budget).await? {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside chunked trailers"));
        }
        if line.is_empty() {
            return Ok(body);
        }
        budget = budget.saturating_sub(line.len() + 2);
        if budget == 0 {
            return Err(invalid("chunked trailers too long"));
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// The interim `100 Continue` answer.
pub(super) async fn write_continue<W: AsyncWrite + Unpin>(writer: &mut W) -> io::Result<()> {
    writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    writer.flush().await
}

/// A complete response with a fixed-length body.
pub(super) async fn write_simple<W: AsyncWrite + Unpin>(
    writer: &mut W,
    status: u16,
    content_type: &str,
    body: &str,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    writer.write_all(head.as_bytes()).await?;
    writer.write_all(body.as_bytes()).await?;
    writer.flush().await
}

/// The head of a `200 text/event-stream` response whose body ends when the connection closes.
pub(super) async fn write_event_stream_head<W: AsyncWrite + Unpin>(writer: &mut W) -> io::Result<()> {
    writer
        .write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
        )
        .await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> io::Result<Option<(RequestHead, Vec<u8>)>> {
        let mut reader = bytes;
        let Some(head) = read_head(&mut reader).await? else {
            return Ok(None);
        };
        let body = read_body(&mut reader, &head).await?;
        Ok(Some((head, body)))
    }

    #[tokio::test]
    async fn content_length_request() {
        let (head, body) = parse(
            b"POST /v1/responses?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Authorization:  Bearer sk-1 \r\nContent-Length: 7\r\n\r\n{\"a\":1}trailing",
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.target, "/v1/responses?x=1");
        assert_eq!(head.path(), "/v1/responses");
        assert_eq!(head.header("authorization"), Some("Bearer sk-1"));
        assert_eq!(body, b"{\"a\":1}");
    }

    #[tokio::test]
    async fn chunked_request() {
        let (head, body) = parse(
            b"\r\nPOST /v1/responses HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\n\r\n\
              4;ext=1\r\n{\"a\"\r\nB\r\n:\"0123456\"}\r\n0\r\nX-Trailer: y\r\n\r\n",
        )
        .await
        .unwrap()
        .unwrap();
        assert!(head.expects_continue());
        assert_eq!(body, b"{\"a\":\"0123456\"}");
    }

    #[tokio::test]
    async fn no_body_and_eof() {
        let (head, body) = parse(b"GET /v1/models HTTP/1.1\r\n\r\n").await.unwrap().unwrap();
        assert_eq!((head.method.as_str(), body.len()), ("GET", 0));
        assert!(parse(b"").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn malformed_requests() {
        for bad in [
            &b"NONSENSE\r\n\r\n"[..],
            b"POST / HTTP/2\r\n\r\n",
            b"POST / HTTP/1.1\r\nno-colon\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
            b"POST / HTTP/1.1\r\nHost: x",
        ] {
            assert!(parse(bad).await.is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_HEAD_BYTES + 10, b'a');
        huge.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&huge).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn writes() {
        let mut out = Vec::new();
        write_simple(&mut out, 429, "text/plain", "slow down").await.unwrap();
        assert_eq!(
            out,
            b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain\r\ncontent-length: 9\r\n\
              connection: close\r\n\r\nslow down"
        );
        let mut out = Vec::new();
        write_event_stream_head(&mut out).await.unwrap();
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"));
        assert!(out.ends_with(b"\r\n\r\n"));
    }
}
