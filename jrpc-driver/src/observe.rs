//! What a connection tells the world outside: logs through `tracing` and, with the `metrics`
//! feature, figures through the `metrics` facade.
//!
//! Logs: each connection has a span (`connection`, with `peer`, `role` and `remote`) that its
//! task and its methods' tasks run in; it logs its opening and its closing (with the reason) at
//! info, and each call it serves at debug (target `jrpc_driver::call`: method, duration,
//! outcome). Nothing is logged per call at info.
//!
//! Metrics (all names start with `jrpc_`):
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | `jrpc_connections_open` | gauge | `role` (`server`, `client`) |
//! | `jrpc_connections_closed_total` | counter | `role`, `reason` |
//! | `jrpc_calls_total` | counter | `method`, `outcome` (`ok`, `error`, `not_found`) |
//! | `jrpc_notifications_total` | counter | `method`, `outcome` |
//! | `jrpc_call_duration_seconds` | histogram | `method` |
//! | `jrpc_received_bytes_total`, `jrpc_received_frames_total` | counter | `role` |
//! | `jrpc_sent_bytes_total`, `jrpc_sent_frames_total` | counter | `role` |
//! | `jrpc_queued_bytes` | gauge | `role` |
//!
//! The calls counted are those served (the methods of this side run for the peer); a method the
//! table does not have is counted under `method="(unknown)"`, so that a peer cannot make up
//! labels. Bytes and frames are those of JRPC messages (not pings); queued bytes are those
//! waiting for the socket on every connection. Close reasons: `peer_closed`, `lost`,
//! `too_large`, `closed` (by [`Peer::close`]), `shutdown`, `slow_consumer` (the outbound queue
//! stayed full past [`Config::slow_consumer_timeout`]), `heartbeat_timeout` (nothing from the
//! peer within [`Config::ping_timeout`]).
//!
//! The latency histogram is a sample: on each connection, the first call of each method and
//! then one in [`SAMPLE`] of its calls are timed, whether they finish at once or suspend. Its
//! quantiles and its mean (`_sum / _count`) stand for all calls; its `_count` is the number of
//! samples (`jrpc_calls_total` counts every call).
//!
//! Cost: when neither is listened to, each call costs one check of the log level (no clock
//! reading). Figures are summed in the connection and handed to the recorder once per wake-up
//! of its task (so per batch of messages, not per message); the clock is read for the sampled
//! calls only. With debug logs on, every call is timed.
//!
//! [`Peer::close`]: crate::Peer::close
//! [`Config::slow_consumer_timeout`]: crate::Config::slow_consumer_timeout
//! [`Config::ping_timeout`]: crate::Config::ping_timeout

use std::net::SocketAddr;
use std::time::Instant;

use crate::handler::Answer;
use jrpc_proto::RpcError;
use tracing::{Level, Span};

/// One call in this many of each method (per connection) is timed for the latency histogram.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const SAMPLE: u32 = 8;

/// Which side of the connection this process is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    /// Accepted by a server.
    Server,
    /// Dialled by a client.
    Client,
}

impl Role {
    fn label(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

/// Why a connection closed, as logged and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The peer closed the connection (a close frame, or the end of the stream).
    PeerClosed,
    /// The socket failed.
    Lost,
    /// A message over the size limit came (closed with 1009).
    TooLarge,
    /// [`Peer::close`](crate::Peer::close) on this side.
    Closed,
    /// The server shut down (closed with 1001).
    Shutdown,
    /// The outbound queue stayed full past the slow-consumer timeout (closed with 1008).
    SlowConsumer,
    /// Nothing came from the peer within the ping timeout (closed with 1001).
    HeartbeatTimeout,
}

impl CloseReason {
    /// Every reason: the index of one here is the index of its counter.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    const ALL: [CloseReason; 7] = [
        CloseReason::PeerClosed,
        CloseReason::Lost,
        CloseReason::TooLarge,
        CloseReason::Closed,
        CloseReason::Shutdown,
        CloseReason::SlowConsumer,
        CloseReason::HeartbeatTimeout,
    ];

    fn label(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Lost => "lost",
            CloseReason::TooLarge => "too_large",
            CloseReason::Closed => "closed",
            CloseReason::Shutdown => "shutdown",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::HeartbeatTimeout => "heartbeat_timeout",
        }
    }
}

