//! Settings of servers, clients and their connections.

use std::time::Duration;

use tungstenite::protocol::WebSocketConfig;

/// Settings shared by a server's connections (or a client's one), with defaults fit for many
/// small RPC frames.
///
/// ```
/// use std::time::Duration;
/// let config = jrpc_driver::Config::default()
///     .call_timeout(Some(Duration::from_secs(5)))
///     .max_in_flight(16)
///     .allow_origin("http://localhost:8080");
/// assert_eq!(config.in_flight_limit(), 16);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) endpoint: jrpc_proto::Config,
    pub(crate) max_message: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) call_timeout: Option<Duration>,
    pub(crate) read_buffer: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) allowed_origins: Option<Vec<String>>,
    pub(crate) check_host: bool,
    pub(crate) max_queued: usize,
    pub(crate) slow_consumer_timeout: Duration,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) ping_timeout: Duration,
    /// Roots trusted for `wss://` besides the Mozilla ones (DER certificates).
    #[cfg(feature = "rustls")]
    pub(crate) tls_roots: Vec<Vec<u8>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            endpoint: jrpc_proto::Config::default(),
            max_message: jrpc_proto::DEFAULT_MAX_MESSAGE,
            max_in_flight: 64,
            call_timeout: Some(Duration::from_secs(30)),
            read_buffer: 4 << 10,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(1),
            allowed_origins: None,
            check_host: true,
            max_queued: 1 << 20,
            slow_consumer_timeout: Duration::from_secs(10),
            ping_interval: Some(Duration::from_secs(25)),
            ping_timeout: Duration::from_secs(20),
            #[cfg(feature = "rustls")]
            tls_roots: Vec::new(),
        }
    }
}

