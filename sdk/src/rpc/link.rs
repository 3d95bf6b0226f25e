//! Reconnecting: what happens when the link under a connection drops, and the one place
//! that replaces it. The rules (see `sdk/ARCHITECTURE.md`, "Links and reconnecting"):
//!
//! - **Only a connection made from a dialer reconnects** ([`Connection::connect_with_reconnect`](super::Connection::connect_with_reconnect),
//!   or an attach endpoint's `reconnect(policy)`), and only after a link failure
//!   ([`CloseReason::is_link_failure`]). A spawned process that dies is not re-spawned:
//!   its connection closes with the exit status, as always.
//! - **Nothing is resent whose outcome is unknown.** A request written to the dropped link
//!   and unanswered fails with [`Error::OutcomeUnknown`]; a read (a method named `…/read`
//!   or `…/list`) is sent again on the new link by [`Connection::call`](super::Connection::call).
//!   Requests still queued when the link dropped were never written: they go out on the
//!   new link.
//! - **Every stream marks the gap in place** ([`Error::Gap`]) and carries on with the new
//!   link's events.
//! - **Threads come back.** The new link is initialized with the first `initialize`'s
//!   params, and every thread this client was subscribed to and still needs is resumed
//!   before anything queued is written. A turn the resume answer reports ended (it ended
//!   during the gap) is completed from that record, so its stream ends and its
//!   `TurnResult` is the server's; a turn still running goes on streaming.
//! - **Server requests in flight at the drop are cancelled** (no reply on the dead link).
//!   The server sends a request that is still pending again to a connection that resumes
//!   the thread, and the handler answers it then.
//! - **Giving up** (the policy's bound) closes the connection with
//!   [`CloseReason::ReconnectFailed`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use super::message::{encode_notification, encode_request};
use super::retry::RetryPolicy;
use super::state::Shared;
use super::transport::{OutboundSink, Transport};
use super::writer::LinkChange;
use crate::endpoint::CloseReason;
use crate::error::{Error, Result};
use crate::method_names::{INITIALIZE, INITIALIZED, THREAD_RESUME, TURN_COMPLETED};

/// Something that can open a fresh [`Transport`] to the same server with the same
/// credentials, again and again: what a reconnecting connection is made from. The attach
/// endpoints ([`WebSocketEndpoint`](crate::attach::WebSocketEndpoint),
/// [`UnixSocketEndpoint`](crate::attach::UnixSocketEndpoint)) are dialers.
pub trait Dial: Send + Sync + 'static {
    /// Connects (and upgrades) once, with incoming messages limited to `max_message_size`;
    /// not initialized.
    fn dial(&self, max_message_size: usize) -> Pin<Box<dyn Future<Output = Result<Transport>> + Send + '_>>;
}

/// How a connection made from a [`Dial`] replaces a dropped link: dials again at once,
/// then with exponential backoff and jitter, until a link is up and the threads are
/// resumed, or `give_up_after` has passed.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// The delay before the second attempt (default 100 ms); doubles on each attempt.
    pub initial_delay: Duration,
    /// Upper bound of any delay (default 5 s).
    pub max_delay: Duration,
    /// Relative jitter of each delay (default `0.2`, ±20 %).
    pub jitter: f64,
    /// How long after the drop the client stops trying (default 60 s).
    pub give_up_after: Duration,
    /// How long one attempt may take: the dial, `initialize` and the resumes (default 10 s).
    pub attempt_timeout: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            jitter: 0.2,
            give_up_after: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl ReconnectPolicy {
    /// Sets the first and the largest delay between attempts.
    pub fn with_delays(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_delay = initial;
        self.max_delay = max.max(initial);
        self
    }

    /// Sets how long after a drop the client gives up.
    pub fn with_give_up_after(mut self, bound: Duration) -> Self {
        self.give_up_after = bound;
        self
    }

    /// Sets how long one attempt (dial, `initialize`, resumes) may take.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Sets the relative jitter (clamped to `0.0..=1.0`).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// The wait before attempt `attempt` (1-based): none before the first.
    fn delay(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let backoff = RetryPolicy::default().with_delays(self.initial_delay, self.max_delay).with_jitter(self.jitter);
        backoff.delay(attempt - 2)
    }
}

