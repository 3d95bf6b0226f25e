//! The SDK's `tracing` output: requests (method, id, duration), turns (thread, turn,
//! status) and logins are named; URLs, codes and tokens of a sign-in never appear.
//!
//! Its own test binary: a scoped subscriber only sees callsites whose interest was not
//! cached as "never" by another thread registering them concurrently.

mod common;
mod login_support;

use codex_app_server::testing::MockResponse;
use codex_app_server::{LoginOutcome, ThreadOptions};
use common::within;
use login_support::*;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

/// Records every event's and span's fields as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut fields);
        let mut log = self.0.lock().unwrap();
        log.push(fields.0);
        tracing::span::Id::from_u64(log.len() as u64)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut fields = Fields("record".into());
        values.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(format!("event {}", event.metadata().target()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn tracing_names_requests_turns_and_logins_but_no_secrets() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let polls = Arc::new(AtomicUsize::new(0));
    let issuer = Issuer::start(vec![usercode_route(), device_token_route(Some(0), polls), token_route()]).await;
    let world = login_world(&issuer).await;
    let login = within("device login", world.codex.login_chatgpt_device_code()).await.unwrap();
    assert_eq!(within("wait", login.wait()).await.unwrap(), LoginOutcome::Succeeded);
    let thread = within("thread/start", world.codex.thread_start(ThreadOptions::default())).await.unwrap();
    world.model.push(MockResponse::text("hello"));
    within("turn", thread.run("hi")).await.unwrap();
    drop(_guard);

    let log = capture.0.lock().unwrap().join("\n");
    for needle in [
        "method=\"account/login/start\"",
        "elapsed_ms=",
        "login started",
        &format!("login_id={}", login.login_id()),
        "turn completed",
        "status=completed",
        "span turn",
    ] {
        assert!(log.contains(needle), "{needle} not logged:\n{log}");
    }
    let jwt = fake_jwt();
    for secret in [
        login.user_code(),
        login.verification_url(),
        ACCESS_MARKER,
        jwt.as_str(),
        REFRESH_TOKEN,
        "device-code-1",
        "dev-1",
    ] {
        assert!(!log.contains(secret), "{secret} was logged:\n{log}");
    }
}