impl Config {
    /// Largest message either way, in bytes (default 16 MiB). A larger inbound message closes
    /// its connection with code 1009; a larger outbound one is refused locally.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self.endpoint = self
            .endpoint
            .max_inbound_message(bytes)
            .max_outbound_message(bytes);
        self
    }

    /// Most of our calls awaiting an answer on one connection (default 1024); one more fails
    /// with `TooManyOutstanding`.
    pub fn max_outstanding(mut self, n: usize) -> Self {
        self.endpoint = self.endpoint.max_outstanding(n);
        self
    }

    /// Most requests from the peer running at once on one connection (default 64). At the
    /// limit the connection stops reading its socket until one finishes: backpressure, not an
    /// unbounded queue.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Timeout of [`Peer::request`](crate::Peer::request) (default 30 s; `None`: no timeout).
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Size of each connection's socket read buffer (default 4 KiB; tungstenite's own default
    /// is 128 KiB, which costs that much memory per idle connection). A connection reads a burst
    /// larger than this (a large message, many small ones) 64 KiB at a time all the same,
    /// through a buffer it holds only during the burst ([`ReadAhead`](crate::ReadAhead)).
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer = bytes.max(256);
        self
    }

    /// How long a WebSocket handshake may take before the TCP connection is dropped (default
    /// 10 s): a client that opens a connection and never finishes its handshake (slowloris)
    /// must not hold a slot forever.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long a closing connection waits for the peer's close frame (default 1 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Most bytes of frames that may wait to be written on one connection (default 1 MiB): our
    /// calls, notifications and pushes, and our answers to the peer. At the limit,
    /// [`Peer::request`](crate::Peer::request) and [`Peer::invoke`](crate::Peer::invoke) wait
    /// for room, [`Peer::try_invoke`](crate::Peer::try_invoke) and broadcasts skip the peer,
    /// and the connection stops reading the peer's requests. A single frame larger than the
    /// limit still goes through once the queue is empty.
    ///
    /// Why: a page that stops reading (a frozen tab, a phone on a bad network) must not make
    /// the server's memory grow without bound.
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued = bytes.max(1);
        self
    }

    /// How long a connection's outbound queue may stay full before the peer is dropped as a
    /// slow consumer (default 10 s): closed with code 1008 ([`CLOSE_SLOW_CONSUMER`](crate::CLOSE_SLOW_CONSUMER)),
    /// its calls failed at once. The queue counts as full from the moment a frame did not fit
    /// until it drains below half its limit.
    pub fn slow_consumer_timeout(mut self, timeout: Duration) -> Self {
        self.slow_consumer_timeout = timeout;
        self
    }

    /// How often a connection pings its peer (default every 25 s; `None`: no heartbeat). A
    /// peer from which nothing (no pong, no message) arrives within
    /// [`ping_timeout`](Self::ping_timeout) of a ping is dropped, with code 1001
    /// ([`CLOSE_HEARTBEAT_TIMEOUT`](crate::CLOSE_HEARTBEAT_TIMEOUT)): by default a silent peer
    /// (a suspended laptop, a dead NAT mapping) is gone within 45 s. Browsers answer pings by
    /// themselves.
    pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.ping_interval = interval.filter(|i| !i.is_zero());
        self
    }

    /// How long after a ping the peer may stay silent before it is dropped (default 20 s).
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// Allows WebSocket handshakes from pages of this origin (`scheme://host[:port]`, as
    /// browsers send it in the `Origin` header). Once any origin is allowed, only the listed
    /// ones are; by default only the server's own host and port are.
    ///
    /// Why: a browser lets any page open a WebSocket to any server, sending the user's cookies
    /// along; without this check a page of another site could call the server's methods as the
    /// user (cross-site WebSocket hijacking). Clients that are not browsers send no `Origin`
    /// and are always allowed.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        let origin = origin.into().trim_end_matches('/').to_ascii_lowercase();
        self.allowed_origins
            .get_or_insert_with(Vec::new)
            .push(origin);
        self
    }

    /// Allows handshakes from every origin: only for servers that hold nothing a foreign page
    /// may not reach.
    pub fn allow_any_origin(mut self) -> Self {
        self.allowed_origins = Some(vec!["*".to_owned()]);
        self
    }

    /// Whether a server bound to a loopback address refuses a `Host` header that is not a
    /// loopback name (default true). Why: DNS rebinding lets a foreign page reach a loopback
    /// server under the foreign site's own name.
    pub fn check_host(mut self, check: bool) -> Self {
        self.check_host = check;
        self
    }

    /// Trusts `der`, a DER-encoded X.509 certificate, as a root for `wss://` connections,
    /// besides the Mozilla roots of `webpki-roots`: a private certificate authority, or the
    /// one a development server's certificate was made with. (Feature `rustls`.)
    #[cfg(feature = "rustls")]
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.tls_roots.push(der.into());
        self
    }

    /// The TLS settings of a `wss://` connection: TLS 1.2 and 1.3 on rustls' ring provider
    /// (chosen here rather than left to rustls' process-wide default, which is ambiguous when
    /// a program links both providers), trusting the Mozilla roots and the added ones.
    #[cfg(feature = "rustls")]
    pub(crate) fn tls(&self) -> Result<std::sync::Arc<rustls::ClientConfig>, rustls::Error> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for (n, der) in self.tls_roots.iter().enumerate() {
            // rustls words a root that does not parse as a fault of the peer's certificate.
            roots
                .add(rustls::pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| {
                    rustls::Error::General(format!(
                        "root certificate #{} (added with add_root_certificate) is not a usable \
                         DER X.509 certificate: {e:?}",
                        n + 1
                    ))
                })?;
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(std::sync::Arc::new(config))
    }

    /// The limit of requests running at once on one connection.
    pub fn in_flight_limit(&self) -> usize {
        self.max_in_flight
    }

    /// The tungstenite settings a connection made with these runs on (buffer sizes, message and
    /// frame size limits): for programs that drive a WebSocket of their own exactly as a JRPC
    /// connection would, such as the Autobahn conformance echo servers.
    pub fn websocket(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer)
            .write_buffer_size(32 << 10)
            .max_message_size(Some(self.max_message))
            .max_frame_size(Some(self.max_message))
    }
}
