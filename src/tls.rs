//! TLS for `wss://` servers: the system's roots plus `--ca-file`, or one pinned certificate
//! (`--server-fingerprint`, for a self-signed server such as `termmeet join`'s own). A
//! certificate that fails is an error that says what to pass, never a reason to retry.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use termmeet_signaling::tls::{fingerprint_of, parse_fingerprint};

/// How to trust a `wss://` server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM certificates of a private CA to trust besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Trust exactly the certificate with this SHA-256 fingerprint (no CA, no name check).
    pub fingerprint: Option<String>,
}

impl TlsOptions {
    /// The rustls set-up these options describe.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?;
        let config = if let Some(text) = &self.fingerprint {
            let pinned = parse_fingerprint(text).ok_or_else(|| {
                format!(
                    "--server-fingerprint {text:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)"
                )
            })?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned {
                    pinned,
                    algorithms: provider.signature_verification_algorithms,
                }))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(self.roots()?)
                .with_no_client_auth()
        };
        Ok(Arc::new(config))
    }

    fn roots(&self) -> Result<rustls::RootCertStore, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A system root rustls cannot parse is skipped, as browsers do.
            let _ = roots.add(cert);
        }
        if let Some(path) = &self.ca_file {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect())
                .map_err(|e| format!("cannot read --ca-file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "--ca-file {} holds no PEM certificate",
                    path.display()
                ));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    format!(
                        "--ca-file {}: not a usable CA certificate: {e}",
                        path.display()
                    )
                })?;
            }
        }
        Ok(roots)
    }
}

/// Trusts one certificate, by its SHA-256 fingerprint; signatures are still checked, so
/// the server must hold the certificate's key.
#[derive(Debug)]
struct Pinned {
    pinned: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if Sha256::digest(end_entity.as_ref()).as_slice() == self.pinned {
            return Ok(ServerCertVerified::assertion());
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(FingerprintMismatch(fingerprint_of(end_entity)))),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server showed a certificate other than the pinned one.
#[derive(Debug)]
struct FingerprintMismatch(String);

impl std::fmt::Display for FingerprintMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "its certificate's fingerprint is {}, not the one given with --server-fingerprint",
            self.0
        )
    }
}

impl std::error::Error for FingerprintMismatch {}

/// When `error` (from connecting to `url`) is a certificate the client does not trust, what
/// to tell the person; `None` for other failures, which may pass.
pub fn certificate_problem(
    error: &(dyn std::error::Error + 'static),
    url: &str,
    options: &TlsOptions,
) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut found = None;
    while let Some(e) = cause {
        if let Some(rustls::Error::InvalidCertificate(c)) = e.downcast_ref::<rustls::Error>() {
            found = Some(c.clone());
            break;
        }
        let io_inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if let Some(rustls::Error::InvalidCertificate(c)) = io_inner {
            found = Some(c.clone());
            break;
        }
        cause = e.source();
    }
    let problem = found?;
    let host = host_of(url);
    let what = match &problem {
        CertificateError::Other(other) => other.to_string(),
        CertificateError::UnknownIssuer => {
            "its certificate is not signed by a CA this machine trusts".into()
        }
        CertificateError::Expired => "its certificate has expired".into(),
        CertificateError::NotValidForName => format!("its certificate is not for {host}"),
        other => format!("its certificate was refused ({other:?})"),
    };
    let fix = if options.fingerprint.is_some() {
        "check the fingerprint with whoever runs the server (it prints it when it starts)"
    } else {
        "if it is self-signed, pass --server-fingerprint SHA256 (the server prints it when it starts); if a private CA signed it, pass --ca-file CA.pem"
    };
    Some(format!("the server {host} is not trusted: {what}; {fix}"))
}

/// The `host:port` part of a URL, for messages.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_fingerprint_is_refused_before_connecting() {
        let options = TlsOptions {
            fingerprint: Some("12:34".into()),
            ..TlsOptions::default()
        };
        let e = options.client_config().unwrap_err();
        assert!(e.contains("--server-fingerprint"), "{e}");
    }

    #[test]
    fn a_certificate_error_inside_an_io_error_is_found() {
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let msg =
            certificate_problem(&e, "wss://10.0.0.1:8443/ws", &TlsOptions::default()).unwrap();
        assert!(msg.contains("10.0.0.1:8443"), "{msg}");
        assert!(msg.contains("--server-fingerprint"), "{msg}");
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(certificate_problem(&other, "wss://x/ws", &TlsOptions::default()).is_none());
    }
}
