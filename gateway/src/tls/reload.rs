//! The serving certificate, re-read when its files change: cert-manager (through the kubelet's
//! Secret volume) replaces them in place, and new connections must get the new pair without a
//! restart. A pair that does not load (a half-written rotation, a key that does not fit) is
//! logged and the pair in use is kept.

use std::fmt;
use std::os::unix::fs::MetadataExt as _;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{CertFiles, TlsError, pem};

/// How often the files are looked at: a rotated certificate reaches new connections within this.
/// cert-manager renews long before expiry, so seconds are plenty; a stat of two files is cheap.
pub const RELOAD_CHECK: Duration = Duration::from_secs(2);

/// What identifies one version of a file: a Secret volume swaps a symlink to a new file (new
/// inode), an in-place rewrite changes mtime or size.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    })
}

type Stamps = (Option<Stamp>, Option<Stamp>);

pub struct ServingCert {
    files: CertFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The file versions last tried, loaded or not: a bad pair is reported once, not every check.
    tried: Mutex<Stamps>,
}

impl fmt::Debug for ServingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServingCert")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// What a [`ServingCert::refresh`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Refresh {
    Unchanged,
    Reloaded,
    /// The files changed but do not load; the previous pair is still served.
    Kept,
}

impl ServingCert {
    /// Loads the pair; a gateway with unusable files does not start.
    pub fn load(files: CertFiles) -> Result<Arc<Self>, TlsError> {
        let provider = super::provider();
        let stamps = (stamp(&files.cert), stamp(&files.key));
        let key = pem::certified_key(&files, &provider)?;
        Ok(Arc::new(Self {
            files,
            provider,
            current: RwLock::new(key),
            tried: Mutex::new(stamps),
        }))
    }

    /// The certificate chain being served (leaf first).
    pub fn chain(&self) -> Vec<rustls_pki_types::CertificateDer<'static>> {
        self.current().cert.clone()
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Loads the pair again if either file changed since it was last tried.
    pub fn refresh(&self) -> Refresh {
        let stamps = (stamp(&self.files.cert), stamp(&self.files.key));
        {
            let mut tried = self.tried.lock().unwrap_or_else(|p| p.into_inner());
            if *tried == stamps {
                return Refresh::Unchanged;
            }
            *tried = stamps;
        }
        match pem::certified_key(&self.files, &self.provider) {
            Ok(key) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = key;
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                Refresh::Reloaded
            }
            Err(e) => {
                tracing::warn!(error = %e, "TLS certificate files changed but do not load; still serving the previous certificate");
                Refresh::Kept
            }
        }
    }

    /// Checks the files every [`RELOAD_CHECK`] for as long as the task lives.
    pub async fn watch(self: Arc<Self>) {
        let mut tick = tokio::time::interval(RELOAD_CHECK);
        loop {
            tick.tick().await;
            let this = self.clone();
            // Reading files blocks; keep it off the request threads.
            if let Err(e) = tokio::task::spawn_blocking(move || this.refresh()).await {
                tracing::warn!(error = %e, "TLS certificate check failed");
            }
        }
    }
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}
