//! The cluster backend (feature `redis`): two or three nodes (each a server with its own
//! [`Cluster`]) in this process, linked through a Redis of the case's own
//! ([`RedisServer`]), with clients connected to each. Whole processes killed with SIGKILL
//! and nginx in front are tested with the `twoway` example (examples/tests/cluster.rs).

use jrpc_driver::Groups;
use jrpc_driver::cluster::{Cluster, ClusterConfig, ClusterError, PeerId};

use super::*;
use crate::hostile::blocking;
use crate::services::RedisServer;

/// How long a node stays a member after its last heartbeat, in these cases.
const TTL: Duration = Duration::from_millis(1500);

/// A Redis of the case's own (started on a thread: it blocks until Redis answers).
async fn redis<R: Runtime + Default>() -> RedisServer {
    blocking::<R, _>("start redis-server", RedisServer::start)
        .await
        .expect("start redis-server (scripts/install-deps.sh installs it)")
}

fn config() -> ClusterConfig {
    ClusterConfig::default()
        .node_ttl(TTL)
        .heartbeat(Duration::from_millis(200))
        .call_timeout(Duration::from_secs(3))
        .redis_timeout(Duration::from_millis(500))
        .reconnect_max(Duration::from_millis(300))
}

/// A node: a server whose groups have a cluster backend. Its state is the node's id (the
/// cluster handle is the case's alone: dropping it is the node dying without a goodbye). Its
/// pages call `Id`, `Join(group)`, `Leave(group)` and `ShoutOthers(group, text)`.
struct Node<R: Runtime> {
    cluster: Cluster<R>,
    groups: Groups,
    server: Running,
}

async fn node<R: Runtime + Default>(redis: &RedisServer) -> Node<R> {
    let groups = Groups::new();
    let cluster = Cluster::start(R::default(), &groups, &redis.url(), config()).expect("a cluster");
    assert!(
        cluster.wait_connected(WAIT).await,
        "the node did not link to Redis"
    );
    let node_id: Arc<str> = cluster.node_id().into();
    let methods = Methods::with_state()
        .add("Id", |ctx: Ctx<Arc<str>>| {
            format!("{}.{}", ctx.state(), ctx.peer().id())
        })
        .add("Join", |ctx: Ctx<Arc<str>>, group: String| {
            assert!(ctx.peer().join(&group));
        })
        .add("Leave", |ctx: Ctx<Arc<str>>, group: String| {
            ctx.peer().leave(&group);
        })
        .add(
            "ShoutOthers",
            |ctx: Ctx<Arc<str>>, group: String, text: String| {
                let sent = ctx
                    .groups()
                    .to(&group)
                    .except(ctx.peer())
                    .invoke("Heard", (text,));
                sent.map(|d| d.delivered)
                    .map_err(|e| RpcError::internal(e.to_string()))
            },
        );
    let builder = Server::<R>::builder().state(node_id).groups(groups.clone());
    let running = start(builder, methods).await;
    Node {
        cluster,
        groups,
        server: running,
    }
}

/// A page: its connection, its cluster-wide id, and what it heard (`Heard(text)`). It
/// answers `Answer(q)` with `q + "!"`, fails `Fail`, and never answers `Stall`.
struct Page {
    peer: Peer,
    id: PeerId,
    heard: mpsc::UnboundedReceiver<String>,
}

async fn page<R: Runtime + Default>(node: &Node<R>, groups: &[&str]) -> Page {
    let (tell, heard) = mpsc::unbounded();
    let methods = Methods::new()
        .add("Heard", move |text: String| {
            let _ = tell.unbounded_send(text);
        })
        .add("Answer", |q: String| format!("{q}!"))
        .add("Fail", || -> Result<(), RpcError> {
            Err(RpcError::new("Nope", "not today"))
        })
        .add("Stall", future::pending::<()>);
    let peer = client::<R>(&node.server.url, methods).await;
    let id: String = call::<R, _>(&peer, "Id", ()).await.expect("Id");
    for group in groups {
        call::<R, ()>(&peer, "Join", (group,)).await.expect("Join");
    }
    Page {
        peer,
        id: id.parse().expect("a peer id"),
        heard,
    }
}

