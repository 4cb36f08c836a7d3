//! A real gateway process for one test: started on a free port over a temporary data directory
//! with fresh root credentials, healthy before the test gets it, killed when the test drops it.
//!
//! The gateway binary is a parameter (tests pass `env!("CARGO_BIN_EXE_gateway")`), so this crate
//! does not depend on the gateway crate. Process control is synchronous: starting blocks until
//! `/_stowage/health` answers, which is fine inside `#[tokio::test]` because the gateway is another process.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::distr::Alphanumeric;
use tempfile::TempDir;

use crate::client::s3_client;
use crate::raw::RawClient;
use crate::tls::{TlsServing, client_config, sdk_http_client};

/// How long a gateway may take to answer `/_stowage/health` with 200 after it is spawned.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a gateway may take to exit after SIGTERM (it drains requests and flushes the store).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
/// A free port can be taken by another test between our probe and the gateway's bind; try anew.
const PORT_ATTEMPTS: usize = 3;
/// After a restart the old socket may linger briefly; keep retrying the same port this long.
const REBIND_TIMEOUT: Duration = Duration::from_secs(5);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Lines of the gateway log printed when a test panics.
const LOG_TAIL_LINES: usize = 80;
/// Set to keep the temporary directory (data and log) of every gateway, not only failed ones.
const KEEP_ENV: &str = "STOWAGE_E2E_KEEP";

/// The region the harness signs for.
pub const REGION: &str = "us-east-1";

/// How to start a gateway beyond the defaults.
#[derive(Clone, Debug, Default)]
pub struct GatewayOptions {
    /// Extra arguments after `serve --listen ... --data-dir ...`.
    pub args: Vec<String>,
    /// Extra environment variables (they override the harness's own).
    pub env: Vec<(String, String)>,
    /// Use this data directory instead of a fresh temporary one (it is not deleted).
    pub data_dir: Option<PathBuf>,
    /// Serve TLS with these files (`--tls-cert`, `--tls-key`); the harness's clients then use
    /// `https` and trust the CA.
    pub tls: Option<TlsServing>,
}

/// Why a gateway did not come up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("preparing the gateway's directory failed: {0}")]
    Setup(#[from] io::Error),
    #[error("spawning {bin} failed: {source}")]
    Spawn { bin: PathBuf, source: io::Error },
    #[error("gateway exited ({status}) before it was healthy; log {log_path}:\n{log}")]
    Exited {
        status: ExitStatus,
        log_path: PathBuf,
        log: String,
    },
    #[error(
        "gateway did not answer GET /_stowage/health with 200 within {timeout:?}; log {log_path}:\n{log}"
    )]
    Unhealthy {
        timeout: Duration,
        log_path: PathBuf,
        log: String,
    },
}

impl StartError {
    fn is_port_taken(&self) -> bool {
        matches!(self, StartError::Exited { log, .. } if log.to_ascii_lowercase().contains("in use"))
    }
}

/// A running gateway process owned by a test.
#[derive(Debug)]
pub struct Gateway {
    pub port: u16,
    pub region: String,
    /// Root credentials the gateway was started with.
    pub access_key: String,
    pub secret_key: String,
    bin: PathBuf,
    options: GatewayOptions,
    data_dir: PathBuf,
    /// Holds the log and, unless a data dir was given, the data; deleted on drop.
    work_dir: TempDir,
    log_path: PathBuf,
    child: Option<Child>,
}

impl Gateway {
    /// Starts `bin serve` on a free port over a temporary data dir; panics if it does not become
    /// healthy.
    pub fn start(bin: &Path) -> Gateway {
        Gateway::start_with(bin, GatewayOptions::default())
    }

