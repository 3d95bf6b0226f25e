//! `codex-bench decode`: decode + route throughput over the recorded transcripts, amplified.
//!
//! Four paths over the same bytes, interleaved round by round, median of the rounds:
//! 1. the limit: split lines, `serde_json::from_slice::<Value>` each;
//! 2. a lean typed client, no routing: each line's envelope with raw `params`, then
//!    `ServerNotification::decode_raw` straight from the params text;
//! 3. the SDK: `Connection::from_transport(Transport::lines(..))` over an in-memory reader → frame → classify → route to
//!    live subscribers (a `TurnStream` per turn, a thread subscription per thread, one
//!    client-wide `Unscoped` subscription), each drained by its own task;
//! 4. the same with each notification decoded into `ServerNotification` by the subscriber
//!    that owns it (turn events by their turn stream, thread events by their thread
//!    subscription, the rest by the unscoped one): every notification is decoded once.

use std::future::Future;
use std::hint::black_box;
use std::io::Cursor;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use codex_driver::methods::ServerNotification;
use codex_driver::rpc::{Connection, Transport};
use codex_driver::rpc::{ConnectionOptions, Event, EventFilter};
use codex_driver::{Endpoint, Error};
use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::oneshot;

use crate::corpus::{self, Corpus};
use crate::measure::{grouped, median, self_cpu, Table};

/// Settings of the decode bench.
#[derive(Debug, Clone)]
pub struct Options {
    /// At least this many notifications.
    pub messages: usize,
    /// Measured rounds (each runs every path once); one more unmeasured round warms up.
    pub rounds: usize,
    /// Long-lived threads the repetitions are spread over.
    pub lanes: usize,
    /// The SDK paths on a current-thread Tokio runtime instead of a 2-worker one: the
    /// reader and every subscriber on one thread, so their CPU is the work itself, without
    /// the hand-offs between workers.
    pub current_thread: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Value,
    ValueTyped,
    SdkRoute,
    SdkTyped,
}

impl Path {
    const ALL: [Path; 4] = [Path::Value, Path::ValueTyped, Path::SdkRoute, Path::SdkTyped];

    fn label(self) -> &'static str {
        match self {
            Path::Value => "`serde_json::from_slice::<Value>` per line (the limit)",
            Path::ValueTyped => "envelope + `ServerNotification::decode_raw` (no routing)",
            Path::SdkRoute => "SDK: frame → classify → route → subscribers",
            Path::SdkTyped => "SDK: … + `ServerNotification::decode_raw` per subscriber",
        }
    }
}

/// Wall and CPU time of one pass.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

/// Runs the bench and prints its table.
pub fn run(options: &Options) -> Result<(), String> {
    let dir = corpus::transcripts_dir();
    let transcripts = corpus::load(&dir)?;
    let corpus = corpus::amplify(&transcripts, options.messages, options.lanes);
    let runtime = if options.current_thread {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    }
    .map_err(|e| e.to_string())?;
    let workers = match options.current_thread {
        true => "a current-thread Tokio runtime".to_owned(),
        false => format!("a {}-worker Tokio runtime", runtime.metrics().num_workers()),
    };
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); Path::ALL.len()];
    for round in 0..=options.rounds {
        for (i, path) in Path::ALL.into_iter().enumerate() {
            let sample = match path {
                Path::Value => value_pass(&corpus, false)?,
                Path::ValueTyped => value_pass(&corpus, true)?,
                Path::SdkRoute => runtime.block_on(sdk_pass(&corpus, false))?,
                Path::SdkTyped => runtime.block_on(sdk_pass(&corpus, true))?,
            };
            if round > 0 {
                samples[i].push(sample);
            }
        }
    }

    let megabytes = corpus.data.len() as f64 / 1e6;
    println!("### Decode + route throughput\n");
    println!(
        "{} notifications ({:.1} MB): the {} recorded transcripts of {} repeated, turn ids made unique per \
         repetition, threads spread over {} lanes. Subscribers: {} turn streams, {} thread subscriptions, \
         1 unscoped subscription, each drained by its own task on {workers}. \
         Median of {} rounds; the paths alternate within each round.\n",
        grouped(corpus.messages as f64),
        megabytes,
        transcripts.len(),
        dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned()),
        options.lanes,
        grouped(corpus.turn_ids.len() as f64),
        corpus.thread_ids.len(),
        options.rounds,
    );
    let wall = |i: usize| median(&samples[i].iter().map(|s| s.wall.as_secs_f64()).collect::<Vec<_>>());
    let cpu = |i: usize| median(&samples[i].iter().map(|s| s.cpu.as_secs_f64()).collect::<Vec<_>>());
    let (limit_wall, limit_cpu) = (wall(0), cpu(0));
    let mut table = Table::new(&["path", "messages/s", "MB/s", "CPU ns/message", "time vs limit", "CPU vs limit"]);
    for (i, path) in Path::ALL.into_iter().enumerate() {
        let (w, c) = (wall(i), cpu(i));
        table.row(vec![
            path.label().to_owned(),
            grouped(corpus.messages as f64 / w),
            format!("{:.0}", megabytes / w),
            grouped(c * 1e9 / corpus.messages as f64),
            format!("{:.2}×", w / limit_wall),
            format!("{:.2}×", c / limit_cpu),
        ]);
    }
    println!("{}", table.render());
    Ok(())
}

