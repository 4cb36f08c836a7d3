//! `gateway admin ...`: a scriptable client of the admin API, signed with the root credentials
//! (`STOWAGE_ROOT_ACCESS_KEY_ID` / `STOWAGE_ROOT_SECRET_ACCESS_KEY`). Prints the response JSON.

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::api::PREFIX;
use super::sigv4::sign_request;

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The gateway's S3 endpoint.
    #[arg(long, env = "STOWAGE_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,
    #[arg(long, env = "STOWAGE_REGION", default_value = "us-east-1")]
    pub region: String,
    /// PEM CA bundle that an `https` endpoint's certificate is verified against (default: the
    /// system's roots).
    #[arg(long, env = "STOWAGE_CA_BUNDLE", value_name = "FILE")]
    pub ca_bundle: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Users (principals) and their organizations.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Access keys of a user.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Encryption keys of SSE-KMS (their material is never shown).
    Kms {
        #[command(subcommand)]
        command: KmsCommand,
    },
    /// The store's gateways: room, liveness, drains.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Blobs no gateway has a good copy of, with the objects that use them.
    Lost,
    /// Who the configured credentials are.
    Whoami,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    List,
    Show {
        id: String,
    },
    /// Moves every blob the gateway holds to others (resumable); no new copy goes to it. The
    /// output shows the blobs and bytes left; `show` follows the progress.
    Drain {
        id: String,
    },
    /// Cancels a drain: the gateway takes new copies again.
    Undrain {
        id: String,
    },
    /// Forgets a drained gateway that is gone for good (refused while it is up or holds blobs).
    Forget {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KmsCommand {
    /// Creates a key; clients name it by its id, its ARN or `alias/<alias>`.
    Create {
        #[arg(long)]
        alias: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    List,
    /// A key by id, ARN or `alias/<name>`.
    Describe {
        key: String,
    },
    /// Objects sealed under a disabled key cannot be read, nor new ones written, until it is
    /// enabled again.
    Disable {
        key: String,
    },
    Enable {
        key: String,
    },
    /// New material for new data keys; what the old material wrapped stays readable.
    Rotate {
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Creates a user with a first access key; prints it (the only time its secret is shown).
    Create {
        name: String,
        #[arg(long)]
        org: String,
    },
    List,
    /// Deletes a user and all its keys.
    Delete {
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Access {
    ReadWrite,
    ReadOnly,
    WriteOnly,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Creates another key for a user, optionally scoped to one bucket and access mode.
    Create {
        user: String,
        #[arg(long)]
        bucket: Option<String>,
        #[arg(long, value_enum, requires = "bucket")]
        access: Option<Access>,
    },
    Delete {
        user: String,
        access_key_id: String,
    },
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let key_path = |key: &str, action: &str| format!("/kms/keys/{}/{action}", urlencoding::encode(key));
    let (method, path, body) = match &args.command {
        AdminCommand::Whoami => ("GET", "/whoami".to_owned(), None),
        AdminCommand::Lost => ("GET", "/blobs/lost".to_owned(), None),
        AdminCommand::Node { command } => {
            let node = |id: &str| format!("/nodes/{}", urlencoding::encode(id));
            match command {
                NodeCommand::List => ("GET", "/nodes".to_owned(), None),
                NodeCommand::Show { id } => ("GET", node(id), None),
                NodeCommand::Drain { id } => ("POST", format!("{}/drain", node(id)), None),
                NodeCommand::Undrain { id } => ("POST", format!("{}/undrain", node(id)), None),
                NodeCommand::Forget { id } => ("DELETE", node(id), None),
            }
        }
        AdminCommand::Kms { command } => match command {
            KmsCommand::Create { alias, description } => (
                "POST",
                "/kms/keys".to_owned(),
                Some(serde_json::json!({ "alias": alias, "description": description })),
            ),
            KmsCommand::List => ("GET", "/kms/keys".to_owned(), None),
            KmsCommand::Describe { key } => ("GET", format!("/kms/keys/{}", urlencoding::encode(key)), None),
            KmsCommand::Disable { key } => ("POST", key_path(key, "disable"), None),
            KmsCommand::Enable { key } => ("POST", key_path(key, "enable"), None),
            KmsCommand::Rotate { key } => ("POST", key_path(key, "rotate"), None),
        },
        AdminCommand::User { command } => match command {
            UserCommand::Create { name, org } => (
                "POST",
                "/users".to_owned(),
                Some(serde_json::json!({ "name": name, "org": org })),
            ),
            UserCommand::List => ("GET", "/users".to_owned(), None),
            UserCommand::Delete { name } => ("DELETE", format!("/users/{}", urlencoding::encode(name)), None),
        },
        AdminCommand::Key { command } => match command {
            KeyCommand::Create { user, bucket, access } => {
                let scope = bucket.as_ref().map(|b| {
                    let access = match access.unwrap_or(Access::ReadWrite) {
                        Access::ReadWrite => "ReadWrite",
                        Access::ReadOnly => "ReadOnly",
                        Access::WriteOnly => "WriteOnly",
                    };
                    serde_json::json!({ "bucket": b, "access": access })
                });
                let body = serde_json::json!({ "scope": scope });
                (
                    "POST",
                    format!("/users/{}/keys", urlencoding::encode(user)),
                    Some(body),
                )
            }
            KeyCommand::Delete { user, access_key_id } => (
                "DELETE",
                format!(
                    "/users/{}/keys/{}",
                    urlencoding::encode(user),
                    urlencoding::encode(access_key_id)
                ),
                None,
            ),
        },
    };
    let access_key =
        std::env::var("STOWAGE_ROOT_ACCESS_KEY_ID").context("STOWAGE_ROOT_ACCESS_KEY_ID is not set")?;
    let secret = std::env::var("STOWAGE_ROOT_SECRET_ACCESS_KEY")
        .context("STOWAGE_ROOT_SECRET_ACCESS_KEY is not set")?;
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let endpoint = args.endpoint.trim_end_matches('/');
    let url = format!("{endpoint}{PREFIX}{path}");
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("invalid endpoint {endpoint}"))?;
    let host = uri.authority().context("the endpoint has no host")?.to_string();

    let mut headers = vec![("host", host.as_str())];
    if !body.is_empty() {
        headers.push(("content-type", "application/json"));
    }
    let signed = sign_request(
        method,
        &url,
        &headers,
        &body,
        (&access_key, &secret, &args.region),
    );
    let mut request = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(signed)
    {
        request = request.header(k, v);
    }
    let request = request.body(Full::new(Bytes::from(body)))?;
    let tls = crate::tls::client_config(args.ca_bundle.as_deref()).context("the CA bundle")?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(std::sync::Arc::unwrap_or_clone(tls))
        .https_or_http()
        .enable_http1()
        .build();
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let response = client
        .request(request)
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let status = response.status();
    let text = String::from_utf8_lossy(&response.into_body().collect().await?.to_bytes()).into_owned();
    if !status.is_success() {
        bail!("{status}: {text}");
    }
    if !text.is_empty() {
        println!("{text}");
    }
    Ok(())
}
