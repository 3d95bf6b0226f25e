//! A scripted fake `codex app-server` for fault tests: speaks newline-delimited JSON-RPC on
//! stdin/stdout and follows a script, so tests can produce what the real server never
//! does (garbage, duplicates, oversized lines, overload, abrupt exits) through a real pipe.
//!
//! Usage: `scripted_app_server SCRIPT.json`. The script is one JSON object:
//!
//! ```json
//! {"log": "/tmp/x/received.jsonl", "steps": [ ... ]}
//! ```
//!
//! `log` (optional) gets one JSON line per line received on stdin, as it arrives:
//! `{"t_ms": <milliseconds since start, monotonic>, "line": "<the line, lossy UTF-8>"}`.
//!
//! Steps run in order; each is an object with one of these keys:
//!
//! | step | does |
//! | --- | --- |
//! | `{"expect": "M"}` | waits for the next request (a message with `id` and `method`; notifications are skipped) and requires its method to be `M`; its id becomes the current id. May carry `result` or `error` to answer it at once. |
//! | `{"result": V}` | answers the current request: `{"id": <id>, "result": V}`; with `"to": "M"`, the last `M` request instead |
//! | `{"error": E}` | answers the current request with an error (`"to"` as for `result`) |
//! | `{"send": V}` | writes `V` as one line; every string `"$id"` in it becomes the current id, `"$id:M"` the id of the last `M` request. With `"pad_to": N`, the string `"$pad"` becomes `x`s making the line exactly N bytes; with `"newline": false`, no line terminator. |
//! | `{"raw": "text"}` | writes the text as is, `$id` replaced by the current id (add `\n` yourself) |
//! | `{"bytes": [255, 10]}` | writes the bytes as is |
//! | `{"stderr": "text"}` | writes the text and a newline to stderr |
//! | `{"sleep_ms": N}` | sleeps |
//! | `{"exit": N}` | exits with code N |
//!
//! After the last step it reads (and logs) stdin until it closes, then exits 0. A
//! `thread/unsubscribe` that is not expected is answered (`{"status": "unsubscribed"}`) and
//! skipped: the SDK sends it by itself once no handle needs a thread. A request
//! with another method than expected, or stdin closing during `expect`, is reported on
//! stderr and ends the process with code 101.

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| fail("usage: scripted_app_server SCRIPT.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("cannot read {path}: {e}")));
    let script: Value = serde_json::from_str(&text).unwrap_or_else(|e| fail(&format!("bad script {path}: {e}")));
    let log = script.get("log").and_then(Value::as_str).map(str::to_owned);
    let steps = script.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();

    let lines = spawn_reader(Instant::now(), log);
    let mut out = std::io::stdout().lock();
    let mut ids = Ids::default();
    for (n, step) in steps.iter().enumerate() {
        if let Some(method) = step.get("expect").and_then(Value::as_str) {
            ids.current = expect(&lines, method, n);
            ids.by_method.insert(method.to_owned(), ids.current.clone());
        }
        let to = match step.get("to").and_then(Value::as_str) {
            Some(method) => ids.of(method),
            None => ids.current.clone(),
        };
        if let Some(result) = step.get("result") {
            write_line(&mut out, &serde_json::json!({"id": to, "result": result}), true);
        }
        if let Some(error) = step.get("error") {
            write_line(&mut out, &serde_json::json!({"id": to, "error": error}), true);
        }
        if let Some(value) = step.get("send") {
            let value = substitute(value, &ids);
            let newline = step.get("newline").and_then(Value::as_bool).unwrap_or(true);
            match step.get("pad_to").and_then(Value::as_u64) {
                Some(size) => write_padded(&mut out, &value, size as usize, newline),
                None => write_line(&mut out, &value, newline),
            }
        }
        if let Some(raw) = step.get("raw").and_then(Value::as_str) {
            write_bytes(&mut out, raw.replace("$id", &ids.current.to_string()).as_bytes());
        }
        if let Some(bytes) = step.get("bytes").and_then(Value::as_array) {
            let bytes: Vec<u8> = bytes.iter().map(|b| b.as_u64().unwrap_or(0) as u8).collect();
            write_bytes(&mut out, &bytes);
        }
        if let Some(text) = step.get("stderr").and_then(Value::as_str) {
            eprintln!("{text}");
        }
        if let Some(ms) = step.get("sleep_ms").and_then(Value::as_u64) {
            std::thread::sleep(Duration::from_millis(ms));
        }
        if let Some(code) = step.get("exit").and_then(Value::as_i64) {
            let _ = out.flush();
            std::process::exit(code as i32);
        }
    }
    // Keep the connection open (and keep logging) until the client goes away.
    while lines.recv().is_ok() {}
}

