//! [`ListeningAppServer`]: a real `codex app-server` in a [`CodexHome`], listening on a
//! loopback WebSocket port or on the home's unix control socket, for tests that attach to a
//! server the SDK did not spawn (features `testing` and `websocket`).

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::codex_home::{CodexHome, SCRUBBED_ENV_VARS};
use crate::attach::{control_socket_path, Secret, UnixSocketEndpoint, WebSocketEndpoint};

/// How long a server may take to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How a WebSocket server authenticates its clients (`--ws-auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerAuth {
    /// No `--ws-auth`: any client on loopback may connect.
    None,
    /// `--ws-auth capability-token` with a random token written to a file in the home.
    CapabilityToken,
    /// `--ws-auth signed-bearer-token` with a random shared secret, and `--ws-issuer` /
    /// `--ws-audience` when given.
    SignedBearer {
        /// The required `iss`.
        issuer: Option<String>,
        /// The required `aud`.
        audience: Option<String>,
    },
}

/// Where a [`ListeningAppServer`] listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `ws://127.0.0.1:<port>`.
    WebSocket {
        /// The loopback port.
        port: u16,
    },
    /// The control socket under the home's `CODEX_HOME` (`--listen unix://`).
    ControlSocket {
        /// Its path.
        path: PathBuf,
    },
}

/// A running `codex app-server --listen …` in a [`CodexHome`]; killed and reaped on drop.
/// Its stderr goes to the home's [`stderr_log`](CodexHome::stderr_log) (a file, so a chatty
/// server never blocks on a full pipe).
#[derive(Debug)]
pub struct ListeningAppServer {
    child: Option<tokio::process::Child>,
    pid: u32,
    listen: Listen,
    auth: ServerAuth,
    secret: Option<Secret>,
    secret_file: Option<PathBuf>,
}

impl CodexHome {
    /// Starts `codex_bin app-server --listen ws://127.0.0.1:<free port>` with `auth`, and
    /// waits until `GET /readyz` answers 200.
    pub async fn listen_websocket(&self, codex_bin: &Path, auth: ServerAuth) -> io::Result<ListeningAppServer> {
        let mut last_error = None;
        // A free port can be taken between probing and binding: try a few.
        for _ in 0..3 {
            let port = free_port()?;
            let listen = Listen::WebSocket { port };
            match self.start_listening(codex_bin, listen, auth.clone()).await {
                Ok(server) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("tried"))
    }

    /// Starts `codex_bin app-server --listen unix://` (the control socket under this home)
    /// and waits until the socket accepts connections.
    pub async fn listen_control_socket(&self, codex_bin: &Path) -> io::Result<ListeningAppServer> {
        let listen = Listen::ControlSocket { path: control_socket_path(self.codex_home()) };
        self.start_listening(codex_bin, listen, ServerAuth::None).await
    }

    async fn start_listening(
        &self,
        codex_bin: &Path,
        listen: Listen,
        auth: ServerAuth,
    ) -> io::Result<ListeningAppServer> {
        let mut args: Vec<String> = vec!["app-server".into(), "--listen".into()];
        args.push(match &listen {
            Listen::WebSocket { port } => format!("ws://127.0.0.1:{port}"),
            Listen::ControlSocket { .. } => "unix://".into(),
        });
        let (secret, secret_file) = match &auth {
            ServerAuth::None => (None, None),
            ServerAuth::CapabilityToken => {
                let token = random_secret();
                let file = self.write_secret_file("ws-token", &token)?;
                args.extend(["--ws-auth".into(), "capability-token".into(), "--ws-token-file".into()]);
                args.push(file.display().to_string());
                (Some(token), Some(file))
            }
            ServerAuth::SignedBearer { issuer, audience } => {
                let secret = random_secret();
                let file = self.write_secret_file("ws-shared-secret", &secret)?;
                args.extend(["--ws-auth".into(), "signed-bearer-token".into(), "--ws-shared-secret-file".into()]);
                args.push(file.display().to_string());
                if let Some(issuer) = issuer {
                    args.extend(["--ws-issuer".into(), issuer.clone()]);
                }
                if let Some(audience) = audience {
                    args.extend(["--ws-audience".into(), audience.clone()]);
                }
                (Some(secret), Some(file))
            }
        };
        let mut fresh = std::process::Command::new(codex_bin);
        fresh.args(&args).current_dir(self.work_dir()).stdin(Stdio::null()).stdout(Stdio::null());
        fresh.stderr(Stdio::from(self.open_stderr_log()?));
        for name in SCRUBBED_ENV_VARS {
            fresh.env_remove(name);
        }
        fresh.envs(self.env());
        let mut child = tokio::process::Command::from(fresh).kill_on_drop(true).spawn()?;
        let pid = child.id().unwrap_or_default();
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "the app-server ({args:?}) exited before listening ({status}); stderr:\n{}",
                    self.stderr_text()
                )));
            }
            if ready(&listen).await {
                break;
            }
            if started.elapsed() > READY_TIMEOUT {
                let _ = child.kill().await;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the app-server did not listen within {READY_TIMEOUT:?}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(ListeningAppServer { child: Some(child), pid, listen, auth, secret, secret_file })
    }

    fn write_secret_file(&self, name: &str, secret: &Secret) -> io::Result<PathBuf> {
        let path = self.codex_home().parent().unwrap_or(self.codex_home()).join(name);
        std::fs::write(&path, secret.expose())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(path)
    }
}