/// Where a connection's link stands (see [`Connection::state`](super::Connection::state)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// A link is up.
    Connected,
    /// The link dropped at `since` (for `reason`) and the client is reconnecting;
    /// `attempts` dials were made so far.
    Reconnecting {
        /// When the link dropped.
        since: Instant,
        /// Why it dropped.
        reason: CloseReason,
        /// Dials made so far.
        attempts: u32,
    },
    /// The connection is closed for good.
    Closed(CloseReason),
}

/// Whether a request is a read, safe to send again when the link dropped before its
/// answer: methods named `…/read` or `…/list`.
pub(crate) fn is_read(method: &str) -> bool {
    method.ends_with("/read") || method.ends_with("/list")
}

/// What a reconnecting connection keeps to replace its link.
pub(crate) struct LinkControl {
    dialer: Arc<dyn Dial>,
    policy: ReconnectPolicy,
    /// The current link's generation (the first link is 0).
    generation: AtomicU64,
    /// To the writer: new sinks, dropped links.
    links: mpsc::UnboundedSender<LinkChange>,
    /// The params of the first `initialize`, sent again on every new link.
    initialize: Mutex<Option<Box<RawValue>>>,
    /// The current link's reader (aborted when the link drops or the connection goes).
    /// The current link's reader, and whether the connection closed (a reader set after
    /// that is aborted at once).
    reader: Mutex<(Option<AbortHandle>, bool)>,
}

/// Who handles the end of a link a reconnect attempt is still setting up: the attempt
/// (it fails) until the link is handed over, then `link_ended`; one of them, never both,
/// never neither.
#[derive(Debug)]
pub(crate) enum Handover {
    /// The attempt is still setting the link up.
    Pending,
    /// The link ended before the hand-over: the attempt fails.
    Died(CloseReason),
    /// Handed over: the link's end goes to `link_ended`.
    Live,
    /// The attempt gave up on the link: its end concerns nobody.
    Abandoned,
}

/// The hand-over state a reconnect attempt shares with its link's reader.
pub(crate) type HandoverCell = Arc<watch::Sender<Handover>>;

impl LinkControl {
    pub(crate) fn new(
        dialer: Arc<dyn Dial>,
        policy: ReconnectPolicy,
        links: mpsc::UnboundedSender<LinkChange>,
    ) -> Self {
        LinkControl {
            dialer,
            policy,
            generation: AtomicU64::new(0),
            links,
            initialize: Mutex::new(None),
            reader: Mutex::new((None, false)),
        }
    }

    /// Keeps the first `initialize`'s params for the links to come.
    pub(crate) fn remember_initialize(&self, params: &RawValue) {
        let mut kept = self.initialize.lock().unwrap_or_else(|e| e.into_inner());
        if kept.is_none() {
            *kept = Some(params.to_owned());
        }
    }

    /// Whether link `generation` is the current one (it has not dropped).
    pub(crate) fn is_current(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Acquire) == generation
    }

    /// Makes `reader` the current link's reader; the one before it is aborted.
    pub(crate) fn set_reader(&self, reader: AbortHandle) {
        let mut current = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        if current.1 {
            reader.abort();
        } else if let Some(old) = current.0.replace(reader) {
            old.abort();
        }
    }

    /// Aborts the current link's reader.
    pub(crate) fn abort_reader(&self) {
        if let Some(reader) = self.reader.lock().unwrap_or_else(|e| e.into_inner()).0.take() {
            reader.abort();
        }
    }

    /// The connection closed: aborts the current reader and any set later.
    pub(crate) fn close_reader(&self) {
        let mut current = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        current.1 = true;
        if let Some(reader) = current.0.take() {
            reader.abort();
        }
    }

    /// The current link's generation.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A new generation for the link a reconnect attempt sets up (the current one from
    /// then on).
    fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }
}

/// The reader of link `generation` saw it end with `reason`: during a reconnect attempt's
/// hand-over (`handover`) the attempt hears of it; otherwise [`link_ended`] does.
pub(crate) async fn reader_ended(
    shared: &Arc<Shared>,
    generation: u64,
    handover: Option<HandoverCell>,
    reason: CloseReason,
) {
    let mut reason = Some(reason);
    if let Some(handover) = handover {
        let mut live = false;
        handover.send_if_modified(|state| match state {
            Handover::Pending => {
                *state = Handover::Died(reason.take().expect("taken once"));
                true
            }
            Handover::Live => {
                live = true;
                false
            }
            Handover::Died(_) | Handover::Abandoned => false,
        });
        if !live {
            return;
        }
    }
    link_ended(shared, generation, reason.expect("not handed to the attempt")).await;
}

