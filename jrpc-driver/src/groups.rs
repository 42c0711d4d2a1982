//! Named groups of peers, and broadcast to them: a chat room, the pages watching one
//! dashboard, every connection of a server.
//!
//! See [`Groups`]: what a broadcast guarantees, and the seam for a cluster backend.

use std::collections::HashMap;
use std::fmt;
use std::sync::{
    Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use std::time::Duration;

use indexmap::IndexMap;
use jrpc_proto::{CallError, IntoParams};
use serde::de::DeserializeOwned;

use crate::{Frame, Peer};

/// Peers by connection id. Ids are ours (never a peer's input), so a fast hash is safe; an
/// index map iterates as a vector (the broadcast loop) and removes in O(1).
type Members = IndexMap<u64, Peer, foldhash::fast::RandomState>;

/// A registry of named groups of peers, and of every connection that uses it: cloneable, a
/// handle to one shared registry.
///
/// A registry belongs to a server (every server has one, [`Server::groups`]) or to a
/// client builder, and can be shared by several ([`Builder::groups`]). Each connection of the
/// server is in it from its opening; it joins and leaves groups by name ([`Peer::join`],
/// [`Peer::leave`]) and leaves all of them by itself when it closes, before `on_close` runs and
/// before [`Peer::closed`] resolves.
///
/// ```
/// use jrpc_driver::{CallError, Ctx, Methods};
///
/// let methods = Methods::new()
///     .add("Enter", |ctx: Ctx, room: String| ctx.peer().join(&room))
///     .add("Say", |ctx: Ctx, room: String, text: String| -> Result<usize, CallError> {
///         // Everyone in the room but the sender; the notification is encoded once.
///         let sent = ctx.groups().to(&room).except(ctx.peer()).invoke("Message", (text,))?;
///         Ok(sent.delivered)
///     })
///     .add("Online", |ctx: Ctx| ctx.groups().all().count());
/// # let _ = methods;
/// ```
///
/// # Delivery and order
///
/// A broadcast encodes its notification once ([`Frame`]) and hands the same bytes to each
/// member's outbound queue without waiting ([`Peer::try_push`]): a member whose queue is full
/// (a page that stopped reading) or whose connection has closed is skipped and reported in the
/// [`Delivery`], and never delays the others; the queue policy of its connection closes it if
/// it stays full.
///
/// Broadcasts to one group reach every member in one and the same order, whichever tasks
/// publish them: a broadcast holds its group's lock while it queues the frame on each member,
/// and each connection writes its queue in order. A broadcast to [`all`](Groups::all) is
/// ordered the same way against every group broadcast (it excludes them while it runs). Two
/// broadcasts to two different groups are not ordered against each other: a peer in both may
/// see them in either order.
///
/// A join or leave that happens while a broadcast runs takes effect wholly before or after it.
///
/// # A cluster backend
///
/// Groups live in one process's memory. A [`Backend`] (set once with
/// [`Groups::set_backend`], before connections open) extends them to several processes:
///
/// - it observes every membership change on this process ([`Backend::changed`]: connected,
///   joined, left, disconnected), in the order they happen for each group, to keep cluster-wide
///   membership and counts;
/// - it is handed every broadcast published on this process, already encoded, right after the
///   local members got it and under the same lock ([`Backend::published`]), so that it forwards
///   them to the other processes in the order of local delivery;
/// - a broadcast arriving from another process is delivered to this process's members with
///   [`Groups::deliver`], which takes the same locks (so it is ordered with local broadcasts)
///   and does not hand it back to the backend.
///
/// [`Server::groups`]: crate::Server::groups
/// [`Builder::groups`]: crate::Builder::groups
#[derive(Clone)]
pub struct Groups {
    inner: Arc<Registry>,
}

struct Registry {
    /// Largest notification a broadcast encodes.
    max_message: usize,
    /// Every connection of the registry. Group broadcasts hold it shared and a broadcast to
    /// all holds it exclusively, so that the latter falls wholly before or after each of them.
    everyone: RwLock<Members>,
    index: Mutex<Index>,
    backend: OnceLock<Arc<dyn Backend>>,
}

#[derive(Default)]
struct Index {
    /// Groups by name; a group is removed when its last member leaves. Names may come from
    /// peers: the default (keyed) hasher.
    groups: HashMap<Arc<str>, Arc<Group>>,
    /// The groups of each open connection; a connection that is not here (closed, or of
    /// another registry) joins nothing.
    of_peer: HashMap<u64, Vec<Arc<Group>>, foldhash::fast::RandomState>,
}

struct Group {
    name: Arc<str>,
    members: Mutex<Members>,
}

/// Whom a broadcast is for: every connection of the registry, or the members of one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Every connection.
    All,
    /// The members of the group of this name.
    Group(&'a str),
}

/// A change of membership, as a [`Backend`] observes it.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A connection opened (it is in no group yet).
    Connected(&'a Peer),
    /// A connection joined a group.
    Joined {
        /// The group's name.
        group: &'a str,
        /// Who joined.
        peer: &'a Peer,
    },
    /// A connection left a group (or closed while in it).
    Left {
        /// The group's name.
        group: &'a str,
        /// Who left.
        peer: &'a Peer,
    },
    /// A connection closed, after it left each of its groups.
    Disconnected(&'a Peer),
}

/// What extends a [`Groups`] registry beyond this process (a cluster over a message bus): see
/// [`Groups`](Groups#a-cluster-backend).
///
/// Both methods are called while the registry holds a lock: they must return quickly (queue
/// the work for a task of their own), never block, and never call back into the registry.
/// Connection ids ([`Peer::id`], `except`) are this process's: a backend that addresses peers
/// across processes pairs them with an id of the process.
pub trait Backend: Send + Sync + 'static {
    /// Membership changed on this process.
    fn changed(&self, change: Change<'_>);

    /// A broadcast was published on this process and delivered to its local members;
    /// `except` are the ids of the connections excluded from it.
    fn published(&self, target: Target<'_>, except: &[u64], frame: &Frame);
}

/// What a broadcast did on this process: how many members got the frame queued, and who was
/// skipped (members on other processes of a cluster are not counted here).
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// Members whose queue took the frame.
    pub delivered: usize,
    /// Members that did not get it, with why: [`CallError::QueueFull`] for one that does not
    /// read fast enough, [`CallError::ConnectionClosed`] for one that has just closed.
    pub skipped: Vec<Skipped>,
}

/// A member a broadcast skipped.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The member.
    pub peer: Peer,
    /// Why its queue did not take the frame.
    pub error: CallError,
}

impl Default for Groups {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Groups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Groups")
            .field("connections", &self.all().count())
            .field("groups", &self.inner.index().groups.len())
            .finish()
    }
}