impl Page {
    async fn hears<R: Runtime + Default>(&mut self, what: &str) -> String {
        signal::<R, _>(what, &mut self.heard).await
    }
}

/// Polls `count(group)` on `node` until it is `expected` (within `limit`).
async fn await_count<R: Runtime + Default>(
    node: &Cluster<R>,
    group: &str,
    expected: usize,
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    loop {
        let count = node.count(group).await;
        if matches!(count, Ok(n) if n == expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "count({group}) is {count:?}, not {expected}, after {limit:?}"
        );
        sleep::<R>(Duration::from_millis(20)).await;
    }
}

/// Broadcast to a group, to a group but one, and to all reaches the pages of every node;
/// the broadcasts of one node reach every page in the order it published them.
pub async fn cluster_broadcast_reaches_every_node<R: Runtime + Default>() {
    let redis = redis::<R>().await;
    let (a, b) = (node::<R>(&redis).await, node::<R>(&redis).await);
    let mut a1 = page::<R>(&a, &["room"]).await;
    let mut b1 = page::<R>(&b, &["room"]).await;
    let mut b2 = page::<R>(&b, &["room"]).await;
    let mut outsider = page::<R>(&b, &[]).await;
    await_count::<R>(&a.cluster, "room", 3, WAIT).await;

    let sent = a.groups.to("room").invoke("Heard", ("hello",)).unwrap();
    assert_eq!(sent.delivered, 1);
    for page in [&mut a1, &mut b1, &mut b2] {
        assert_eq!(page.hears::<R>("the group broadcast").await, "hello");
    }

    // Except one page: it gets the next message, not this one. (Both from one node: the
    // broadcasts of two nodes may interleave differently on each.)
    let others: usize = call::<R, _>(&b1.peer, "ShoutOthers", ("room", "not b1"))
        .await
        .unwrap();
    assert_eq!(others, 1, "b2 is b's other member");
    b.groups.to("room").invoke("Heard", ("all",)).unwrap();
    assert_eq!(a1.hears::<R>("except").await, "not b1");
    assert_eq!(b2.hears::<R>("except").await, "not b1");
    assert_eq!(b1.hears::<R>("the next").await, "all");
    assert_eq!(a1.hears::<R>("the next").await, "all");
    assert_eq!(b2.hears::<R>("the next").await, "all");

    // To every connection of every node, members or not.
    a.groups.all().invoke("Heard", ("everyone",)).unwrap();
    for page in [&mut a1, &mut b1, &mut b2, &mut outsider] {
        assert_eq!(page.hears::<R>("broadcast_all").await, "everyone");
    }

    // One publisher, many messages: every page, here and there, in publish order.
    for i in 0..200 {
        a.groups
            .to("room")
            .invoke("Heard", (i.to_string(),))
            .unwrap();
    }
    for page in [&mut a1, &mut b1, &mut b2] {
        for i in 0..200 {
            assert_eq!(page.hears::<R>("ordered").await, i.to_string());
        }
    }
    // The outsider heard nothing of the group's traffic.
    a.groups.all().invoke("Heard", ("last",)).unwrap();
    assert_eq!(outsider.hears::<R>("last").await, "last");
}

