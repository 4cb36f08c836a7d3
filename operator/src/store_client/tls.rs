//! Whom the operator trusts when a store serves TLS: the store's CA (`ca.crt` of its TLS Secret)
//! when it has one, else the system's roots (a certificate from a public CA).

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use super::StoreError;

pub fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

pub fn roots_from_pem(pem: &str) -> Result<RootCertStore, StoreError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| StoreError::InvalidCa(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| StoreError::InvalidCa(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(StoreError::InvalidCa("no certificate in the bundle".into()));
    }
    Ok(roots)
}

/// The provider is named (ring) rather than taken from the process default, which the operator
/// installs for kube but which a library user might not.
pub fn client_config(roots: RootCertStore) -> Result<ClientConfig, StoreError> {
    Ok(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::InvalidCa(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
