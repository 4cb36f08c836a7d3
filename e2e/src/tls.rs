//! TLS for tests: a throw-away CA that issues server certificates for `localhost`/127.0.0.1, and
//! clients (the SDK, hyper, a bare handshake) that trust it. Nothing here disables verification:
//! a test client trusts exactly the CA it is given.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::config::SharedHttpClient;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

/// Names every test server certificate covers: the harness reaches gateways at 127.0.0.1.
const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A certificate authority that lives for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key, PEM.
#[derive(Clone, Debug)]
pub struct ServerCert {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Where a gateway finds its certificate, and what its clients trust.
#[derive(Clone, Debug)]
pub struct TlsServing {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The PEM CA that issued `cert`, trusted by the harness's clients.
    pub ca_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("self-signed CA");
        Self { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `localhost` and 127.0.0.1 with common name `cn`, signed by this CA.
    pub fn issue(&self, cn: &str) -> ServerCert {
        let mut params =
            CertificateParams::new(SERVER_NAMES.map(str::to_owned).to_vec()).expect("server parameters");
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign server certificate");
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Issues a certificate for `cn` into `dir` (`server.crt`, `server.key`): what a gateway
    /// started with [`TlsServing`] serves.
    pub fn serving(&self, cn: &str, dir: &Path) -> TlsServing {
        let serving = TlsServing {
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
            ca_pem: self.pem(),
        };
        self.issue(cn).write(&serving.cert, &serving.key);
        serving
    }
}

impl ServerCert {
    /// Writes the pair; each file is replaced whole (written aside, then renamed over), as a
    /// Secret volume update does.
    pub fn write(&self, cert: &Path, key: &Path) {
        replace(key, &self.key_pem);
        replace(cert, &self.cert_pem);
    }

    /// The leaf certificate, DER: what a client sees in the handshake.
    pub fn der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).expect("own PEM parses")
    }
}

fn replace(path: &Path, contents: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents).unwrap_or_else(|e| panic!("write {}: {e}", aside.display()));
    std::fs::rename(&aside, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration trusting exactly the certificates in `ca_pem`, offering `alpn`.
pub fn client_config(ca_pem: &str, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM parses")).expect("usable CA");
    }
    let mut config = ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .expect("ring supports the defaults")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// The SDK's HTTP client trusting exactly `ca_pem` (the SDK's own rustls, not the system roots).
pub fn sdk_http_client(ca_pem: &str) -> SharedHttpClient {
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(ca_pem.as_bytes()))
        .build()
        .expect("TLS context");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

/// A hyper connector for `http://` and, trusting `ca_pem`, `https://` URLs (HTTP/1.1 and 2,
/// offered by the connector itself).
pub fn https_connector(ca_pem: Option<&str>) -> HttpsConnector<HttpConnector> {
    let config = client_config(ca_pem.unwrap_or_default(), &[]);
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    HttpsConnectorBuilder::new()
        .with_tls_config(Arc::unwrap_or_clone(config))
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http)
}

/// What a TLS handshake with `addr` (verified against `config`, as `localhost`) presented: the
/// leaf certificate and the negotiated ALPN protocol; an error if the handshake failed.
pub async fn handshake(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> io::Result<(CertificateDer<'static>, Option<Vec<u8>>)> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("valid name");
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    let (_, session) = stream.get_ref();
    let leaf = session
        .peer_certificates()
        .and_then(|c| c.first())
        .cloned()
        .ok_or_else(|| io::Error::other("no server certificate"))?;
    Ok((leaf, session.alpn_protocol().map(<[u8]>::to_vec)))
}
