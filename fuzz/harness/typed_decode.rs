//! The `typed_decode` harness: the generated typed decoding of server notifications and
//! server requests, and the round trip of whatever decodes.
//!
//! Shared, via `#[path]`, by the fuzz target (`fuzz/fuzz_targets/typed_decode.rs`) and the
//! regression test (`sdk/tests/fuzz_regressions.rs`); it uses only the SDK's public API.
//!
//! # Input
//!
//! `<method>\n<params JSON>` (empty params = `null`). A known method (a server notification
//! or server request of the pinned schema) is decoded as itself; any other method is decoded
//! as itself (the forward-compatible `Unrecognized` variant) and then the same params as
//! every known method, so one input reaches every decoder.
//!
//! # What must hold (a violation panics)
//!
//! For `ServerNotification::decode` and `ServerRequest::decode` alike: an error names the
//! method; a decoded value keeps its method; a known method never decodes as
//! `Unrecognized`; and the round trip holds: `params_json()` succeeds, decoding its output
//! again gives an equal value, and encoding that gives the same JSON.

use std::fmt::Debug;

use codex_driver::methods::{ServerNotification, ServerRequest, SERVER_NOTIFICATION_METHODS, SERVER_REQUEST_METHODS};
use codex_driver::protocol::DecodeError;
use serde_json::Value;

/// What one input exercised (the regression test asserts on it; the fuzzer ignores it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[allow(dead_code)]
pub struct Report {
    /// Decodes into a known typed variant, each round-tripped.
    pub round_trips: usize,
    /// Decodes into the `Unrecognized` variant, each round-tripped.
    pub unrecognized: usize,
    /// Decodes that failed (malformed params of a known method).
    pub errors: usize,
}

/// Runs one input; panics if anything above does not hold.
pub fn run(data: &[u8]) -> Report {
    let mut report = Report::default();
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(method) = std::str::from_utf8(&data[..split]) else {
        return report;
    };
    let body = data.get(split + 1..).unwrap_or_default();
    let params = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(params) => params,
            Err(_) => return report,
        }
    };
    check_method(method, &params, &mut report);
    let known = SERVER_NOTIFICATION_METHODS.contains(&method) || SERVER_REQUEST_METHODS.contains(&method);
    if !known {
        for method in SERVER_NOTIFICATION_METHODS.iter().chain(SERVER_REQUEST_METHODS) {
            check_method(method, &params, &mut report);
        }
    }
    report
}

fn check_method(method: &str, params: &Value, report: &mut Report) {
    round_trip(
        method,
        params,
        ServerNotification::decode,
        ServerNotification::method,
        ServerNotification::params_json,
        |n| matches!(n, ServerNotification::Unrecognized { .. }),
        SERVER_NOTIFICATION_METHODS,
        report,
    );
    round_trip(
        method,
        params,
        ServerRequest::decode,
        ServerRequest::method,
        ServerRequest::params_json,
        |r| matches!(r, ServerRequest::Unrecognized { .. }),
        SERVER_REQUEST_METHODS,
        report,
    );
}

#[allow(clippy::too_many_arguments)]
fn round_trip<T: PartialEq + Debug>(
    method: &str,
    params: &Value,
    decode: fn(&str, Value) -> Result<T, DecodeError>,
    method_of: fn(&T) -> &str,
    encode: fn(&T) -> Result<Value, serde_json::Error>,
    unrecognized: fn(&T) -> bool,
    known_methods: &[&str],
    report: &mut Report,
) {
    let decoded = match decode(method, params.clone()) {
        Ok(decoded) => decoded,
        Err(e) => {
            assert_eq!(e.method, method, "a decode error names another method");
            report.errors += 1;
            return;
        }
    };
    assert_eq!(method_of(&decoded), method, "a decoded value changed its method");
    if unrecognized(&decoded) {
        assert!(!known_methods.contains(&method), "the known method `{method}` decoded as Unrecognized");
        report.unrecognized += 1;
    } else {
        report.round_trips += 1;
    }
    let encoded =
        encode(&decoded).unwrap_or_else(|e| panic!("decoded `{method}` params do not encode: {e}\n{decoded:?}"));
    let again = decode(method, encoded.clone()).unwrap_or_else(|e| {
        panic!("re-encoded `{method}` params do not decode: {e}\nparams: {params}\nre-encoded: {encoded}")
    });
    assert_eq!(again, decoded, "`{method}`: decode(encode(x)) != x\nparams: {params}\nre-encoded: {encoded}");
    let encoded_again = encode(&again).expect("encodes once, encodes twice");
    assert_eq!(encoded_again, encoded, "`{method}`: encoding is not stable");
}
