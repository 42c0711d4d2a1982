//! Groups, broadcast and peer calls across server processes, over Redis (feature `redis`).
//!
//! Each process (a *node*) keeps its own connections and their groups in memory, in its
//! server's [`Groups`], as in one process; a [`Cluster`] is that registry's backend and links
//! it to one Redis:
//!
//! - **Broadcast** (`groups.to(group).invoke(..)`, with `.except(peer)`, or `groups.all()`)
//!   is delivered at once to the members on this node and published, already encoded, on the
//!   cluster's broadcast channel (Redis pub/sub); every other node delivers it to its own
//!   members ([`Groups::deliver`]).
//! - **Membership** is written to Redis (one set per node and group, refreshed by the node's
//!   heartbeat) so that [`members`](Cluster::members) and [`count`](Cluster::count) are
//!   cluster-wide.
//! - **Peer calls**: a [`PeerId`] (node id + connection id) names a connection anywhere in the
//!   cluster; [`request`](Cluster::request) and [`invoke`](Cluster::invoke) reach it through
//!   its node's own channel, and the answer comes back on the caller's.
//! - **Liveness**: each node keeps a key with a TTL alive by a heartbeat; a node that stops
//!   (even by SIGKILL) drops out of membership and counts once its key expires, within
//!   [`ClusterConfig::node_ttl`].
//! - **Redis going away**: the node keeps serving its own connections (local broadcast and
//!   local calls go on), reconnects with backoff, resubscribes and writes its membership
//!   anew. What is broadcast while Redis is unreachable reaches the local members only: the
//!   other nodes never see it (at most once).
//!
//! Order: the broadcasts to a group published by one node reach every member, on every node,
//! in one order (the node delivers locally and queues for Redis under the group's lock; Redis
//! relays one connection's messages in order, and each node delivers them in that order).
//! Broadcasts published by several nodes reach the members of any one node in one order, but
//! two nodes may interleave them differently: each delivers its own at once and the others'
//! as Redis relays them (the nodes that publish none all see Redis's one order).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use futures_channel::{mpsc, oneshot};
use futures_util::future::{self, Either};
use futures_util::{FutureExt, StreamExt};
use jrpc_proto::{CallError, IntoParams, Params, RpcError};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, PushInfo, PushKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Backend, Change, Frame, Groups, Peer, Runtime, Target};

/// Settings of a `Cluster`; the defaults suit a few processes on one Redis.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    prefix: String,
    node_ttl: Duration,
    heartbeat: Duration,
    call_timeout: Duration,
    redis_timeout: Duration,
    reconnect_max: Duration,
    queue: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            prefix: "jrpc".to_owned(),
            node_ttl: Duration::from_secs(10),
            heartbeat: Duration::from_secs(2),
            call_timeout: Duration::from_secs(10),
            redis_timeout: Duration::from_secs(2),
            reconnect_max: Duration::from_secs(5),
            queue: 65_536,
        }
    }
}

impl ClusterConfig {
    /// The prefix of every Redis key and channel of the cluster (default `jrpc`): clusters
    /// with different prefixes share one Redis without seeing each other.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a node stays a member of the cluster after its last heartbeat (default 10 s):
    /// the bound on how long a killed process's connections still count.
    pub fn node_ttl(mut self, ttl: Duration) -> Self {
        self.node_ttl = ttl.max(Duration::from_millis(100));
        self
    }

    /// How often a node renews its liveness (default 2 s); keep it well under
    /// [`node_ttl`](Self::node_ttl) (a third or less), so that a slow beat is not a death.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval.max(Duration::from_millis(10));
        self
    }

    /// The timeout of a cross-process call that names none, and the longest any may wait
    /// (default 10 s).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How long one Redis command (or connecting) may take before Redis counts as
    /// unreachable (default 2 s).
    pub fn redis_timeout(mut self, timeout: Duration) -> Self {
        self.redis_timeout = timeout;
        self
    }

    /// The longest pause between two attempts to reconnect to Redis (default 5 s; the pause
    /// starts at 50 ms and doubles, with jitter).
    pub fn reconnect_max(mut self, pause: Duration) -> Self {
        self.reconnect_max = pause;
        self
    }

    /// How many messages may wait to be written to Redis, and how many received ones may wait
    /// to be handled (default 65,536 each): past that, broadcasts are not published (and
    /// counted in [`ClusterStats::unpublished`]) and calls fail with
    /// [`ClusterError::Unavailable`], rather than memory growing.
    pub fn queue(mut self, messages: usize) -> Self {
        self.queue = messages.max(1);
        self
    }
}

/// A connection's name in the whole cluster: the id of its node and its own
/// [`Peer::id`]. Written `NODE.ID` (as its `Display`, `FromStr` and JSON form), so that a page
/// or another service can pass it around.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    node: Arc<str>,
    local: u64,
}

