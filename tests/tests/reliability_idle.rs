//! 1,000 turns on the real pinned `codex app-server` with nobody subscribed to client- or
//! thread-wide notifications. (The project's issue reports that the official Python SDK's
//! client-wide queue grows by about five unread notifications per turn, forever; here about
//! five per turn are the ones nobody asked for.) Here every notification goes to its turn's
//! stream or is counted and dropped: whenever the connection is idle nothing is buffered,
//! subscribed or pending, however many turns ran.
//!
//! Alone in its test binary, so the process RSS it prints is its own.

#[allow(dead_code)] // this binary uses a part of the shared helpers
mod common;

use std::time::Instant;

use codex_driver::testing::{CodexHome, MockModel, MockResponse};
use codex_driver::{Codex, Thread, ThreadOptions};
use common::{connect_home, within};

const TURNS: usize = 1000;
/// Threads per batch, running concurrently.
const THREADS: usize = 20;
/// Turns between two checks of the idle connection.
const BATCH: usize = 100;

async fn start_thread(codex: &Codex) -> Thread {
    within("thread/start", codex.thread_start(&ThreadOptions::default())).await.expect("thread/start")
}

/// After every 100 of 1,000 turns (20 new threads per 100 turns, running concurrently, each
/// turn answered with its own prompt): nothing buffered, subscribed, reserved or pending,
/// nothing lagged, while the notifications received keep growing and the unrouted ones
/// were dropped. The process RSS is printed after every 100 turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_turns_with_nobody_listening_stay_flat() {
    let model = MockModel::start().await.expect("mock model");
    model.respond_with(|request| {
        let prompt = request.last_user_text()?;
        Some(MockResponse::text(format!("answer {prompt}")))
    });
    let home = CodexHome::new(&model.base_url()).expect("codex home");
    let codex = connect_home(&home, |b| b).await;
    let conn = codex.connection().clone();

    let started = Instant::now();
    let mut rss = Vec::new();
    let mut received = Vec::new();
    let mut unrouted = Vec::new();
    for batch in 0..TURNS / BATCH {
        // Fresh threads for every batch: conversations stay short, so what grows with the
        // number of turns (not with a conversation's length) shows in the RSS.
        let mut threads = Vec::new();
        for _ in 0..THREADS {
            threads.push(start_thread(&codex).await);
        }
        let runs = threads.iter().enumerate().map(|(t, thread)| async move {
            for n in 0..BATCH / THREADS {
                let prompt = format!("b{batch}-t{t}-n{n}");
                let result = within("a turn", thread.run(prompt.as_str()))
                    .await
                    .unwrap_or_else(|e| panic!("turn {prompt}: {e}"));
                let expected = format!("answer {prompt}");
                assert_eq!(result.final_response(), Some(expected.as_str()));
            }
        });
        futures::future::join_all(runs).await;
        // The mock's own log holds every request (the whole conversation each time).
        model.clear_requests();
        let stats = conn.stats();
        assert_eq!(
            (
                stats.buffered_events,
                stats.turn_subscriptions,
                stats.reservations,
                stats.subscriptions,
                stats.pending_requests,
                stats.events_lagged,
            ),
            (0, 0, 0, 0, 0, 0),
            "idle after {} turns: {stats:?}",
            (batch + 1) * BATCH
        );
        received.push(stats.notifications_received);
        unrouted.push(stats.notifications_unrouted);
        rss.push(rss_kib());
    }
    let elapsed = started.elapsed();
    // Every turn brought several notifications: each went to its turn or was dropped.
    assert!(received.windows(2).all(|w| w[1] >= w[0] + 3 * BATCH as u64), "{received:?}");
    assert!(unrouted.windows(2).all(|w| w[1] > w[0]), "{unrouted:?}");
    assert_eq!(model.request_count(), TURNS);
    assert_eq!(model.unscripted_requests(), 0);
    // Not a measurement, a sanity bound: nothing retained per turn adds up to this.
    let (first, last) = (rss[0], rss[rss.len() - 1]);
    assert!(last < 2 * first + 20 * 1024, "RSS grew from {first} KiB to {last} KiB");
    let per_turn = |v: &[u64]| (v[v.len() - 1] - v[0]) as f64 / (TURNS - BATCH) as f64;
    eprintln!(
        "{TURNS} turns ({THREADS} concurrent threads per {BATCH}) in {elapsed:?}: {:.1} notifications per turn received, \
         {:.1} per turn unrouted (dropped, never stored), 0 buffered at every check; \
         test process RSS (KiB) after each 100 turns: {rss:?}",
        per_turn(&received),
        per_turn(&unrouted),
    );
}

/// This process's resident set size (`VmRSS`) in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}
