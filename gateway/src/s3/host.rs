//! Virtual-host-style addressing: `<bucket>.<domain>[:port]` names a bucket; the bare domain, an
//! IP address or any other host (a Kubernetes Service name, `localhost`) is path style.
//!
//! s3s's `SingleDomain` compares hosts with their port and takes any unknown host for a bucket
//! name, which breaks path-style clients that reach the store by another name.

use std::borrow::Cow;

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

pub struct VirtualHosts {
    domain: String,
}

impl VirtualHosts {
    pub fn new(domain: &str) -> Self {
        Self {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        }
    }
}

/// The host without its port (IPv6 literals keep their brackets).
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &host[..=h.len()]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

impl VirtualHosts {
    fn bucket_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let host = strip_port(host).trim_end_matches('.');
        let bucket = host.strip_suffix(self.domain.as_str())?.strip_suffix('.')?;
        (!bucket.is_empty()).then_some(bucket)
    }
}

impl S3Host for VirtualHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let vh = VirtualHost::new(Cow::Borrowed(self.domain.as_str()));
        Ok(match self.bucket_of(host) {
            Some(bucket) => vh.with_bucket(Cow::Borrowed(bucket)),
            None => vh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subdomain_of_the_domain_is_a_bucket_whatever_the_port() {
        let h = VirtualHosts::new("s3.local");
        assert_eq!(h.bucket_of("bkt.s3.local:9000"), Some("bkt"));
        assert_eq!(h.bucket_of("bkt.s3.local"), Some("bkt"));
    }

    #[test]
    fn other_hosts_are_path_style() {
        let h = VirtualHosts::new("s3.local");
        for host in [
            "s3.local:9000",
            "localhost:9000",
            "stowage.ns.svc",
            "127.0.0.1:9000",
            "[::1]:9000",
            "xs3.local",
        ] {
            assert_eq!(h.bucket_of(host), None, "{host}");
        }
    }
}
