//! The SDK's own first turn against the real binary.

mod common;

use codex_app_server::testing::MockResponse;
use codex_app_server::ThreadOptions;
use common::{within, World};

#[tokio::test]
async fn run_returns_the_final_response() {
    let world = World::start().await;
    world.model.push(MockResponse::text("Hello from the mock"));
    let thread = within("thread/start", world.codex.thread_start(ThreadOptions::default())).await.unwrap();
    let result = within("run", thread.run("Say hello")).await.unwrap();
    assert_eq!(result.final_response(), Some("Hello from the mock"));
    assert_eq!(world.model.request_count(), 1);
    assert_eq!(world.codex.metadata().server_version.as_deref(), Some("0.169.0"));
}
