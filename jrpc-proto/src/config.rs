//! Limits of one endpoint.

/// Limits of one [`Endpoint`](crate::Endpoint), with defaults fit for many small RPC frames.
///
/// ```
/// let config = jrpc_proto::Config::default()
///     .max_outstanding(64)
///     .max_inbound_message(1 << 20);
/// assert_eq!(config.outstanding_limit(), 64);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    max_outstanding: usize,
    max_inbound_message: usize,
    max_outbound_message: usize,
}

/// The default size limit of a message, either way: 16 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

/// The largest number of outstanding calls an endpoint can track (2^20): ids carry the slot
/// number in their low bits and must stay at or below 2^53 − 1.
pub const MAX_OUTSTANDING_LIMIT: usize = 1 << 20;

impl Default for Config {
    fn default() -> Self {
        Self {
            max_outstanding: 1024,
            max_inbound_message: DEFAULT_MAX_MESSAGE,
            max_outbound_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

impl Config {
    /// Most calls of ours that may await an answer at once (default 1024, clamped to
    /// 1..=2^20). One more is refused with
    /// [`CallError::TooManyOutstanding`](crate::CallError::TooManyOutstanding), nothing queued.
    pub fn max_outstanding(mut self, n: usize) -> Self {
        self.max_outstanding = n.clamp(1, MAX_OUTSTANDING_LIMIT);
        self
    }

    /// Largest inbound message in bytes (default 16 MiB). A larger one closes the endpoint and
    /// makes [`Endpoint::handle_frame`](crate::Endpoint::handle_frame) return
    /// [`InboundError::TooLarge`](crate::InboundError::TooLarge), which a WebSocket adapter
    /// turns into close code 1009.
    pub fn max_inbound_message(mut self, bytes: usize) -> Self {
        self.max_inbound_message = bytes;
        self
    }

    /// Largest outbound message in bytes (default 16 MiB). A larger request is refused with
    /// [`CallError::TooLarge`](crate::CallError::TooLarge); a larger reply is replaced by an
    /// `InternalError` response.
    pub fn max_outbound_message(mut self, bytes: usize) -> Self {
        self.max_outbound_message = bytes;
        self
    }

    /// The configured limit of outstanding calls.
    pub fn outstanding_limit(&self) -> usize {
        self.max_outstanding
    }

    /// The configured limit of inbound message size, in bytes.
    pub fn inbound_limit(&self) -> usize {
        self.max_inbound_message
    }

    /// The configured limit of outbound message size, in bytes.
    pub fn outbound_limit(&self) -> usize {
        self.max_outbound_message
    }
}
