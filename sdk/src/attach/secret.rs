//! [`Secret`]: a token or shared secret that never shows itself.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A secret string (a capability token, a JWT shared secret). `Debug` and `Display` print
/// `<redacted>`; only [`expose`](Self::expose) gives the value. Clones share one copy,
/// wiped (zeroized) when the last clone is dropped.
#[derive(Clone)]
pub struct Secret(Arc<Zeroizing<String>>);

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl Secret {
    /// Wraps `value` (a `String` is moved, not copied).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::new(Zeroizing::new(value.into())))
    }

    /// Reads a secret from a file (such as the app-server's `--ws-token-file`), without
    /// trailing line breaks. A file that group or others may read (unix mode `& 0o077`) is
    /// still read, with a `tracing` warning naming the file and its mode, as ssh warns of a
    /// key file others can read.
    pub fn from_file(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref();
        warn_if_others_can_read(path);
        // Read into the buffer the secret keeps (trimmed in place): no second copy.
        let mut text = Zeroizing::new(std::fs::read_to_string(path)?);
        let kept = text.trim_end_matches(['\n', '\r']).len();
        text.truncate(kept);
        Ok(Secret(Arc::new(text)))
    }

    /// The secret value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Warns when `path` is open to group or others (unix only).
fn warn_if_others_can_read(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = %format_args!("{mode:o}"),
                    "the secret file is accessible to group or others; restrict it with `chmod 600`"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_itself() {
        let s = Secret::new("tok-123");
        assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
        assert_eq!(s.expose(), "tok-123");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t"), "tok-123\r\n").unwrap();
        assert_eq!(Secret::from_file(dir.path().join("t")).unwrap(), s);
    }
}
