//! TLS for `wss://`: rustls with the ring provider, the webpki roots and custom roots.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The roots a `wss://` connection trusts.
#[derive(Clone)]
pub(crate) struct TlsRoots {
    pub(crate) builtin: bool,
    custom: Vec<CertificateDer<'static>>,
}

impl Default for TlsRoots {
    fn default() -> Self {
        TlsRoots { builtin: true, custom: Vec::new() }
    }
}

impl TlsRoots {
    pub(crate) fn add_der(&mut self, der: Vec<u8>) {
        self.custom.push(CertificateDer::from(der));
    }

    pub(crate) fn add_pem(&mut self, pem: &[u8]) -> Result<(), String> {
        let before = self.custom.len();
        for cert in CertificateDer::pem_slice_iter(pem) {
            self.custom.push(cert.map_err(|e| format!("bad PEM certificate: {e}"))?);
        }
        if self.custom.len() == before {
            return Err("the PEM bundle holds no certificate".into());
        }
        Ok(())
    }

    fn client_config(&self) -> std::io::Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        if self.builtin {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for cert in &self.custom {
            roots.add(cert.clone()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }

    /// The TLS handshake with `host` over `tcp`; a certificate problem is `InvalidData`.
    pub(crate) async fn connect(&self, host: &str, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(self.client_config()?));
        connector.connect(name, tcp).await
    }
}
