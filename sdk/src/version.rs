//! Codex versions, and what a connected server supports.
//!
//! The SDK is generated from one pinned Codex CLI ([`PINNED`]), but users run whatever
//! `codex` they have. From the schemas of a window of releases ([`WINDOW`]) the codegen
//! learns when each method, notification, type and field appeared; at connect the SDK reads
//! the server's version from `initialize`, and then
//!
//! - [`Codex::supports`](crate::Codex::supports) and friends answer from that table;
//! - a request for a method the server predates fails at once with
//!   [`Error::Unsupported`](crate::Error::Unsupported), without a round trip;
//! - a server older than the window or newer than the pin logs one tracing warning at
//!   connect (newer servers work: unknown notifications, items and enum values decode into
//!   fallbacks).
//!
//! A server whose version cannot be read (a development build reports `0.0.0`) is assumed
//! to support everything the pin has.

use std::fmt;
use std::str::FromStr;

pub use crate::generated::history::{
    client_notification, client_request, definition, field, server_notification, server_request, CLIENT_NOTIFICATIONS,
    CLIENT_REQUESTS, DEFINITIONS, FIELDS, PINNED, SERVER_NOTIFICATIONS, SERVER_REQUESTS, WINDOW,
};

/// A Codex release number, `major.minor.patch`. A pre-release suffix (`0.172.0-alpha.2`)
/// is kept for display but compares as the release it precedes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodexVersion {
    major: u32,
    minor: u32,
    patch: u32,
}

impl CodexVersion {
    /// `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self { major, minor, patch }
    }

    /// The major number.
    pub const fn major(self) -> u32 {
        self.major
    }

    /// The minor number.
    pub const fn minor(self) -> u32 {
        self.minor
    }

    /// The patch number.
    pub const fn patch(self) -> u32 {
        self.patch
    }

    /// `0.0.0`: what development builds of Codex report; it says nothing about features.
    pub const fn is_unknown(self) -> bool {
        self.major == 0 && self.minor == 0 && self.patch == 0
    }
}

impl fmt::Display for CodexVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The error of parsing a [`CodexVersion`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a Codex version (major.minor.patch)")]
pub struct ParseVersionError(String);

impl FromStr for CodexVersion {
    type Err = ParseVersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParseVersionError(text.to_owned());
        let release = text.trim().split(['-', '+']).next().unwrap_or("");
        let mut parts = release.split('.').map(|p| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                p.parse::<u32>().ok()
            }
        });
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Some(major)), Some(Some(minor)), Some(Some(patch)), None) => Ok(Self::new(major, minor, patch)),
            _ => Err(bad()),
        }
    }
}

/// When a method, notification, type or field exists: from `since` (or before the
/// window when `None`) up to, not including, `removed` (or still in the pin when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Availability {
    /// The first release that has it, when later than the window's start.
    pub since: Option<CodexVersion>,
    /// The first release that no longer has it.
    pub removed: Option<CodexVersion>,
}

impl Availability {
    /// An availability from its bounds.
    pub const fn new(since: Option<CodexVersion>, removed: Option<CodexVersion>) -> Self {
        Self { since, removed }
    }

    /// Whether a server of `version` has it. An [unknown](CodexVersion::is_unknown)
    /// version has everything.
    pub fn includes(self, version: CodexVersion) -> bool {
        if version.is_unknown() {
            return true;
        }
        self.since.is_none_or(|since| version >= since) && self.removed.is_none_or(|gone| version < gone)
    }
}

/// The entry of `name` in a sorted history table.
pub(crate) fn lookup(table: &[(&str, Availability)], name: &str) -> Option<Availability> {
    table.binary_search_by(|(key, _)| (*key).cmp(name)).ok().map(|i| table[i].1)
}

/// Whether a server of `version` has a name whose history entry is `availability`
/// (`None`: no entry, it was in every release of the window).
pub(crate) fn available(availability: Option<Availability>, version: Option<CodexVersion>) -> bool {
    match (availability, version) {
        (Some(a), Some(v)) => a.includes(v),
        _ => true,
    }
}

/// The one warning a connect logs about the server's version, if any.
pub(crate) fn skew_warning(version: CodexVersion) -> Option<String> {
    let oldest = WINDOW[0];
    if version.is_unknown() {
        None
    } else if version < oldest {
        Some(format!(
            "Codex {version} is older than {oldest}, the oldest release this SDK knows the protocol of; requests it lacks may fail on the server"
        ))
    } else if version > PINNED {
        Some(format!(
            "Codex {version} is newer than {PINNED}, the release this SDK is generated from; what it added arrives as fallback values"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_releases_and_pre_releases() {
        assert_eq!("0.170.2".parse(), Ok(CodexVersion::new(0, 170, 2)));
        assert_eq!(" 1.2.3-alpha.4 ".parse(), Ok(CodexVersion::new(1, 2, 3)));
        assert_eq!("0.172.0+build".parse::<CodexVersion>().map(|v| v.to_string()), Ok("0.172.0".into()));
        for bad in ["", "0.170", "0.170.2.1", "v0.170.2", "0..1", "0.x.1", "-1.0.0"] {
            assert!(bad.parse::<CodexVersion>().is_err(), "{bad:?}");
        }
        assert!(CodexVersion::new(0, 163, 0) < CodexVersion::new(0, 171, 0));
        assert!(CodexVersion::new(0, 99, 9) < CodexVersion::new(1, 0, 0));
    }

    #[test]
    fn availability_bounds() {
        let v = |m| CodexVersion::new(0, m, 0);
        let a = Availability::new(Some(v(165)), Some(v(170)));
        assert!(!a.includes(v(164)));
        assert!(a.includes(v(165)) && a.includes(v(169)));
        assert!(!a.includes(v(170)));
        assert!(a.includes(CodexVersion::new(0, 0, 0)), "a development build has everything");
        assert!(available(None, Some(v(100))), "no entry: in every release");
        assert!(available(Some(a), None), "no version: assume everything");
        assert!(!available(Some(a), Some(v(171))));
    }

    #[test]
    fn tables_are_sorted_for_lookup() {
        for table in [CLIENT_REQUESTS, SERVER_REQUESTS, SERVER_NOTIFICATIONS, CLIENT_NOTIFICATIONS, DEFINITIONS, FIELDS]
        {
            assert!(table.windows(2).all(|w| w[0].0 < w[1].0));
            for (name, availability) in table {
                assert_eq!(lookup(table, name), Some(*availability));
            }
        }
        assert_eq!(client_request("thread/start"), None, "in every release of the window");
    }

    #[test]
    fn the_window_ends_at_the_pin_and_skew_is_warned_once_each_way() {
        assert_eq!(WINDOW.last(), Some(&PINNED));
        assert_eq!(PINNED.to_string(), crate::pinned::PINNED_CODEX_VERSION);
        assert!(WINDOW.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(skew_warning(PINNED), None);
        assert_eq!(skew_warning(WINDOW[0]), None);
        assert_eq!(skew_warning(CodexVersion::new(0, 0, 0)), None);
        let older = CodexVersion::new(WINDOW[0].major(), WINDOW[0].minor() - 1, 0);
        assert!(skew_warning(older).unwrap().contains("older than"));
        let newer = CodexVersion::new(PINNED.major(), PINNED.minor() + 1, 0);
        assert!(skew_warning(newer).unwrap().contains("newer than"));
    }
}
