//! The `initialize` / `initialized` handshake: what the client declares, and what it learns
//! about the server ([`ServerMetadata`]).

use std::path::PathBuf;

use serde_json::Value;

use crate::types::{ClientInfo, InitializeCapabilities, InitializeParams};

/// What the client declares in `initialize`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InitializeOptions {
    /// `clientInfo.name` (also the `originator` Codex reports upstream).
    pub client_name: String,
    /// `clientInfo.title`.
    pub client_title: Option<String>,
    /// `clientInfo.version`.
    pub client_version: String,
    /// `capabilities.experimentalApi` (default `true`, as in the Python SDK).
    pub experimental_api: bool,
    /// `capabilities.optOutNotificationMethods`: notifications the server should not send.
    pub opt_out_notification_methods: Vec<String>,
}

impl Default for InitializeOptions {
    fn default() -> Self {
        InitializeOptions {
            client_name: "codex_rust_sdk".to_owned(),
            client_title: Some("Codex Rust SDK".to_owned()),
            client_version: env!("CARGO_PKG_VERSION").to_owned(),
            experimental_api: true,
            opt_out_notification_methods: Vec::new(),
        }
    }
}

impl InitializeOptions {
    /// Sets `clientInfo` name, title and version.
    pub fn with_client_info(
        mut self,
        name: impl Into<String>,
        title: Option<String>,
        version: impl Into<String>,
    ) -> Self {
        self.client_name = name.into();
        self.client_title = title;
        self.client_version = version.into();
        self
    }

    /// Sets [`experimental_api`](Self::experimental_api).
    pub fn with_experimental_api(mut self, enabled: bool) -> Self {
        self.experimental_api = enabled;
        self
    }

    /// Adds a notification method the server should not send.
    pub fn with_opt_out_notification(mut self, method: impl Into<String>) -> Self {
        self.opt_out_notification_methods.push(method.into());
        self
    }

    /// The `initialize` params.
    pub fn to_params(&self) -> InitializeParams {
        let opt_out = &self.opt_out_notification_methods;
        InitializeParams {
            client_info: ClientInfo {
                name: self.client_name.clone(),
                title: self.client_title.clone(),
                version: self.client_version.clone(),
            },
            capabilities: Some(InitializeCapabilities {
                experimental_api: Some(self.experimental_api),
                opt_out_notification_methods: (!opt_out.is_empty()).then(|| opt_out.clone()),
                ..InitializeCapabilities::default()
            }),
        }
    }
}

/// What the server reported in its `initialize` response.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerMetadata {
    /// The whole `InitializeResponse`, as received.
    pub raw: Value,
    /// `userAgent`, e.g. `my_client/0.169.0 (Debian 12.0.0; x86_64) xterm (my_client; 0.0.1)`.
    pub user_agent: Option<String>,
    /// `serverInfo.name` if the server sends it; otherwise the product token of `userAgent`
    /// (which Codex 0.169.0 fills with the client's originator name, as the Python SDK reports).
    pub server_name: Option<String>,
    /// `serverInfo.version` if present; otherwise the version in `userAgent` (the Codex
    /// version, e.g. `0.169.0`).
    pub server_version: Option<String>,
    /// [`server_version`](Self::server_version) as a release number, when it parses. The
    /// SDK answers [`Codex::supports`](crate::Codex::supports) and refuses requests the
    /// server predates ([`Error::Unsupported`](crate::Error::Unsupported)) from it.
    pub codex_version: Option<crate::version::CodexVersion>,
    /// `platformFamily`, e.g. `unix`.
    pub platform_family: Option<String>,
    /// `platformOs`, e.g. `linux`.
    pub platform_os: Option<String>,
    /// `codexHome`: the server's `$CODEX_HOME`.
    pub codex_home: Option<PathBuf>,
    /// Which transport and endpoint the connection uses (set by
    /// [`Connection::initialize`](super::Connection::initialize); `None` from
    /// [`from_response`](Self::from_response) alone).
    pub endpoint: Option<crate::endpoint::Endpoint>,
}

impl ServerMetadata {
    /// Parses an `InitializeResponse`, tolerating missing or extra fields.
    pub fn from_response(raw: Value) -> Self {
        let string = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
        let user_agent = string("userAgent");
        let info = raw.get("serverInfo");
        let info_field = |key: &str| info.and_then(|i| i.get(key)).and_then(Value::as_str).map(str::to_owned);
        let (ua_name, ua_version) = user_agent.as_deref().map(parse_user_agent).unwrap_or((None, None));
        ServerMetadata {
            server_name: info_field("name").or(ua_name),
            codex_version: info_field("version").or(ua_version.clone()).and_then(|v| v.parse().ok()),
            server_version: info_field("version").or(ua_version),
            platform_family: string("platformFamily"),
            platform_os: string("platformOs"),
            codex_home: string("codexHome").map(PathBuf::from),
            user_agent,
            raw,
            endpoint: None,
        }
    }
}

/// Splits the product token `name/version` at the start of a user agent.
fn parse_user_agent(ua: &str) -> (Option<String>, Option<String>) {
    let token = ua.split_whitespace().next().unwrap_or("");
    match token.split_once('/') {
        Some((name, version)) => {
            ((!name.is_empty()).then(|| name.to_owned()), (!version.is_empty()).then(|| version.to_owned()))
        }
        None => ((!token.is_empty()).then(|| token.to_owned()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_from_fixture() {
        let raw = json!({"userAgent":"lab_client/0.169.0 (Debian 12.0.0; x86_64) xterm (lab_client; 0.0.1)","codexHome":"/tmp/lab/home_t1","platformFamily":"unix","platformOs":"linux"});
        let m = ServerMetadata::from_response(raw);
        assert_eq!(m.server_version.as_deref(), Some("0.169.0"));
        assert_eq!(m.codex_version, Some(crate::version::CodexVersion::new(0, 169, 0)));
        assert_eq!(m.server_name.as_deref(), Some("lab_client"));
        assert_eq!(m.platform_family.as_deref(), Some("unix"));
        assert_eq!(m.platform_os.as_deref(), Some("linux"));
        assert_eq!(m.codex_home, Some(PathBuf::from("/tmp/lab/home_t1")));

        let m = ServerMetadata::from_response(
            json!({"serverInfo": {"name": "codex", "version": "9.9.9"}, "userAgent": "x/1"}),
        );
        assert_eq!((m.server_name.as_deref(), m.server_version.as_deref()), (Some("codex"), Some("9.9.9")));
        let m = ServerMetadata::from_response(json!({}));
        assert_eq!((m.server_version, m.codex_version), (None, None));
        let m = ServerMetadata::from_response(json!({"userAgent": "x/dev-build (linux)"}));
        assert_eq!((m.server_version.as_deref(), m.codex_version), (Some("dev-build"), None));
    }

    #[test]
    fn params_shape() {
        let o = InitializeOptions::default().with_client_info("lab", None, "0.0.1").with_opt_out_notification(
            <crate::methods::server_notifications::ThreadStarted as crate::protocol::Notification>::METHOD,
        );
        assert_eq!(
            serde_json::to_value(o.to_params()).unwrap(),
            json!({"clientInfo": {"name": "lab", "version": "0.0.1"},
                   "capabilities": {"experimentalApi": true, "optOutNotificationMethods": ["thread/started"]}})
        );
    }
}
