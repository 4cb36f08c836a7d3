//! How a request reached the gateway, recorded per connection by the accept loop
//! (`http_server`) and read by what depends on it: SSE-C keys are accepted only over TLS (unless
//! `--allow-sse-c-over-http`), and policies see `aws:SecureTransport`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
}

impl Transport {
    /// The transport of a request; one built without the accept loop (none recorded) is plain,
    /// so nothing is taken for secure by mistake.
    pub fn of(extensions: &http::Extensions) -> Self {
        extensions.get::<Transport>().copied().unwrap_or(Transport::Plain)
    }

    pub fn is_tls(self) -> bool {
        self == Transport::Tls
    }
}
