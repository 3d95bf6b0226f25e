//! The SDK's `tracing` output: requests (method, id, duration), turns (thread, turn,
//! status) and logins are named; URLs, codes and tokens of a sign-in never appear.
//!
//! Its own test binary: a scoped subscriber only sees callsites whose interest was not
//! cached as "never" by another thread registering them concurrently.

#[allow(dead_code)] // this binary uses a part of the shared helpers
mod common;
#[allow(dead_code)] // this binary uses a part of the shared helpers
mod login_support;

use codex_driver::login::LoginOutcome;
use codex_driver::testing::MockResponse;
use codex_driver::ThreadOptions;
use common::trace::Capture;
use common::within;
use login_support::*;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

#[tokio::test]
async fn tracing_names_requests_turns_and_logins_but_no_secrets() {
    let (capture, _guard) = Capture::install();
    let polls = Arc::new(AtomicUsize::new(0));
    let issuer = Issuer::start(vec![usercode_route(), device_token_route(Some(0), polls), token_route()]).await;
    let world = login_world(&issuer).await;
    let login = within("device login", world.codex.login_chatgpt_device_code()).await.unwrap();
    assert_eq!(within("wait", login.wait()).await.unwrap(), LoginOutcome::Succeeded);
    let thread = within("thread/start", world.codex.thread_start(&ThreadOptions::default())).await.unwrap();
    world.model.push(MockResponse::text("hello"));
    within("turn", thread.run("hi")).await.unwrap();
    drop(_guard);

    let log = capture.lines().join("\n");
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

/// A token file that group or others can read is used, with a warning naming the file and
/// its mode (never the token); a private one raises nothing.
#[cfg(unix)]
#[test]
fn a_token_file_others_can_read_is_warned_about_by_name() {
    use codex_driver::attach::Secret;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let (open, private) = (dir.path().join("open-token"), dir.path().join("private-token"));
    for (file, mode) in [(&open, 0o644), (&private, 0o600)] {
        std::fs::write(file, "tok-SECRET-value\n").expect("write");
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let (capture, guard) = Capture::install();
    assert_eq!(Secret::from_file(&open).expect("read").expose(), "tok-SECRET-value");
    let after_open = capture.lines().join("\n");
    Secret::from_file(&private).expect("read");
    drop(guard);
    let log = capture.lines().join("\n");
    assert!(
        after_open.contains("accessible to group or others") && after_open.contains(&*open.to_string_lossy()),
        "{after_open}"
    );
    assert!(after_open.contains("mode=644"), "{after_open}");
    assert_eq!(log.matches("accessible to group or others").count(), 1, "the private file raised a warning: {log}");
    assert!(!log.contains("tok-SECRET-value"), "{log}");
}
