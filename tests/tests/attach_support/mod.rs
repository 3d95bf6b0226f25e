//! Test-side pieces for the `attach` tests: a loopback TLS-terminating proxy (`wss://` in front
//! of a real `ws://` app-server), hand-signed JWTs (claims the SDK never mints: expired, not
//! yet valid, unsigned), the processes of a home, the server-side TCP connections of a port,
//! a recorder of a client's notifications, and a fault-injecting TCP proxy (reconnect.rs).

pub mod fault_proxy;
pub mod jwt;
pub mod tls_proxy;

use codex_driver::{Codex, Error};
use futures::StreamExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// Live processes (not zombies) other than this one whose command line or environment
/// mentions `root` (a [`CodexHome`](codex_driver::testing::CodexHome)'s temporary root:
/// its `CODEX_HOME` and `HOME` live under it), with their command lines.
pub fn processes_under(root: &Path) -> Vec<(u32, String)> {
    let needle = root.as_os_str().as_encoded_bytes();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mentions = |bytes: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            // A zombie has an empty command line and environment: it runs nothing.
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            (mentions(&cmdline) || mentions(&environ))
                .then(|| (pid, String::from_utf8_lossy(&cmdline).replace('\0', " ").trim_end().to_owned()))
        })
        .collect()
}

/// The server side of established TCP connections to 127.0.0.1:`port` (from
/// `/proc/net/tcp`): how many clients a loopback server holds right now.
pub fn established_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st ...; the port is the hex after ':'.
            let local_port =
                fields.get(1).and_then(|a| a.rsplit_once(':')).and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            local_port == Some(port) && fields.get(3) == Some(&"01")
        })
        .count()
}

/// One notification as a client saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub thread: Option<String>,
    pub turn: Option<String>,
    /// The text of an `item/agentMessage/delta`.
    pub delta: Option<String>,
    /// The `status.type` of a `thread/status/changed` (`active`, `idle`, …).
    pub status: Option<String>,
}

/// The thread and turn ids a notification names (`threadId`/`turnId`, or `thread.id`/`turn.id`).
pub fn ids(params: &serde_json::Value) -> (Option<String>, Option<String>) {
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
    let thread = text(params.get("threadId")).or_else(|| text(params.pointer("/thread/id")));
    let turn = text(params.get("turnId")).or_else(|| text(params.pointer("/turn/id")));
    (thread, turn)
}

/// Records every notification `codex.notifications()` yields, until the connection closes.
pub struct Recorder {
    log: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<Result<(), String>>,
}

/// Starts recording `codex.notifications()`.
pub fn record(codex: &Codex) -> Recorder {
    let mut notifications = codex.notifications();
    let log = Arc::new(Mutex::new(Vec::new()));
    let shared = log.clone();
    let task = tokio::spawn(async move {
        while let Some(item) = notifications.next().await {
            match item {
                Ok(n) => {
                    let params = n.params_json().unwrap_or_default();
                    let (thread, turn) = ids(&params);
                    let delta = match &n {
                        codex_driver::methods::ServerNotification::ItemAgentMessageDelta(d) => Some(d.delta.clone()),
                        _ => None,
                    };
                    let status = params.pointer("/status/type").and_then(|s| s.as_str()).map(str::to_owned);
                    shared.lock().unwrap().push(Seen { method: n.method().to_owned(), thread, turn, delta, status });
                }
                Err(Error::TransportClosed { .. }) => break,
                Err(e) => {
                    return Err(format!(
                        "notification stream error after {} events: {e:?}",
                        shared.lock().unwrap().len()
                    ))
                }
            }
        }
        Ok(())
    });
    Recorder { log, task }
}

impl Recorder {
    /// Waits (within the tests' hang guard) until `done` holds for the log.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Seen]) -> bool) {
        crate::common::within(what, async {
            while !done(&self.log.lock().unwrap()) {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
    }

    /// The whole log, once the connection has closed (the stream ended). Fails the test on
    /// a stream error other than the final `TransportClosed` (a lag, an undecodable event).
    pub async fn finish(self) -> Vec<Seen> {
        let outcome = crate::common::within("the notification stream to end", self.task).await.expect("recorder task");
        if let Err(e) = outcome {
            panic!("{e}");
        }
        Arc::try_unwrap(self.log).map(|m| m.into_inner().unwrap()).unwrap_or_else(|log| log.lock().unwrap().clone())
    }
}

/// Turn lifecycle notifications: what only a thread's subscribers get.
pub const TURN_EVENTS: [&str; 5] =
    ["turn/started", "item/started", "item/agentMessage/delta", "item/completed", "turn/completed"];

/// The entries of `log` about turn `turn` that are turn lifecycle events.
pub fn turn_events<'a>(log: &'a [Seen], turn: &str) -> Vec<&'a Seen> {
    log.iter().filter(|s| s.turn.as_deref() == Some(turn) && TURN_EVENTS.contains(&s.method.as_str())).collect()
}

/// The deltas of turn `turn` in `log`, in order.
pub fn turn_deltas(log: &[Seen], turn: &str) -> Vec<String> {
    log.iter().filter(|s| s.turn.as_deref() == Some(turn)).filter_map(|s| s.delta.clone()).collect()
}

/// How many `method` notifications about turn `turn` are in `log`.
pub fn count(log: &[Seen], method: &str, turn: &str) -> usize {
    log.iter().filter(|s| s.method == method && s.turn.as_deref() == Some(turn)).count()
}

/// Waits until no process mentions the home's temporary root (its CODEX_HOME and HOME),
/// then asserts it: what a test started is gone.
pub async fn assert_nothing_left(home: &codex_driver::testing::CodexHome) {
    let root = home.codex_home().parent().expect("the home's root").to_owned();
    crate::common::within("every process of the home to exit", async {
        while !processes_under(&root).is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(processes_under(&root), Vec::new(), "processes left for {}", root.display());
}