impl PeerId {
    /// The id of the node (process) the connection is on.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The connection's [`Peer::id`] on its node.
    pub fn local(&self) -> u64 {
        self.local
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.local)
    }
}

/// A string that is not `NODE.ID`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a cluster peer id (NODE.ID): {0:?}")]
pub struct BadPeerId(String);

impl FromStr for PeerId {
    type Err = BadPeerId;

    fn from_str(s: &str) -> Result<Self, BadPeerId> {
        let bad = || BadPeerId(s.to_owned());
        let (node, local) = s.rsplit_once('.').ok_or_else(bad)?;
        if node.is_empty() || node.contains(':') {
            return Err(bad());
        }
        Ok(Self {
            node: node.into(),
            local: local.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for PeerId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PeerId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a cross-process operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// The peer is not connected (any more): its connection closed, or its node is gone.
    #[error("peer {0} is gone")]
    PeerGone(PeerId),
    /// No answer within the call's timeout (the peer's, or its node's, or Redis's).
    #[error("the call timed out")]
    Timeout,
    /// Redis cannot be reached now (or the queue to it is full); nothing was sent.
    #[error("the cluster's Redis is unavailable: {0}")]
    Unavailable(String),
    /// The call itself failed: the peer's error answer, or arguments that do not encode, or
    /// a result that does not decode.
    #[error(transparent)]
    Call(CallError),
    /// The call could not be made on the peer's process (its queue was full, the message too
    /// large, …): what that process said.
    #[error("the call failed on the peer's process: {0}")]
    Failed(String),
}

impl ClusterError {
    /// The peer's error answer, if that is what failed.
    pub fn remote(&self) -> Option<&RpcError> {
        match self {
            Self::Call(e) => e.remote(),
            _ => None,
        }
    }
}

/// Figures of a `Cluster`, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterStats {
    /// Whether the node is linked to Redis now.
    pub connected: bool,
    /// Times the link to Redis was (re)established.
    pub connects: u64,
    /// Broadcasts not published because Redis was unreachable or the queue to it full.
    pub unpublished: u64,
    /// Messages from Redis dropped because the node could not keep up.
    pub dropped_inbound: u64,
}

/// The cluster backend of one server process's [`Groups`], and its link to Redis. Cheap to
/// clone; create one per process with [`Cluster::start`] and keep it in the server's state.
pub struct Cluster<R: Runtime> {
    inner: Arc<Inner<R>>,
}

impl<R: Runtime> Clone for Cluster<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<R: Runtime> fmt::Debug for Cluster<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.inner.node)
            .field("stats", &self.stats())
            .finish()
    }
}

struct Inner<R> {
    runtime: R,
    node: Arc<str>,
    config: ClusterConfig,
    keys: Keys,
    /// The registry whose backend this is: remote broadcasts are delivered through it.
    groups: Groups,
    local: Mutex<Local>,
    /// The link's writer side: `None` while Redis is unreachable.
    outbox: Mutex<Option<mpsc::Sender<Op>>>,
    /// The current connection, for reads (members, counts).
    connection: Mutex<Option<MultiplexedConnection>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Outcome>>>,
    next_call: AtomicU64,
    connects: AtomicU64,
    unpublished: AtomicU64,
    dropped_inbound: AtomicU64,
    stopped: AtomicBool,
}

/// This node's groups, as the registry reports them: for writing the membership anew at
/// each link, and renewing its expiry at each heartbeat.
#[derive(Default)]
struct Local {
    groups: HashMap<String, BTreeSet<u64>>,
}

/// The Redis names of one cluster.
struct Keys {
    prefix: String,
}

impl Keys {
    fn broadcast(&self) -> String {
        format!("{}:broadcast", self.prefix)
    }
    fn node_channel(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }
    fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }
    fn alive(&self, node: &str) -> String {
        format!("{}:alive:{node}", self.prefix)
    }
    /// The set of `node`'s connections in `group`.
    fn members(&self, node: &str, group: &str) -> String {
        format!("{}:members:{node}:{group}", self.prefix)
    }
    /// The set of groups `node` has members in (to clear them on a resync).
    fn node_groups(&self, node: &str) -> String {
        format!("{}:groups:{node}", self.prefix)
    }
}

/// What a node writes to Redis, in order, through its outbox.
enum Op {
    Publish {
        channel: String,
        payload: String,
    },
    Call {
        node: String,
        call: u64,
        payload: String,
    },
    Join {
        group: String,
        local: u64,
    },
    Leave {
        group: String,
        local: u64,
    },
}

/// A broadcast between nodes: `B` and the publishing node's id, a newline, the group's name
/// as a JSON string (`null` for all connections), a newline, then the encoded notification as
/// the members get it (no re-encoding on either side).
struct BroadcastWire;

