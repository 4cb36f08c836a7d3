//! aws-sdk-s3 clients for a test endpoint, on the SDK's default settings.
//!
//! Defaults matter here: the SDK's default request checksums send aws-chunked bodies with
//! checksum trailers, which is what real applications send, so tests must see them too. Only what
//! an endpoint needs (credentials, region, URL, path-style addressing) is set.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Builder, Credentials, Region};

/// A client for `endpoint` (e.g. `http://127.0.0.1:9000`), path-style, with static credentials;
/// `tweak` may change anything before the client is built.
pub fn s3_client(
    endpoint: &str,
    region: &str,
    access_key: &str,
    secret_key: &str,
    tweak: impl FnOnce(Builder) -> Builder,
) -> Client {
    let builder = Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(Credentials::new(
            access_key,
            secret_key,
            None,
            None,
            "stowage-e2e",
        ))
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .force_path_style(true);
    Client::from_conf(tweak(builder).build())
}
