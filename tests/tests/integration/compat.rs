//! Version awareness against the real binary under test: the pinned CLI in `cargo xtask
//! test`, another release under `cargo xtask compat VERSION`.
//!
//! - The SDK reads the server's release at connect.
//! - Every client request the protocol history says the server lacks is refused by the SDK
//!   with `Error::Unsupported` before anything is sent, and the server itself, asked
//!   directly over raw JSON-RPC, rejects the method: the table tells the truth.
//! - A connect to a server outside the window logs one warning (scripted servers, since the
//!   real binaries at hand are all inside it).

use crate::common;
use codex_driver::methods::ClientRequests;
use codex_driver::rpc::Connection;
use codex_driver::rpc::{ConnectionOptions, InitializeOptions};
use codex_driver::testing::CodexHome;
use codex_driver::types::{ModelProviderListParams, ThreadListParams};
use codex_driver::version::{self, CodexVersion, CLIENT_REQUESTS, PINNED, WINDOW};
use codex_driver::{methods::client_requests, Error};
use common::trace::Capture;
use common::{codex_bin, codex_version, within, World};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn the_connected_release_is_the_binary_under_test() {
    let world = World::start().await;
    let expected: CodexVersion = codex_version().parse().expect("a release number");
    assert_eq!(world.codex.server_version(), Some(expected));
    assert_eq!(world.codex.metadata().codex_version, Some(expected));
    // Requests present in every release of the window are supported by every server.
    assert!(world.codex.supports::<client_requests::ThreadStart>());
    assert!(world.codex.supports::<client_requests::ThreadList>());
    let listed = within("thread/list", world.codex.connection().thread_list(ThreadListParams::default())).await;
    assert!(listed.is_ok(), "{listed:?}");
}

/// The client requests of the history the server under test lacks, by its release.
fn lacking(server: CodexVersion) -> Vec<(&'static str, version::Availability)> {
    CLIENT_REQUESTS.iter().filter(|(_, a)| !a.includes(server)).copied().collect()
}

#[tokio::test]
async fn requests_the_server_predates_are_refused_locally_and_the_server_lacks_them() {
    let world = World::start().await;
    let server = world.codex.server_version().expect("a release number");
    // What the SDK says of one request of each side of the window's history: a request
    // added after the window's start is supported exactly from its release on.
    let provider_list = version::client_request("modelProvider/list").expect("in the history");
    assert_eq!(world.codex.supports::<client_requests::ModelProviderList>(), provider_list.includes(server));
    let listed = within(
        "modelProvider/list",
        world.codex.connection().model_provider_list(ModelProviderListParams(Default::default())),
    )
    .await;
    if provider_list.includes(server) {
        assert!(listed.is_ok(), "Codex {server} has modelProvider/list: {listed:?}");
    } else {
        match listed {
            Err(Error::Unsupported { method, since, server_version, .. }) => {
                assert_eq!(
                    (method.as_str(), since, server_version),
                    ("modelProvider/list", provider_list.since, server)
                );
            }
            other => panic!("Codex {server} predates modelProvider/list: expected Unsupported, got {other:?}"),
        }
    }

    let lacking = lacking(server);
    if server == PINNED {
        assert!(lacking.iter().all(|(_, a)| a.removed.is_some()), "the pin has every request it generates");
    }
    for (method, availability) in &lacking {
        let error = world.codex.connection().request_raw(method, json!({})).await.unwrap_err();
        assert!(
            matches!(&error, Error::Unsupported { method: m, since, removed, server_version }
                if m == method && *since == availability.since && *removed == availability.removed && *server_version == server),
            "{method}: {error:?}"
        );
    }

    // The server, asked directly, rejects every one of them (no SDK in between).
    let answers = raw_answers(&world.home, lacking.iter().map(|(m, _)| *m)).await;
    for ((method, _), answer) in lacking.iter().zip(&answers) {
        assert!(
            answer.get("error").is_some() && answer.get("result").is_none(),
            "Codex {server} answered `{method}` (the history says it lacks it): {answer}"
        );
    }
    eprintln!("Codex {server}: {} requests of the history refused locally and by the server", lacking.len());
}

