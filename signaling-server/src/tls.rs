//! TLS on the public port: a certificate from PEM files or made on the spot, its SHA-256
//! fingerprint (what clients pin with `--server-fingerprint`), and a listener that does the
//! handshakes so axum serves HTTP and WebSocket over TLS on one port.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's certificate and key, ready to serve.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
    fingerprint: String,
    spki_sha256: Option<String>,
    cert_pem: String,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads a certificate chain and its private key from PEM files (`--tls-cert`,
    /// `--tls-key`).
    pub fn from_pem_files(cert: &Path, key: &Path) -> anyhow::Result<ServerTls> {
        let pem = std::fs::read_to_string(cert)
            .with_context(|| format!("cannot read {}", cert.display()))?;
        let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("cannot read certificates from {}", cert.display()))?;
        if chain.is_empty() {
            anyhow::bail!("{} holds no PEM certificate", cert.display());
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .with_context(|| format!("cannot read a PEM private key from {}", key.display()))?;
        ServerTls::new(chain, key, None, pem)
    }

    /// Makes a self-signed certificate for `names` (host names and IP addresses), with a
    /// fresh ECDSA P-256 key that lives only in this process.
    pub fn self_signed(names: &[String]) -> anyhow::Result<ServerTls> {
        use rcgen::PublicKeyData;
        let certified = rcgen::generate_simple_self_signed(names.to_vec())
            .context("cannot make a self-signed certificate")?;
        let spki = Sha256::digest(certified.signing_key.subject_public_key_info());
        let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .map_err(|e| anyhow::anyhow!("cannot use the generated key: {e}"))?;
        let pem = certified.cert.pem();
        ServerTls::new(
            vec![certified.cert.der().clone()],
            key,
            Some(base64::engine::general_purpose::STANDARD.encode(spki)),
            pem,
        )
    }

    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        spki_sha256: Option<String>,
        cert_pem: String,
    ) -> anyhow::Result<ServerTls> {
        let fingerprint = fingerprint_of(&chain[0]);
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("TLS set-up")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and the private key do not go together")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls {
            config: Arc::new(config),
            fingerprint,
            spki_sha256,
            cert_pem,
        })
    }

    /// The SHA-256 fingerprint of the certificate, as `AB:CD:…` (what `openssl x509
    /// -fingerprint -sha256` prints, and what clients pass to `--server-fingerprint`).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// For a self-signed certificate, the base64 SHA-256 of its public key, which Chromium
    /// takes in `--ignore-certificate-errors-spki-list` to trust this one certificate.
    pub fn spki_sha256(&self) -> Option<&str> {
        self.spki_sha256.as_deref()
    }

    /// The certificate (chain) in PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }
}

/// The SHA-256 fingerprint of a DER certificate as upper-case hex pairs joined by `:`.
pub fn fingerprint_of(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// A fingerprint as people paste it (`AB:CD…`, `abcd…`, with `sha256:` or `SHA256=` in
/// front) made into 32 bytes; `None` when it is not a SHA-256 fingerprint.
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let text = ["sha256:", "sha256=", "sha-256 "]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
        .unwrap_or(&lower);
    let hex: String = text.chars().filter(|c| *c != ':' && *c != ' ').collect();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The names a self-signed certificate should carry for a server listening on `listen`:
/// the names given, `localhost`, and the listen address, or every address of this machine
/// when it listens on all of them.
pub fn certificate_names(listen: SocketAddr, extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = extra.to_vec();
    names.push("localhost".into());
    let ips: Vec<IpAddr> = if listen.ip().is_unspecified() {
        if_addrs::get_if_addrs()
            .map(|list| list.into_iter().map(|i| i.ip()).collect())
            .unwrap_or_default()
    } else {
        vec![listen.ip()]
    };
    for ip in ips {
        names.push(ip.to_string());
    }
    names.sort();
    names.dedup();
    names
}

/// A TCP listener that hands axum connections after their TLS handshake. Handshakes run
/// side by side, each bounded, so a client that stalls in one holds nobody else up.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp` with `tls`.
    pub fn new(tcp: TcpListener, tls: &ServerTls) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.config));
        let (tx, ready) = mpsc::channel(64);
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, addr) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%addr, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            ready,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // Frees the port: `serve` may be called again on a new listener.
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_every_usual_spelling() {
        let tls = ServerTls::self_signed(&["localhost".into()]).unwrap();
        let fp = tls.fingerprint().to_string();
        assert_eq!(fp.len(), 95);
        let bytes = parse_fingerprint(&fp).unwrap();
        let plain: String = fp.replace(':', "").to_lowercase();
        assert_eq!(parse_fingerprint(&plain), Some(bytes));
        assert_eq!(parse_fingerprint(&format!("SHA256:{fp}")), Some(bytes));
        assert_eq!(parse_fingerprint("AB:CD"), None);
        assert_eq!(parse_fingerprint(&"zz".repeat(32)), None);
        assert_eq!(parse_fingerprint(&"é".repeat(32)), None);
        assert!(tls.spki_sha256().is_some());
    }

    #[test]
    fn names_cover_the_listen_address() {
        let names = certificate_names("10.1.2.3:443".parse().unwrap(), &["meet.test".into()]);
        assert_eq!(names, ["10.1.2.3", "localhost", "meet.test"]);
    }
}
