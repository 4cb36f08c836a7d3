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

#[cfg(test)]
mod tests {
    use rcgen::{CertifiedKey, generate_simple_self_signed};
    use rustls_pki_types::CertificateDer;

    use super::*;

    fn pair(name: &str) -> CertifiedKey<rcgen::KeyPair> {
        generate_simple_self_signed(vec![name.to_owned()]).expect("certificate")
    }

    /// Replaces `path` whole, as a Secret volume update does.
    fn replace(path: &std::path::Path, contents: &str) {
        let aside = path.with_extension("new");
        std::fs::write(&aside, contents).expect("write");
        std::fs::rename(&aside, path).expect("rename");
    }

    fn write_pair(files: &CertFiles, pair: &CertifiedKey<rcgen::KeyPair>) {
        replace(&files.key, &pair.signing_key.serialize_pem());
        replace(&files.cert, &pair.cert.pem());
    }

    fn served(cert: &ServingCert) -> CertificateDer<'static> {
        cert.chain()[0].clone()
    }

    fn files_in(dir: &tempfile::TempDir) -> CertFiles {
        CertFiles {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
        }
    }

    #[test]
    fn a_new_pair_is_served_once_both_files_have_changed() {
        let dir = tempfile::tempdir().expect("dir");
        let files = files_in(&dir);
        let first = pair("first.example");
        write_pair(&files, &first);
        let cert = ServingCert::load(files.clone()).expect("loads");
        assert_eq!(cert.refresh(), Refresh::Unchanged);

        let second = pair("second.example");
        replace(&files.cert, &second.cert.pem());
        assert_eq!(
            cert.refresh(),
            Refresh::Kept,
            "the old key does not fit the new certificate"
        );
        assert_eq!(served(&cert), *first.cert.der());
        assert_eq!(cert.refresh(), Refresh::Unchanged, "a bad pair is tried once");

        replace(&files.key, &second.signing_key.serialize_pem());
        assert_eq!(cert.refresh(), Refresh::Reloaded);
        assert_eq!(served(&cert), *second.cert.der());
    }

    #[test]
    fn unreadable_files_keep_the_pair_in_use() {
        let dir = tempfile::tempdir().expect("dir");
        let files = files_in(&dir);
        let first = pair("first.example");
        write_pair(&files, &first);
        let cert = ServingCert::load(files.clone()).expect("loads");
        replace(&files.cert, "not a certificate");
        assert_eq!(cert.refresh(), Refresh::Kept);
        std::fs::remove_file(&files.key).expect("remove");
        assert_eq!(cert.refresh(), Refresh::Kept);
        assert_eq!(served(&cert), *first.cert.der());
    }

    #[test]
    fn a_gateway_does_not_start_with_files_that_do_not_load() {
        let dir = tempfile::tempdir().expect("dir");
        let files = files_in(&dir);
        let err = ServingCert::load(files.clone()).expect_err("no files");
        assert!(matches!(err, TlsError::Read { .. }), "{err}");

        let one = pair("one.example");
        replace(&files.cert, &one.cert.pem());
        replace(&files.key, "-----BEGIN NOTHING-----\n-----END NOTHING-----\n");
        let err = ServingCert::load(files.clone()).expect_err("no key");
        assert!(matches!(err, TlsError::NoKey { .. }), "{err}");

        replace(&files.key, &pair("other.example").signing_key.serialize_pem());
        let err = ServingCert::load(files.clone()).expect_err("mismatch");
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");

        replace(&files.cert, "");
        let err = ServingCert::load(files).expect_err("no certificate");
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    }
}
