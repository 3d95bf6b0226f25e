//! What only the blocking API has, against the real `codex app-server`: the clear panic
//! inside an async runtime, the clean shutdown when the last handle is dropped (no child
//! process, no runtime thread left), use from `spawn_blocking`, the event iterators,
//! `block_on`, and both kinds of approval handlers. The scenarios shared with the async
//! API are in `parity.rs`.
//!
//! The tests of this file run one at a time: one of them counts the process's runtime
//! threads.

#[allow(dead_code)] // this binary uses a part of the shared helpers
mod common;
#[allow(dead_code)] // this binary uses a part of the shared helpers
mod login_support;
#[allow(dead_code)] // this binary uses a part of the shared helpers
mod scenarios;

use codex_driver::blocking;
use codex_driver::methods::{ClientRequests, ServerNotification};
use codex_driver::testing::{ExecCommand, MockResponse, ResponseStream};
use codex_driver::types::{
    CommandExecutionApprovalDecision, CommandExecutionStatus, ConfigReadParams, ThreadItem, TurnStatus,
};
use codex_driver::{ApprovalHandler, Error, ThreadOptions};
use common::{process_exists, within, WAIT};
use scenarios::client::off_thread;
use scenarios::{Env, Transport};
use std::collections::HashSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The name of the blocking client's runtime thread (documented in `blocking`).
const RUNTIME_THREAD: &str = "codex-blocking";

/// The ids of the process's threads named [`RUNTIME_THREAD`]. Listing `/proc/self/task`
/// can skip an entry while other threads exit, so callers look for what they expect a few
/// times, and check a known thread by its own path.
fn runtime_threads() -> HashSet<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| {
            let path = task.ok()?.path();
            let comm = std::fs::read_to_string(path.join("comm")).ok()?;
            (comm.trim_end() == RUNTIME_THREAD).then(|| path.file_name()?.to_str().map(str::to_owned))?
        })
        .collect()
}

/// The one runtime thread started since `before`.
fn new_runtime_thread(before: &HashSet<String>) -> String {
    let mut new = Vec::new();
    for _ in 0..50 {
        new = runtime_threads().difference(before).cloned().collect::<Vec<_>>();
        if !new.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(new.len(), 1, "one runtime thread per client: {new:?}");
    new.pop().unwrap()
}

fn thread_exists(tid: &str) -> bool {
    Path::new("/proc/self/task").join(tid).exists()
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    }
}

fn assert_clear_panic(what: &str, payload: Box<dyn std::any::Any + Send>) {
    let message = panic_message(payload);
    assert!(
        message.contains(&format!(
            "codex_driver::blocking::{what} cannot be used inside an async runtime; use the async API"
        )),
        "{message}"
    );
}

async fn connect(env: &Env) -> blocking::Codex {
    let config = env.config();
    within("connect", off_thread(move || blocking::Codex::spawn(config))).await.expect("connect")
}

/// Runs `f` on a current-thread runtime of its own that, unlike `#[tokio::test]`'s, does
/// not wait forever for its `spawn_blocking` work at the end (so every wait is bounded).
fn on_runtime<F: Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let out = std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(f)));
    rt.shutdown_timeout(Duration::from_secs(1));
    out.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[tokio::test]
async fn blocking_calls_inside_an_async_runtime_panic_clearly() {
    let _serial = SERIAL.lock().await;
    let env = Env::on(Transport::Stdio).await;

    // Connecting from an `async fn` (here the test's current-thread runtime).
    let config = env.config();
    let panic = std::panic::catch_unwind(AssertUnwindSafe(|| blocking::Codex::spawn(config))).unwrap_err();
    assert_clear_panic("CodexBuilder::connect", panic);

    // A client made on a plain thread, then called from async code.
    let codex = connect(&env).await;
    let panic = std::panic::catch_unwind(AssertUnwindSafe(|| codex.models())).unwrap_err();
    assert_clear_panic("Codex::models", panic);

    // From a task on a multi-threaded runtime.
    let in_task = codex.clone();
    let joined = within(
        "a task on another runtime",
        off_thread(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            let joined =
                rt.block_on(rt.spawn(async move { in_task.thread_start(&ThreadOptions::default()).map(|_| ()) }));
            rt.shutdown_timeout(Duration::from_secs(1));
            joined
        }),
    )
    .await;
    assert_clear_panic("Codex::thread_start", joined.unwrap_err().into_panic());

    // The client is unharmed: from a plain thread it still works.
    let again = codex.clone();
    let models = within("models", off_thread(move || again.models())).await.expect("models");
    assert!(!models.data.is_empty());
    let closing = codex.clone();
    within("close", off_thread(move || closing.close())).await;
}

