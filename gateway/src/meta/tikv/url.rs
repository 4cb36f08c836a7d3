//! The `--meta tikv://pd1:2379,pd2:2379/<prefix>` connection string and the TLS files that go
//! with it. Pure: parsing checks the shape; reaching PD is [`super::open`]'s job.

use std::path::PathBuf;
use std::str::FromStr;

pub const SCHEME: &str = "tikv://";

/// PD's client port, used when an endpoint names none.
pub const DEFAULT_PD_PORT: u16 = 2379;

/// Every key of the store carries its prefix, so it stays short; the operator's
/// `<namespace>-<name>` (two 63-character Kubernetes names) fits.
pub const MAX_PREFIX_LEN: usize = 128;

/// A parsed `tikv://` connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TikvUrl {
    /// PD endpoints as `host:port`, in the order given.
    pub pd_endpoints: Vec<String>,
    /// The store's key prefix, without the separator (see [`super::prefix::StorePrefix`]).
    pub prefix: String,
}

/// Why a connection string or a TLS setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("a TiKV metadata URL looks like tikv://pd1:2379,pd2:2379/<prefix>")]
    Scheme,
    #[error("no PD endpoint before the prefix: tikv://pd1:2379,pd2:2379/<prefix>")]
    NoEndpoint,
    #[error("PD endpoint {0:?} is not host:port (bracket IPv6 addresses: [::1]:2379)")]
    Endpoint(String),
    #[error("the store prefix is missing: tikv://pd1:2379/<prefix>")]
    NoPrefix,
    #[error("store prefix {0:?} must be 1 to {MAX_PREFIX_LEN} characters of [a-zA-Z0-9._-]")]
    Prefix(String),
    #[error(
        "TiKV TLS needs all three of the CA, the client certificate and its key (--tikv-ca, \
         --tikv-cert, --tikv-key); missing: {0}"
    )]
    PartialTls(&'static str),
}

impl TikvUrl {
    /// Whether `meta` selects this backend (the rest may still be malformed).
    pub fn is_tikv(meta: &str) -> bool {
        meta.starts_with(SCHEME)
    }
}

impl FromStr for TikvUrl {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let rest = s.strip_prefix(SCHEME).ok_or(ConfigError::Scheme)?;
        let (authority, prefix) = rest.split_once('/').ok_or(ConfigError::NoPrefix)?;
        if authority.is_empty() {
            return Err(ConfigError::NoEndpoint);
        }
        let pd_endpoints = authority
            .split(',')
            .map(endpoint)
            .collect::<Result<Vec<_>, _>>()?;
        if prefix.is_empty() {
            return Err(ConfigError::NoPrefix);
        }
        validate_prefix(prefix)?;
        Ok(TikvUrl {
            pd_endpoints,
            prefix: prefix.to_owned(),
        })
    }
}

/// A store prefix: non-empty, short, and without `/` (so no store's `<prefix>/` starts another's).
pub fn validate_prefix(prefix: &str) -> Result<(), ConfigError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN || !prefix.chars().all(allowed) {
        return Err(ConfigError::Prefix(prefix.to_owned()));
    }
    Ok(())
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, normalised to `host:port`.
fn endpoint(raw: &str) -> Result<String, ConfigError> {
    let bad = || ConfigError::Endpoint(raw.to_owned());
    let (host, port) = if let Some(v6) = raw.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
        let addr_ok = !addr.is_empty()
            && addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        if !addr_ok {
            return Err(bad());
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(bad)?),
        };
        (&raw[..addr.len() + 2], port)
    } else {
        let (host, port) = match raw.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (raw, None),
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !host_ok {
            return Err(bad());
        }
        (host, port)
    };
    let port = match port {
        None => DEFAULT_PD_PORT,
        Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)?,
    };
    Ok(format!("{host}:{port}"))
}

