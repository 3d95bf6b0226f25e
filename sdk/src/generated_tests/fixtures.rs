//! Every message of the real transcripts recorded from Codex CLIs (the pin's, recorded by
//! `cargo xtask record`, and an older release's) decodes into a
//! typed value (never the fallback) and re-encodes without loss.

use super::generated::registry::{request_types, round_trip_named};
use crate::generated::methods::{ServerNotification, ServerRequest};
use codex_driver_codegen::instances::{is_subset, without_empty_members};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;

/// The recorded transcripts: `$CODEX_FIXTURES_DIR` alone when set; otherwise every
/// `codex-<version>/` of the repository's `tests/fixtures/` (recorded from the pin by
/// `cargo xtask record`, which must be there) and of `../shared/fixtures/` beside the
/// project root (older releases' transcripts, kept as evidence that they still decode).
fn transcripts() -> Vec<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dirs: Vec<PathBuf> = match std::env::var_os("CODEX_FIXTURES_DIR") {
        Some(dir) => vec![dir.into()],
        None => {
            let pin = manifest.join("../tests/fixtures").join(format!("codex-{}", crate::PINNED_CODEX_VERSION));
            assert!(pin.is_dir(), "no transcripts of the pin at {}: run `cargo xtask record`", pin.display());
            [manifest.join("../tests/fixtures"), manifest.join("../../shared/fixtures")]
                .iter()
                .flat_map(|parent| std::fs::read_dir(parent).into_iter().flatten().flatten())
                .map(|e| e.path())
                .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("codex-")))
                .collect()
        }
    };
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|dir| {
            std::fs::read_dir(dir).unwrap_or_else(|e| {
                panic!("cannot read the recorded transcripts at {}: {e} (set CODEX_FIXTURES_DIR)", dir.display())
            })
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no transcripts in {dirs:?}");
    files
}

/// `codex-<version>/<name>.jsonl` of a transcript path.
fn label_of(file: &std::path::Path) -> String {
    let dir = file.parent().and_then(|d| d.file_name()).unwrap_or_default().to_string_lossy();
    format!("{dir}/{}", file.file_name().unwrap().to_string_lossy())
}

/// Re-encoding loses nothing. The server sends some fields of the experimental surface
/// even to clients that did not opt in; the stable types drop those (and only those),
/// so the stable build checks that the re-encoded message is the wire message minus
/// some members, and the experimental build checks equality.
fn same(label: &str, want: &Value, got: &Value, failures: &mut Vec<String>) {
    let (want, got) = (without_empty_members(want), without_empty_members(got));
    let ok = if cfg!(feature = "experimental") { want == got } else { is_subset(&got, &want) };
    if !ok {
        failures.push(format!("{label}: re-encoding changed the message\n  wire:    {want}\n  encoded: {got}"));
    }
}