/// Link `generation` ended with `reason` (its reader saw the end): closes the connection,
/// or, on a reconnecting connection after a link failure, starts replacing the link.
pub(crate) async fn link_ended(shared: &Arc<Shared>, generation: u64, reason: CloseReason) {
    if shared.link.as_ref().is_some_and(|link| !link.is_current(generation)) {
        // A link that was already replaced (or is being replaced): its end is old news.
        return;
    }
    let reconnects =
        shared.link.is_some() && reason.is_link_failure() && !shared.closing_by_client.load(Ordering::Acquire);
    if reconnects {
        link_dropped(shared, generation, reason);
    } else {
        shared.close_from_transport(reason);
    }
}

/// Link `generation` of a reconnecting connection dropped (seen by its reader or its
/// writer; the second report is ignored): fails what was written and unanswered, marks
/// the gap in every stream, cancels the server requests being decided, stops the writer
/// and starts the reconnect task.
pub(crate) fn link_dropped(shared: &Arc<Shared>, generation: u64, reason: CloseReason) {
    let Some(link) = &shared.link else { return };
    if link.generation.compare_exchange(generation, generation + 1, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return;
    }
    // The generation moves before the lock is taken: the writer, checking it under the
    // lock, either marked a request before (it is taken here) or writes nothing more to
    // this link (see `writer::claim`).
    let info = Arc::new(shared.close_info(reason.clone()));
    let (unknown, threads) = {
        let mut state = shared.lock();
        if state.closed.is_some() {
            return;
        }
        state.router.gap_all(&info);
        (state.pending.take_written(), state.turns.link_dropped())
    };
    link.abort_reader();
    let _ = link.links.send(LinkChange::Down(generation));
    for entry in unknown {
        let error =
            Error::OutcomeUnknown { method: entry.method, endpoint: info.endpoint.clone(), reason: reason.clone() };
        let _ = entry.tx.send(Err(error));
    }
    cancel_deciding(shared, |_| true);
    let since = Instant::now();
    shared.set_state(ConnectionState::Reconnecting { since, reason: reason.clone(), attempts: 0 });
    shared.turns_changed.notify_waiters();
    tracing::warn!(
        endpoint = %info.endpoint,
        %reason,
        threads = threads.len(),
        "the link to the codex app-server dropped; reconnecting"
    );
    let weak = Arc::downgrade(shared);
    shared.runtime.spawn(reconnect(weak, threads, reason, since));
}

/// Cancels the server-request handlers still deciding requests of the links `of` picks:
/// no reply goes to a link that dropped or was given up.
fn cancel_deciding(shared: &Shared, of: impl Fn(u64) -> bool) {
    let cancelled: Vec<_> = {
        let mut deciding = shared.deciding.lock().unwrap_or_else(|e| e.into_inner());
        let ids: Vec<_> = deciding.iter().filter(|(_, (on, _))| of(*on)).map(|(id, _)| id.clone()).collect();
        ids.into_iter().filter_map(|id| deciding.remove(&id)).collect()
    };
    for (_, cancel) in cancelled {
        let _ = cancel.send(());
    }
}

