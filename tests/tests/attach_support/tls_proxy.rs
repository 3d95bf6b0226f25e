//! A loopback TLS-terminating proxy: accepts TLS on 127.0.0.1 with a certificate made here
//! (rcgen, self-signed for the given names), and relays the plaintext bytes to a `ws://`
//! app-server on 127.0.0.1. What `wss://` to a Codex app-server looks like in practice (the
//! server has no TLS of its own). Everything it started stops when it is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A self-signed certificate and its key.
pub struct TestCert {
    pub der: Vec<u8>,
    pub pem: String,
    key_der: Vec<u8>,
}

impl TestCert {
    /// A fresh self-signed certificate for `names` (DNS names or IP addresses).
    pub fn new(names: &[&str]) -> TestCert {
        let certified = rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("generate a certificate");
        TestCert {
            der: certified.cert.der().to_vec(),
            pem: certified.cert.pem(),
            key_der: certified.signing_key.serialize_der(),
        }
    }
}

pub struct TlsProxy {
    port: u16,
    accept: JoinHandle<()>,
    /// TLS handshakes that succeeded (each then relayed to the upstream).
    pub handshakes: Arc<AtomicUsize>,
}

impl TlsProxy {
    /// Listens on 127.0.0.1:<free port> with `cert`, relaying to 127.0.0.1:`upstream_port`.
    pub async fn start(cert: &TestCert, upstream_port: u16) -> TlsProxy {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone())),
            )
            .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let ok = handshakes.clone();
        let accept = tokio::spawn(async move {
            // Owned here: aborting the accept task drops the set, which aborts every relay.
            let mut relays = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                while relays.try_join_next().is_some() {}
                let (acceptor, ok) = (acceptor.clone(), ok.clone());
                relays.spawn(async move {
                    // A refused handshake (a client that does not trust the certificate) ends here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    ok.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
        TlsProxy { port, accept, handshakes }
    }

    /// `wss://<host>:<port>`.
    pub fn url(&self, host: &str) -> String {
        format!("wss://{host}:{}", self.port)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