/// A call that has started: when, if it is timed (for the debug log or the histogram's
/// sample), and where the connection sums its method's figures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started {
    start: Option<Instant>,
    /// The method's slot in the connection's figures ([`figures::NO_SLOT`]: counted apart).
    #[cfg(feature = "metrics")]
    slot: usize,
    /// Whether the histogram takes this call.
    #[cfg(feature = "metrics")]
    sampled: bool,
}

/// Whether the debug event of each call is wanted.
#[inline]
fn call_logs() -> bool {
    tracing::enabled!(target: "jrpc_driver::call", Level::DEBUG)
}

/// The observer of one connection: its span, and the figures it has not handed over yet.
pub(crate) struct Observer {
    span: Span,
    /// The close code the peer sent, for the log of the close.
    peer_close: Option<u16>,
    #[cfg(feature = "metrics")]
    figures: figures::Connection,
}

impl Observer {
    /// The observer of connection `peer`, with its span.
    pub(crate) fn new(role: Role, peer: u64, remote: Option<SocketAddr>) -> Self {
        let span = tracing::info_span!(
            target: "jrpc_driver::connection",
            "connection",
            peer,
            role = role.label(),
            remote = tracing::field::Empty,
        );
        if let Some(remote) = remote {
            span.record("remote", tracing::field::display(remote));
        }
        Self {
            span,
            peer_close: None,
            #[cfg(feature = "metrics")]
            figures: figures::Connection::new(role),
        }
    }

    /// The connection's span: its task and its methods' tasks run in it.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// The connection is open.
    pub(crate) fn opened(&mut self) {
        tracing::info!(target: "jrpc_driver::connection", parent: &self.span, "connection open");
        #[cfg(feature = "metrics")]
        self.figures.opened();
    }

    /// The peer sent a close frame with `code`.
    pub(crate) fn peer_closing(&mut self, code: Option<u16>) {
        self.peer_close = code;
    }

    /// The connection has closed, for `reason` (`detail` says more, e.g. the socket's error).
    pub(crate) fn closed(&mut self, reason: CloseReason, detail: Option<&str>) {
        let reason_label = reason.label();
        match (detail, self.peer_close) {
            (Some(detail), _) => tracing::info!(
                target: "jrpc_driver::connection", parent: &self.span,
                reason = reason_label, detail, "connection closed"
            ),
            (None, Some(code)) => tracing::info!(
                target: "jrpc_driver::connection", parent: &self.span,
                reason = reason_label, code, "connection closed"
            ),
            (None, None) => tracing::info!(
                target: "jrpc_driver::connection", parent: &self.span,
                reason = reason_label, "connection closed"
            ),
        }
        #[cfg(feature = "metrics")]
        self.figures.closed(reason);
    }

    /// A message of `bytes` came in.
    #[inline]
    pub(crate) fn received(&mut self, bytes: usize) {
        #[cfg(feature = "metrics")]
        self.figures.received(bytes);
        #[cfg(not(feature = "metrics"))]
        let _ = bytes;
    }

    /// A frame of `bytes` went to the socket.
    #[inline]
    pub(crate) fn sent(&mut self, bytes: usize) {
        #[cfg(feature = "metrics")]
        self.figures.sent(bytes);
        #[cfg(not(feature = "metrics"))]
        let _ = bytes;
    }