/// What a user sees: the SDK's message on stderr, not Tokio's panic (and its backtrace)
/// first.
#[test]
fn a_blocking_call_inside_a_runtime_prints_the_sdks_message_only() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_blocking_in_runtime"))
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run blocking_in_runtime");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let ours = stderr.find("codex_driver::blocking::CodexBuilder::connect cannot be used inside an async runtime");
    assert!(ours.is_some(), "{stderr}");
    assert!(!stderr.contains("Cannot block the current thread"), "Tokio's panic was printed: {stderr}");
    assert_eq!(stderr.matches("panicked at").count(), 1, "one panic message: {stderr}");
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_app_server_and_stops_the_runtime_thread() {
    let _serial = SERIAL.lock().await;
    let env = Env::on(Transport::Stdio).await;
    env.model.push(MockResponse::text("hello"));
    let before = runtime_threads();

    let codex = connect(&env).await;
    let pid = codex.connection().pid().expect("pid");
    assert!(process_exists(pid));
    let tid = new_runtime_thread(&before);
    let thread = within(
        "thread/start",
        off_thread({
            let codex = codex.clone();
            move || codex.thread_start(&ThreadOptions::default())
        }),
    )
    .await
    .expect("thread/start");

    // Dropping the client while a thread handle lives keeps both running.
    within("drop the client", off_thread(move || drop(codex))).await;
    assert!(process_exists(pid), "a live Thread keeps the app-server");
    assert!(thread_exists(&tid), "and the runtime thread");
    let (thread, result) = within(
        "run",
        off_thread(move || {
            let result = thread.run("hi");
            (thread, result)
        }),
    )
    .await;
    assert_eq!(result.expect("run").final_response(), Some("hello"));

    // Dropping the last handle: the app-server is closed and reaped, the thread joined.
    within("drop the last handle", off_thread(move || drop(thread))).await;
    assert!(!process_exists(pid), "the app-server {pid} is gone (exited and reaped)");
    assert!(!thread_exists(&tid), "the runtime thread {tid} is gone");

    // The same through a client whose app-server was killed: nothing is left either.
    let before = runtime_threads();
    let codex = connect(&env).await;
    let pid = codex.connection().pid().expect("pid");
    let tid = new_runtime_thread(&before);
    let status = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    let closed = codex.clone();
    let err = within(
        "models after kill",
        off_thread(move || {
            let deadline = Instant::now() + WAIT;
            while !closed.connection().is_closed() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            closed.models()
        }),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::TransportClosed { .. }), "{err:?}");
    within("drop the killed client", off_thread(move || drop(codex))).await;
    assert!(!process_exists(pid));
    assert!(!thread_exists(&tid));
}