impl Groups {
    /// An empty registry whose broadcasts may be as large as the default message limit.
    pub fn new() -> Self {
        Self::with_max_message_size(jrpc_proto::DEFAULT_MAX_MESSAGE)
    }

    /// An empty registry whose broadcasts may be up to `bytes` long (a larger one fails with
    /// [`CallError::TooLarge`] before anything is sent). A server's own registry takes its
    /// [`Config::max_message_size`](crate::Config::max_message_size).
    pub fn with_max_message_size(bytes: usize) -> Self {
        Self {
            inner: Arc::new(Registry {
                max_message: bytes,
                everyone: RwLock::new(Members::default()),
                index: Mutex::new(Index::default()),
                backend: OnceLock::new(),
            }),
        }
    }

    /// Plugs in a cluster backend; it sees what happens from then on, so set it before the
    /// first connection opens. Fails (giving it back) if one is already set.
    pub fn set_backend(&self, backend: Arc<dyn Backend>) -> Result<(), Arc<dyn Backend>> {
        self.inner.backend.set(backend)
    }

    /// Adds `peer` to `group` (created on first join); joining twice is joining once. Returns
    /// whether the peer is a member now: false if its connection has closed, or is not one of
    /// this registry's.
    ///
    /// Group names may come from peers: an application that lets them choose should bound how
    /// many groups one peer may join.
    pub fn join(&self, peer: &Peer, group: &str) -> bool {
        let mut index = self.inner.index();
        let Index { groups, of_peer } = &mut *index;
        let Some(joined) = of_peer.get_mut(&peer.id()) else {
            return false;
        };
        if joined.iter().any(|g| &*g.name == group) {
            return true;
        }
        let entry = match groups.get(group) {
            Some(entry) => entry.clone(),
            None => {
                let entry = Arc::new(Group {
                    name: group.into(),
                    members: Mutex::new(Members::default()),
                });
                groups.insert(entry.name.clone(), entry.clone());
                entry
            }
        };
        {
            let mut members = lock(&entry.members);
            members.insert(peer.id(), peer.clone());
            self.changed(Change::Joined { group, peer });
        }
        joined.push(entry);
        true
    }