#[test]
fn every_recorded_server_message_decodes_and_re_encodes() {
    let files = transcripts();
    let (mut checked, mut failures) = (0usize, Vec::new());
    for file in &files {
        let name = label_of(file);
        let mut sent: HashMap<String, String> = HashMap::new();
        for (n, line) in std::fs::read_to_string(file).unwrap().lines().enumerate() {
            let entry: Value = serde_json::from_str(line).unwrap();
            let msg = &entry["msg"];
            let label = format!("{name}:{}", n + 1);
            let method = msg.get("method").and_then(Value::as_str);
            let params = msg.get("params").cloned().unwrap_or(Value::Null);
            if entry["dir"] == "->" {
                if let (Some(m), Some(id)) = (method, msg.get("id")) {
                    sent.insert(id.to_string(), m.to_owned());
                }
                continue;
            }
            checked += 1;
            match (method, msg.get("id")) {
                (Some(m), Some(_)) => match ServerRequest::decode(m, params.clone()) {
                    Err(e) => failures.push(format!("{label}: {e}")),
                    Ok(ServerRequest::Unrecognized { .. }) => {
                        failures.push(format!("{label}: `{m}` fell back to Unrecognized"))
                    }
                    Ok(req) => same(&label, &params, &req.params_json().unwrap(), &mut failures),
                },
                (Some(m), None) => match ServerNotification::decode(m, params.clone()) {
                    Err(e) => failures.push(format!("{label}: {e}")),
                    Ok(ServerNotification::Unrecognized { .. }) => {
                        failures.push(format!("{label}: `{m}` fell back to Unrecognized"))
                    }
                    Ok(note) => same(&label, &params, &note.params_json().unwrap(), &mut failures),
                },
                (None, Some(id)) => {
                    let Some(request) = sent.get(&id.to_string()) else {
                        failures.push(format!("{label}: response to an id the client never sent"));
                        continue;
                    };
                    if let Some(error) = msg.get("error") {
                        assert!(error["code"].is_i64() && error["message"].is_string(), "{label}: malformed error");
                        continue;
                    }
                    let (_, _, response) =
                        *request_types().iter().find(|(m, _, _)| m == request).expect("known method");
                    match round_trip_named(response, msg["result"].clone()).expect("registered") {
                        Err(e) => failures.push(format!("{label}: `{request}` response: {e}")),
                        Ok(back) => same(&label, &msg["result"], &back.encoded, &mut failures),
                    }
                }
                (None, None) => failures.push(format!("{label}: neither method nor id")),
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} messages failed:\n{}", failures.len(), failures.join("\n"));
    eprintln!("fixtures: {checked} server messages decoded and re-encoded");
}

/// `ServerNotification::thread_id` / `turn_id` agree with the routing keys the runtime reads
/// from the raw params (`threadId` / `thread.id`, `turnId` / `turn.id`) on every recorded
/// notification, and find ids on most of them.
#[test]
fn typed_ids_match_the_routing_keys() {
    let (mut checked, mut with_thread) = (0usize, 0usize);
    for path in transcripts() {
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let entry: Value = serde_json::from_str(line).unwrap();
            let msg = &entry["msg"];
            let (Some(method), None, "<-") =
                (msg.get("method").and_then(Value::as_str), msg.get("id"), entry["dir"].as_str().unwrap_or(""))
            else {
                continue;
            };
            let params = msg.get("params").cloned().unwrap_or(Value::Null);
            let raw = crate::rpc::RawNotification::new(method, params.clone());
            let typed = ServerNotification::decode(method, params).unwrap();
            assert_eq!(typed.thread_id(), raw.thread_id(), "{method}");
            assert_eq!(typed.turn_id(), raw.turn_id(), "{method}");
            checked += 1;
            with_thread += usize::from(typed.thread_id().is_some());
        }
    }
    assert!(checked > 100 && with_thread * 2 > checked, "{with_thread} of {checked}");
}

/// The reader's one pass over every recorded server message, as recorded and re-spaced
/// (keys sorted, pretty-printed), agrees with the plain way: the same class, method,
/// params text, routing keys and `emittedAtMs`.
#[test]
fn the_readers_one_pass_agrees_with_the_plain_way() {
    #[derive(serde::Deserialize)]
    struct Entry<'a> {
        dir: &'a str,
        #[serde(borrow)]
        msg: &'a serde_json::value::RawValue,
    }
    let mut checked = 0usize;
    for path in transcripts() {
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let entry: Entry<'_> = serde_json::from_str(line).unwrap();
            if entry.dir != "<-" {
                continue;
            }
            let value: Value = serde_json::from_str(entry.msg.get()).unwrap();
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            for text in [entry.msg.get(), pretty.as_str()] {
                let (one, plain) = crate::rpc::parsed_both_ways(text.as_bytes());
                assert_eq!(one, plain, "{}", label_of(&path));
                assert!(!one.starts_with("malformed"), "{one}");
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}