/// A notification's envelope, its params left as text.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    method: &'a str,
    #[serde(borrow)]
    params: Option<&'a serde_json::value::RawValue>,
}

fn null_params() -> &'static serde_json::value::RawValue {
    static NULL: std::sync::OnceLock<Box<serde_json::value::RawValue>> = std::sync::OnceLock::new();
    NULL.get_or_init(|| serde_json::value::RawValue::from_string("null".into()).expect("null"))
}

/// Path 1 or 2: a plain loop over the lines.
fn value_pass(corpus: &Corpus, typed: bool) -> Result<Sample, String> {
    let (cpu0, t0) = (self_cpu(), Instant::now());
    let mut count = 0usize;
    for line in corpus.lines() {
        if typed {
            // A lean typed client: the envelope with raw params, then the typed params
            // straight from their text.
            let envelope: Envelope<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
            let params = envelope.params.unwrap_or_else(|| null_params());
            let decoded = ServerNotification::decode_raw(envelope.method, params).map_err(|e| e.to_string())?;
            black_box(&decoded);
        } else {
            let value: Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
            black_box(&value);
        }
        count += 1;
    }
    let sample = Sample { wall: t0.elapsed(), cpu: self_cpu() - cpu0 };
    check_count("the line loop", count, corpus.messages)?;
    Ok(sample)
}

/// Which of the events a subscriber receives it decodes (every notification has exactly
/// one owner).
#[derive(Clone, Copy)]
enum Owns {
    All,
    WithoutTurn,
}

/// Path 3 or 4: the SDK's reader, router and streams.
async fn sdk_pass(corpus: &Corpus, typed: bool) -> Result<Sample, String> {
    let (open, gate) = oneshot::channel();
    let reader = Gated { gate: Some(gate), inner: Cursor::new(corpus.data.clone()) };
    // Buffers large enough that no subscriber lags: this measures throughput, not overflow.
    let capacity = corpus.messages.max(1);
    let options = ConnectionOptions::default().with_buffers(capacity, capacity);
    let transport = Transport::lines(reader, tokio::io::sink(), options.max_message_size, Endpoint::custom("corpus"));
    let conn = Connection::from_transport(transport, options);
    let mut consumers = Vec::new();
    for id in &corpus.turn_ids {
        consumers.push(tokio::spawn(consume(conn.subscribe_turn(id), Owns::All, typed)));
    }
    for id in &corpus.thread_ids {
        consumers.push(tokio::spawn(consume(conn.subscribe_thread(id), Owns::WithoutTurn, typed)));
    }
    consumers.push(tokio::spawn(consume(conn.subscribe(EventFilter::Unscoped), Owns::All, typed)));

    let (cpu0, t0) = (self_cpu(), Instant::now());
    let _ = open.send(());
    let mut owned = 0usize;
    for consumer in consumers {
        owned += consumer.await.map_err(|e| e.to_string())??;
    }
    let sample = Sample { wall: t0.elapsed(), cpu: self_cpu() - cpu0 };
    let stats = conn.stats();
    if stats.notifications_received != corpus.messages as u64
        || stats.notifications_unrouted != 0
        || stats.events_lagged != 0
        || stats.invalid_messages != 0
    {
        return Err(format!("the SDK did not route every notification exactly: {stats:?}"));
    }
    check_count("the SDK's subscribers", owned, corpus.messages)?;
    Ok(sample)
}

/// Drains one stream until it ends (a turn stream after `turn/completed`, a subscription
/// at the close error); returns how many events it owned.
async fn consume<S>(mut stream: S, owns: Owns, typed: bool) -> Result<usize, String>
where
    S: Stream<Item = codex_driver::Result<Event>> + Unpin,
{
    let mut owned = 0;
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(event) => event,
            Err(Error::TransportClosed { .. }) => break,
            Err(e) => return Err(format!("stream error: {e}")),
        };
        if matches!(owns, Owns::WithoutTurn) && event.turn_id().is_some() {
            continue;
        }
        owned += 1;
        if typed {
            let decoded = ServerNotification::decode_raw(event.method(), event.params()).map_err(|e| e.to_string())?;
            black_box(&decoded);
        } else {
            black_box(event.method());
        }
    }
    Ok(owned)
}

fn check_count(what: &str, got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what} saw {got} notifications, expected {want}"))
    }
}

/// An in-memory reader that yields nothing until its gate opens, so that every subscription
/// exists before the first byte is read and the timer starts with the reading.
struct Gated {
    gate: Option<oneshot::Receiver<()>>,
    inner: Cursor<Vec<u8>>,
}

impl AsyncRead for Gated {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if let Some(gate) = self.gate.as_mut() {
            let _ = ready!(Pin::new(gate).poll(cx));
            self.gate = None;
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}