    /// Removes `peer` from `group`; returns whether it was a member.
    pub fn leave(&self, peer: &Peer, group: &str) -> bool {
        let mut index = self.inner.index();
        let Index { groups, of_peer } = &mut *index;
        let Some(joined) = of_peer.get_mut(&peer.id()) else {
            return false;
        };
        let Some(at) = joined.iter().position(|g| &*g.name == group) else {
            return false;
        };
        let entry = joined.swap_remove(at);
        self.remove_member(groups, &entry, peer);
        true
    }

    /// The names of `peer`'s groups.
    pub fn groups_of(&self, peer: &Peer) -> Vec<String> {
        let index = self.inner.index();
        let joined = index.of_peer.get(&peer.id());
        joined
            .into_iter()
            .flatten()
            .map(|g| g.name.to_string())
            .collect()
    }

    /// The connection of id `id` ([`Peer::id`]) among this registry's, if it is still open.
    pub fn peer(&self, id: u64) -> Option<Peer> {
        self.inner.everyone().get(&id).cloned()
    }

    /// The names of the groups that have members, in no particular order.
    pub fn names(&self) -> Vec<String> {
        let index = self.inner.index();
        index.groups.keys().map(|name| name.to_string()).collect()
    }

    /// The members of `group` (none if it does not exist).
    pub fn members(&self, group: &str) -> Vec<Peer> {
        self.to(group).members()
    }

    /// How many members `group` has.
    pub fn count(&self, group: &str) -> usize {
        self.to(group).count()
    }

    /// A broadcast to the members of `group`.
    pub fn to<'a>(&'a self, group: &'a str) -> Broadcast<'a> {
        self.broadcast(Target::Group(group))
    }