impl BroadcastWire {
    fn encode(node: &str, group: Option<&str>, frame: &Frame) -> Option<String> {
        let group = serde_json::to_string(&group).ok()?;
        let frame = frame.as_str();
        let mut payload = String::with_capacity(node.len() + group.len() + frame.len() + 3);
        for part in ["B", node, "\n", &group, "\n", frame] {
            payload.push_str(part);
        }
        Some(payload)
    }

    /// The node, the group, and the frame's text; `None` when it is not a broadcast.
    fn decode(payload: &[u8]) -> Option<(&str, Option<String>, &str)> {
        let text = std::str::from_utf8(payload.strip_prefix(b"B")?).ok()?;
        let (node, rest) = text.split_once('\n')?;
        let (group, frame) = rest.split_once('\n')?;
        let group: Option<String> = serde_json::from_str(group).ok()?;
        Some((node, group, frame))
    }
}

/// The other messages between nodes, as JSON on Redis channels.
#[derive(Serialize, Deserialize)]
#[serde(tag = "t")]
enum Wire {
    /// A call to one of the receiving node's connections.
    #[serde(rename = "c")]
    Call {
        from: String,
        call: u64,
        peer: u64,
        method: String,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
        timeout_ms: u64,
        notify: bool,
    },
    /// The outcome of a call, to the calling node.
    #[serde(rename = "r")]
    Reply { call: u64, outcome: Outcome },
}

/// How a cross-process call ended, as its node reports it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "o")]
enum Outcome {
    #[serde(rename = "ok")]
    Ok { value: Value },
    #[serde(rename = "error")]
    Error { kind: String, details: Value },
    #[serde(rename = "gone")]
    Gone,
    #[serde(rename = "timeout")]
    Timeout,
    #[serde(rename = "failed")]
    Failed { message: String },
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data whole: take it as it is after a panic.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// 64 random bits (std's per-process random hash keys, mixed with the time and pid).
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

impl<R: Runtime> Cluster<R> {
    /// Starts this process's node of the cluster on the Redis at `redis_url`
    /// (`redis://HOST:PORT/`; RESP3, which it needs, is chosen whatever the URL says), as the
    /// backend of `groups` (the server's, [`Server::groups`](crate::Server::groups)): set it
    /// up before the server accepts connections. Links in the background: it returns at once,
    /// and the node works locally until Redis answers (see
    /// [`wait_connected`](Self::wait_connected)).
    ///
    /// Fails if the URL is not one, or if `groups` has a backend already.
    pub fn start(
        runtime: R,
        groups: &Groups,
        redis_url: &str,
        config: ClusterConfig,
    ) -> Result<Self, ClusterError> {
        let mut info = redis::IntoConnectionInfo::into_connection_info(redis_url)
            .map_err(|e| ClusterError::Unavailable(e.to_string()))?;
        let redis_settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        info = info.set_redis_settings(redis_settings);
        let client =
            redis::Client::open(info).map_err(|e| ClusterError::Unavailable(e.to_string()))?;
        let node: Arc<str> = format!("{:016x}", random_u64()).into();
        let inner = Arc::new(Inner {
            runtime: runtime.clone(),
            node,
            keys: Keys {
                prefix: config.prefix.clone(),
            },
            config,
            groups: groups.clone(),
            local: Mutex::default(),
            outbox: Mutex::new(None),
            connection: Mutex::new(None),
            pending: Mutex::default(),
            next_call: AtomicU64::new(1),
            connects: AtomicU64::new(0),
            unpublished: AtomicU64::new(0),
            dropped_inbound: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        });
        let bridge = Arc::new(Bridge(Arc::downgrade(&inner)));
        if groups.set_backend(bridge).is_err() {
            return Err(ClusterError::Unavailable(
                "these groups have a backend already".to_owned(),
            ));
        }
        runtime.spawn(link(Arc::downgrade(&inner), client));
        Ok(Self { inner })
    }

    /// This node's id, unique in the cluster (random, new at each start).
    pub fn node_id(&self) -> &str {
        &self.inner.node
    }

    /// The cluster-wide id of `peer`, a connection of this process.
    pub fn peer_id(&self, peer: &Peer) -> PeerId {
        PeerId {
            node: self.inner.node.clone(),
            local: peer.id(),
        }
    }

    /// Figures of the node now.
    pub fn stats(&self) -> ClusterStats {
        ClusterStats {
            connected: lock(&self.inner.outbox).is_some(),
            connects: self.inner.connects.load(Ordering::Relaxed),
            unpublished: self.inner.unpublished.load(Ordering::Relaxed),
            dropped_inbound: self.inner.dropped_inbound.load(Ordering::Relaxed),
        }
    }

