//! A blocking API: the async [`Codex`](crate::Codex) → [`Thread`](crate::Thread) →
//! [`TurnHandle`](crate::TurnHandle) API for code without an async runtime, in the style
//! of `reqwest::blocking`, and like it behind a cargo feature: `features = ["blocking"]`.
//!
//! Every type here wraps its async twin and mirrors its methods: same names, same
//! options ([`ClientConfig`](crate::ClientConfig), [`ThreadOptions`](crate::ThreadOptions),
//! [`TurnOptions`](crate::TurnOptions), [`GoalOptions`](crate::goals::GoalOptions),
//! [`Input`](crate::Input)), same results ([`TurnResult`](crate::TurnResult),
//! [`TypedTurnResult`](crate::structured::TypedTurnResult), [`GoalResult`](crate::goals::GoalResult),
//! [`LoginOutcome`](crate::login::LoginOutcome), the generated [`types`](crate::types)) and the
//! same [`Error`](crate::Error). Event streams are [`Iterator`]s: [`TurnHandle::stream`],
//! [`GoalHandle::stream`], [`Codex::notifications`], [`Thread::notifications`]. Sign-in
//! handles ([`ChatgptLogin`], [`DeviceCodeLogin`]) add `wait_timeout`, since a blocking
//! caller cannot wrap `wait` in a timeout.
//!
//! ```no_run
//! use codex_driver::blocking::Codex;
//! use codex_driver::types::CommandExecutionApprovalDecision;
//! use codex_driver::methods::ServerNotification;
//! use codex_driver::{ClientConfig, ThreadOptions};
//!
//! fn main() -> codex_driver::Result<()> {
//!     let codex = Codex::builder()
//!         .config(ClientConfig::default()) // finds `codex`: CODEX_BIN, then PATH
//!         .on_command_execution(|request| {
//!             println!("approve {:?}? no.", request.command);
//!             CommandExecutionApprovalDecision::Decline
//!         })
//!         .connect()?;
//!     let thread = codex.thread_start(&ThreadOptions::default())?;
//!
//!     // Run a turn to completion…
//!     let result = thread.run("Summarize this repository in one sentence")?;
//!     println!("{}", result.final_response().unwrap_or_default());
//!
//!     // …or iterate its events as they come, steering or interrupting it from elsewhere.
//!     let turn = thread.turn("Now in French")?;
//!     let control = turn.control();
//!     std::thread::spawn(move || control.steer("Keep it short"));
//!     for event in turn.stream() {
//!         if let ServerNotification::ItemAgentMessageDelta(delta) = event? {
//!             print!("{}", delta.delta);
//!         }
//!     }
//!     Ok(())
//! } // the last handle is dropped: the app-server is closed and the runtime thread ends
//! ```
//!
//! # How it runs
//!
//! [`CodexBuilder::connect`] starts one background thread (named `codex-blocking`) that
//! owns a current-thread Tokio runtime; it drives the connection and runs the
//! server-request handlers. Each blocking call waits, on the calling thread, for its
//! future while that runtime does the I/O. All handles made from one [`Codex`] (its
//! clones, threads, turn handles, controls and event iterators) share the runtime; any of
//! them may be used from any thread. When the last one is dropped, the app-server is
//! closed gracefully (stdin closed, killed after a grace period, reaped) and the runtime
//! thread is joined.
//!
//! # Inside async code
//!
//! A blocking call made on a thread that drives async tasks (inside an `async fn` run by
//! Tokio) would stall that runtime, so it **panics** with a message saying so; use the
//! async API there. Calls from `tokio::task::spawn_blocking` and from plain threads are
//! fine.
//!
//! # Handlers
//!
//! [`CodexBuilder::handler`] takes the same [`ServerRequestHandler`](crate::methods::ServerRequestHandler)s
//! and async [`ApprovalHandler`](crate::ApprovalHandler) as the async builder; they run on
//! the runtime thread and must not block. For approvals decided by blocking code (a
//! prompt, a lock, a lookup), give plain closures to
//! [`CodexBuilder::on_command_execution`] and [`CodexBuilder::on_file_change`]: they run
//! on the runtime's blocking pool. Without either, every approval is declined (fail
//! closed).
//!
//! Everything else of the protocol is reachable through [`Codex::connection`] and
//! [`Codex::block_on`].

mod codex;
#[cfg(feature = "websocket")]
mod daemon;
mod events;
mod exec;
mod goals;
mod login;
mod runtime;
mod thread;
mod turn;

pub use codex::{Codex, CodexBuilder};
#[cfg(feature = "websocket")]
pub use daemon::Daemon;
pub use events::Notifications;
pub use exec::Child;
pub use goals::{GoalControl, GoalEvents, GoalHandle};
pub use login::{ChatgptLogin, DeviceCodeLogin};
pub use thread::Thread;
pub use turn::{TurnActivity, TurnControl, TurnEvents, TurnHandle};