/// Dials until a new link is up (initialized, threads resumed) or the policy gives up.
async fn reconnect(weak: Weak<Shared>, threads: Vec<String>, dropped: CloseReason, since: Instant) {
    let mut attempts = 0u32;
    let mut last_error = String::new();
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let Some(link) = &shared.link else { return };
        let policy = link.policy;
        let mut closed = shared.closed_watch();
        if closed.borrow().is_some() {
            return;
        }
        let delay = policy.delay(attempts + 1);
        if since.elapsed() + delay >= policy.give_up_after {
            tracing::warn!(attempts, error = %last_error, "reconnecting to the codex app-server gave up");
            let reason = CloseReason::ReconnectFailed {
                dropped: Box::new(dropped),
                attempts,
                after: since.elapsed(),
                last_error,
            };
            shared.close_now(reason);
            return;
        }
        drop(shared);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = closed.wait_for(Option::is_some) => return,
        }
        let Some(shared) = weak.upgrade() else { return };
        attempts += 1;
        shared.set_state(ConnectionState::Reconnecting { since, reason: dropped.clone(), attempts });
        tracing::info!(attempt = attempts, "reconnecting to the codex app-server");
        // Each attempt's link has a generation of its own: what came on a link given up
        // (a server request, its reply) can never pass for the next one's.
        let Some(generation) = shared.link.as_ref().map(LinkControl::next_generation) else { return };
        let attempt = tokio::time::timeout(policy.attempt_timeout, attach(&shared, generation, &threads));
        let outcome = tokio::select! {
            outcome = attempt => outcome,
            _ = closed.wait_for(Option::is_some) => return,
        };
        match outcome {
            Ok(Ok(())) => {
                let down_ms = since.elapsed().as_millis() as u64;
                // Not if the new link already dropped too (its drop said `Reconnecting`).
                let current = || shared.link.as_ref().is_some_and(|link| link.is_current(generation));
                shared.set_state_if(ConnectionState::Connected, current);
                tracing::info!(attempts, down_ms, threads = threads.len(), "reconnected to the codex app-server");
                return;
            }
            Ok(Err(e)) => last_error = e.to_string(),
            Err(_) => last_error = format!("the attempt took longer than {:?}", policy.attempt_timeout),
        }
        if let Some(link) = &shared.link {
            link.abort_reader();
        }
        cancel_deciding(&shared, |on| on == generation);
        tracing::debug!(attempt = attempts, error = %last_error, "a reconnect attempt failed");
    }
}

/// One attempt: dials, starts the new link's reader, sends `initialize` and resumes the
/// threads on it, then hands it to the writer.
async fn attach(shared: &Arc<Shared>, generation: u64, threads: &[String]) -> Result<()> {
    let link = shared.link.as_ref().expect("a reconnecting connection");
    let Transport { inbound, outbound, .. } = link.dialer.dial(shared.max_message_size).await?;
    let handover: HandoverCell = Arc::new(watch::Sender::new(Handover::Pending));
    let mut died = handover.subscribe();
    let reader = tokio::spawn(super::reader::reader_task(shared.clone(), inbound, generation, Some(handover.clone())));
    link.set_reader(reader.abort_handle());
    // Whatever ends this attempt early (a timeout drops this future) abandons the link.
    struct Abandon(HandoverCell);
    impl Drop for Abandon {
        fn drop(&mut self) {
            self.0.send_if_modified(|state| {
                let pending = matches!(state, Handover::Pending);
                if pending {
                    *state = Handover::Abandoned;
                }
                pending
            });
        }
    }
    let _abandon = Abandon(handover.clone());
    let link_closed = |reason: CloseReason| Error::TransportClosed { endpoint: shared.endpoint.to_string(), reason };
    let mut sink = outbound;
    tokio::select! {
        outcome = handshake(shared, &mut sink, threads) => outcome?,
        _ = died.wait_for(|state| matches!(state, Handover::Died(_))) => {
            return Err(link_closed(CloseReason::EndOfStream));
        }
    }
    // Hand over: from here on the reader reports the link's end to `link_ended`; if it
    // ended just now, the attempt fails instead.
    let mut ended = None;
    handover.send_if_modified(|state| match state {
        Handover::Pending => {
            *state = Handover::Live;
            true
        }
        Handover::Died(reason) => {
            ended = Some(reason.clone());
            false
        }
        Handover::Live | Handover::Abandoned => false,
    });
    if let Some(reason) = ended {
        return Err(link_closed(reason));
    }
    let _ = link.links.send(LinkChange::Up(generation, sink));
    Ok(())
}