/// Membership and counts are cluster-wide; a page that leaves, or whose connection closes,
/// is gone from them everywhere, and so are the pages of a node that stops.
pub async fn cluster_membership_and_counts<R: Runtime + Default>() {
    let redis = redis::<R>().await;
    let (a, b) = (node::<R>(&redis).await, node::<R>(&redis).await);
    let a1 = page::<R>(&a, &["red", "blue"]).await;
    let b1 = page::<R>(&b, &["red"]).await;
    let b2 = page::<R>(&b, &["blue"]).await;
    await_count::<R>(&b.cluster, "red", 2, WAIT).await;
    await_count::<R>(&a.cluster, "blue", 2, WAIT).await;
    let mut members = a.cluster.members("red").await.unwrap();
    members.sort();
    let mut expected = vec![a1.id.clone(), b1.id.clone()];
    expected.sort();
    assert_eq!(members, expected);
    assert_eq!(a.groups.count("red"), 1);

    call::<R, ()>(&a1.peer, "Leave", ("red",)).await.unwrap();
    await_count::<R>(&b.cluster, "red", 1, WAIT).await;
    assert_eq!(b.cluster.members("red").await.unwrap(), vec![b1.id.clone()]);

    b2.peer.close();
    await_count::<R>(&a.cluster, "blue", 1, WAIT).await;
    assert_eq!(
        a.cluster.members("blue").await.unwrap(),
        vec![a1.id.clone()]
    );
    let nodes = a.cluster.nodes().await.unwrap();
    assert_eq!(nodes.len(), 2, "{nodes:?}");

    // Heartbeats went on all along without a relink.
    sleep::<R>(Duration::from_millis(500)).await;
    assert_eq!(a.cluster.stats().connects, 1, "{:?}", a.cluster.stats());
    // A node that stops says goodbye: it and its members are gone at once, not after its TTL.
    b.cluster.stop().await;
    assert!(!b.cluster.stats().connected);
    assert_eq!(
        a.cluster.nodes().await.unwrap(),
        vec![a.cluster.node_id().to_owned()]
    );
    assert_eq!(a.cluster.count("red").await.unwrap(), 0);
}

