//! A mock OAuth issuer on 127.0.0.1 for the ChatGPT sign-in tests: the app-server is
//! pointed at it with `CODEX_APP_SERVER_LOGIN_ISSUER`, so no sign-in traffic leaves the machine.

use crate::common::World;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request the issuer received.
#[derive(Debug, Clone)]
pub struct IssuerRequest {
    pub method: String,
    pub path: String,
    pub body: String,
}

pub type Route = Arc<dyn Fn(&IssuerRequest) -> (u16, String) + Send + Sync>;

/// A tiny HTTP/1.1 server answering JSON per path; unknown paths get 404.
pub struct Issuer {
    pub url: String,
    log: Arc<Mutex<Vec<IssuerRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Issuer {
    pub async fn start(routes: Vec<(&'static str, Route)>) -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the issuer");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let routes: Arc<HashMap<&'static str, Route>> = Arc::new(routes.into_iter().collect());
        let task_log = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let routes = routes.clone();
                let log = task_log.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &routes, &log).await;
                });
            }
        });
        Issuer { url, log, task }
    }

    pub fn requests(&self, path: &str) -> Vec<IssuerRequest> {
        self.log.lock().unwrap().iter().filter(|r| r.path.split('?').next() == Some(path)).cloned().collect()
    }

    pub fn request_count(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

async fn serve(
    stream: TcpStream,
    routes: &HashMap<&'static str, Route>,
    log: &Mutex<Vec<IssuerRequest>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    let request = IssuerRequest { method, path, body: String::from_utf8_lossy(&body).into_owned() };
    log.lock().unwrap().push(request.clone());
    let route = routes.get(request.path.split('?').next().unwrap_or_default());
    let (status, body) = match route {
        Some(route) => route(&request),
        None => (404, json!({"error": "not found"}).to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    write.write_all(head.as_bytes()).await?;
    write.write_all(body.as_bytes()).await?;
    write.shutdown().await
}

pub fn route(f: impl Fn(&IssuerRequest) -> (u16, String) + Send + Sync + 'static) -> Route {
    Arc::new(f)
}

pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// An unsigned ID/access token with the claims Codex reads.
pub const ACCESS_MARKER: &str = "secret-access-marker";

pub fn fake_jwt() -> String {
    let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = json!({
        "email": "user@example.com",
        "exp": 4102444800u64,
        "marker": ACCESS_MARKER,
        "https://api.openai.com/auth": {
            "chatgpt_account_id": "acct-1", "chatgpt_plan_type": "plus", "chatgpt_user_id": "user-1"
        }
    });
    format!("{header}.{}.sig", base64url(claims.to_string().as_bytes()))
}

pub const REFRESH_TOKEN: &str = "refresh-token-secret-1";

/// `/oauth/token`: the authorization-code exchange succeeds; the API-key token exchange is refused.
pub fn token_route() -> (&'static str, Route) {
    let jwt = fake_jwt();
    (
        "/oauth/token",
        route(move |r| {
            if r.body.contains("token-exchange") {
                (400, json!({"error": "unsupported"}).to_string())
            } else {
                (
                    200,
                    json!({"id_token": jwt, "access_token": jwt, "refresh_token": REFRESH_TOKEN, "expires_in": 3600})
                        .to_string(),
                )
            }
        }),
    )
}

/// A world whose app-server uses `issuer` for ChatGPT sign-in.
pub async fn login_world(issuer: &Issuer) -> World {
    let url = issuer.url.clone();
    World::start_with(|h| h.env_var("CODEX_APP_SERVER_LOGIN_ISSUER", url), |b| b).await
}

pub fn usercode_route() -> (&'static str, Route) {
    (
        "/api/accounts/deviceauth/usercode",
        route(|_| (200, json!({"device_auth_id": "dev-1", "user_code": "WXYZ-2345", "interval": "1"}).to_string())),
    )
}

/// `/deviceauth/token`: pending (403) until `approve_after` polls, then the authorization code.
pub fn device_token_route(approve_after: Option<usize>, polls: Arc<AtomicUsize>) -> (&'static str, Route) {
    (
        "/api/accounts/deviceauth/token",
        route(move |_| {
            let n = polls.fetch_add(1, Ordering::SeqCst) + 1;
            match approve_after {
                Some(after) if n > after => (
                    200,
                    json!({"authorization_code": "device-code-1", "code_challenge": "c", "code_verifier": "v"})
                        .to_string(),
                ),
                _ => (403, json!({"error": "authorization_pending"}).to_string()),
            }
        }),
    )
}