/// From `spawn_blocking`, the usual way to call blocking code from async code: a turn's
/// events through the `stream()` iterator with `steer` on the handle and `interrupt` on the
/// iterator's control, both notification iterators, and `block_on` for a typed request.
#[test]
fn works_from_spawn_blocking_with_iterators_and_block_on() {
    on_runtime(async {
        let _serial = SERIAL.lock().await;
        let env = Env::on(Transport::Stdio).await;
        let (first, stall) = ResponseStream::new().text("Working on it").stall();
        env.model.push(first);
        env.model.push(MockResponse::text("Un poème"));
        let config = env.config();
        let job = tokio::task::spawn_blocking(move || {
            let codex = blocking::Codex::spawn(config).expect("connect");
            codex.block_on(codex.connection().config_read(ConfigReadParams::default())).expect("config/read");
            assert_eq!(codex.metadata().server_version, Some(common::codex_version()));

            let all = codex.notifications();
            let thread = codex.thread_start(&ThreadOptions::default()).expect("thread/start");
            let of_thread = thread.notifications();
            let turn = thread.turn("Write a poem").expect("turn/start");
            assert_eq!(turn.initial().id, turn.id());
            let turn_id = turn.id().to_owned();
            (codex, all, thread, of_thread, turn, turn_id)
        });
        let (codex, all, thread, of_thread, turn, turn_id) = within("start", job).await.expect("join");
        reached(&stall).await;

        let job = tokio::task::spawn_blocking(move || {
            assert_eq!(turn.steer("Actually, in French").expect("steer"), turn.id());
            let mut events = turn.stream();
            let control = events.control();
            let mut seen = Vec::new();
            for event in &mut events {
                seen.push(event.expect("event"));
            }
            // The iterator is fused after turn/completed.
            assert!(events.next().is_none());
            // The turn is over: interrupting it again is refused or a no-op, never a hang.
            let _ = control.interrupt();
            (codex, all, thread, of_thread, seen)
        });
        let (codex, all, thread, of_thread, seen) = within("stream", job).await.expect("join");
        let completed = match seen.last() {
            Some(ServerNotification::TurnCompleted(done)) => done.turn.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!((completed.id.as_str(), completed.status.clone()), (turn_id.as_str(), TurnStatus::Completed));
        assert!(seen.iter().any(|e| matches!(e, ServerNotification::ItemCompleted(done)
            if matches!(&done.item, ThreadItem::AgentMessage(m) if m.text == "Un poème"))));

        let job = tokio::task::spawn_blocking(move || {
            // Both subscriptions saw the turn, up to its completion.
            for (name, iter) in [("codex", all), ("thread", of_thread)] {
                let methods: Vec<String> = iter
                    .map(|e| e.expect("notification"))
                    .take_while(|e| !matches!(e, ServerNotification::TurnCompleted(_)))
                    .map(|e| e.method().to_owned())
                    .collect();
                assert!(methods.iter().any(|m| m == "turn/started"), "{name}: {methods:?}");
                assert!(methods.iter().any(|m| m == "item/agentMessage/delta"), "{name}: {methods:?}");
            }
            let read = thread.read_with_turns().expect("read");
            codex.close();
            read
        });
        let read = within("iterators", job).await.expect("join");
        assert_eq!(read.turns.len(), 1);
        stall.release();
    });
}

async fn reached(stall: &codex_driver::testing::StallHandle) {
    assert!(stall.wait_reached(WAIT).await, "the mock response never reached its pause point");
}

/// The async `ApprovalHandler` (run on the runtime thread) through the blocking builder,
/// and a sync closure that panics, which declines. The kit's home says
/// `approval_policy = "never"`: the handlers are asked because a client with a handler
/// starts threads that ask it.
#[tokio::test]
async fn async_handlers_and_a_panicking_sync_closure() {
    let _serial = SERIAL.lock().await;
    let env = Env::on(Transport::Stdio).await;
    let script = |call: &str, file: &str, then: &str| {
        env.model.push(MockResponse::exec_command(
            ExecCommand::new(call, format!("echo x > {file}")).escalated("needs to write a marker"),
        ));
        env.model.push(MockResponse::text(then));
    };
    let run = |codex: blocking::Codex| {
        let cwd = env.home.work_dir().to_owned();
        off_thread(move || {
            let thread = codex.thread_start(&ThreadOptions::default().cwd(cwd))?;
            let result = thread.run("write the marker");
            codex.close();
            result
        })
    };

    script("call_async", "async.txt", "accepted");
    let config = env.config();
    let codex = within(
        "connect",
        off_thread(move || {
            blocking::Codex::builder()
                .config(config)
                .handler(
                    ApprovalHandler::new().on_command_execution(|_| async { CommandExecutionApprovalDecision::Accept }),
                )
                .connect()
        }),
    )
    .await
    .expect("connect");
    let result = within("run", run(codex)).await.expect("run");
    assert_eq!(result.final_response(), Some("accepted"));
    assert!(env.home.work_dir().join("async.txt").exists());

    script("call_panic", "panic.txt", "declined");
    let config = env.config();
    let codex = within(
        "connect",
        off_thread(move || {
            blocking::Codex::builder()
                .config(config)
                .on_command_execution(|_| panic!("the approval closure panicked (on purpose)"))
                .connect()
        }),
    )
    .await
    .expect("connect");
    let result = within("run", run(codex)).await.expect("run");
    assert_eq!(result.final_response(), Some("declined"));
    let statuses: Vec<_> = result
        .items
        .iter()
        .filter_map(|i| match i {
            ThreadItem::CommandExecution(c) => Some(c.status.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [CommandExecutionStatus::Declined]);
    assert!(!env.home.work_dir().join("panic.txt").exists());
}

/// The blocking sign-in handles: `wait_timeout` (what a blocking caller uses instead of
/// wrapping `wait` in a timeout), `cancel`, and the browser flow's URL.
#[tokio::test]
async fn login_handles_wait_timeout_and_cancel() {
    use codex_driver::login::LoginOutcome;
    use login_support::{device_token_route, usercode_route, Issuer};
    let _serial = SERIAL.lock().await;
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let issuer = Issuer::start(vec![usercode_route(), device_token_route(None, polls)]).await;
    let url = issuer.url.clone();
    let env = Env::on_with(Transport::Stdio, |h| h.env_var("CODEX_APP_SERVER_LOGIN_ISSUER", url)).await;
    let codex = connect(&env).await;
    let issuer_url = issuer.url.clone();
    let job = off_thread(move || {
        let device = codex.login_chatgpt_device_code().expect("device code");
        assert_eq!(device.user_code(), "WXYZ-2345");
        assert!(!device.login_id().is_empty());
        assert_eq!(device.wait_timeout(Duration::from_millis(300)).expect("wait"), None, "still pending");
        assert_eq!(device.outcome(), None);
        assert_eq!(device.cancel().expect("cancel"), codex_driver::types::CancelLoginAccountStatus::Canceled);
        let outcome = device.wait_timeout(WAIT).expect("wait").expect("an outcome");
        assert!(matches!(outcome, LoginOutcome::Cancelled { .. }), "{outcome:?}");
        assert_eq!(device.outcome(), Some(outcome));

        // The browser flow only builds a URL until the user opens it. Its callback port is
        // one per machine: a login started elsewhere at the same moment may preempt this one.
        let browser = codex.login_chatgpt().expect("login start");
        assert!(browser.auth_url().starts_with(&format!("{issuer_url}/oauth/authorize?")), "{}", browser.auth_url());
        let _ = browser.cancel().expect("cancel");
        let outcome = browser.wait_timeout(WAIT).expect("wait").expect("an outcome");
        assert!(!outcome.is_success(), "{outcome:?}");
        codex.close();
    });
    within("login handles", job).await;
}