    /// Waits until the node is linked to Redis (subscribed, membership written), at most
    /// `timeout`; says whether it is.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stats().connected {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            let next = (Instant::now() + Duration::from_millis(10)).min(deadline);
            self.inner.runtime.sleep_until(next).await;
        }
    }

    /// Stops the node: it leaves the cluster at once (its liveness key and membership are
    /// deleted when Redis is reachable) and stops its link. Local connections are untouched.
    pub async fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Relaxed);
        let connection = lock(&self.inner.connection).take();
        *lock(&self.inner.outbox) = None;
        if let Some(mut connection) = connection {
            let groups: Vec<String> = lock(&self.inner.local).groups.keys().cloned().collect();
            let keys = &self.inner.keys;
            let node = &*self.inner.node;
            let mut pipe = redis::pipe();
            pipe.del(keys.alive(node)).srem(keys.nodes(), node);
            pipe.del(keys.node_groups(node));
            for group in groups {
                pipe.del(keys.members(node, &group));
            }
            let _ = self
                .within(
                    self.inner.config.redis_timeout,
                    pipe.exec_async(&mut connection),
                )
                .await;
        }
    }

    /// The members of `group` on every live node.
    pub async fn members(&self, group: &str) -> Result<Vec<PeerId>, ClusterError> {
        let sets = self.member_sets(group).await?;
        Ok(sets
            .into_iter()
            .flat_map(|(node, ids)| {
                let node: Arc<str> = node.into();
                ids.into_iter().map(move |local| PeerId {
                    node: node.clone(),
                    local,
                })
            })
            .collect())
    }

    /// How many connections are in `group` on every live node.
    pub async fn count(&self, group: &str) -> Result<usize, ClusterError> {
        Ok(self
            .member_sets(group)
            .await?
            .iter()
            .map(|(_, ids)| ids.len())
            .sum())
    }

    /// The live nodes of the cluster (this one included while linked).
    pub async fn nodes(&self) -> Result<Vec<String>, ClusterError> {
        let mut connection = self.connection()?;
        let keys = &self.inner.keys;
        let nodes: Vec<String> = self
            .redis(
                redis::cmd("SMEMBERS")
                    .arg(keys.nodes())
                    .query_async(&mut connection),
            )
            .await?;
        let mut pipe = redis::pipe();
        for node in &nodes {
            pipe.exists(keys.alive(node));
        }
        let alive: Vec<bool> = self.redis(pipe.query_async(&mut connection)).await?;
        let (live, dead): (Vec<_>, Vec<_>) = nodes
            .into_iter()
            .zip(alive)
            .partition(|(node, alive)| *alive || **node == *self.inner.node);
        if !dead.is_empty() {
            // Forget the dead; a node that comes back adds itself again at its next beat.
            let dead: Vec<String> = dead.into_iter().map(|(node, _)| node).collect();
            let _ = self
                .redis(
                    redis::cmd("SREM")
                        .arg(keys.nodes())
                        .arg(dead)
                        .exec_async(&mut connection),
                )
                .await;
        }
        Ok(live.into_iter().map(|(node, _)| node).collect())
    }

    async fn member_sets(&self, group: &str) -> Result<Vec<(String, Vec<u64>)>, ClusterError> {
        let nodes = self.nodes().await?;
        let mut connection = self.connection()?;
        let mut pipe = redis::pipe();
        for node in &nodes {
            pipe.smembers(self.inner.keys.members(node, group));
        }
        let sets: Vec<Vec<u64>> = self.redis(pipe.query_async(&mut connection)).await?;
        Ok(nodes.into_iter().zip(sets).collect())
    }

    /// Calls `method` on the connection `to`, on whichever node it is, and waits for its
    /// answer within `timeout` (`None`: [`ClusterConfig::call_timeout`], also the longest).
    ///
    /// A peer whose connection has closed, or whose node is gone, fails with
    /// [`ClusterError::PeerGone`]; no answer in time with [`ClusterError::Timeout`].
    pub async fn request<T: DeserializeOwned>(
        &self,
        to: &PeerId,
        method: &str,
        params: impl IntoParams,
        timeout: Option<Duration>,
    ) -> Result<T, ClusterError> {
        let params = encode(params).map_err(ClusterError::Call)?;
        let value = self.call(to, method, params, timeout, false).await?;
        serde_json::from_value(value)
            .map_err(|e| ClusterError::Call(CallError::Decode(e.to_string())))
    }

    /// Sends the notification `method(params)` to the connection `to`, wherever it is;
    /// resolves once its node has queued it (or with [`ClusterError::PeerGone`]).
    pub async fn invoke(
        &self,
        to: &PeerId,
        method: &str,
        params: impl IntoParams,
    ) -> Result<(), ClusterError> {
        let params = encode(params).map_err(ClusterError::Call)?;
        self.call(to, method, params, None, true).await.map(drop)
    }

    async fn call(
        &self,
        to: &PeerId,
        method: &str,
        params: Params,
        timeout: Option<Duration>,
        notify: bool,
    ) -> Result<Value, ClusterError> {
        let limit = self.inner.config.call_timeout;
        let timeout = timeout.map_or(limit, |t| t.min(limit));
        if *to.node == *self.inner.node {
            let outcome = self
                .inner
                .call_local(to.local, method.to_owned(), params, timeout, notify)
                .await;
            return outcome.into_result(to);
        }
        let call = self.inner.next_call.fetch_add(1, Ordering::Relaxed);
        let (done, answer) = oneshot::channel();
        lock(&self.inner.pending).insert(call, done);
        let wire = Wire::Call {
            from: self.inner.node.to_string(),
            call,
            peer: to.local,
            method: method.to_owned(),
            args: params.args,
            kwargs: params.kwargs,
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            notify,
        };
        let sent = serde_json::to_string(&wire)
            .map_err(|e| ClusterError::Call(CallError::Encode(e.to_string())))
            .and_then(|payload| {
                self.inner.try_write(Op::Call {
                    node: to.node.to_string(),
                    call,
                    payload,
                })
            });
        if let Err(e) = sent {
            lock(&self.inner.pending).remove(&call);
            return Err(e);
        }
        // The answer, or the node's silence, bounded: a margin over the peer's own timeout for
        // the two hops through Redis.
        let outcome = self
            .within(timeout + self.inner.config.redis_timeout, answer)
            .await;
        lock(&self.inner.pending).remove(&call);
        match outcome {
            Some(Ok(outcome)) => outcome.into_result(to),
            Some(Err(_)) => Err(ClusterError::Unavailable(
                "the link to Redis was lost during the call".to_owned(),
            )),
            None => Err(ClusterError::Timeout),
        }
    }

    fn connection(&self) -> Result<MultiplexedConnection, ClusterError> {
        lock(&self.inner.connection)
            .clone()
            .ok_or_else(|| ClusterError::Unavailable("not connected".to_owned()))
    }

    async fn redis<T>(
        &self,
        query: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, ClusterError> {
        match self.within(self.inner.config.redis_timeout, query).await {
            Some(Ok(value)) => Ok(value),
            Some(Err(e)) => Err(ClusterError::Unavailable(e.to_string())),
            None => Err(ClusterError::Unavailable(
                "Redis did not answer in time".to_owned(),
            )),
        }
    }

    async fn within<F: Future>(&self, timeout: Duration, future: F) -> Option<F::Output> {
        within(&self.inner.runtime, timeout, future).await
    }
}

