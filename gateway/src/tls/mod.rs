//! TLS on the S3 port: the serving certificate (reloaded when its files change), the server and
//! peer-client configurations, and the per-connection record of whether a request arrived over TLS.
//!
//! The crypto provider is always ring, passed explicitly: the workspace also links aws-lc-rs
//! (through the AWS SDK in tests), and rustls refuses to pick a process default between two.

mod error;
mod peer;
mod pem;
mod reload;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;

pub use error::TlsError;
pub use peer::{client_config, peer_client_config, trust_nothing};
pub use reload::{RELOAD_CHECK, ServingCert};
pub use transport::Transport;

/// The PEM files of the serving certificate: the chain (leaf first) and its private key.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// ALPN protocols the S3 port offers, preferred first: hyper serves both on one connection type.
const SERVER_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server side of the S3 port, presenting whatever certificate `cert` holds at handshake time.
pub fn server_config(cert: Arc<ServingCert>) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = SERVER_ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
