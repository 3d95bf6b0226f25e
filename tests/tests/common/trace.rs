//! A `tracing` subscriber that records every event and span as a line of text, for tests
//! that check what the SDK logs.

use std::sync::{Arc, Mutex};

/// Records `event LEVEL target fields…` for each event and `span name fields…` for each span
/// (and `record fields…` for later span values).
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<String>>>);

impl Capture {
    /// Everything recorded so far, a line per event or span.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn push(&self, line: String) -> usize {
        let mut log = self.0.lock().unwrap();
        log.push(line);
        log.len()
    }
}

impl Capture {
    /// A capture installed as this thread's default subscriber until the guard drops.
    ///
    /// `tracing` caches each callsite's interest for the whole process, and while at most
    /// one dispatcher exists it computes that interest from the default of whichever thread
    /// reaches the callsite first: a concurrent test without a subscriber would pin the
    /// SDK's callsites to "never" and this capture would see nothing. A second, inert
    /// dispatcher that lives for the process, and a capture that answers "sometimes", keep
    /// every callsite asking each time.
    pub fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        static ANCHOR: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
        ANCHOR.get_or_init(|| tracing::Dispatch::new(Anchor));
        let capture = Capture::default();
        let guard = tracing::subscriber::set_default(capture.clone());
        tracing::callsite::rebuild_interest_cache();
        (capture, guard)
    }
}

/// A subscriber that records nothing and keeps every callsite's interest at "sometimes".
struct Anchor;

impl tracing::Subscriber for Anchor {
    fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl tracing::Subscriber for Capture {
    fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut fields);
        tracing::span::Id::from_u64(self.push(fields.0) as u64)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut fields = Fields("record".into());
        values.record(&mut fields);
        self.push(fields.0);
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let meta = event.metadata();
        let mut fields = Fields(format!("event {} {}", meta.level(), meta.target()));
        event.record(&mut fields);
        self.push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