/// `future`'s output, or `None` when `timeout` passes first.
async fn within<R: Runtime, F: Future>(
    runtime: &R,
    timeout: Duration,
    future: F,
) -> Option<F::Output> {
    let sleep = runtime.sleep_until(Instant::now() + timeout);
    match future::select(std::pin::pin!(future), sleep).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}

fn encode(params: impl IntoParams) -> Result<Params, CallError> {
    params
        .into_params()
        .map_err(|e| CallError::Encode(e.to_string()))
}

impl Outcome {
    fn into_result(self, to: &PeerId) -> Result<Value, ClusterError> {
        match self {
            Self::Ok { value } => Ok(value),
            Self::Error { kind, details } => Err(ClusterError::Call(CallError::Remote(
                RpcError::new(kind, details),
            ))),
            Self::Gone => Err(ClusterError::PeerGone(to.clone())),
            Self::Timeout => Err(ClusterError::Timeout),
            Self::Failed { message } => Err(ClusterError::Failed(message)),
        }
    }

    fn from_call(result: Result<Value, CallError>) -> Self {
        match result {
            Ok(value) => Self::Ok { value },
            Err(CallError::Remote(e)) => Self::Error {
                kind: e.kind,
                details: e.details,
            },
            Err(CallError::ConnectionClosed | CallError::Cancelled) => Self::Gone,
            Err(CallError::Timeout) => Self::Timeout,
            Err(e) => Self::Failed {
                message: e.to_string(),
            },
        }
    }
}

impl<R: Runtime> Inner<R> {
    /// Queues `op` for Redis; while unlinked it is dropped (a resync at the next link writes
    /// the membership anew). Called under the `local` lock for membership changes, so that the
    /// order of the ops is the order of the changes.
    fn write(&self, op: Op) -> bool {
        self.try_write(op).is_ok()
    }

    fn try_write(&self, op: Op) -> Result<(), ClusterError> {
        let mut outbox = lock(&self.outbox);
        let Some(sender) = outbox.as_mut() else {
            return Err(ClusterError::Unavailable("not connected".to_owned()));
        };
        sender.try_send(op).map_err(|e| {
            if e.is_full() {
                // Membership changes must not be lost: closing the outbox ends the session once
                // what it holds is written, and the next link writes the membership anew.
                if matches!(e.into_inner(), Op::Join { .. } | Op::Leave { .. }) {
                    *outbox = None;
                }
                ClusterError::Unavailable("the queue to Redis is full".to_owned())
            } else {
                ClusterError::Unavailable("not connected".to_owned())
            }
        })
    }

