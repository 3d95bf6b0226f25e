//! The fuzz targets' inputs as ordinary tests (stable, no fuzzing dependencies): every file
//! in `fuzz/regressions/<target>/` (crashes the fuzzer found, and edge cases kept on
//! purpose) and `fuzz/seeds/<target>/` runs through the same harness code the fuzz target
//! runs (`fuzz/harness/<target>.rs`), which panics on any violated check. A few inputs also
//! assert what they exercise, so the replay cannot pass by skipping the interesting paths.

#[path = "../../fuzz/harness/decode_route.rs"]
mod decode_route;
#[path = "../../fuzz/harness/typed_decode.rs"]
mod typed_decode;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// `(file name, contents)` of every file in `fuzz/<kind>/<target>/`, sorted; at least one.
fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no input", dir.display());
    files
}

fn input(kind: &str, target: &str, name: &str) -> Vec<u8> {
    let path = fuzz_dir().join(kind).join(target).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn decode_route_replays_every_regression_and_seed() {
    for kind in ["regressions", "seeds"] {
        for (name, bytes) in inputs(kind, "decode_route") {
            eprintln!("replaying fuzz/{kind}/decode_route/{name}");
            decode_route::run(&bytes);
        }
    }
}

#[test]
fn typed_decode_replays_every_regression_and_seed() {
    for kind in ["regressions", "seeds"] {
        for (name, bytes) in inputs(kind, "typed_decode") {
            eprintln!("replaying fuzz/{kind}/typed_decode/{name}");
            typed_decode::run(&bytes);
        }
    }
}

#[test]
fn oversized_and_malformed_lines_are_counted_and_skipped() {
    let report = decode_route::run(&input("regressions", "decode_route", "oversized-invalid-utf8-framing"));
    // Two oversized lines, invalid UTF-8, non-JSON, an orphan error, `{}`, `[]`, a string,
    // `{"id":null}` and a third oversized line; blank lines are not messages.
    assert_eq!(report.stats.invalid_messages, 10, "{report:#?}");
    // The oversized response fails its pending request instead of leaving it waiting.
    assert_eq!(report.too_large, 1, "{report:#?}");
    assert_eq!(report.stats.unmatched_responses, 2, "{report:#?}");
    // The CRLF-terminated line and the last line without a terminator still count.
    assert_eq!(report.stats.notifications_received, 2, "{report:#?}");
}

#[test]
fn high_level_calls_before_initialize_are_refused_and_send_nothing() {
    let report = decode_route::run(&input("regressions", "decode_route", "high-level-calls-before-initialize"));
    // `thread/start` and `turn/start` before `initialize`: `NotInitialized`, nothing sent,
    // so `initialize` is request 0 and the later `thread/start` request 1, both answered.
    assert_eq!(report.not_initialized, 2, "{report:#?}");
    assert_eq!(report.requests_ok, 2, "{report:#?}");
    assert_eq!(report.stats.unmatched_responses, 0, "{report:#?}");
}

#[test]
fn duplicate_ids_and_tiny_buffers_are_survived() {
    let report = decode_route::run(&input("regressions", "decode_route", "duplicate-ids-and-lag"));
    assert_eq!(report.requests_ok, 1, "{report:#?}");
    assert_eq!(report.stats.unmatched_responses, 1, "the duplicate response is dropped: {report:#?}");
    assert_eq!((report.server_requests, report.replies), (2, 2), "both server requests answered: {report:#?}");
    assert!(report.skipped > 0 && report.stats.events_lagged > 0, "buffers of 1 lag: {report:#?}");
}

#[test]
fn the_seeds_reach_the_typed_paths() {
    let report = decode_route::run(&input("seeds", "decode_route", "turn-flow"));
    assert_eq!((report.requests_ok, report.turn_results), (2, 1), "{report:#?}");
    assert_eq!(report.decode_errors, 0, "{report:#?}");
    assert_eq!(report.typed as u64, report.stats.notifications_received, "{report:#?}");

    let report = decode_route::run(&input("seeds", "decode_route", "server-requests"));
    assert_eq!(report.turn_results, 1, "{report:#?}");
    assert_eq!((report.server_requests, report.replies), (6, 6), "malformed and unknown ones too: {report:#?}");

    for (name, bytes) in inputs("seeds", "typed_decode") {
        let report = typed_decode::run(&bytes);
        assert!(report.round_trips >= 1, "{name}: {report:?}");
        if name != "unknown-method" {
            assert_eq!(report.errors, 0, "{name}: {report:?}");
        }
    }
    let report = typed_decode::run(&input("regressions", "typed_decode", "malformed-known-method"));
    assert_eq!((report.round_trips, report.errors), (0, 1), "{report:?}");
}

#[test]
fn the_websocket_wire_reaches_the_typed_paths_and_closes_as_the_frame_says() {
    use codex_driver::CloseReason;

    // The turn flow as text frames (one fragmented, a ping amid the deltas), then a close frame.
    let report = decode_route::run(&input("seeds", "decode_route", "ws-turn-flow"));
    assert_eq!((report.requests_ok, report.turn_results), (2, 1), "{report:#?}");
    assert_eq!(report.typed as u64, report.stats.notifications_received, "{report:#?}");
    assert_eq!(report.stats.invalid_messages, 0, "{report:#?}");
    assert_eq!(
        report.close_reason,
        Some(CloseReason::WebSocketClosed { code: 1001, reason: "going away".into() }),
        "{report:#?}"
    );
    let ws = report.ws.as_ref().expect("the WebSocket wire");
    assert_eq!(ws.pongs, vec![b"are you there".to_vec()], "{report:#?}");
    assert_eq!(ws.client_close, Some(Some(1001)), "the close frame is answered: {report:#?}");
    assert_eq!(ws.messages, 4, "initialize, initialized, thread/start, turn/start: {report:#?}");
}

#[test]
fn websocket_garbage_frames_are_counted_and_fatal_frames_close_as_protocol_violations() {
    use codex_driver::CloseReason;

    let report = decode_route::run(&input("regressions", "decode_route", "ws-garbage-frames-oversize-and-bad-utf8"));
    // Not JSON, a binary frame, half a message, an oversized answer (an unsolicited pong is
    // not a message at all); then the fragmented answer and a notification arrive.
    assert_eq!(report.stats.invalid_messages, 4, "{report:#?}");
    assert_eq!((report.too_large, report.requests_ok), (1, 1), "{report:#?}");
    assert_eq!(report.stats.notifications_received, 1, "{report:#?}");
    assert_eq!(report.ws.as_ref().unwrap().pongs, vec![b"p1".to_vec(), b"p2".to_vec()], "{report:#?}");
    // A text frame that is not UTF-8 fails the connection (RFC 6455 §8.1).
    assert!(
        matches!(&report.close_reason, Some(CloseReason::Protocol { message }) if message.to_lowercase().contains("utf-8")),
        "{report:#?}"
    );

    let report = decode_route::run(&input("regressions", "decode_route", "ws-over-the-hard-cap"));
    assert!(
        matches!(&report.close_reason, Some(CloseReason::Protocol { message }) if message.contains("exceeds")),
        "{report:#?}"
    );
    assert_eq!((report.requests_ok, report.too_large, report.stats.pending_requests), (0, 0, 0), "{report:#?}");

    let report = decode_route::run(&input("regressions", "decode_route", "ws-reserved-bits-and-masked-frame"));
    assert!(matches!(report.close_reason, Some(CloseReason::Protocol { .. })), "{report:#?}");
}

#[test]
fn websocket_ends_without_a_close_frame_by_the_client_and_with_odd_close_codes() {
    use codex_driver::CloseReason;

    let report = decode_route::run(&input("regressions", "decode_route", "ws-eof-mid-request"));
    assert_eq!(report.requests_ok, 1, "initialize: {report:#?}");
    assert_eq!(report.close_reason, Some(CloseReason::EndOfStream), "{report:#?}");

    let report = decode_route::run(&input("regressions", "decode_route", "ws-client-close"));
    assert_eq!(report.close_reason, Some(CloseReason::ClosedByClient), "{report:#?}");
    assert!(report.ws.as_ref().unwrap().client_close.is_some(), "close() sends a close frame: {report:#?}");
    assert_eq!(report.requests_ok, 0, "{report:#?}");

    // 1005 may not be sent in a close frame: the server broke the protocol.
    let report = decode_route::run(&input("regressions", "decode_route", "ws-close-code-that-may-not-be-sent"));
    assert!(
        matches!(&report.close_reason, Some(CloseReason::Protocol { message }) if message.contains("close code")),
        "{report:#?}"
    );
}

/// The fuzz finding of a number that did not survive the round trip: an integer beyond
/// `u64` in free-form params (every method's, through the unknown method) and typed `f64`
/// fields (an MCP elicitation's number schema) decode, encode and decode again to the same
/// value; this needs serde_json's exact float parsing (`float_roundtrip`).
#[test]
fn big_numbers_survive_the_round_trip_exactly() {
    let report = typed_decode::run(&input("regressions", "typed_decode", "big-integer-float-round-trip"));
    assert!(report.round_trips >= 1, "{report:?}");
    let report = typed_decode::run(&input("regressions", "typed_decode", "typed-f64-exact-round-trip"));
    assert_eq!((report.round_trips, report.errors), (1, 0), "{report:?}");

    // The value, too: the decoded `f64` is the one closest to the text, as a parse from
    // scratch gives it.
    use codex_driver::methods::ServerRequest;
    let bytes = input("regressions", "typed_decode", "typed-f64-exact-round-trip");
    let params: serde_json::Value =
        serde_json::from_slice(&bytes[bytes.iter().position(|&b| b == b'\n').unwrap() + 1..]).unwrap();
    let decoded = ServerRequest::decode("mcpServer/elicitation/request", params).unwrap();
    let encoded = decoded.params_json().unwrap();
    let minimum = encoded.pointer("/requestedSchema/properties/n/minimum").and_then(serde_json::Value::as_f64);
    assert_eq!(minimum, Some("9599999999999999999999990".parse::<f64>().unwrap()), "{encoded}");
}