/// Reads stdin on its own thread, logging each line with its arrival time.
fn spawn_reader(start: Instant, log: Option<String>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut log = log.map(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| fail(&format!("cannot open log {path}: {e}")))
        });
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            if let Some(file) = &mut log {
                let t_ms = start.elapsed().as_secs_f64() * 1000.0;
                let entry = serde_json::json!({"t_ms": t_ms, "line": String::from_utf8_lossy(&line)});
                let mut bytes = serde_json::to_vec(&entry).expect("log entry");
                bytes.push(b'\n');
                let _ = file.write_all(&bytes);
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the next request and checks its method; returns its id.
fn expect(lines: &mpsc::Receiver<Vec<u8>>, method: &str, step: usize) -> Value {
    loop {
        let Ok(line) = lines.recv() else {
            fail(&format!("step {step}: stdin closed while expecting `{method}`"));
        };
        let Ok(message) = serde_json::from_slice::<Value>(&line) else {
            fail(&format!("step {step}: the client sent a line that is not JSON: {}", String::from_utf8_lossy(&line)));
        };
        let Some(id) = message.get("id") else {
            continue; // a notification (e.g. `initialized`)
        };
        let got = message.get("method").and_then(Value::as_str);
        if got == Some("thread/unsubscribe") && method != "thread/unsubscribe" {
            // The SDK lets a thread go by itself once no handle needs it: answer and go on.
            let reply = serde_json::json!({"id": id, "result": {"status": "unsubscribed"}});
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{reply}").and_then(|()| out.flush());
            continue;
        }
        if got != Some(method) {
            fail(&format!("step {step}: expected a `{method}` request, got {message}"));
        }
        return id.clone();
    }
}

/// The ids of the requests received so far.
#[derive(Default)]
struct Ids {
    current: Value,
    by_method: HashMap<String, Value>,
}

impl Ids {
    fn of(&self, method: &str) -> Value {
        self.by_method.get(method).cloned().unwrap_or_else(|| fail(&format!("no `{method}` request was received yet")))
    }
}

/// `value` with every string `"$id"` / `"$id:M"` replaced by that request id.
fn substitute(value: &Value, ids: &Ids) -> Value {
    match value {
        Value::String(s) if s == "$id" => ids.current.clone(),
        Value::String(s) if s.starts_with("$id:") => ids.of(&s["$id:".len()..]),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, ids)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), substitute(v, ids))).collect()),
        other => other.clone(),
    }
}

fn write_line(out: &mut impl Write, value: &Value, newline: bool) {
    let mut bytes = serde_json::to_vec(value).expect("serialize");
    if newline {
        bytes.push(b'\n');
    }
    write_bytes(out, &bytes);
}

/// Writes `value` with its `"$pad"` string grown so the line is exactly `size` bytes.
fn write_padded(out: &mut impl Write, value: &Value, size: usize, newline: bool) {
    let text = serde_json::to_string(value).expect("serialize");
    let (head, tail) =
        text.split_once("\"$pad\"").unwrap_or_else(|| fail("`pad_to` needs a \"$pad\" string in `send`"));
    let fixed = head.len() + tail.len() + 2;
    let pad = size
        .checked_sub(fixed)
        .unwrap_or_else(|| fail(&format!("`pad_to` {size} is below the {fixed} bytes of the message")));
    let mut bytes = Vec::with_capacity(size + 1);
    bytes.extend_from_slice(head.as_bytes());
    bytes.push(b'"');
    bytes.resize(bytes.len() + pad, b'x');
    bytes.push(b'"');
    bytes.extend_from_slice(tail.as_bytes());
    if newline {
        bytes.push(b'\n');
    }
    write_bytes(out, &bytes);
}

fn write_bytes(out: &mut impl Write, bytes: &[u8]) {
    // The client may already be gone (e.g. it killed us); that is not the script's failure.
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

fn fail(message: &str) -> ! {
    eprintln!("scripted_app_server: {message}");
    std::process::exit(101);
}
