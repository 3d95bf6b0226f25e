//! A scripted mock of the OpenAI Responses API on loopback.
//!
//! Every `POST <base_url>/responses` takes the next [`MockResponse`] from a FIFO queue; when the
//! queue is empty, the [responder](MockModel::respond_with) (if any) builds the answer from the
//! request. Without either, the request is answered HTTP 500 "mock model: no scripted response
//! left" so a test fails visibly instead of hanging. Every request is recorded
//! ([`RecordedRequest`]).

mod http;
mod items;
mod request_log;
mod response;
mod server;
pub mod sse;
mod stall;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use items::{AssistantMessage, ExecCommand};
pub use request_log::RecordedRequest;
pub use response::{MockResponse, ResponseStream, Usage};
pub use stall::StallHandle;

use server::Shared;

/// [`MockModel::wait_for_requests`] timed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mock model: expected {expected} request(s) within {timeout:?}, received {received}")]
pub struct WaitTimeout {
    /// The number of requests waited for.
    pub expected: usize,
    /// The number received when the time ran out.
    pub received: usize,
    /// The time waited.
    pub timeout: Duration,
}

/// A scripted mock Responses API server on `127.0.0.1`, for pointing Codex at
/// (see [`CodexHome`](crate::testing::CodexHome)). The server stops when this is dropped.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use codex_driver::testing::{MockModel, MockResponse};
/// let model = MockModel::start().await?;
/// model.push(MockResponse::text("Hello!"));
/// // ... a turn in which the user says "hi", against model.base_url() ...
/// let requests = model.wait_for_requests(1, std::time::Duration::from_secs(10)).await.unwrap();
/// assert_eq!(requests[0].last_user_text(), Some("hi"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MockModel {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl MockModel {
    /// Binds `127.0.0.1` on a free port and starts serving. Must be called inside a tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new());
        let task = tokio::spawn(server::accept_loop(listener, shared.clone()));
        Ok(Self { addr, shared, task })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The provider base URL for Codex: `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues the answer to a future request.
    pub fn push(&self, response: MockResponse) {
        self.shared.push(response);
    }

    /// Queues several answers, in order.
    pub fn push_all(&self, responses: impl IntoIterator<Item = MockResponse>) {
        for response in responses {
            self.push(response);
        }
    }

    /// Answers the requests that find the FIFO queue empty with `responder(request)`, so an
    /// answer can depend on what was asked (e.g. echo the prompt, for tests of many concurrent
    /// turns whose requests arrive in any order). `None` falls back to the HTTP 500 of an
    /// unscripted request. Replaces any earlier responder; queued answers still come first.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use codex_driver::testing::{MockModel, MockResponse};
    /// let model = MockModel::start().await?;
    /// model.respond_with(|request| {
    ///     let prompt = request.last_user_text()?;
    ///     Some(MockResponse::text(format!("answer {prompt}")))
    /// });
    /// # Ok(()) }
    /// ```
    pub fn respond_with<F>(&self, responder: F)
    where
        F: Fn(&RecordedRequest) -> Option<MockResponse> + Send + Sync + 'static,
    {
        self.shared.set_responder(Some(Arc::new(responder)));
    }

    /// Removes the responder set by [`respond_with`](Self::respond_with).
    pub fn clear_responder(&self) {
        self.shared.set_responder(None);
    }

    /// The number of queued answers not yet consumed.
    pub fn pending(&self) -> usize {
        self.shared.pending()
    }

    /// The number of `POST /responses` requests that found the queue empty and got no answer
    /// from the responder (and were answered
    /// HTTP 500 "mock model: no scripted response left"). Codex reports those turns as failed with
    /// a generic "high demand" message; check this to tell them apart from scripted errors.
    pub fn unscripted_requests(&self) -> usize {
        self.shared.unscripted()
    }

    /// Every request received so far, in arrival order (any method and path), except those
    /// dropped by [`clear_requests`](Self::clear_requests).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// The number of requests received so far (cleared ones included).
    pub fn request_count(&self) -> usize {
        self.shared.request_count()
    }

    /// Drops the recorded requests (the count goes on). Long-running tests call it so the
    /// log does not grow with every request: Codex sends the whole conversation each time.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// The latest request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared.last_request()
    }

    /// The last user `input_text` of the latest request; see [`RecordedRequest::last_user_text`].
    pub fn last_user_text(&self) -> Option<String> {
        self.last_request()?.last_user_text().map(str::to_owned)
    }

    /// Waits until at least `n` requests were received (cleared ones included) and returns
    /// the recorded ones.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Result<Vec<RecordedRequest>, WaitTimeout> {
        let mut count = self.shared.subscribe_count();
        let reached =
            tokio::time::timeout(timeout, count.wait_for(|count| *count >= n)).await.is_ok_and(|result| result.is_ok());
        if reached {
            Ok(self.requests())
        } else {
            Err(WaitTimeout { expected: n, received: self.request_count(), timeout })
        }
    }
}

impl Drop for MockModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn post(model: &MockModel, body: &str) -> TcpStream {
        let mut stream = TcpStream::connect(("127.0.0.1", model.port())).await.unwrap();
        let request = format!(
            "POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        stream
    }

    async fn read_all(mut stream: TcpStream) -> String {
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut out)).await.unwrap().unwrap();
        out
    }

    #[tokio::test]
    async fn serves_and_records_over_tcp() {
        let model = MockModel::start().await.unwrap();
        assert_eq!(model.base_url(), format!("http://127.0.0.1:{}/v1", model.port()));
        model.push(MockResponse::text("Hi there"));
        let body = r#"{"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hello"}]}]}"#;
        let out = read_all(post(&model, body).await).await;
        assert!(out.contains("\"text\":\"Hi there\""), "{out}");
        let requests = model.wait_for_requests(1, Duration::from_secs(5)).await.unwrap();
        assert_eq!(requests[0].path(), "/v1/responses");
        assert_eq!(model.last_user_text().as_deref(), Some("hello"));

        let out = read_all(post(&model, "{}").await).await;
        assert!(out.starts_with("HTTP/1.1 500 ") && out.contains(server::EXHAUSTED_MESSAGE), "{out}");
        let timeout = model.wait_for_requests(3, Duration::from_millis(50)).await.unwrap_err();
        assert_eq!((timeout.expected, timeout.received), (3, 2));
    }

    #[tokio::test]
    async fn stall_until_released() {
        let model = MockModel::start().await.unwrap();
        let (response, stall) = ResponseStream::new().text("partial").stall();
        model.push(response);
        let mut stream = post(&model, "{}").await;
        assert!(stall.wait_reached(Duration::from_secs(5)).await);
        let mut buf = vec![0; 4096];
        let mut seen = String::new();
        while !seen.contains("response.output_item.done") {
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
            assert!(n > 0, "closed early: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(!seen.contains("response.completed"));
        stall.release();
        let rest = read_all(stream).await;
        assert!(rest.contains("response.completed"), "{rest}");
    }

    #[tokio::test]
    async fn drop_stops_the_server() {
        let model = MockModel::start().await.unwrap();
        let (response, stall) = MockResponse::stall();
        model.push(response);
        let port = model.port();
        let stream = post(&model, "{}").await;
        assert!(stall.wait_reached(Duration::from_secs(5)).await);
        drop(model);
        // The stalled connection is closed, and nothing listens any more.
        let out = read_all(stream).await;
        assert!(!out.contains("response.completed"), "{out}");
        let mut refused = false;
        for _ in 0..50 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refused);
    }
}
