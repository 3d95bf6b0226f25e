//! The `initialize` / `initialized` handshake: what the client declares, and what it learns
//! about the server ([`ServerMetadata`]).

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::config::ClientConfig;

/// What the client declares in `initialize`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InitializeOptions {
    /// `clientInfo.name`.
    pub client_name: String,
    /// `clientInfo.title`.
    pub client_title: Option<String>,
    /// `clientInfo.version`.
    pub client_version: String,
    /// `capabilities.experimentalApi`.
    pub experimental_api: bool,
    /// `capabilities.optOutNotificationMethods`.
    pub opt_out_notification_methods: Vec<String>,
}

impl Default for InitializeOptions {
    fn default() -> Self {
        InitializeOptions::from(&ClientConfig::default())
    }
}

impl From<&ClientConfig> for InitializeOptions {
    fn from(config: &ClientConfig) -> Self {
        InitializeOptions {
            client_name: config.client_name.clone(),
            client_title: config.client_title.clone(),
            client_version: config.client_version.clone(),
            experimental_api: config.experimental_api,
            opt_out_notification_methods: config.opt_out_notification_methods.clone(),
        }
    }
}

impl InitializeOptions {
    /// The `initialize` params:
    /// `{clientInfo:{name,title,version}, capabilities:{experimentalApi, optOutNotificationMethods?}}`.
    pub fn to_params(&self) -> Value {
        let mut capabilities = json!({ "experimentalApi": self.experimental_api });
        if !self.opt_out_notification_methods.is_empty() {
            capabilities["optOutNotificationMethods"] = json!(self.opt_out_notification_methods);
        }
        let mut client_info = json!({ "name": self.client_name, "version": self.client_version });
        if let Some(title) = &self.client_title {
            client_info["title"] = json!(title);
        }
        json!({ "clientInfo": client_info, "capabilities": capabilities })
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
        let mut o = InitializeOptions::from(&ClientConfig::default().with_client_info("lab", None, "0.0.1"));
        o.opt_out_notification_methods.push("thread/started".into());
        assert_eq!(
            o.to_params(),
            json!({"clientInfo": {"name": "lab", "version": "0.0.1"},
                   "capabilities": {"experimentalApi": true, "optOutNotificationMethods": ["thread/started"]}})
        );
    }
}