impl ListeningAppServer {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Where it listens.
    pub fn listen(&self) -> &Listen {
        &self.listen
    }

    /// The capability token or shared secret clients need (`None` without auth).
    pub fn secret(&self) -> Option<&Secret> {
        self.secret.as_ref()
    }

    /// The file the server reads its capability token or shared secret from (mode 0600,
    /// beside the home; `None` without auth): for clients configured by file, e.g.
    /// [`Secret::from_file`](crate::attach::Secret::from_file).
    pub fn secret_file(&self) -> Option<&Path> {
        self.secret_file.as_deref()
    }

    /// `ws://127.0.0.1:<port>` for a WebSocket server.
    pub fn url(&self) -> Option<String> {
        match &self.listen {
            Listen::WebSocket { port } => Some(format!("ws://127.0.0.1:{port}")),
            Listen::ControlSocket { .. } => None,
        }
    }

    /// A [`WebSocketEndpoint`] with the right credentials (a capability token, or a signed
    /// bearer token when the `jwt` feature is on). Panics for a control-socket server.
    pub fn websocket_endpoint(&self) -> WebSocketEndpoint {
        let endpoint = WebSocketEndpoint::new(self.url().expect("a WebSocket server"));
        match (&self.auth, &self.secret) {
            (ServerAuth::CapabilityToken, Some(token)) => endpoint.capability_token(token.clone()),
            #[cfg(feature = "jwt")]
            (ServerAuth::SignedBearer { issuer, audience }, Some(secret)) => {
                let mut signed = crate::attach::SignedBearerToken::new(secret.clone());
                if let Some(issuer) = issuer {
                    signed = signed.issuer(issuer.clone());
                }
                if let Some(audience) = audience {
                    signed = signed.audience(audience.clone());
                }
                endpoint.signed_bearer_token(signed)
            }
            _ => endpoint,
        }
    }

    /// A [`UnixSocketEndpoint`] for a control-socket server. Panics for a WebSocket server.
    pub fn unix_endpoint(&self) -> UnixSocketEndpoint {
        match &self.listen {
            Listen::ControlSocket { path } => UnixSocketEndpoint::new(path.clone()),
            Listen::WebSocket { .. } => panic!("not a control-socket server"),
        }
    }

    /// Kills the server (SIGKILL) and reaps it.
    pub async fn kill(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for ListeningAppServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            // Reap it now (bounded), so no zombie outlives the test.
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A random 32-byte hex secret (std only: hashes seeded by the OS).
fn random_secret() -> Secret {
    let mut out = String::new();
    for i in 0..4u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    Secret::new(out)
}

/// Whether the server listens: `/readyz` answers 200, or the control socket accepts.
async fn ready(listen: &Listen) -> bool {
    match listen {
        Listen::WebSocket { port } => readyz(*port).await.unwrap_or(false),
        #[cfg(unix)]
        Listen::ControlSocket { path } => tokio::net::UnixStream::connect(path).await.is_ok(),
        #[cfg(not(unix))]
        Listen::ControlSocket { .. } => false,
    }
}

async fn readyz(port: u16) -> io::Result<bool> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    Ok(head.starts_with(b"HTTP/1.1 200"))
}
