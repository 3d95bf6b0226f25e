//! No secret reaches a log record, a dependency's included: every record of the `log`
//! facade (where tungstenite wrote the upgrade request and every frame at TRACE) and every
//! `tracing` event, both captured at TRACE, over each path a secret takes — a capability
//! token and a signed bearer token in the upgrade, and an API key in a login message.
//!
//! Its own test binary: the `log` logger is process-wide.

#[allow(dead_code)] // this binary uses a part of the shared helpers
mod common;

use codex_driver::testing::{CodexHome, MockModel, ServerAuth};
use codex_driver::Codex;
use common::trace::Capture;
use common::{codex_bin, within};
use std::sync::Mutex;

/// Every `log` record, as `LEVEL target: message`.
static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        RECORDS.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

/// The ways a secret could be written: as itself, hex-encoded (a frame's payload), or as
/// the bytes of a debug-printed buffer.
fn shapes(secret: &str) -> Vec<String> {
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let bytes = format!("{:?}", &secret.as_bytes()[..secret.len().min(8)]);
    vec![secret.to_owned(), hex, bytes.trim_matches(['[', ']']).to_owned()]
}

#[tokio::test]
async fn no_secret_reaches_a_log_or_tracing_record_at_trace() {
    log::set_logger(&Recorder).expect("the only logger of this binary");
    log::set_max_level(log::LevelFilter::Trace);
    let (capture, guard) = Capture::install();
    let model = MockModel::start().await.unwrap();
    let api_key = "sk-test-dependency-logs-0123456789abcdef";
    let mut secrets = Vec::new();

    // A capability token in the upgrade, then an API key in a login message.
    let home = CodexHome::new(&model.base_url()).unwrap();
    let mut server = within("listen", home.listen_websocket(&codex_bin(), ServerAuth::CapabilityToken)).await.unwrap();
    secrets.push(server.secret().expect("a capability token").expose().to_owned());
    let codex = within("attach", Codex::builder().websocket(server.websocket_endpoint()).connect()).await.unwrap();
    within("login", codex.login_api_key(api_key)).await.expect("an API-key login");
    within("model/list", codex.models()).await.expect("a request after the login");
    codex.close().await;
    server.kill().await.unwrap();

    // A signed bearer token (minted from the shared secret) in the upgrade.
    let home = CodexHome::new(&model.base_url()).unwrap();
    let auth = ServerAuth::SignedBearer { issuer: None, audience: None };
    let mut server = within("listen", home.listen_websocket(&codex_bin(), auth)).await.unwrap();
    secrets.push(server.secret().expect("a shared secret").expose().to_owned());
    let codex = within("attach", Codex::builder().websocket(server.websocket_endpoint()).connect()).await.unwrap();
    within("model/list", codex.models()).await.expect("a request on the signed connection");
    codex.close().await;
    server.kill().await.unwrap();
    drop(guard);

    let logged: Vec<String> = RECORDS.lock().unwrap().iter().cloned().chain(capture.lines()).collect();
    assert!(
        capture.lines().iter().any(|line| line.contains("account/login/start")),
        "the capture saw the SDK's own events:\n{}",
        logged.join("\n")
    );
    secrets.push(api_key.to_owned());
    // A failure shows the record with every shape of every secret masked.
    let masked = |line: &str| secrets.iter().flat_map(|s| shapes(s)).fold(line.to_owned(), |l, s| l.replace(&s, "***"));
    for line in &logged {
        let lower = line.to_ascii_lowercase();
        let header = lower.contains("authorization") || line.contains("Bearer ");
        assert!(!header, "a credential header was logged: {}", masked(line));
        for shape in secrets.iter().flat_map(|s| shapes(s)) {
            assert!(!line.contains(&shape), "a secret was logged: {}", masked(line));
        }
    }
}
