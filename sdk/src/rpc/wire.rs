//! The smallest pieces of the wire every reader of it shares: a request id, and a string
//! read from a line (a span of it where possible).

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// A JSON-RPC request id. Server → client requests use their own id space and may use
/// integers or strings; replies echo the id exactly as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// An integer id.
    Int(i64),
    /// A string id.
    Str(String),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Int(i) => write!(f, "{i}"),
            RequestId::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// A string read from a line: a span of it, or a string of its own where the line holds
/// it with escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Span(Range<usize>),
    Own(String),
}

impl Part {
    /// `value` as read from `line`: a span when lent from it.
    pub(crate) fn of(line: &str, value: Cow<'_, str>) -> Part {
        match value {
            Cow::Borrowed(lent) => span_in(line, lent).map_or_else(|| Part::Own(lent.to_owned()), Part::Span),
            Cow::Owned(own) => Part::Own(own),
        }
    }

    /// The string, `line` being the text it was read from.
    pub(crate) fn get<'a>(&'a self, line: &'a str) -> &'a str {
        match self {
            Part::Span(span) => line.get(span.clone()).unwrap_or_default(),
            Part::Own(own) => own,
        }
    }
}

/// Where `lent` (a slice of `line`) lies in `line`; `None` when it is not a slice of it.
pub(crate) fn span_in(line: &str, lent: &str) -> Option<Range<usize>> {
    let start = (lent.as_ptr() as usize).checked_sub(line.as_ptr() as usize)?;
    let end = start.checked_add(lent.len()).filter(|&end| end <= line.len())?;
    line.is_char_boundary(start).then_some(start..end)
}