    async fn call_local(
        &self,
        id: u64,
        method: String,
        params: Params,
        timeout: Duration,
        notify: bool,
    ) -> Outcome {
        let peer = self.groups.peer(id);
        let Some(peer) = peer else {
            return Outcome::Gone;
        };
        let result = if notify {
            peer.invoke(&method, params).await.map(|()| Value::Null)
        } else {
            peer.request_with_timeout::<Value>(&method, params, Some(timeout))
                .await
        };
        Outcome::from_call(result)
    }

    /// A message from Redis.
    fn receive(self: &Arc<Self>, payload: &[u8]) {
        if let Some((from, group, frame)) = BroadcastWire::decode(payload) {
            if from != &*self.node {
                let target = group.as_deref().map_or(Target::All, Target::Group);
                let frame = Frame::from_encoded(frame.to_owned());
                drop(self.groups.deliver(target, &[], &frame));
            }
            return;
        }
        let wire = match serde_json::from_slice::<Wire>(payload) {
            Ok(wire) => wire,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: undecodable message ignored");
                return;
            }
        };
        match wire {
            Wire::Call {
                from,
                call,
                peer,
                method,
                args,
                kwargs,
                timeout_ms,
                notify,
            } => {
                let inner = self.clone();
                let timeout = Duration::from_millis(timeout_ms).min(self.config.call_timeout);
                self.runtime.spawn(async move {
                    let outcome = inner
                        .call_local(peer, method, Params::new(args, kwargs), timeout, notify)
                        .await;
                    let reply = Wire::Reply { call, outcome };
                    if let Ok(payload) = serde_json::to_string(&reply) {
                        // Lost when unlinked: the caller times out.
                        inner.write(Op::Publish {
                            channel: inner.keys.node_channel(&from),
                            payload,
                        });
                    }
                });
            }
            Wire::Reply { call, outcome } => {
                if let Some(done) = lock(&self.pending).remove(&call) {
                    let _ = done.send(outcome);
                }
            }
        }
    }

    /// Fails every call waiting for another node's answer (the link is lost: no answer will
    /// come through it).
    fn fail_pending(&self) {
        lock(&self.pending).clear();
    }
}

/// Why a linked session ended.
enum Ended {
    Lost(String),
    Stopped,
}

/// The node's link to Redis, for as long as the cluster lives: connect, subscribe, write the
/// membership anew, then serve (inbound messages, the outbox, heartbeats) until the link
/// fails; pause with backoff and jitter, and again.
async fn link<R: Runtime>(inner: Weak<Inner<R>>, client: redis::Client) {
    let mut pause = Duration::from_millis(50);
    loop {
        let Some(node) = inner.upgrade() else { return };
        if node.stopped.load(Ordering::Relaxed) {
            return;
        }
        let runtime = node.runtime.clone();
        let max_pause = node.config.reconnect_max;
        match session(node, &client).await {
            Ok(Ended::Stopped) => return,
            Ok(Ended::Lost(why)) => {
                tracing::warn!(reason = %why, "cluster: link to Redis lost, relinking");
                pause = Duration::from_millis(50);
            }
            Err(e) => {
                tracing::debug!(error = %e, "cluster: cannot link to Redis");
            }
        }
        let jitter = Duration::from_millis(random_u64() % (pause.as_millis() as u64 / 2 + 1));
        runtime.sleep_until(Instant::now() + pause + jitter).await;
        pause = (pause * 2).min(max_pause);
    }
}