    pub fn start_with(bin: &Path, options: GatewayOptions) -> Gateway {
        Gateway::try_start_with(bin, options).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`start_with`](Self::start_with), but a gateway that exits or stays unhealthy is an
    /// error to inspect (for tests of startup validation). The temporary directory of a failed
    /// start is kept so the log path in the error stays readable.
    pub fn try_start_with(bin: &Path, options: GatewayOptions) -> Result<Gateway, StartError> {
        let work_dir = tempfile::Builder::new().prefix("stowage-e2e-").tempdir()?;
        let data_dir = options
            .data_dir
            .clone()
            .unwrap_or_else(|| work_dir.path().join("data"));
        fs::create_dir_all(&data_dir)?;
        let log_path = work_dir.path().join("gateway.log");
        let mut gateway = Gateway {
            port: 0,
            region: REGION.to_owned(),
            access_key: format!("E2E{}", random_alphanumeric(17).to_ascii_uppercase()),
            secret_key: random_alphanumeric(40),
            bin: bin.to_owned(),
            options,
            data_dir,
            work_dir,
            log_path,
            child: None,
        };
        for attempt in 1..=PORT_ATTEMPTS {
            gateway.port = free_port()?;
            match gateway.spawn_until_healthy() {
                Ok(()) => return Ok(gateway),
                Err(e) if attempt < PORT_ATTEMPTS && e.is_port_taken() => continue,
                Err(e) => {
                    let has_log = !matches!(e, StartError::Setup(_) | StartError::Spawn { .. });
                    gateway.work_dir.disable_cleanup(has_log);
                    return Err(e);
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// `http://127.0.0.1:PORT`, or `https://` for a gateway serving TLS.
    pub fn endpoint(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The TLS files this gateway serves, if it serves TLS.
    pub fn tls(&self) -> Option<&TlsServing> {
        self.options.tls.as_ref()
    }

    /// The PEM CA the harness's clients trust, for a gateway serving TLS.
    fn ca_pem(&self) -> Option<&str> {
        self.options.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file the gateway's stdout and stderr go to (across restarts).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the gateway has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still alive (reaps it if it has exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_)) | Err(_)) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// An SDK client with the root credentials and otherwise default settings.
    pub fn client(&self) -> aws_sdk_s3::Client {
        self.client_with(|builder| builder)
    }

    /// An SDK client with the root credentials, after `tweak` changed the config builder.
    pub fn client_with(
        &self,
        tweak: impl FnOnce(aws_sdk_s3::config::Builder) -> aws_sdk_s3::config::Builder,
    ) -> aws_sdk_s3::Client {
        let trust = self.trusting();
        s3_client(
            &self.endpoint(),
            &self.region,
            &self.access_key,
            &self.secret_key,
            |builder| tweak(trust(builder)),
        )
    }

    /// Makes an SDK config trust this gateway's CA (nothing to do over plain HTTP).
    fn trusting(&self) -> impl FnOnce(aws_sdk_s3::config::Builder) -> aws_sdk_s3::config::Builder + use<> {
        let http = self.ca_pem().map(sdk_http_client);
        move |builder| match http {
            Some(http) => builder.http_client(http),
            None => builder,
        }
    }

    /// An SDK client acting as another identity.
    pub fn client_for(&self, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
        s3_client(
            &self.endpoint(),
            &self.region,
            access_key,
            secret_key,
            self.trusting(),
        )
    }

    /// A raw HTTP client signing with the root credentials.
    pub fn raw(&self) -> RawClient {
        RawClient::new(&self.endpoint(), &self.region, &self.access_key, &self.secret_key)
            .trusting(self.ca_pem())
    }

    /// Sends SIGTERM and waits for a clean exit; panics if the gateway outlives the grace period.
    pub fn terminate(&mut self) -> ExitStatus {
        let child = self
            .child
            .as_mut()
            .expect("terminate: the gateway is not running");
        send_sigterm(child);
        let status = wait_with_timeout(child, SHUTDOWN_TIMEOUT);
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            self.child = None;
            panic!(
                "gateway still running {SHUTDOWN_TIMEOUT:?} after SIGTERM (killed); log {}",
                self.log_path.display()
            );
        };
        self.child = None;
        status
    }

    /// Kills the gateway with SIGKILL, as a crash or power loss would.
    pub fn kill9(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("kill9: the gateway is not running");
        child.kill().expect("SIGKILL the gateway");
        child.wait().expect("reap the gateway")
    }

    /// Starts the gateway again on the same port, data dir and credentials (terminating it first
    /// if it is still running).
    pub fn restart(&mut self) {
        if self.is_running() {
            self.terminate();
        }
        let deadline = Instant::now() + REBIND_TIMEOUT;
        loop {
            match self.spawn_until_healthy() {
                Ok(()) => return,
                Err(e) if e.is_port_taken() && Instant::now() < deadline => {
                    std::thread::sleep(POLL_INTERVAL);
                }
                Err(e) => panic!("restart: {e}"),
            }
        }
    }

    fn spawn_until_healthy(&mut self) -> Result<(), StartError> {
        let log_start = fs::metadata(&self.log_path).map_or(0, |m| m.len());
        let mut stdout = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let stderr = stdout.try_clone()?;

        let mut command = Command::new(&self.bin);
        command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(self.options.tls.iter().flat_map(|t| {
                [
                    "--tls-cert".as_ref(),
                    t.cert.as_os_str(),
                    "--tls-key".as_ref(),
                    t.key.as_os_str(),
                ]
            }))
            .args(&self.options.args)
            .env("STOWAGE_ROOT_ACCESS_KEY_ID", &self.access_key)
            .env("STOWAGE_ROOT_SECRET_ACCESS_KEY", &self.secret_key)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        writeln!(stdout, "=== stowage-e2e: {command:?}")?;
        command.stdout(stdout).stderr(stderr);
        let child = command.spawn().map_err(|source| StartError::Spawn {
            bin: self.bin.clone(),
            source,
        })?;
        self.child = Some(child);
        self.wait_until_healthy(log_start)
    }

    fn wait_until_healthy(&mut self, log_start: u64) -> Result<(), StartError> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("just spawned");
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Err(StartError::Exited {
                    status,
                    log_path: self.log_path.clone(),
                    log: read_from(&self.log_path, log_start),
                });
            }
            let ca_pem = self.options.tls.as_ref().map(|t| t.ca_pem.as_str());
            if health_status(self.port, ca_pem) == Some(200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                return Err(StartError::Unhealthy {
                    timeout: STARTUP_TIMEOUT,
                    log_path: self.log_path.clone(),
                    log: read_from(&self.log_path, log_start),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let panicking = std::thread::panicking();
        if panicking || std::env::var_os(KEEP_ENV).is_some() {
            self.work_dir.disable_cleanup(true);
            eprintln!(
                "gateway log kept at {} (data dir {})",
                self.log_path.display(),
                self.data_dir.display()
            );
        }
        if panicking {
            eprintln!(
                "--- last {LOG_TAIL_LINES} lines of the gateway log ---\n{}",
                tail(&self.log(), LOG_TAIL_LINES)
            );
        }
    }
}

fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// The status of `GET /_stowage/health`, or `None` if nothing answered: over TLS trusting
/// `ca_pem` when given. Plain blocking HTTP/1.1 so the harness needs no runtime to wait for
/// startup.
fn health_status(port: u16, ca_pem: Option<&str>) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    tcp.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    match ca_pem {
        None => health_over(tcp, port),
        Some(pem) => {
            let name = rustls_pki_types::ServerName::try_from("localhost").ok()?;
            let tls = rustls::ClientConnection::new(client_config(pem, &[b"http/1.1"]), name).ok()?;
            health_over(rustls::StreamOwned::new(tls, tcp), port)
        }
    }
}

fn health_over(mut stream: impl Read + Write, port: u16) -> Option<u16> {
    write!(
        stream,
        "GET /_stowage/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head)
}

/// `HTTP/1.1 200 OK` -> 200.
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|version| version.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

fn send_sigterm(child: &Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own unreaped child, so
    // it cannot have been reused by another process.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill -TERM {pid}: {}", io::Error::last_os_error());
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the gateway") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The log from byte `offset` on: what one spawn attempt wrote.
fn read_from(path: &Path, offset: u64) -> String {
    let Ok(bytes) = fs::read(path) else {
        return String::new();
    };
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_parses() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n"),
            Some(200)
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.1 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(parse_status_line(b""), None);
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }

    #[test]
    fn missing_binary_is_a_spawn_error() {
        let err = Gateway::try_start_with(Path::new("/nonexistent/gateway"), GatewayOptions::default())
            .expect_err("no such binary");
        assert!(matches!(err, StartError::Spawn { .. }), "{err}");
    }

    #[test]
    fn binary_that_exits_is_reported_with_its_log() {
        // `sh serve --listen ...` fails at once: sh cannot open a script named "serve".
        let err = Gateway::try_start_with(Path::new("/bin/sh"), GatewayOptions::default())
            .expect_err("sh is not a gateway");
        let StartError::Exited { log, log_path, .. } = &err else {
            panic!("unexpected: {err}")
        };
        // Our command line, then sh's own complaint: both streams reach the log.
        assert!(log.lines().count() >= 2, "{log}");
        fs::remove_dir_all(log_path.parent().expect("log is in the work dir")).expect("clean up");
    }
}