/// The PEM files of a TLS-secured TiKV cluster: the cluster's CA and this client's certificate
/// and key. tikv-client always authenticates with a client certificate, so it is all or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsPaths {
    /// From the three optional settings: none is plaintext, all three is mutual TLS.
    pub fn from_parts(
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> Result<Option<TlsPaths>, ConfigError> {
        match (ca, cert, key) {
            (None, None, None) => Ok(None),
            (Some(ca), Some(cert), Some(key)) => Ok(Some(TlsPaths { ca, cert, key })),
            (ca, cert, _) => Err(ConfigError::PartialTls(if ca.is_none() {
                "the CA (--tikv-ca)"
            } else if cert.is_none() {
                "the certificate (--tikv-cert)"
            } else {
                "the key (--tikv-key)"
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<TikvUrl, ConfigError> {
        s.parse()
    }

    #[test]
    fn endpoints_and_prefix_are_parsed_in_order() {
        assert_eq!(
            parse("tikv://pd1:2379,pd2:2380,10.0.0.3:2379/store-a").unwrap(),
            TikvUrl {
                pd_endpoints: vec!["pd1:2379".into(), "pd2:2380".into(), "10.0.0.3:2379".into()],
                prefix: "store-a".into(),
            }
        );
    }

    #[test]
    fn an_endpoint_without_a_port_gets_pds_default() {
        let url = parse("tikv://basic-pd.tidb.svc,[::1]/s").unwrap();
        assert_eq!(url.pd_endpoints, vec!["basic-pd.tidb.svc:2379", "[::1]:2379"]);
    }

    #[test]
    fn bracketed_ipv6_endpoints_keep_their_port() {
        let url = parse("tikv://[fd00::1]:2381/s").unwrap();
        assert_eq!(url.pd_endpoints, vec!["[fd00::1]:2381"]);
    }

    #[test]
    fn prefix_alphabet_is_letters_digits_dot_underscore_dash() {
        assert_eq!(parse("tikv://pd:2379/a.B_9-z").unwrap().prefix, "a.B_9-z");
        let longest = "p".repeat(MAX_PREFIX_LEN);
        assert_eq!(parse(&format!("tikv://pd/{longest}")).unwrap().prefix, longest);
    }

    #[test]
    fn malformed_urls_are_refused_with_the_reason() {
        let cases: &[(&str, ConfigError)] = &[
            ("embedded", ConfigError::Scheme),
            ("TIKV://pd:2379/p", ConfigError::Scheme),
            ("http://pd:2379/p", ConfigError::Scheme),
            ("tikv://pd:2379", ConfigError::NoPrefix),
            ("tikv://pd:2379/", ConfigError::NoPrefix),
            ("tikv:///p", ConfigError::NoEndpoint),
            ("tikv://pd1,,pd2/p", ConfigError::Endpoint(String::new())),
            ("tikv://pd:0/p", ConfigError::Endpoint("pd:0".into())),
            ("tikv://pd:65536/p", ConfigError::Endpoint("pd:65536".into())),
            ("tikv://pd:port/p", ConfigError::Endpoint("pd:port".into())),
            ("tikv://::1:2379/p", ConfigError::Endpoint("::1:2379".into())),
            ("tikv://[::1/p", ConfigError::Endpoint("[::1".into())),
            ("tikv://[::1]2379/p", ConfigError::Endpoint("[::1]2379".into())),
            (
                "tikv://user@pd:2379/p",
                ConfigError::Endpoint("user@pd:2379".into()),
            ),
            ("tikv://pd:2379/a/b", ConfigError::Prefix("a/b".into())),
            ("tikv://pd:2379/p/", ConfigError::Prefix("p/".into())),
            ("tikv://pd:2379/p?x=1", ConfigError::Prefix("p?x=1".into())),
            ("tikv://pd:2379/störe", ConfigError::Prefix("störe".into())),
        ];
        for (url, expected) in cases {
            assert_eq!(parse(url).as_ref(), Err(expected), "{url}");
        }
        let too_long = "p".repeat(MAX_PREFIX_LEN + 1);
        assert_eq!(
            parse(&format!("tikv://pd/{too_long}")),
            Err(ConfigError::Prefix(too_long))
        );
    }

    #[test]
    fn only_the_tikv_scheme_selects_this_backend() {
        assert!(TikvUrl::is_tikv("tikv://pd/p"));
        assert!(!TikvUrl::is_tikv("embedded"));
    }

    #[test]
    fn tls_is_all_three_files_or_none() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(TlsPaths::from_parts(None, None, None), Ok(None));
        assert_eq!(
            TlsPaths::from_parts(p("ca.pem"), p("tls.crt"), p("tls.key")),
            Ok(Some(TlsPaths {
                ca: "ca.pem".into(),
                cert: "tls.crt".into(),
                key: "tls.key".into()
            }))
        );
        assert_eq!(
            TlsPaths::from_parts(None, p("tls.crt"), p("tls.key")),
            Err(ConfigError::PartialTls("the CA (--tikv-ca)"))
        );
        assert_eq!(
            TlsPaths::from_parts(p("ca.pem"), None, p("tls.key")),
            Err(ConfigError::PartialTls("the certificate (--tikv-cert)"))
        );
        assert_eq!(
            TlsPaths::from_parts(p("ca.pem"), p("tls.crt"), None),
            Err(ConfigError::PartialTls("the key (--tikv-key)"))
        );
    }
}
