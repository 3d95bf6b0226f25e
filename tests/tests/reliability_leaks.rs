//! Dropping or closing clients, threads and turn handles — mid-turn, mid-approval, in any
//! order — leaves no process and no task behind, against the real pinned `codex app-server`
//! and the scripted mock model: 100 open/close cycles through the async API, then a few
//! through the blocking API.

#[allow(dead_code)] // this binary uses a part of the shared helpers
mod common;

use std::time::{Duration, Instant};

use codex_driver::methods::ServerNotification;
use codex_driver::testing::{
    AssistantMessage, CodexHome, ExecCommand, MockModel, MockResponse, RecordedRequest, ResponseStream,
};
use codex_driver::types::CommandExecutionApprovalDecision;
use codex_driver::{blocking, ApprovalHandler, ApprovalMode, ThreadOptions};
use common::{codex_bin, connect_home, first_delta, process_exists, within, WAIT};
use tokio::sync::mpsc;

const CYCLES: usize = 100;
/// Cycles in flight at once.
const LANES: usize = 4;

/// `approve-*` asks to run an escalated command; `run-*` answers at once; anything else
/// streams a partial answer and stalls for good (until the client hangs up).
fn respond(request: &RecordedRequest) -> Option<MockResponse> {
    let prompt = request.last_user_text()?.to_owned();
    if prompt.starts_with("approve") {
        let call = ExecCommand::new(format!("call-{prompt}"), "echo approved > approved.txt")
            .escalated("needs to write a marker");
        return Some(MockResponse::exec_command(call));
    }
    if prompt.starts_with("run") {
        return Some(MockResponse::text(format!("answer {prompt}")));
    }
    let (response, _never_released) =
        ResponseStream::new().message(AssistantMessage::new(format!("partial answer to {prompt}")).deltas(2)).stall();
    Some(response)
}

/// How a cycle ends.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// Stream a stalled turn, then drop the stream, the thread and the client.
    DropStreamMidTurn,
    /// Stream a stalled turn, then `close()` the client: the stream ends with the close error.
    CloseMidTurn,
    /// Run a turn to completion, then `close()`.
    CloseAfterRun,
    /// Drop the client first while the thread and the turn live (its events still arrive),
    /// then the turn's stream (mid-turn), then the thread.
    DropClientFirst,
    /// An approval handler is still deciding (never answers): drop everything.
    DropMidApproval,
}

const ENDINGS: [Ending; 5] = [
    Ending::DropStreamMidTurn,
    Ending::CloseMidTurn,
    Ending::CloseAfterRun,
    Ending::DropClientFirst,
    Ending::DropMidApproval,
];

/// One connect → thread → turn → drop/close cycle; returns the app-server's pid.
async fn cycle(home: &CodexHome, i: usize) -> u32 {
    let ending = ENDINGS[i % ENDINGS.len()];
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let handler = ApprovalHandler::new().on_command_execution(move |_| {
        let _ = entered_tx.send(());
        std::future::pending::<CommandExecutionApprovalDecision>()
    });
    let codex = connect_home(home, |b| b.handler(handler)).await;
    let pid = codex.connection().pid().expect("pid");
    let options = ThreadOptions::default().approval_mode(ApprovalMode::AskUser);
    let thread = within("thread/start", codex.thread_start(&options)).await.expect("thread/start");
    match ending {
        Ending::DropStreamMidTurn => {
            let turn = within("turn/start", thread.turn(format!("stall-{i}"))).await.unwrap();
            let mut events = turn.stream();
            first_delta(&mut events).await;
            drop(events);
            drop(thread);
            drop(codex);
        }
        Ending::CloseMidTurn => {
            let turn = within("turn/start", thread.turn(format!("stall-{i}"))).await.unwrap();
            let mut events = turn.stream();
            first_delta(&mut events).await;
            within("close", codex.close()).await;
            let last = within("the rest of the stream", async {
                let mut last = None;
                while let Some(event) = events.next_event().await {
                    last = Some(event);
                }
                last
            })
            .await;
            match last {
                Some(Err(e)) => assert!(e.is_transport_closed(), "{e:?}"),
                other => panic!("the stream did not end with the close error: {other:?}"),
            }
        }
        Ending::CloseAfterRun => {
            let result = within("run", thread.run(format!("run-{i}"))).await.expect("run");
            assert_eq!(result.final_response(), Some(format!("answer run-{i}").as_str()));
            within("close", codex.close()).await;
            assert!(codex.connection().is_closed());
        }
        Ending::DropClientFirst => {
            let turn = within("turn/start", thread.turn(format!("stall-{i}"))).await.unwrap();
            drop(codex);
            // The turn handle and the thread keep the connection: events still arrive.
            let mut events = turn.stream();
            first_delta(&mut events).await;
            drop(events);
            drop(thread);
        }
        Ending::DropMidApproval => {
            let turn = within("turn/start", thread.turn(format!("approve-{i}"))).await.unwrap();
            within("the approval request", entered.recv()).await.expect("asked");
            drop(turn);
            drop(thread);
            drop(codex);
        }
    }
    pid
}