    /// A broadcast to every connection of the registry (every connection of the server, or of
    /// all the servers and clients sharing the registry).
    pub fn all(&self) -> Broadcast<'_> {
        self.broadcast(Target::All)
    }

    /// A broadcast to `target`.
    pub fn broadcast<'a>(&'a self, target: Target<'a>) -> Broadcast<'a> {
        Broadcast {
            groups: self,
            target,
            except: Vec::new(),
            timeout: None,
        }
    }

    /// Queues `frame` on the members of `target` on this process, but those in `except`,
    /// without handing it to the backend: what a cluster backend calls for a broadcast that
    /// arrives from another process. Ordered with local broadcasts as they are with each other.
    pub fn deliver(&self, target: Target<'_>, except: &[u64], frame: &Frame) -> Delivery {
        self.fan_out(target, except, frame, false)
    }

    /// Registers a new connection: called by the connection task before `on_open` runs.
    pub(crate) fn connect(&self, peer: &Peer) {
        self.inner.index().of_peer.insert(peer.id(), Vec::new());
        let mut everyone = self.inner.everyone_mut();
        everyone.insert(peer.id(), peer.clone());
        self.changed(Change::Connected(peer));
    }

    /// Unregisters a closed connection: it leaves every group. Called by the connection task
    /// once it ends, before `on_close` runs.
    pub(crate) fn disconnect(&self, peer: &Peer) {
        {
            let mut index = self.inner.index();
            let Index { groups, of_peer } = &mut *index;
            for entry in of_peer.remove(&peer.id()).into_iter().flatten() {
                self.remove_member(groups, &entry, peer);
            }
        }
        let mut everyone = self.inner.everyone_mut();
        if everyone.swap_remove(&peer.id()).is_some() {
            self.changed(Change::Disconnected(peer));
        }
    }

    fn remove_member(
        &self,
        groups: &mut HashMap<Arc<str>, Arc<Group>>,
        entry: &Arc<Group>,
        peer: &Peer,
    ) {
        let mut members = lock(&entry.members);
        members.swap_remove(&peer.id());
        self.changed(Change::Left {
            group: &entry.name,
            peer,
        });
        if members.is_empty() {
            // Under the index lock: no join can be adding to it meanwhile. A broadcast that
            // found it a moment ago delivers to nobody, as it would a moment later.
            groups.remove(&entry.name);
        }
    }

    fn changed(&self, change: Change<'_>) {
        if let Some(backend) = self.inner.backend.get() {
            backend.changed(change);
        }
    }

    /// The hot path: one frame queued on each member under one lock, nothing awaited, nothing
    /// allocated unless a member is skipped.
    fn fan_out(
        &self,
        target: Target<'_>,
        except: &[u64],
        frame: &Frame,
        forward: bool,
    ) -> Delivery {
        let backend = self.inner.backend.get().filter(|_| forward);
        let deliver = |members: &Members| {
            let delivery = push_each(members, except, frame);
            if let Some(backend) = backend {
                backend.published(target, except, frame);
            }
            delivery
        };
        match target {
            Target::All => deliver(&self.inner.everyone_mut()),
            Target::Group(name) => {
                let entry = self.inner.index().groups.get(name).cloned();
                let _order = self.inner.everyone();
                match entry {
                    Some(entry) => deliver(&lock(&entry.members)),
                    // No member here; the backend may know some elsewhere.
                    None => deliver(&Members::default()),
                }
            }
        }
    }

    /// `f` of the members of `target`, under their lock.
    fn with_members<T>(&self, target: Target<'_>, f: impl FnOnce(&Members) -> T) -> T {
        match target {
            Target::All => f(&self.inner.everyone()),
            Target::Group(name) => {
                let entry = self.inner.index().groups.get(name).cloned();
                match entry {
                    Some(entry) => f(&lock(&entry.members)),
                    None => f(&Members::default()),
                }
            }
        }
    }
}

fn push_each(members: &Members, except: &[u64], frame: &Frame) -> Delivery {
    let mut delivery = Delivery::default();
    for (id, peer) in members {
        if except.contains(id) {
            continue;
        }
        match peer.try_push(frame) {
            Ok(()) => delivery.delivered += 1,
            Err(error) => delivery.skipped.push(Skipped {
                peer: peer.clone(),
                error,
            }),
        }
    }
    delivery
}

/// A lock whose holder panicked is taken as it is: every change under these locks is one
/// insert or remove, never left half-done.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Registry {
    fn index(&self) -> MutexGuard<'_, Index> {
        lock(&self.index)
    }

    fn everyone(&self) -> RwLockReadGuard<'_, Members> {
        self.everyone.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn everyone_mut(&self) -> RwLockWriteGuard<'_, Members> {
        self.everyone
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A broadcast being set up: its target, the peers it excludes, then what it sends.
///
/// ```
/// # fn f(groups: &jrpc_driver::Groups, sender: &jrpc_driver::Peer) -> Result<(), jrpc_driver::CallError> {
/// // To the room, the sender excepted; a member that does not keep up is skipped.
/// let delivery = groups.to("lobby").except(sender).invoke("Message", ("ann", "hi"))?;
/// println!("{} got it, {} skipped", delivery.delivered, delivery.skipped.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a broadcast does nothing until invoke, push or request"]
pub struct Broadcast<'a> {
    groups: &'a Groups,
    target: Target<'a>,
    except: Vec<u64>,
    timeout: Option<Duration>,
}