/// One linked session: `Err` when it could not start.
async fn session<R: Runtime>(
    inner: Arc<Inner<R>>,
    client: &redis::Client,
) -> Result<Ended, String> {
    let config = &inner.config;
    let (pushes_tx, mut pushes) = mpsc::channel::<PushInfo>(config.queue);
    let pushes_tx = Mutex::new(pushes_tx);
    let dropped = Arc::downgrade(&inner);
    let on_push = move |info: PushInfo| -> Result<(), ()> {
        if lock(&pushes_tx).try_send(info).is_err() {
            if let Some(inner) = dropped.upgrade() {
                inner.dropped_inbound.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    };
    let settings = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.redis_timeout))
        .set_response_timeout(Some(config.redis_timeout))
        .set_push_sender(on_push);
    let runtime = inner.runtime.clone();
    let timeout = config.redis_timeout;
    let mut connection = step(
        &runtime,
        timeout,
        "connecting",
        client.get_multiplexed_async_connection_with_config(&settings),
    )
    .await?;
    let channels = [inner.keys.broadcast(), inner.keys.node_channel(&inner.node)];
    let subscribing = connection.subscribe(&channels);
    step(&runtime, timeout, "subscribing", subscribing).await?;

    // Write the membership anew (Redis may have restarted empty, or missed changes made while
    // unlinked), then open the outbox: under the `local` lock, so that every change is either
    // in the snapshot or queued after it.
    let (outbox_tx, mut outbox) = mpsc::channel::<Op>(config.queue);
    let old_groups: Vec<String> = step(
        &runtime,
        timeout,
        "reading the membership",
        redis::cmd("SMEMBERS")
            .arg(inner.keys.node_groups(&inner.node))
            .query_async(&mut connection),
    )
    .await?;
    let resync = {
        let local = lock(&inner.local);
        let pipe = resync(&inner, &local, &old_groups);
        *lock(&inner.outbox) = Some(outbox_tx);
        pipe
    };
    let written = within(
        &runtime,
        config.redis_timeout,
        resync.exec_async(&mut connection),
    )
    .await;
    match written {
        Some(Ok(())) => {}
        Some(Err(e)) => return Ok(lost(&inner, e.to_string())),
        None => return Ok(lost(&inner, "writing the membership timed out".to_owned())),
    }
    *lock(&inner.connection) = Some(connection.clone());
    inner.connects.fetch_add(1, Ordering::Relaxed);
    tracing::info!(node = %inner.node, "cluster: linked to Redis");
    // From here on the session holds the node weakly: when the last handle drops, it ends.
    let weak = Arc::downgrade(&inner);
    drop(inner);
    let inbound = async {
        while let Some(push) = pushes.next().await {
            match push.kind {
                PushKind::Disconnection => {
                    return Ended::Lost("Redis closed the connection".into());
                }
                PushKind::Message => {
                    if let Some(redis::Value::BulkString(payload)) = push.data.get(1) {
                        let Some(inner) = weak.upgrade() else {
                            return Ended::Stopped;
                        };
                        inner.receive(payload);
                    }
                }
                _ => {}
            }
        }
        Ended::Lost("the push channel ended".into())
    };
    let mut writer = connection.clone();
    let writing = async {
        while let Some(first) = outbox.next().await {
            // Everything queued now goes in one pipeline, in order.
            let mut ops = vec![first];
            while ops.len() < 1024 {
                match outbox.try_recv() {
                    Ok(op) => ops.push(op),
                    _ => break,
                }
            }
            let Some(inner) = weak.upgrade() else {
                return Ended::Stopped;
            };
            let pipe = inner.pipeline(&ops);
            let result: Option<redis::RedisResult<Vec<redis::Value>>> = within(
                &inner.runtime,
                inner.config.redis_timeout,
                pipe.query_async(&mut writer),
            )
            .await;
            match result {
                Some(Ok(results)) => inner.check_calls(&ops, &results),
                Some(Err(e)) => return Ended::Lost(e.to_string()),
                None => return Ended::Lost("a write to Redis timed out".into()),
            }
        }
        Ended::Lost("the outbox was closed".into())
    };
    let mut beater = connection;
    let beating = async {
        loop {
            let Some(inner) = weak.upgrade() else {
                return Ended::Stopped;
            };
            if inner.stopped.load(Ordering::Relaxed) {
                return Ended::Stopped;
            }
            let next = Instant::now() + inner.config.heartbeat;
            let pipe = inner.heartbeat();
            let timeout = inner.config.redis_timeout;
            let runtime = inner.runtime.clone();
            drop(inner);
            let beat: Option<redis::RedisResult<Vec<redis::Value>>> =
                within(&runtime, timeout, pipe.query_async(&mut beater)).await;
            match beat {
                Some(Ok(renewed)) if matches!(renewed.first(), Some(redis::Value::Okay)) => {}
                Some(Ok(_)) => return Ended::Lost("the node's liveness key was gone".into()),
                Some(Err(e)) => return Ended::Lost(e.to_string()),
                None => return Ended::Lost("a heartbeat timed out".into()),
            }
            runtime.sleep_until(next).await;
        }
    };
    let ended = future::select(
        std::pin::pin!(inbound),
        future::select(std::pin::pin!(writing), std::pin::pin!(beating)),
    )
    .map(|either| match either {
        Either::Left((ended, _)) => ended,
        Either::Right((inner, _)) => inner.factor_first().0,
    })
    .await;
    Ok(match (ended, weak.upgrade()) {
        (Ended::Lost(why), Some(inner)) => lost(&inner, why),
        _ => Ended::Stopped,
    })
}

