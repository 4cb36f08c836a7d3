//! How a gateway verifies the others of its store when they serve TLS.
//!
//! Trust comes from `--tls-ca` when given (the CA that issued the store's certificates:
//! cert-manager's `ca.crt`). Without it, the system's roots (a certificate from a public CA) and
//! the certificates of this gateway's own chain (a chain that includes its CA, or one
//! self-signed certificate shared by every gateway) are trusted. That default is fixed at start:
//! a rotating private CA needs `--tls-ca`.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use super::{ServingCert, TlsError, pem};

pub fn peer_client_config(ca: Option<&Path>, serving: &ServingCert) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in pem::certificates(path)? {
                roots.add(cert).map_err(|e| {
                    TlsError::NoRoots(format!(
                        "{}: a certificate is not a usable CA: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            roots.add_parsable_certificates(serving.chain());
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots(
            "no system roots and no usable certificate in the serving chain: give --tls-ca".into(),
        ));
    }
    verifying_with(roots)
}

/// A client of one gateway (`gateway admin`): its certificate verified against the CA bundle
/// `ca` when given, else the system's roots.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => add_bundle(&mut roots, path)?,
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots("no system roots: give a CA bundle".into()));
    }
    verifying_with(roots)
}

fn add_bundle(roots: &mut RootCertStore, path: &Path) -> Result<(), TlsError> {
    for cert in pem::certificates(path)? {
        roots.add(cert).map_err(|e| {
            TlsError::NoRoots(format!(
                "{}: a certificate is not a usable CA: {e}",
                path.display()
            ))
        })?;
    }
    Ok(())
}

fn verifying_with(roots: RootCertStore) -> Result<Arc<ClientConfig>, TlsError> {
    // No ALPN here: the hyper connector offers the HTTP versions its client speaks.
    let config = ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client configuration that verifies no server: for gateways without TLS, whose peers are all
/// reached over plain HTTP.
pub fn trust_nothing() -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    Arc::new(config)
}