    /// The method `method` (one the table has, `key` telling it from the table's others
    /// without comparing names) is about to start: it is timed if the debug log or the
    /// histogram's sample wants it. Without either, no clock is read.
    #[inline]
    pub(crate) fn call_starting(&mut self, method: &str, key: usize) -> Started {
        #[cfg(feature = "metrics")]
        {
            let (slot, sampled) = self.figures.starting(method, key);
            let timed = sampled || call_logs();
            Started {
                start: timed.then(Instant::now),
                slot,
                sampled,
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (method, key);
            Started {
                start: call_logs().then(Instant::now),
            }
        }
    }

    /// A method finished at once (without suspending): logs and counts it.
    #[inline]
    pub(crate) fn call_finished(
        &mut self,
        method: &str,
        notification: bool,
        started: Started,
        result: &Result<Answer, RpcError>,
    ) {
        let took = started.start.map(|start| start.elapsed());
        #[cfg(feature = "metrics")]
        self.figures
            .finished(method, notification, started, took, result);
        if let Some(took) = took.filter(|_| call_logs()) {
            log_call(&self.span, method, notification, took, result);
        }
    }

    /// A method was not found: counted under `(unknown)`; a request is answered
    /// `MethodNotFound`, a notification dropped.
    pub(crate) fn not_found(&mut self, method: &str, notification: bool) {
        #[cfg(feature = "metrics")]
        figures::not_found(notification);
        if call_logs() {
            let what = if notification { "notification" } else { "call" };
            tracing::debug!(
                target: "jrpc_driver::call", parent: &self.span,
                method, outcome = RpcError::METHOD_NOT_FOUND, "{what}"
            );
        }
    }

    /// A method suspended and goes on as a task: what it needs to be logged and counted when
    /// it finishes there.
    pub(crate) fn call_suspended(&mut self, method: &str, started: Started) -> CallProbe {
        #[cfg(not(feature = "metrics"))]
        let _ = method;
        CallProbe {
            started,
            span: started
                .start
                .filter(|_| call_logs())
                .map(|_| self.span.clone()),
            #[cfg(feature = "metrics")]
            figures: self.figures.method(started.slot, method),
        }
    }

    /// Hands the figures summed since the last time to the recorder, with the bytes queued
    /// for the socket now (asked only when figures are kept): once per wake-up.
    #[inline]
    pub(crate) fn flush(&mut self, queued_bytes: impl FnOnce() -> usize) {
        #[cfg(feature = "metrics")]
        {
            self.figures.queued(queued_bytes());
            self.figures.flush();
        }
        #[cfg(not(feature = "metrics"))]
        let _ = queued_bytes;
    }
}

/// What a method that went on as a task needs to be logged and counted when it finishes.
pub(crate) struct CallProbe {
    started: Started,
    /// The connection's span, when calls are logged.
    span: Option<Span>,
    #[cfg(feature = "metrics")]
    figures: std::sync::Arc<figures::Method>,
}

impl CallProbe {
    /// The method finished with `result`.
    pub(crate) fn finished(
        self,
        method: &str,
        notification: bool,
        result: &Result<Answer, RpcError>,
    ) {
        let took = self.started.start.map(|start| start.elapsed());
        #[cfg(feature = "metrics")]
        {
            self.figures.count(notification, result, 1);
            if let Some(took) = took.filter(|_| self.started.sampled) {
                self.figures.time(took);
            }
        }
        if let (Some(span), Some(took)) = (&self.span, took) {
            log_call(span, method, notification, took, result);
        }
    }
}

/// The debug event of one call.
fn log_call(
    span: &Span,
    method: &str,
    notification: bool,
    duration: std::time::Duration,
    result: &Result<Answer, RpcError>,
) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => e.kind.as_str(),
    };
    let what = if notification { "notification" } else { "call" };
    tracing::debug!(
        target: "jrpc_driver::call", parent: span,
        method, ?duration, outcome, "{what}"
    );
}

