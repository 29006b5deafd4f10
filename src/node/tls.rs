//! TLS settings (RFC 6733 section 13): the node's certificate and CA
//! configuration ([`TlsOptions`]), its errors ([`TlsError`]), and the rustls
//! configurations built from it once per node ([`TlsContext`]). The
//! per-connection session driven by the event loop is in
//! `io/transport/tls.rs`.

use std::fmt;
use std::fs;
use std::io::{self};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::pem::PemObject;

/// TLS settings of a node: its own certificate and key, and the CA
/// certificates its peers' certificates must chain to.
///
/// TLS is mutual: a node acting as TLS server requires a client certificate,
/// and both sides verify the other's certificate chain against `ca_files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// The node's certificate chain, PEM: its own certificate first, then any
    /// intermediate CA certificates.
    pub cert_file: PathBuf,
    /// The private key of the node's certificate, PEM (PKCS#8, PKCS#1 or
    /// SEC1), unencrypted.
    pub key_file: PathBuf,
    /// PEM files holding the CA certificates that peers' certificates are
    /// verified against (every certificate of every file is trusted).
    pub ca_files: Vec<PathBuf>,
    /// Check that the peer's certificate is valid (subjectAltName DNS name)
    /// for its Diameter Identity: the server's certificate during the
    /// handshake, the client's when its CER arrives. True by default; when
    /// false the chain is still verified, only the name is not.
    pub verify_peer_name: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            ca_files: Vec::new(),
            verify_peer_name: true,
        }
    }
}

/// Why TLS could not be set up, or why a peer's certificate was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file could not be read.
    #[error("cannot read TLS file {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file is not valid PEM.
    #[error("invalid PEM in {}: {detail}", path.display())]
    InvalidPem {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        detail: String,
    },
    /// A certificate or CA file holds no `CERTIFICATE` PEM section.
    #[error("no certificate (PEM \"BEGIN CERTIFICATE\") in {}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key PEM section.
    #[error(
        "no private key (PEM \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \
         \"BEGIN EC PRIVATE KEY\", unencrypted) in {}",
        path.display()
    )]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// No CA file was configured: peers could not be verified.
    #[error("no CA certificate configured (TlsOptions::ca_files is empty)")]
    NoCaCertificate,
    /// A certificate of a CA file cannot be used as a trust anchor.
    #[error("invalid CA certificate in {}: {detail}", path.display())]
    InvalidCaCertificate {
        /// The file.
        path: PathBuf,
        /// Why rustls refused it.
        detail: String,
    },
    /// rustls refused the configuration (e.g. the key does not match the
    /// certificate, or its algorithm is not supported).
    #[error("TLS configuration error ({context}): {detail}")]
    Config {
        /// What was being configured, with the files involved.
        context: String,
        /// rustls' message.
        detail: String,
    },
    /// A Diameter Identity is not usable as a TLS server name.
    #[error("{name:?} is not a valid TLS server name (DNS name or IP address)")]
    InvalidServerName {
        /// The identity.
        name: String,
    },
    /// The peer presented no certificate (or the handshake is not done).
    #[error("the TLS peer presented no certificate")]
    PeerCertificateMissing,
    /// The peer's certificate is not valid for its Diameter Identity.
    #[error("the TLS peer's certificate is not valid for {expected:?}: {detail}")]
    PeerNameMismatch {
        /// The identity the certificate should be valid for (the
        /// Origin-Host).
        expected: String,
        /// The certificate checker's message.
        detail: String,
    },
}

/// The rustls configurations of a node, built once from its [`TlsOptions`].
pub(crate) struct TlsContext {
    /// For accepted connections: requires a client certificate.
    pub(crate) server: Arc<ServerConfig>,
    /// For initiated connections: presents the node's certificate.
    pub(crate) client: Arc<ClientConfig>,
    /// Whether a client's certificate must name its Origin-Host
    /// ([`TlsOptions::verify_peer_name`]; the server name is checked by the
    /// client configuration itself).
    verify_peer_name: bool,
}

impl fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsContext").finish_non_exhaustive()
    }
}

/// Reads a whole file, naming it on failure.
fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::ReadFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate of a PEM file (at least one).
fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::InvalidPem {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key of a PEM file.
fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_file(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        },
        other => TlsError::InvalidPem {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    })
}

/// The trust anchors: every certificate of every CA file.
fn load_roots(paths: &[PathBuf]) -> Result<Arc<RootCertStore>, TlsError> {
    if paths.is_empty() {
        return Err(TlsError::NoCaCertificate);
    }
    let mut roots = RootCertStore::empty();
    for path in paths {
        for cert in load_certificates(path)? {
            roots
                .add(cert)
                .map_err(|e| TlsError::InvalidCaCertificate {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
        }
    }
    Ok(Arc::new(roots))
}

/// A [`TlsError::Config`] from any displayable error.
pub(crate) fn config_error(context: impl Into<String>, detail: impl fmt::Display) -> TlsError {
    TlsError::Config {
        context: context.into(),
        detail: detail.to_string(),
    }
}

/// A DiameterIdentity as a TLS server name.
pub(crate) fn server_name(identity: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(identity.to_string()).map_err(|_| TlsError::InvalidServerName {
        name: identity.to_string(),
    })
}

/// Verifies a server's certificate chain like [`WebPkiServerVerifier`] but
/// accepts a certificate that is not valid for the expected name
/// ([`TlsOptions::verify_peer_name`] false). rustls checks the name last,
/// after the chain, so ignoring only the name errors keeps every other check.
#[derive(Debug)]
struct ChainOnlyVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl TlsContext {
    /// Loads the files of `options` and builds the server and client
    /// configurations (ring provider, TLS 1.2 and 1.3).
    pub(crate) fn new(options: &TlsOptions) -> Result<TlsContext, TlsError> {
        let certs = load_certificates(&options.cert_file)?;
        let key = load_private_key(&options.key_file)?;
        let roots = load_roots(&options.ca_files)?;
        let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
        let cert_context = format!(
            "certificate {} with key {}",
            options.cert_file.display(),
            options.key_file.display()
        );

        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| config_error("client certificate verifier", e))?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error("TLS server protocol versions", e))?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(|e| config_error(format!("TLS server, {cert_context}"), e))?;

        let server_verifier =
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| config_error("server certificate verifier", e))?;
        let client_builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error("TLS client protocol versions", e))?;
        let client_builder = if options.verify_peer_name {
            client_builder.with_webpki_verifier(server_verifier)
        } else {
            client_builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnlyVerifier {
                    inner: server_verifier,
                }))
        };
        let client = client_builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| config_error(format!("TLS client, {cert_context}"), e))?;

        Ok(TlsContext {
            server: Arc::new(server),
            client: Arc::new(client),
            verify_peer_name: options.verify_peer_name,
        })
    }

    /// Whether peers' certificates must name their Diameter identity.
    pub(crate) fn verify_peer_name(&self) -> bool {
        self.verify_peer_name
    }
}
