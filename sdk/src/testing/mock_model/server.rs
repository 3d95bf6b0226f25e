//! The accept loop and per-connection handling of the mock model.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::http;
use super::request_log::RecordedRequest;
use super::response::{MockResponse, ResponseKind, Step};

/// Text of the HTTP 500 answered when a request finds the script queue empty. Codex maps any
/// 500 to a generic "high demand" turn error, so the mock also prints this to stderr and counts
/// such requests ([`MockModel::unscripted_requests`](super::MockModel::unscripted_requests)).
pub(super) const EXHAUSTED_MESSAGE: &str = "mock model: no scripted response left";

/// Builds the answer to a request when the script queue is empty; see
/// [`MockModel::respond_with`](super::MockModel::respond_with).
pub(super) type Responder = Arc<dyn Fn(&RecordedRequest) -> Option<MockResponse> + Send + Sync>;

/// State shared by the [`MockModel`](super::MockModel) handle and the server task.
pub(super) struct Shared {
    queue: Mutex<VecDeque<MockResponse>>,
    responder: Mutex<Option<Responder>>,
    log: Mutex<Vec<RecordedRequest>>,
    /// The number of recorded requests, for waiters.
    count: watch::Sender<usize>,
    /// Requests to `/responses` that found the queue empty.
    unscripted: AtomicUsize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("pending", &self.pending())
            .field("requests", &self.request_count())
            .field("unscripted", &self.unscripted())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(super) fn new() -> Self {
        Self {
            queue: Mutex::default(),
            responder: Mutex::default(),
            log: Mutex::default(),
            count: watch::Sender::new(0),
            unscripted: AtomicUsize::new(0),
        }
    }

    pub(super) fn push(&self, response: MockResponse) {
        lock(&self.queue).push_back(response);
    }

    pub(super) fn pending(&self) -> usize {
        lock(&self.queue).len()
    }

    pub(super) fn set_responder(&self, responder: Option<Responder>) {
        *lock(&self.responder) = responder;
    }

    /// The next scripted answer, else the responder's answer to `request`.
    fn next_response(&self, request: &RecordedRequest) -> Option<MockResponse> {
        if let Some(response) = lock(&self.queue).pop_front() {
            return Some(response);
        }
        // Cloned out so the responder runs without the lock (it may push or log).
        let responder = lock(&self.responder).clone()?;
        responder(request)
    }

    /// Records `request`; returns its 1-based number.
    fn record(&self, request: RecordedRequest) -> usize {
        let mut log = lock(&self.log);
        log.push(request);
        // Under the log lock, so numbers follow the log order.
        let number = *self.count.borrow() + 1;
        self.count.send_replace(number);
        number
    }

    pub(super) fn unscripted(&self) -> usize {
        self.unscripted.load(Ordering::Relaxed)
    }

    pub(super) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log).clone()
    }

    pub(super) fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.log).last().cloned()
    }

    pub(super) fn request_count(&self) -> usize {
        *self.count.borrow()
    }

    pub(super) fn clear_requests(&self) {
        lock(&self.log).clear();
    }

    pub(super) fn subscribe_count(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }
}

/// Accepts connections until the task is aborted; dropping the `JoinSet` on abort ends every
/// connection still open.
pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(stream, shared.clone()));
                }
                // E.g. out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (read_half, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read_half);
    // I/O errors only mean the client went away; nothing to report to.
    let _ = handle(&mut reader, &mut writer, &shared).await;
    let _ = writer.shutdown().await;
}

/// Answers a malformed request with 400 when the error is about the request's content.
async fn bad_request<W: AsyncWrite + Unpin>(writer: &mut W, error: io::Error) -> io::Result<()> {
    if error.kind() == io::ErrorKind::InvalidData {
        let body = format!("mock model: bad request: {error}");
        http::write_simple(writer, 400, "text/plain; charset=utf-8", &body).await?;
    }
    Ok(())
}

/// Serves the single request of a connection.
pub(super) async fn handle<R, W>(reader: &mut R, writer: &mut W, shared: &Shared) -> io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let head = match http::read_head(reader).await {
        Ok(Some(head)) => head,
        Ok(None) => return Ok(()),
        Err(error) => return bad_request(writer, error).await,
    };
    if head.expects_continue() {
        http::write_continue(writer).await?;
    }
    let body = match http::read_body(reader, &head).await {
        Ok(body) => body,
        Err(error) => return bad_request(writer, error).await,
    };
    let is_responses = head.method == "POST" && head.path().ends_with("/responses");
    let route = format!("{} {}", head.method, head.target);
    let request = RecordedRequest::new(head.method, head.target, head.headers, body);
    let response = is_responses.then(|| shared.next_response(&request)).flatten();
    let number = shared.record(request);
    if !is_responses {
        let body = format!("mock model: no route for {route} (only POST <base_url>/responses)");
        return http::write_simple(writer, 404, "text/plain; charset=utf-8", &body).await;
    }
    let Some(response) = response else {
        shared.unscripted.fetch_add(1, Ordering::Relaxed);
        let message = format!("{EXHAUSTED_MESSAGE} for request #{number} ({route})");
        // Codex hides 500 bodies behind a generic message: make the cause visible in test output.
        eprintln!("{message}");
        let body = json!({
            "error": { "type": "mock_model_error", "code": "no_scripted_response", "message": message }
        });
        return http::write_simple(writer, 500, "application/json", &body.to_string()).await;
    };
    match response.kind {
        ResponseKind::Http { status, content_type, body } => {
            http::write_simple(writer, status, content_type, &body).await
        }
        ResponseKind::Stream(steps) => {
            http::write_event_stream_head(writer).await?;
            for step in steps {
                match step {
                    Step::Event(event) => {
                        writer.write_all(event.to_wire().as_bytes()).await?;
                        writer.flush().await?;
                    }
                    Step::Delay(delay) => tokio::time::sleep(delay).await,
                    Step::Pause(state) => {
                        tokio::select! {
                            () = state.wait() => {}
                            () = wait_hangup(reader) => return Ok(()),
                        }
                    }
                }
            }
            Ok(())
        }
    }
}