/// `initialize`, `initialized` and a `thread/resume` per thread, written straight to the
/// new link ahead of anything queued.
async fn handshake(shared: &Arc<Shared>, sink: &mut OutboundSink, threads: &[String]) -> Result<()> {
    let link = shared.link.as_ref().expect("a reconnecting connection");
    // A connection not initialized yet (its `initialize` may be queued) is not initialized
    // here either.
    let params = link.initialize.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(params) = params {
        request_on(shared, sink, INITIALIZE, &params).await?;
        let none = RawValue::from_string("null".into()).expect("valid JSON");
        sink.send(encode_notification(INITIALIZED, &none)).await.map_err(Error::Io)?;
    }
    // All resumes go out at once; each answer is taken as it comes.
    let mut resumes = Vec::with_capacity(threads.len());
    for thread_id in threads {
        let params = serde_json::value::to_raw_value(&crate::types::ThreadResumeParams::new(thread_id.as_str()))
            .expect("a string serializes");
        let mark = shared.lock().router.counters.notifications;
        let answer = send_on(shared, sink, THREAD_RESUME, &params).await?;
        resumes.push(async move {
            match answer.wait().await {
                Ok(result) => {
                    resumed(shared, thread_id, &params, &result, mark);
                    Ok(())
                }
                Err(Error::Rpc(e)) => {
                    tracing::warn!(thread_id, error = %e, "a thread could not be resumed after reconnecting");
                    lost(shared, thread_id, &e);
                    Ok(())
                }
                Err(other) => Err(other),
            }
        });
    }
    futures_util::future::try_join_all(resumes).await?;
    Ok(())
}

/// Sends one request on `sink` and waits for its answer (routed by the new link's reader).
async fn request_on(
    shared: &Arc<Shared>,
    sink: &mut OutboundSink,
    method: &str,
    params: &RawValue,
) -> Result<Box<RawValue>> {
    send_on(shared, sink, method, params).await?.wait().await
}

/// Sends one request on `sink`; its answer comes through the new link's reader.
async fn send_on<'a>(
    shared: &'a Shared,
    sink: &mut OutboundSink,
    method: &str,
    params: &RawValue,
) -> Result<Answer<'a>> {
    let (id, reply) =
        shared.register(method).ok_or_else(|| shared.closed_error().unwrap_or_else(Error::closed_unknown))?;
    let answer = Answer { shared, id, reply: Some(reply) };
    sink.send(encode_request(id, method, params)).await.map_err(Error::Io)?;
    Ok(answer)
}

/// The answer to a request of the handshake; its pending entry goes when it is dropped
/// unanswered.
struct Answer<'a> {
    shared: &'a Shared,
    id: i64,
    reply: Option<super::state::AnswerReceiver>,
}

impl Answer<'_> {
    async fn wait(mut self) -> Result<Box<RawValue>> {
        let reply = self.reply.take().expect("waited once");
        reply.await.unwrap_or_else(|_| Err(Error::closed_unknown()))
    }
}

impl Drop for Answer<'_> {
    fn drop(&mut self) {
        self.shared.lock().pending.remove(self.id);
    }
}

/// `thread_id` could not be resumed on the new link (`error`): no event of its turns will
/// come, so their streams end with [`Error::StreamEnded`] saying why, and the book forgets
/// them (the thread is not busy for this client any more).
fn lost(shared: &Shared, thread_id: &str, error: &crate::RpcError) {
    let what = format!("thread {thread_id} could not be resumed after the link to the app-server dropped: {error}");
    let mut state = shared.lock();
    let turns = state.turns.lose_turns(thread_id);
    state.router.lose_turns(thread_id, &turns, &what);
    drop(state);
    shared.turns_changed.notify_waiters();
}

/// How long after a resume answer that reports a followed turn `interrupted` the record is
/// read again before the turn is completed from it (see [`resumed`]).
const CONFIRM_INTERRUPTED_AFTER: Duration = Duration::from_millis(300);

/// A `thread/resume` or `thread/read` answer, as far as the turns' records go.
#[derive(serde::Deserialize)]
struct ThreadAnswer {
    thread: Record,
}

/// A thread's record.
#[derive(serde::Deserialize)]
struct Record {
    #[serde(default)]
    turns: Vec<Box<RawValue>>,
}

/// A turn record's id and status.
#[derive(serde::Deserialize)]
struct TurnHead {
    id: String,
    status: crate::types::TurnStatus,
}