impl Broadcast<'_> {
    /// Excludes `peer` (typically the sender); may be called for several peers.
    pub fn except(mut self, peer: &Peer) -> Self {
        self.except.push(peer.id());
        self
    }

    /// The timeout of each call of [`request`](Self::request), instead of each connection's
    /// default call timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the notification `method(params)` to every targeted peer: encoded once, queued on
    /// each without waiting. Fails only if it cannot be encoded ([`CallError::Encode`],
    /// [`CallError::TooLarge`]), before anything is sent.
    pub fn invoke(&self, method: &str, params: impl IntoParams) -> Result<Delivery, CallError> {
        let frame = Frame::notification(method, params, self.groups.inner.max_message)?;
        Ok(self.push(&frame))
    }

    /// Queues an already encoded notification on every targeted peer, without waiting.
    pub fn push(&self, frame: &Frame) -> Delivery {
        self.groups.fan_out(self.target, &self.except, frame, true)
    }

    /// Calls `method(params)` on every targeted peer of this process at once and waits for
    /// all the answers: per peer, its result decoded as `T` or why there is none (the timeout,
    /// a closed connection, a remote failure). Fails only if the parameters cannot be encoded.
    ///
    /// ```
    /// # async fn f(groups: &jrpc_driver::Groups) -> Result<(), jrpc_driver::CallError> {
    /// use std::time::Duration;
    /// let votes = groups
    ///     .to("jury")
    ///     .timeout(Duration::from_secs(10))
    ///     .request::<bool>("Vote", ("motion 7",))
    ///     .await?;
    /// let ayes = votes.iter().filter(|(_, vote)| vote == &Ok(true)).count();
    /// # let _ = ayes; Ok(()) }
    /// ```
    pub async fn request<T: DeserializeOwned>(
        self,
        method: &str,
        params: impl IntoParams,
    ) -> Result<Vec<(Peer, Result<T, CallError>)>, CallError> {
        let params = params
            .into_params()
            .map_err(|e| CallError::Encode(e.to_string()))?;
        let peers = self.members();
        let timeout = self.timeout;
        let calls = peers.iter().map(|peer| {
            let params = params.clone();
            async move {
                match timeout {
                    Some(timeout) => {
                        peer.request_with_timeout(method, params, Some(timeout))
                            .await
                    }
                    None => peer.request(method, params).await,
                }
            }
        });
        let results = futures_util::future::join_all(calls).await;
        Ok(peers.into_iter().zip(results).collect())
    }

    /// The targeted peers of this process.
    pub fn members(&self) -> Vec<Peer> {
        self.groups.with_members(self.target, |members| {
            self.targeted(members)
                .map(|(_, peer)| peer.clone())
                .collect()
        })
    }

    /// How many peers of this process are targeted.
    pub fn count(&self) -> usize {
        self.groups
            .with_members(self.target, |members| self.targeted(members).count())
    }

    fn targeted<'m>(&self, members: &'m Members) -> impl Iterator<Item = (&'m u64, &'m Peer)> {
        members.iter().filter(|(id, _)| !self.except.contains(id))
    }
}

impl Peer {
    /// Joins `group` of this connection's registry ([`Groups::join`]); false if the connection
    /// has closed. Membership is a connection's: a reconnecting client's handle joins with the
    /// connection open now, and a new connection is in no group (join again in `on_open`).
    pub fn join(&self, group: &str) -> bool {
        self.connection()
            .is_some_and(|connection| self.groups().join(&connection, group))
    }

    /// Leaves `group` ([`Groups::leave`]); returns whether it was a member.
    pub fn leave(&self, group: &str) -> bool {
        self.connection()
            .is_some_and(|connection| self.groups().leave(&connection, group))
    }
}