/// A node calls a page connected to another node and gets its answer (or its error); a page
/// that has gone, or a node that never was, is `PeerGone` at once; a page that does not
/// answer is `Timeout` after the call's timeout, never a hang.
pub async fn cluster_peer_calls_across_nodes<R: Runtime + Default>() {
    let redis = redis::<R>().await;
    let (a, b) = (node::<R>(&redis).await, node::<R>(&redis).await);
    let mut b1 = page::<R>(&b, &[]).await;
    let a1 = page::<R>(&a, &[]).await;

    let answer: String = within::<R, _>(
        "a call across nodes",
        a.cluster.request(&b1.id, "Answer", ("hi",), None),
    )
    .await
    .unwrap();
    assert_eq!(answer, "hi!");
    // The same through a's own page (local), and from b to a's page.
    let local: String = a
        .cluster
        .request(&a1.id, "Answer", ("here",), None)
        .await
        .unwrap();
    assert_eq!(local, "here!");
    let back: String = b
        .cluster
        .request(&a1.id, "Answer", ("back",), None)
        .await
        .unwrap();
    assert_eq!(back, "back!");

    let failed = a
        .cluster
        .request::<()>(&b1.id, "Fail", (), None)
        .await
        .unwrap_err();
    assert!(failed.remote().is_some_and(|e| e.is("Nope")), "{failed:?}");
    within::<R, _>(
        "invoke across nodes",
        a.cluster.invoke(&b1.id, "Heard", ("psst",)),
    )
    .await
    .unwrap();
    assert_eq!(b1.hears::<R>("the invoke").await, "psst");

    let started = Instant::now();
    let stalled = within::<R, _>(
        "a stalled call",
        a.cluster
            .request::<()>(&b1.id, "Stall", (), Some(Duration::from_millis(300))),
    )
    .await;
    assert!(matches!(stalled, Err(ClusterError::Timeout)), "{stalled:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    let gone = b1.id.clone();
    b1.peer.close();
    b1.peer.closed().await;
    // The node notices the close soon after the page's side does.
    let deadline = Instant::now() + WAIT;
    loop {
        match within::<R, _>(
            "a call to a closed page",
            a.cluster.request::<String>(&gone, "Answer", ("x",), None),
        )
        .await
        {
            Err(ClusterError::PeerGone(id)) => {
                assert_eq!(id, gone);
                break;
            }
            other => assert!(Instant::now() < deadline, "still {other:?}"),
        }
        sleep::<R>(Duration::from_millis(20)).await;
    }
    let nowhere: PeerId = "0000000000000000.7".parse().unwrap();
    let nobody = within::<R, _>(
        "a call to no node",
        a.cluster.request::<()>(&nowhere, "Answer", ("x",), None),
    )
    .await;
    assert!(
        matches!(nobody, Err(ClusterError::PeerGone(_))),
        "{nobody:?}"
    );
}

/// A node that stops beating (dropped without a goodbye, as a killed process) leaves the
/// cluster's membership and counts once its TTL has passed.
pub async fn cluster_silent_node_is_forgotten<R: Runtime + Default>() {
    let redis = redis::<R>().await;
    let a = node::<R>(&redis).await;
    let _a1 = page::<R>(&a, &["room"]).await;
    let doomed = node::<R>(&redis).await;
    let _d1 = page::<R>(&doomed, &["room"]).await;
    await_count::<R>(&a.cluster, "room", 2, WAIT).await;
    assert_eq!(a.cluster.nodes().await.unwrap().len(), 2);
    // Its link stops, its pages stay connected: no goodbye reaches Redis.
    drop(doomed.cluster);
    await_count::<R>(&a.cluster, "room", 1, TTL + WAIT).await;
    assert_eq!(
        a.cluster.nodes().await.unwrap(),
        vec![a.cluster.node_id().to_owned()]
    );
}

/// Redis stops and comes back empty: the nodes keep serving their own pages (local
/// broadcast, local calls), calls across fail at once, then they relink by themselves, write
/// their membership anew, and cross-node service resumes.
pub async fn cluster_survives_a_redis_restart<R: Runtime + Default>() {
    let mut redis = redis::<R>().await;
    let (a, b) = (node::<R>(&redis).await, node::<R>(&redis).await);
    let mut a1 = page::<R>(&a, &["room"]).await;
    let mut b1 = page::<R>(&b, &["room"]).await;
    await_count::<R>(&a.cluster, "room", 2, WAIT).await;

    redis.stop();
    let deadline = Instant::now() + WAIT;
    while a.cluster.stats().connected || b.cluster.stats().connected {
        assert!(
            Instant::now() < deadline,
            "the nodes did not notice Redis stopping"
        );
        sleep::<R>(Duration::from_millis(20)).await;
    }
    let unpublished = a.cluster.stats().unpublished;
    let sent = a
        .groups
        .to("room")
        .invoke("Heard", ("local only",))
        .unwrap();
    assert_eq!(sent.delivered, 1);
    assert_eq!(a.cluster.stats().unpublished, unpublished + 1);
    assert_eq!(
        a1.hears::<R>("a local broadcast while Redis is down").await,
        "local only"
    );
    let answer: String = a
        .cluster
        .request(&a1.id, "Answer", ("still",), None)
        .await
        .unwrap();
    assert_eq!(answer, "still!");
    let across = within::<R, _>(
        "a call across while Redis is down",
        a.cluster.request::<String>(&b1.id, "Answer", ("x",), None),
    )
    .await;
    assert!(
        matches!(across, Err(ClusterError::Unavailable(_))),
        "{across:?}"
    );
    assert!(a.cluster.count("room").await.is_err());

    let mut redis = blocking::<R, _>("restart redis-server", move || {
        redis.restart().map(|()| redis)
    })
    .await
    .expect("restart redis-server");
    for cluster in [&a.cluster, &b.cluster] {
        assert!(cluster.wait_connected(WAIT).await, "a node did not relink");
    }
    // Redis came back empty: the nodes wrote their membership anew.
    await_count::<R>(&b.cluster, "room", 2, WAIT).await;
    a.groups.to("room").invoke("Heard", ("back",)).unwrap();
    assert_eq!(a1.hears::<R>("a broadcast after the restart").await, "back");
    assert_eq!(b1.hears::<R>("a broadcast after the restart").await, "back");
    let answer: String = a
        .cluster
        .request(&b1.id, "Answer", ("again",), None)
        .await
        .unwrap();
    assert_eq!(answer, "again!");
    assert!(a.cluster.stats().connects >= 2);
    redis.stop();
}