/// One step of a link's setup, within `timeout`.
async fn step<R: Runtime, T>(
    runtime: &R,
    timeout: Duration,
    what: &str,
    future: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, String> {
    match within(runtime, timeout, future).await {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(format!("{what}: {e}")),
        None => Err(format!("{what}: timed out")),
    }
}

/// Unlinks the node: writes stop (and what was queued is dropped), calls waiting for other
/// nodes fail at once.
fn lost<R: Runtime>(inner: &Inner<R>, why: String) -> Ended {
    *lock(&inner.outbox) = None;
    *lock(&inner.connection) = None;
    inner.fail_pending();
    if inner.stopped.load(Ordering::Relaxed) {
        Ended::Stopped
    } else {
        Ended::Lost(why)
    }
}

/// The commands that replace what Redis holds of this node by its state now.
fn resync<R: Runtime>(inner: &Inner<R>, local: &Local, old_groups: &[String]) -> redis::Pipeline {
    let keys = &inner.keys;
    let node = &*inner.node;
    let ttl = ttl_ms(&inner.config);
    let mut pipe = redis::pipe();
    pipe.atomic();
    for group in old_groups {
        pipe.del(keys.members(node, group));
    }
    pipe.del(keys.node_groups(node));
    for (group, members) in &local.groups {
        let ids: Vec<u64> = members.iter().copied().collect();
        pipe.sadd(keys.members(node, group), ids)
            .pexpire(keys.members(node, group), ttl);
        pipe.sadd(keys.node_groups(node), group);
    }
    pipe.pexpire(keys.node_groups(node), ttl);
    pipe.pset_ex(keys.alive(node), 1, ttl as u64);
    pipe.sadd(keys.nodes(), node);
    pipe
}

fn ttl_ms(config: &ClusterConfig) -> i64 {
    i64::try_from(config.node_ttl.as_millis()).unwrap_or(i64::MAX)
}

impl<R: Runtime> Inner<R> {
    /// The node's heartbeat: its liveness key, and the expiry of its membership keys.
    ///
    /// The liveness key is renewed only if it still exists (`SET .. XX`; its first value is
    /// `nil` otherwise): a node whose key has gone (it expired during a stall, Redis lost it, or
    /// the node stopped meanwhile) relinks and writes everything anew rather than coming back
    /// half.
    fn heartbeat(&self) -> redis::Pipeline {
        let keys = &self.keys;
        let node = &*self.node;
        let ttl = ttl_ms(&self.config);
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(keys.alive(node))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .arg("XX")
            .pexpire(keys.node_groups(node), ttl)
            .ignore();
        for group in lock(&self.local).groups.keys() {
            pipe.pexpire(keys.members(node, group), ttl).ignore();
        }
        pipe
    }

    /// The commands of queued ops, one result each.
    fn pipeline(&self, ops: &[Op]) -> redis::Pipeline {
        let keys = &self.keys;
        let node = &*self.node;
        let ttl = ttl_ms(&self.config);
        let mut pipe = redis::pipe();
        for op in ops {
            match op {
                Op::Publish { channel, payload } => {
                    pipe.publish(channel, payload);
                }
                Op::Call {
                    node: to, payload, ..
                } => {
                    pipe.publish(keys.node_channel(to), payload);
                }
                Op::Join { group, local } => {
                    // One result for the three: a transaction-less group of commands.
                    pipe.sadd(keys.members(node, group), local)
                        .pexpire(keys.members(node, group), ttl)
                        .ignore()
                        .sadd(keys.node_groups(node), group)
                        .ignore();
                }
                Op::Leave { group, local } => {
                    pipe.srem(keys.members(node, group), local);
                }
            }
        }
        pipe
    }

    /// A call published to no subscriber went to a node that is gone: it fails at once.
    fn check_calls(&self, ops: &[Op], results: &[redis::Value]) {
        for (op, result) in ops.iter().zip(results) {
            if let Op::Call { call, .. } = op {
                if matches!(result, redis::Value::Int(0)) {
                    if let Some(done) = lock(&self.pending).remove(call) {
                        let _ = done.send(Outcome::Gone);
                    }
                }
            }
        }
    }
}

/// The registry's view of the node: what [`Groups`] calls, under its locks (so it only
/// records and queues).
struct Bridge<R: Runtime>(Weak<Inner<R>>);

impl<R: Runtime> Backend for Bridge<R> {
    fn changed(&self, change: Change<'_>) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let mut local = lock(&inner.local);
        match change {
            Change::Connected(_) | Change::Disconnected(_) => {}
            Change::Joined { group, peer } => {
                if local
                    .groups
                    .entry(group.to_owned())
                    .or_default()
                    .insert(peer.id())
                {
                    inner.write(Op::Join {
                        group: group.to_owned(),
                        local: peer.id(),
                    });
                }
            }
            Change::Left { group, peer } => {
                let Some(members) = local.groups.get_mut(group) else {
                    return;
                };
                if members.remove(&peer.id()) {
                    if members.is_empty() {
                        local.groups.remove(group);
                    }
                    inner.write(Op::Leave {
                        group: group.to_owned(),
                        local: peer.id(),
                    });
                }
            }
        }
    }

    fn published(&self, target: Target<'_>, _except: &[u64], frame: &Frame) {
        // The excepted connections are this node's: no other node has them.
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let group = match target {
            Target::All => None,
            Target::Group(name) => Some(name),
        };
        let payload = BroadcastWire::encode(&inner.node, group, frame);
        let published = payload.is_some_and(|payload| {
            inner.write(Op::Publish {
                channel: inner.keys.broadcast(),
                payload,
            })
        });
        if !published {
            inner.unpublished.fetch_add(1, Ordering::Relaxed);
        }
    }
}