/// Sends each method with `{}` params over raw JSON-RPC to a fresh app-server in `home` and
/// returns the answers, in order.
async fn raw_answers(home: &CodexHome, methods: impl Iterator<Item = &str>) -> Vec<Value> {
    let mut child = home.app_server_command(&codex_bin()).unwrap().spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let send = |message: Value| {
        let mut line = message.to_string();
        line.push('\n');
        line
    };
    let mut requests = vec![send(
        json!({"id": 0, "method": "initialize", "params": {"clientInfo": {"name": "compat", "version": "0"}}}),
    )];
    requests.push(send(json!({"method": "initialized"})));
    let methods: Vec<&str> = methods.collect();
    for (i, method) in methods.iter().enumerate() {
        requests.push(send(json!({"id": i + 1, "method": method, "params": {}})));
    }
    for line in requests {
        stdin.write_all(line.as_bytes()).await.unwrap();
    }
    stdin.flush().await.unwrap();
    let mut answers = vec![Value::Null; methods.len()];
    let mut pending = methods.len();
    while pending > 0 {
        let line = tokio::time::timeout(common::WAIT, lines.next_line())
            .await
            .expect("the app-server answers in time")
            .expect("read")
            .unwrap_or_else(|| panic!("the app-server closed stdout; stderr:\n{}", home.stderr_text()));
        let message: Value = serde_json::from_str(&line).expect("JSON");
        if let Some(id) = message.get("id").and_then(Value::as_u64).filter(|_| message.get("method").is_none()) {
            if id >= 1 {
                answers[id as usize - 1] = message;
                pending -= 1;
            }
        }
    }
    drop(stdin);
    child.kill().await.ok();
    answers
}

/// A scripted server that answers `initialize` with a user agent naming `version`, then
/// stays silent; the client connects through it and returns what it traced.
async fn connect_to_a_server_of(version: &str) -> (Connection, Vec<String>) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (cr, cw) = tokio::io::split(client);
    let (sr, mut sw) = tokio::io::split(server);
    let user_agent = format!("codex_rust_sdk/{version} (Linux; x86_64)");
    let script = tokio::spawn(async move {
        let mut lines = BufReader::new(sr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["method"] == "initialize" {
                let answer = json!({"id": message["id"], "result": {"userAgent": user_agent}});
                sw.write_all(format!("{answer}\n").as_bytes()).await.unwrap();
            }
        }
    });
    let (capture, guard) = Capture::install();
    let transport = codex_driver::rpc::Transport::lines(cr, cw, 1 << 20, codex_driver::Endpoint::custom("script"));
    let conn = Connection::from_transport(transport, ConnectionOptions::default());
    within("initialize", conn.initialize(&InitializeOptions::default())).await.unwrap();
    drop(guard);
    conn.close().await;
    script.abort();
    let warnings = capture.lines().into_iter().filter(|l| l.starts_with("event WARN")).collect();
    (conn, warnings)
}

#[tokio::test]
async fn a_server_outside_the_window_is_warned_about_once_and_still_works() {
    let oldest = WINDOW[0];
    let older = format!("{}.{}.0", oldest.major(), oldest.minor() - 1);
    let newer = format!("{}.{}.0", PINNED.major(), PINNED.minor() + 1);
    for (version, warning) in [(older.as_str(), Some("older than")), (newer.as_str(), Some("newer than"))] {
        let (conn, warnings) = connect_to_a_server_of(version).await;
        assert_eq!(warnings.len(), 1, "Codex {version}: {warnings:?}");
        assert!(warnings[0].contains(warning.unwrap()) && warnings[0].contains(version), "{warnings:?}");
        assert_eq!(conn.server_version().map(|v| v.to_string()), Some(version.to_owned()));
    }
    for version in [oldest.to_string(), PINNED.to_string()] {
        let (_, warnings) = connect_to_a_server_of(&version).await;
        assert!(warnings.is_empty(), "Codex {version} is inside the window: {warnings:?}");
    }
    // A version that is no release number: one warning, and nothing is refused.
    let (conn, warnings) = connect_to_a_server_of("dev-build").await;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("not a Codex release number"), "{warnings:?}");
    assert_eq!(conn.server_version(), None);
    assert!(conn.supports::<client_requests::ModelProviderList>());
}