/// Returns once the client closes its side (or the connection fails).
async fn wait_hangup<R: AsyncBufRead + Unpin>(reader: &mut R) {
    let mut buf = [0; 1024];
    while let Ok(1..) = reader.read(&mut buf).await {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::mock_model::response::ResponseStream;

    async fn exchange(shared: &Shared, request: &[u8]) -> String {
        let mut reader = request;
        let mut out = Vec::new();
        handle(&mut reader, &mut out, shared).await.unwrap();
        String::from_utf8(out).unwrap()
    }

    const POST: &[u8] = b"POST /v1/responses HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}";

    #[tokio::test]
    async fn exhausted_queue_answers_500() {
        let shared = Shared::new();
        let out = exchange(&shared, POST).await;
        assert!(out.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{out}");
        assert!(out.contains("mock model: no scripted response left for request #1 (POST /v1/responses)"), "{out}");
        assert_eq!((shared.request_count(), shared.unscripted()), (1, 1));
    }

    #[tokio::test]
    async fn scripted_responses_in_order() {
        let shared = Shared::new();
        shared.push(MockResponse::http_error(401, "nope"));
        shared.push(ResponseStream::new().text("hi").completed());
        let first = exchange(&shared, POST).await;
        assert!(first.starts_with("HTTP/1.1 401 Unauthorized\r\n") && first.ends_with("\r\n\r\nnope"), "{first}");
        let second = exchange(&shared, POST).await;
        assert!(second.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"), "{second}");
        let body = second.split_once("\r\n\r\n").unwrap().1;
        let kinds: Vec<_> = body.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.output_item.added",
                "response.output_text.delta",
                "response.output_item.done",
                "response.completed",
            ]
        );
        assert_eq!(shared.pending(), 0);
    }

    #[tokio::test]
    async fn responder_answers_by_content_after_the_queue() {
        let shared = Shared::new();
        shared.push(MockResponse::text("queued first"));
        shared.set_responder(Some(Arc::new(|request: &RecordedRequest| {
            let prompt = request.last_user_text()?;
            Some(MockResponse::text(format!("answer {prompt}")))
        })));
        let post = |prompt: &str| {
            let body = format!(
                r#"{{"input":[{{"type":"message","role":"user","content":[{{"type":"input_text","text":"{prompt}"}}]}}]}}"#
            );
            format!("POST /v1/responses HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}", body.len())
        };
        let first = exchange(&shared, post("t1").as_bytes()).await;
        assert!(first.contains("queued first"), "{first}");
        let second = exchange(&shared, post("t2").as_bytes()).await;
        assert!(second.contains("answer t2"), "{second}");
        let third = exchange(&shared, post("t3").as_bytes()).await;
        assert!(third.contains("answer t3"), "{third}");
        // No user text: the responder declines, the request is unscripted.
        let out = exchange(&shared, POST).await;
        assert!(out.starts_with("HTTP/1.1 500 "), "{out}");
        assert_eq!((shared.request_count(), shared.unscripted()), (4, 1));
        shared.set_responder(None);
        let out = exchange(&shared, post("t4").as_bytes()).await;
        assert!(out.starts_with("HTTP/1.1 500 "), "{out}");
        // Forgetting the log keeps the count.
        shared.clear_requests();
        assert_eq!((shared.requests().len(), shared.request_count()), (0, 5));
        exchange(&shared, post("t5").as_bytes()).await;
        assert_eq!((shared.requests().len(), shared.request_count()), (1, 6));
        assert_eq!(shared.last_request().unwrap().last_user_text(), Some("t5"));
    }

    #[tokio::test]
    async fn other_routes_do_not_consume_the_script() {
        let shared = Shared::new();
        shared.push(MockResponse::text("kept"));
        let out = exchange(&shared, b"GET /v1/models HTTP/1.1\r\n\r\n").await;
        assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"), "{out}");
        assert_eq!((shared.pending(), shared.request_count()), (1, 1));
        let out = exchange(&shared, b"garbage\r\n\r\n").await;
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    }
}