#[cfg(feature = "metrics")]
mod figures {
    //! The figures, through the `metrics` facade. Handles are made once (per role, per method)
    //! and kept: a recorder must be installed before the first connection.

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};
    use std::time::Duration;

    use crate::handler::Answer;
    use jrpc_proto::RpcError;
    use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

    use super::{CloseReason, Role, SAMPLE, Started};

    /// Most methods a connection sums figures for itself; the others count straight away.
    const SLOTS: usize = 16;

    /// The slot of a method beyond [`SLOTS`].
    pub(crate) const NO_SLOT: usize = usize::MAX;

    /// The figures of one role.
    struct RoleFigures {
        open: Gauge,
        closed: [Counter; CloseReason::ALL.len()],
        received_bytes: Counter,
        received_frames: Counter,
        sent_bytes: Counter,
        sent_frames: Counter,
        queued_bytes: Gauge,
    }

    impl RoleFigures {
        fn new(role: Role) -> Self {
            let role = role.label();
            Self {
                open: gauge!("jrpc_connections_open", "role" => role),
                closed: CloseReason::ALL.map(|reason| {
                    counter!("jrpc_connections_closed_total", "role" => role, "reason" => reason.label())
                }),
                received_bytes: counter!("jrpc_received_bytes_total", "role" => role),
                received_frames: counter!("jrpc_received_frames_total", "role" => role),
                sent_bytes: counter!("jrpc_sent_bytes_total", "role" => role),
                sent_frames: counter!("jrpc_sent_frames_total", "role" => role),
                queued_bytes: gauge!("jrpc_queued_bytes", "role" => role),
            }
        }

        fn of(role: Role) -> &'static RoleFigures {
            static SERVER: OnceLock<RoleFigures> = OnceLock::new();
            static CLIENT: OnceLock<RoleFigures> = OnceLock::new();
            let cell = match role {
                Role::Server => &SERVER,
                Role::Client => &CLIENT,
            };
            cell.get_or_init(|| RoleFigures::new(role))
        }
    }

    /// The figures of one method.
    pub(crate) struct Method {
        calls_ok: Counter,
        calls_error: Counter,
        notifications_ok: Counter,
        notifications_error: Counter,
        duration: Histogram,
    }

    impl Method {
        fn new(name: &str) -> Self {
            let calls = |outcome: &'static str| counter!("jrpc_calls_total", "method" => name.to_owned(), "outcome" => outcome);
            let notifications = |outcome: &'static str| counter!("jrpc_notifications_total", "method" => name.to_owned(), "outcome" => outcome);
            Self {
                calls_ok: calls("ok"),
                calls_error: calls("error"),
                notifications_ok: notifications("ok"),
                notifications_error: notifications("error"),
                duration: histogram!("jrpc_call_duration_seconds", "method" => name.to_owned()),
            }
        }

        /// Counts `n` outcomes like `result`.
        pub(crate) fn count(&self, notification: bool, result: &Result<Answer, RpcError>, n: u64) {
            let counter = match (notification, result.is_ok()) {
                (false, true) => &self.calls_ok,
                (false, false) => &self.calls_error,
                (true, true) => &self.notifications_ok,
                (true, false) => &self.notifications_error,
            };
            counter.increment(n);
        }

        /// Records the duration of a sampled call.
        pub(crate) fn time(&self, took: Duration) {
            self.duration.record(took.as_secs_f64());
        }
    }

    /// The figures of the method `name`, made on first use. The table holds the names of
    /// methods that exist (a name a peer made up never gets here), so it stays bounded.
    pub(crate) fn of_method(name: &str) -> Arc<Method> {
        static METHODS: OnceLock<Mutex<HashMap<String, Arc<Method>>>> = OnceLock::new();
        let table = METHODS.get_or_init(Default::default);
        let mut table = table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(figures) = table.get(name) {
            return figures.clone();
        }
        let figures = Arc::new(Method::new(name));
        table.insert(name.to_owned(), figures.clone());
        figures
    }

    /// A method the table does not have was asked for.
    pub(crate) fn not_found(notification: bool) {
        static CALLS: OnceLock<Counter> = OnceLock::new();
        static NOTIFICATIONS: OnceLock<Counter> = OnceLock::new();
        let (cell, name) = match notification {
            false => (&CALLS, "jrpc_calls_total"),
            true => (&NOTIFICATIONS, "jrpc_notifications_total"),
        };
        cell.get_or_init(|| counter!(name, "method" => "(unknown)", "outcome" => "not_found"))
            .increment(1);
    }

    /// Counts a call down: true (and starts again at [`SAMPLE`]) when it reaches zero.
    #[inline]
    fn tick(countdown: &mut u32) -> bool {
        *countdown -= 1;
        if *countdown == 0 {
            *countdown = SAMPLE;
            true
        } else {
            false
        }
    }

    /// One method's figures summed in the connection.
    struct Slot {
        /// The method's key (its handler's address in the connection's table).
        key: usize,
        figures: Arc<Method>,
        /// Calls until the next one the histogram takes.
        countdown: u32,
        calls_ok: u64,
        calls_error: u64,
        notifications_ok: u64,
        notifications_error: u64,
    }

    /// The figures of one connection not yet handed to the recorder.
    pub(crate) struct Connection {
        role: &'static RoleFigures,
        received_bytes: u64,
        received_frames: u64,
        sent_bytes: u64,
        sent_frames: u64,
        slots: Vec<Slot>,
        /// Calls of methods beyond [`SLOTS`] until the next one the histogram takes.
        countdown: u32,
        open: bool,
        /// The connection's share of the queued-bytes gauge.
        queued_bytes: usize,
    }

    impl Connection {
        pub(crate) fn new(role: Role) -> Self {
            Self {
                role: RoleFigures::of(role),
                received_bytes: 0,
                received_frames: 0,
                sent_bytes: 0,
                sent_frames: 0,
                slots: Vec::new(),
                countdown: 1,
                open: false,
                queued_bytes: 0,
            }
        }

        pub(crate) fn opened(&mut self) {
            self.open = true;
            self.role.open.increment(1.0);
        }

        pub(crate) fn closed(&mut self, reason: CloseReason) {
            self.queued(0);
            self.flush();
            if std::mem::take(&mut self.open) {
                self.role.open.decrement(1.0);
            }
            let index = CloseReason::ALL
                .iter()
                .position(|r| *r == reason)
                .unwrap_or(0);
            self.role.closed[index].increment(1);
        }

        #[inline]
        pub(crate) fn received(&mut self, bytes: usize) {
            self.received_bytes += bytes as u64;
            self.received_frames += 1;
        }

        #[inline]
        pub(crate) fn sent(&mut self, bytes: usize) {
            self.sent_bytes += bytes as u64;
            self.sent_frames += 1;
        }

        /// The slot of `method`, found by its `key` (made on its first call), and whether the
        /// histogram takes this call: the first of each method, then one in [`SAMPLE`].
        #[inline]
        pub(crate) fn starting(&mut self, method: &str, key: usize) -> (usize, bool) {
            let index = match self.slots.iter().position(|s| s.key == key) {
                Some(index) => index,
                None if self.slots.len() < SLOTS => {
                    self.slots.push(Slot {
                        key,
                        figures: of_method(method),
                        countdown: 1,
                        calls_ok: 0,
                        calls_error: 0,
                        notifications_ok: 0,
                        notifications_error: 0,
                    });
                    self.slots.len() - 1
                }
                None => return (NO_SLOT, tick(&mut self.countdown)),
            };
            (index, tick(&mut self.slots[index].countdown))
        }

        /// The figures of the method in `slot` (named `method`).
        pub(crate) fn method(&self, slot: usize, method: &str) -> Arc<Method> {
            match self.slots.get(slot) {
                Some(slot) => slot.figures.clone(),
                None => of_method(method),
            }
        }

        /// A call that finished at once, `took` long if it was timed.
        #[inline]
        pub(crate) fn finished(
            &mut self,
            method: &str,
            notification: bool,
            started: Started,
            took: Option<Duration>,
            result: &Result<Answer, RpcError>,
        ) {
            let Some(slot) = self.slots.get_mut(started.slot) else {
                let figures = of_method(method);
                figures.count(notification, result, 1);
                if let Some(took) = took.filter(|_| started.sampled) {
                    figures.time(took);
                }
                return;
            };
            match (notification, result.is_ok()) {
                (false, true) => slot.calls_ok += 1,
                (false, false) => slot.calls_error += 1,
                (true, true) => slot.notifications_ok += 1,
                (true, false) => slot.notifications_error += 1,
            }
            if let Some(took) = took.filter(|_| started.sampled) {
                slot.figures.time(took);
            }
        }

        /// The bytes queued for the socket now: the gauge moves by the change.
        pub(crate) fn queued(&mut self, bytes: usize) {
            if bytes != self.queued_bytes {
                let (now, before) = (bytes as f64, self.queued_bytes as f64);
                self.role.queued_bytes.increment(now - before);
                self.queued_bytes = bytes;
            }
        }

        /// Hands what was summed to the recorder.
        pub(crate) fn flush(&mut self) {
            let role = self.role;
            for (sum, counter) in [
                (&mut self.received_bytes, &role.received_bytes),
                (&mut self.received_frames, &role.received_frames),
                (&mut self.sent_bytes, &role.sent_bytes),
                (&mut self.sent_frames, &role.sent_frames),
            ] {
                if *sum > 0 {
                    counter.increment(std::mem::take(sum));
                }
            }
            for slot in &mut self.slots {
                for (sum, counter) in [
                    (&mut slot.calls_ok, &slot.figures.calls_ok),
                    (&mut slot.calls_error, &slot.figures.calls_error),
                    (&mut slot.notifications_ok, &slot.figures.notifications_ok),
                    (
                        &mut slot.notifications_error,
                        &slot.figures.notifications_error,
                    ),
                ] {
                    if *sum > 0 {
                        counter.increment(std::mem::take(sum));
                    }
                }
            }
        }
    }

    impl Drop for Connection {
        /// A connection task dropped before it closed (its runtime shut down) still hands over
        /// its figures and leaves the open gauge.
        fn drop(&mut self) {
            self.queued(0);
            self.flush();
            if self.open {
                self.role.open.decrement(1.0);
            }
        }
    }
}