/// The thread is subscribed again: the book learns from the answer, and each turn this
/// client still follows that the answer reports ended is completed from the record (it
/// ended during the gap; no `turn/completed` will come for it).
///
/// `completed` and `failed` are final. `interrupted` is not always: a resume answer can
/// report a turn that had only just started when the link dropped as `interrupted` and the
/// turn then runs on to `completed` (seen in the soak). Such a turn is completed only if a
/// second read of the record, [`CONFIRM_INTERRUPTED_AFTER`] later, still says it ended; a
/// turn that runs on ends with its own `turn/completed`.
fn resumed(shared: &Arc<Shared>, thread_id: &str, params: &RawValue, result: &RawValue, mark: u64) {
    {
        let mut state = shared.lock();
        let seen_at = state.router.counters.notifications;
        state.turns.observe_answer(THREAD_RESUME, params.get(), result.get(), mark, seen_at);
    }
    let turns = serde_json::from_str::<ThreadAnswer>(result.get()).map(|a| a.thread.turns).unwrap_or_default();
    let unsure = complete_ended(shared, thread_id, turns, false);
    if unsure.is_empty() {
        return;
    }
    let weak = Arc::downgrade(shared);
    let thread_id = thread_id.to_owned();
    shared.runtime.spawn(async move {
        tokio::time::sleep(CONFIRM_INTERRUPTED_AFTER).await;
        let Some(shared) = weak.upgrade() else { return };
        let mut params = crate::types::ThreadReadParams::new(thread_id.as_str());
        params.include_turns = Some(true);
        let params = serde_json::value::to_raw_value(&params).expect("strings serialize");
        let Some(reply) = shared.send_request_detached(crate::method_names::THREAD_READ, &params) else { return };
        drop(shared);
        let Ok(Ok(read)) = reply.await else { return };
        let Some(shared) = weak.upgrade() else { return };
        let turns = serde_json::from_str::<ThreadAnswer>(read.get()).map(|a| a.thread.turns).unwrap_or_default();
        let turns = turns
            .into_iter()
            .filter(|turn| serde_json::from_str::<TurnHead>(turn.get()).is_ok_and(|head| unsure.contains(&head.id)))
            .collect();
        complete_ended(&shared, &thread_id, turns, true);
    });
}

/// Completes each of `turns` (records of `thread_id`'s turns) that has ended and that this
/// client still follows, by routing a `turn/completed` made from the record; an
/// `interrupted` one only when `confirmed`. Returns the ids of the `interrupted` ones left
/// for confirmation.
fn complete_ended(shared: &Arc<Shared>, thread_id: &str, turns: Vec<Box<RawValue>>, confirmed: bool) -> Vec<String> {
    use crate::types::TurnStatus;
    let mut unsure = Vec::new();
    let mut wakes = super::queue::Wakes::default();
    for turn in turns {
        let Ok(head) = serde_json::from_str::<TurnHead>(turn.get()) else { continue };
        let followed = {
            let state = shared.lock();
            !state.turns.recently_completed(&head.id)
                && (state.router.follows_turn(&head.id) || state.turns.is_running(thread_id, &head.id))
        };
        if head.status == TurnStatus::InProgress || !followed {
            continue;
        }
        if head.status == TurnStatus::Interrupted && !confirmed {
            unsure.push(head.id);
            continue;
        }
        let line = format!(
            r#"{{"method":"{TURN_COMPLETED}","params":{{"threadId":{},"turn":{}}}}}"#,
            serde_json::to_string(thread_id).expect("a string serializes"),
            turn.get()
        );
        tracing::debug!(thread_id, turn_id = %head.id, status = %head.status, "a turn ended during the gap; completing it from the server's record");
        super::reader::handle_line(shared, line.into_bytes(), shared.link_generation(), &mut wakes);
    }
    drop(wakes);
    shared.turns_changed.notify_waiters();
    unsure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_named_read_or_list() {
        for read in ["thread/read", "thread/list", "model/list", "config/read", "thread/loaded/list"] {
            assert!(is_read(read), "{read}");
        }
        for write in ["turn/start", "thread/start", "thread/resume", "turn/interrupt", "account/login/start"] {
            assert!(!is_read(write), "{write}");
        }
    }

    #[test]
    fn the_first_attempt_is_at_once_then_backoff_grows_to_its_cap() {
        let policy =
            ReconnectPolicy::default().with_jitter(0.0).with_delays(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<_> = (1..=6).map(|a| policy.delay(a)).collect();
        let ms = |m| Duration::from_millis(m);
        assert_eq!(delays, [ms(0), ms(100), ms(200), ms(400), ms(800), ms(1000)]);
    }
}