/// 100 cycles (four at a time), ending in every way above: afterwards no process of the
/// home is alive, every app-server was reaped, and the runtime has exactly the tasks it had
/// before (the mock model's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_open_close_cycles_leave_no_process_or_task() {
    let model = MockModel::start().await.expect("mock model");
    model.respond_with(respond);
    let home = CodexHome::new(&model.base_url()).expect("codex home");
    let baseline = alive_tasks();
    let started = Instant::now();

    let lanes = (0..LANES).map(|lane| {
        let home = &home;
        async move {
            let mut pids = Vec::new();
            for i in (lane..CYCLES).step_by(LANES) {
                pids.push(cycle(home, i).await);
            }
            pids
        }
    });
    let pids: Vec<u32> = futures::future::join_all(lanes).await.into_iter().flatten().collect();
    assert_eq!(pids.len(), CYCLES);
    let cycled = started.elapsed();

    // Cleanup is asynchronous (kill, reap, task exit): wait for it, bounded by WAIT.
    let deadline = Instant::now() + WAIT;
    loop {
        let live = processes_in_home(home.codex_home());
        let unreaped: Vec<u32> = pids.iter().copied().filter(|p| process_exists(*p)).collect();
        let tasks = alive_tasks();
        if live.is_empty() && unreaped.is_empty() && tasks == baseline {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind after {CYCLES} cycles: processes of the home {live:?}, unreaped app-servers {unreaped:?}, \
             {tasks} tasks alive (baseline {baseline})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(model.unscripted_requests(), 0);
    eprintln!(
        "{CYCLES} open/close cycles in {cycled:?} ({LANES} lanes), all cleaned up {:?} later; {baseline} tasks before and after",
        started.elapsed() - cycled
    );
}

/// The blocking API's runtime threads (named `codex-blocking`) in this process.
fn blocking_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == "codex-blocking")
        .count()
}

/// The blocking API: clients dropped mid-turn (stream dropped, handle dropped unpolled,
/// client dropped first) leave no process and no runtime thread behind. (No other test of
/// this binary uses the blocking API, so its runtime threads can be counted.)
#[test]
fn blocking_drops_mid_turn_leave_nothing_behind() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let model = rt.block_on(MockModel::start()).expect("mock model");
    model.respond_with(respond);
    let home = CodexHome::new(&model.base_url()).expect("codex home");
    assert_eq!(blocking_threads(), 0);

    let mut pids = Vec::new();
    for i in 0..6 {
        let codex = blocking::Codex::spawn(home.client_config(&codex_bin())).expect("connect");
        pids.push(codex.connection().pid().expect("pid"));
        let thread = codex.thread_start(&ThreadOptions::default()).expect("thread/start");
        let turn = thread.turn(format!("stall-{i}")).expect("turn/start");
        match i % 3 {
            0 => {
                let mut events = turn.stream();
                let first = events.find(|e| matches!(e, Ok(ServerNotification::ItemAgentMessageDelta(_))));
                assert!(first.is_some(), "a delta before the stall");
                drop(events);
                drop(thread);
                drop(codex);
            }
            1 => {
                drop(turn);
                drop(codex);
                drop(thread);
            }
            _ => {
                drop(codex);
                drop(thread);
                drop(turn);
            }
        }
        // Dropping the last handle joins the runtime thread and reaps the app-server.
        assert_eq!(blocking_threads(), 0, "cycle {i}: a runtime thread is left");
        assert!(!process_exists(pids[i]), "cycle {i}: app-server {} is left", pids[i]);
    }
    let deadline = Instant::now() + WAIT;
    while !processes_in_home(home.codex_home()).is_empty() {
        assert!(Instant::now() < deadline, "{:?}", processes_in_home(home.codex_home()));
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(model);
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// Live processes, whoever their parent, whose environment sets `CODEX_HOME` to
/// `codex_home`: the app-servers of that home and anything they started.
pub fn processes_in_home(codex_home: &std::path::Path) -> Vec<u32> {
    let wanted = format!("CODEX_HOME={}", codex_home.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // Unreadable (gone meanwhile, or not ours): not a process of this home.
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == wanted.as_bytes()))
        })
        .collect()
}

/// The number of tasks alive in the current Tokio runtime.
pub fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}
