//! A TCP proxy on 127.0.0.1 that injects network faults between a client and a server:
//! cutting every open link (both sockets closed at once, as a dropped path or a reset
//! looks to the client), blackholing (the links stay open and nothing is forwarded: a
//! half-open path), and refusing new links (accepted, then closed at once).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy; dropping it stops accepting and closes every link.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Faults>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Faults {
    /// Bumped by [`FaultProxy::cut`]: links opened before it close.
    cuts: watch::Sender<u64>,
    blackhole: AtomicBool,
    refuse: AtomicBool,
    accepted: AtomicU64,
    /// Where new links go.
    upstream: std::sync::atomic::AtomicU16,
    /// What the clients sent while blackholed (the bytes the path swallowed).
    swallowed: std::sync::Mutex<Vec<u8>>,
}

impl FaultProxy {
    /// Forwards 127.0.0.1:(a free port) to 127.0.0.1:`upstream`.
    pub async fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Faults::default());
        shared.upstream.store(upstream, Ordering::Release);
        let faults = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                faults.accepted.fetch_add(1, Ordering::Relaxed);
                if faults.refuse.load(Ordering::Acquire) {
                    drop(client);
                    continue;
                }
                let upstream = faults.upstream.load(Ordering::Acquire);
                tokio::spawn(link(client, upstream, faults.clone()));
            }
        });
        FaultProxy { port, shared, accept }
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Closes every open link (both ends).
    pub fn cut(&self) {
        self.shared.cuts.send_modify(|cuts| *cuts += 1);
    }

    /// Stops (or resumes) forwarding on every link, open or new; the sockets stay open.
    pub fn blackhole(&self, on: bool) {
        self.shared.blackhole.store(on, Ordering::Release);
    }

    /// Closes (or again forwards) every new link at once.
    pub fn refuse(&self, on: bool) {
        self.shared.refuse.store(on, Ordering::Release);
    }

    /// The WebSocket text frames (messages) the clients sent into the blackhole, counted
    /// from the frame headers of the swallowed bytes (a blackhole starts between frames).
    pub fn swallowed_messages(&self) -> usize {
        let bytes = self.shared.swallowed.lock().unwrap();
        let (mut at, mut messages) = (0, 0);
        while at + 2 <= bytes.len() {
            let (opcode, masked, short) =
                (bytes[at] & 0x0f, bytes[at + 1] & 0x80 != 0, (bytes[at + 1] & 0x7f) as usize);
            let (extra, len) = match short {
                126 if at + 4 <= bytes.len() => (2, u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize),
                127 if at + 10 <= bytes.len() => {
                    (8, u64::from_be_bytes(bytes[at + 2..at + 10].try_into().unwrap()) as usize)
                }
                126 | 127 => break,
                len => (0, len),
            };
            let end = at + 2 + extra + if masked { 4 } else { 0 } + len;
            if end > bytes.len() {
                break;
            }
            messages += usize::from(opcode == 1);
            at = end;
        }
        messages
    }

    /// Sends new links to 127.0.0.1:`port` (open ones stay where they are).
    pub fn set_upstream(&self, port: u16) {
        self.shared.upstream.store(port, Ordering::Release);
    }

    /// Links accepted so far (refused ones included).
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// Forwards one link until either side closes or a cut.
async fn link(client: TcpStream, upstream: u16, faults: Arc<Faults>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else { return };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let mut cuts = faults.cuts.subscribe();
    cuts.mark_unchanged();
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        _ = pump(client_read, server_write, &faults, true) => {}
        _ = pump(server_read, client_write, &faults, false) => {}
        _ = cuts.changed() => {}
    }
}

/// Copies `from` to `to`, dropping what arrives while blackholed (and keeping what a
/// client sent then).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    faults: &Faults,
    from_client: bool,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if faults.blackhole.load(Ordering::Acquire) {
            if from_client {
                faults.swallowed.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
            continue;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
