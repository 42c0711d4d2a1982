//! Groups and broadcast over real sockets: membership, leaving on close, broadcast to a group,
//! to a group but the sender and to all, a member that stops reading, the order of broadcasts
//! published from several tasks at once, and a request to every member of a group.

use jrpc_driver::{Backend, Change, Delivery, Frame, Groups, Target};

use super::*;

/// A client's name, kept by the server with its connection.
struct Name(String);

/// The server side of the group cases: clients join and leave by name, and say things to a
/// group (everyone in it but the sender).
fn group_methods() -> Methods {
    Methods::new()
        .add("Join", |ctx: Ctx, group: String| ctx.peer().join(&group))
        .add("Leave", |ctx: Ctx, group: String| ctx.peer().leave(&group))
        .add("Mine", |ctx: Ctx| {
            let mut mine = ctx.groups().groups_of(ctx.peer());
            mine.sort();
            mine
        })
        .add("Name", |ctx: Ctx, name: String| {
            ctx.peer().set_local(Name(name))
        })
        .add(
            "Shout",
            |ctx: Ctx, group: String, text: String| -> Result<usize, CallError> {
                Ok(ctx
                    .groups()
                    .to(&group)
                    .invoke("Message", (text,))?
                    .delivered)
            },
        )
        .add(
            "Say",
            |ctx: Ctx, group: String, text: String| -> Result<usize, CallError> {
                let sent = ctx
                    .groups()
                    .to(&group)
                    .except(ctx.peer())
                    .invoke("Message", (text,))?;
                assert!(sent.skipped.is_empty(), "{sent:?}");
                Ok(sent.delivered)
            },
        )
}

/// A client whose `Message` notifications are recorded, in the order they arrive.
async fn listener<R: Runtime + Default>(url: &str) -> (Peer, mpsc::UnboundedReceiver<String>) {
    let (heard, messages) = mpsc::unbounded();
    let methods = Methods::new().add("Message", move |text: String| {
        let _ = heard.unbounded_send(text);
    });
    (client::<R>(url, methods).await, messages)
}

/// The server sides of the connections, in the order they open.
fn opened_peers(methods: Methods) -> (Methods, mpsc::UnboundedReceiver<Peer>) {
    let (opened, opens) = mpsc::unbounded();
    let methods = methods.on_open(move |ctx: Ctx| {
        let _ = opened.unbounded_send(ctx.peer().clone());
        async {}
    });
    (methods, opens)
}

fn ids(peers: &[Peer]) -> Vec<u64> {
    let mut ids: Vec<u64> = peers.iter().map(Peer::id).collect();
    ids.sort_unstable();
    ids
}

/// Join, leave, members and count, through methods and through the server's registry; a
/// group exists while it has members; a broadcast over the server's message limit is refused.
pub async fn groups_membership<R: Runtime + Default>() {
    let (methods, mut opens) = opened_peers(group_methods());
    let config = Config::default().max_message_size(4096);
    let server = serve::<R>(config, methods).await;
    let groups = server.handle.groups().clone();

    let ann = client::<R>(&server.url, Methods::new()).await;
    let ann_there = signal::<R, _>("ann's open", &mut opens).await;
    let bob = client::<R>(&server.url, Methods::new()).await;
    let bob_there = signal::<R, _>("bob's open", &mut opens).await;
    assert_eq!(groups.all().count(), 2);
    assert_eq!(
        ids(&groups.all().members()),
        ids(&[ann_there.clone(), bob_there.clone()])
    );
    assert_eq!(
        groups.peer(ann_there.id()).map(|p| p.id()),
        Some(ann_there.id())
    );
    assert_eq!(groups.count("red"), 0);
    assert!(groups.names().is_empty());

    assert_eq!(call::<R, bool>(&ann, "Join", ("red",)).await, Ok(true));
    assert_eq!(call::<R, bool>(&ann, "Join", ("red",)).await, Ok(true));
    assert_eq!(call::<R, bool>(&ann, "Join", ("blue",)).await, Ok(true));
    assert_eq!(call::<R, bool>(&bob, "Join", ("red",)).await, Ok(true));
    assert_eq!(groups.count("red"), 2, "joining twice is joining once");
    assert_eq!(groups.count("blue"), 1);
    assert_eq!(
        ids(&groups.members("red")),
        ids(&[ann_there.clone(), bob_there.clone()])
    );
    assert_eq!(ids(&groups.members("blue")), [ann_there.id()]);
    assert_eq!(groups.to("red").except(&bob_there).count(), 1);
    let mut names = groups.names();
    names.sort();
    assert_eq!(names, ["blue", "red"]);
    let mine: Vec<String> = call::<R, _>(&ann, "Mine", ()).await.unwrap();
    assert_eq!(mine, ["blue", "red"]);

    assert_eq!(call::<R, bool>(&ann, "Leave", ("blue",)).await, Ok(true));
    assert_eq!(call::<R, bool>(&ann, "Leave", ("blue",)).await, Ok(false));
    assert_eq!(call::<R, bool>(&bob, "Leave", ("green",)).await, Ok(false));
    assert_eq!(groups.count("blue"), 0);
    assert_eq!(groups.names(), ["red"], "an empty group is gone");

    // The registry's own join and leave, from outside any method.
    assert!(groups.join(&bob_there, "blue"));
    assert_eq!(ids(&groups.members("blue")), [bob_there.id()]);
    assert!(groups.leave(&bob_there, "blue"));

    // A peer of another registry joins nothing here.
    let elsewhere = Groups::new();
    assert!(!elsewhere.join(&ann_there, "red"));
    assert_eq!(elsewhere.count("red"), 0);

    // Over the server's message limit: refused before anything is sent.
    let big = "x".repeat(5000);
    match groups.to("red").invoke("Message", (big,)) {
        Err(CallError::TooLarge { limit: 4096, .. }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let sent = groups.to("nobody").invoke("Message", ("hello",)).unwrap();
    assert_eq!((sent.delivered, sent.skipped.len()), (0, 0));
}

/// A connection that closes leaves all its groups by itself, before `closed()` resolves and
/// before `on_close` runs; a closed peer joins nothing.
pub async fn groups_left_on_close<R: Runtime + Default>() {
    let (closes, mut closed_groups) = mpsc::unbounded::<(u64, Vec<String>, bool)>();
    let (methods, mut opens) = opened_peers(group_methods());
    let methods = methods.on_close(move |ctx: Ctx| {
        let groups = ctx.groups().groups_of(ctx.peer());
        let joins = ctx.peer().join("late");
        let _ = closes.unbounded_send((ctx.peer().id(), groups, joins));
        async {}
    });
    let server = serve::<R>(Config::default(), methods).await;
    let groups = server.handle.groups().clone();

    let ann = client::<R>(&server.url, Methods::new()).await;
    let ann_there = signal::<R, _>("ann's open", &mut opens).await;
    let bob = client::<R>(&server.url, Methods::new()).await;
    let bob_there = signal::<R, _>("bob's open", &mut opens).await;
    for group in ["red", "blue"] {
        assert_eq!(call::<R, bool>(&ann, "Join", (group,)).await, Ok(true));
    }
    assert_eq!(call::<R, bool>(&bob, "Join", ("red",)).await, Ok(true));
    assert_eq!((groups.count("red"), groups.count("blue")), (2, 1));

    ann.close();
    within::<R, _>("ann's server side to close", ann_there.closed()).await;
    assert_eq!(ids(&groups.members("red")), [bob_there.id()]);
    assert_eq!(groups.count("blue"), 0);
    assert!(groups.groups_of(&ann_there).is_empty());
    assert_eq!(ids(&groups.all().members()), [bob_there.id()]);
    assert!(groups.peer(ann_there.id()).is_none());
    let (id, left, joined) = signal::<R, _>("ann's on_close", &mut closed_groups).await;
    assert_eq!(id, ann_there.id());
    assert!(left.is_empty(), "in {left:?} when on_close ran");
    assert!(!joined, "a closed peer joined a group");
    assert!(!ann_there.join("red"));
    assert_eq!(groups.count("late"), 0);

    // The whole server going away empties its registry.
    server.handle.shutdown(Duration::from_secs(1)).await;
    within::<R, _>("bob's server side to close", bob_there.closed()).await;
    assert_eq!(groups.all().count(), 0);
    assert!(groups.names().is_empty());
    drop(bob);
}

/// Broadcast to a group but the sender, to the whole group, and to every connection; each
/// reaches exactly the peers it targets.
pub async fn broadcast_to_group_except_and_all<R: Runtime + Default>() {
    let server = serve::<R>(Config::default(), group_methods()).await;
    let groups = server.handle.groups().clone();
    let (ann, mut to_ann) = listener::<R>(&server.url).await;
    let (bob, mut to_bob) = listener::<R>(&server.url).await;
    let (cyd, mut to_cyd) = listener::<R>(&server.url).await;
    for peer in [&ann, &bob] {
        assert_eq!(call::<R, bool>(peer, "Join", ("room",)).await, Ok(true));
    }

    // Ann says: Bob hears, Ann (the sender) and Cyd (not in the room) do not.
    assert_eq!(call::<R, usize>(&ann, "Say", ("room", "one")).await, Ok(1));
    // Bob shouts: the whole room hears, Bob too.
    assert_eq!(
        call::<R, usize>(&bob, "Shout", ("room", "two")).await,
        Ok(2)
    );
    let to_room = groups.to("room").invoke("Message", ("2b",)).unwrap();
    assert_eq!((to_room.delivered, to_room.skipped.len()), (2, 0));
    let to_all = groups.all().invoke("Message", ("three",)).unwrap();
    assert_eq!((to_all.delivered, to_all.skipped.len()), (3, 0));
    let _ = cyd;

    // Each connection gets its messages in order: what one did not get, it would have had
    // before the next one.
    expect::<R>(&mut to_ann, &["two", "2b", "three"]).await;
    expect::<R>(&mut to_bob, &["one", "two", "2b", "three"]).await;
    expect::<R>(&mut to_cyd, &["three"]).await;
}

/// The next messages of a listener are `expected`.
async fn expect<R: Runtime + Default>(
    messages: &mut mpsc::UnboundedReceiver<String>,
    expected: &[&str],
) {
    for text in expected {
        assert_eq!(&signal::<R, _>("a message", messages).await, text);
    }
}

/// A member that stops reading: the others get every broadcast while it is stuck, each as
/// soon as it is published, and the broadcast reports it skipped (its queue full).
pub async fn broadcast_skips_a_member_that_does_not_read<R: Runtime + Default>() {
    const LIMIT: usize = 64 << 10;
    let config = Config::default().max_queued_bytes(LIMIT);
    let (methods, mut opens) = opened_peers(group_methods());
    let server = serve::<R>(config, methods).await;
    let groups = server.handle.groups().clone();

    // A raw socket joins, reads its answer, then never reads again.
    let mut stuck = Raw::<R>::connect(&server.url).await;
    let stuck_there = signal::<R, _>("the stuck peer's open", &mut opens).await;
    stuck.send_json(&request("Join", json!(["feed"]), 1)).await;
    assert_eq!(stuck.recv_json().await, success(1, json!(true)));
    let (reader, mut heard) = listener::<R>(&server.url).await;
    assert_eq!(call::<R, bool>(&reader, "Join", ("feed",)).await, Ok(true));

    // 8 KiB a broadcast: the kernel's socket buffers fill first, then the stuck peer's queue.
    let text = "m".repeat(8 << 10);
    let mut skipped_at = None;
    for n in 0..4000 {
        let delivery: Delivery = groups.to("feed").invoke("Message", (&text,)).unwrap();
        // The reader gets each one before the next is published: the stuck peer delays no one.
        assert_eq!(
            signal::<R, _>("the reader's message", &mut heard)
                .await
                .len(),
            text.len()
        );
        if let Some(skip) = delivery.skipped.first() {
            assert_eq!(delivery.skipped.len(), 1, "{delivery:?}");
            assert_eq!(delivery.delivered, 1);
            assert_eq!(skip.peer.id(), stuck_there.id());
            assert_eq!(skip.error, CallError::QueueFull { limit: LIMIT });
            skipped_at = Some(n);
            break;
        }
        assert_eq!(delivery.delivered, 2);
    }
    let skipped_at = skipped_at.expect("the stuck peer was never skipped");
    eprintln!("the stuck peer was first skipped at broadcast {skipped_at}");
    // Its queue stays within its bound whatever the publishers do.
    assert!(stuck_there.stats().queued_bytes <= LIMIT);
}

/// Several tasks publish to one group at once (and one to all): every member sees one and the
/// same sequence, each publisher's messages in the order it published them.
pub async fn broadcast_order_under_concurrent_publishers<R: Runtime + Default>() {
    const MEMBERS: usize = 8;
    const PUBLISHERS: usize = 4;
    const EACH: usize = 200;
    let server = serve::<R>(Config::default(), group_methods()).await;
    let groups = server.handle.groups().clone();
    let mut members = Vec::new();
    for _ in 0..MEMBERS {
        let (peer, heard) = listener::<R>(&server.url).await;
        assert_eq!(call::<R, bool>(&peer, "Join", ("feed",)).await, Ok(true));
        members.push((peer, heard));
    }

    let (finished, mut done) = mpsc::unbounded::<()>();
    for publisher in 0..=PUBLISHERS {
        let groups = groups.clone();
        let finished = finished.clone();
        R::default().spawn(async move {
            for n in 0..EACH {
                let text = format!("{publisher}:{n}");
                // The last publisher broadcasts to every connection, the others to the group.
                let target = match publisher {
                    PUBLISHERS => groups.all(),
                    _ => groups.to("feed"),
                };
                let delivery = target.invoke("Message", (text,)).unwrap();
                assert_eq!(delivery.delivered, MEMBERS, "{delivery:?}");
                if n % 16 == 0 {
                    // Let the others run in between, on a runtime of one thread too.
                    sleep::<R>(Duration::from_millis(1)).await;
                }
            }
            let _ = finished.unbounded_send(());
        });
    }
    for _ in 0..=PUBLISHERS {
        signal::<R, _>("a publisher to finish", &mut done).await;
    }

    let mut sequences = Vec::new();
    for (_, heard) in &mut members {
        let mut sequence = Vec::new();
        for _ in 0..(PUBLISHERS + 1) * EACH {
            sequence.push(signal::<R, _>("a broadcast", heard).await);
        }
        sequences.push(sequence);
    }
    let first = &sequences[0];
    let mut next = [0; PUBLISHERS + 1];
    for text in first {
        let (publisher, n) = text.split_once(':').unwrap();
        let publisher: usize = publisher.parse().unwrap();
        assert_eq!(
            n.parse::<usize>().unwrap(),
            next[publisher],
            "{text} out of order"
        );
        next[publisher] += 1;
    }
    let interleaved = first.windows(2).filter(|w| w[0][..1] != w[1][..1]).count();
    eprintln!("publishers interleaved {interleaved} times");
    for (member, sequence) in sequences.iter().enumerate().skip(1) {
        if let Some(at) = (0..sequence.len()).find(|&i| sequence[i] != first[i]) {
            panic!(
                "member {member} got {} where member 0 got {} (broadcast {at})",
                sequence[at], first[at]
            );
        }
    }
}

/// A request to every member of a group, within a timeout: each answer or failure comes back
/// with its peer: one answers, one never does (timeout), one closes meanwhile.
pub async fn request_to_group_collects_each_answer<R: Runtime + Default>() {
    let server = serve::<R>(Config::default(), group_methods()).await;
    let groups = server.handle.groups().clone();
    let quick = Methods::new().add("Ask", |question: String| format!("yes to {question}"));
    let silent = Methods::new().add("Ask", |_: String| future::pending::<String>());
    let leaving = Methods::new().add("Ask", |ctx: Ctx, _: String| {
        ctx.peer().close();
        future::pending::<String>()
    });
    let mut clients = Vec::new();
    for (name, methods) in [("quick", quick), ("silent", silent), ("leaving", leaving)] {
        let peer = client::<R>(&server.url, methods).await;
        assert_eq!(call::<R, ()>(&peer, "Name", (name,)).await, Ok(()));
        assert_eq!(call::<R, bool>(&peer, "Join", ("jury",)).await, Ok(true));
        clients.push(peer);
    }
    let outsider = client::<R>(&server.url, Methods::new()).await;
    assert_eq!(
        call::<R, ()>(&outsider, "Name", ("outsider",)).await,
        Ok(())
    );

    let answers = groups
        .to("jury")
        .timeout(Duration::from_millis(300))
        .request::<String>("Ask", ("tea?",));
    let answers = within::<R, _>("the answers", answers).await.unwrap();
    let mut by_name: Vec<(String, Result<String, CallError>)> = answers
        .into_iter()
        .map(|(peer, answer)| (peer.local::<Name>().unwrap().0.clone(), answer))
        .collect();
    by_name.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_name,
        [
            ("leaving".to_owned(), Err(CallError::ConnectionClosed)),
            ("quick".to_owned(), Ok("yes to tea?".to_owned())),
            ("silent".to_owned(), Err(CallError::Timeout)),
        ]
    );
    // The one that closed has left the jury.
    assert_eq!(groups.count("jury"), 2);
}

/// A client program with a registry of its own shared by two connections (to two servers):
/// it counts and broadcasts to them as a server does.
pub async fn client_connections_share_a_registry<R: Runtime + Default>() {
    let (heard, mut messages) = mpsc::unbounded::<String>();
    let record = |server: &'static str| {
        let heard = heard.clone();
        Methods::new().add("Message", move |text: String| {
            let _ = heard.unbounded_send(format!("{server}: {text}"));
        })
    };
    let one = serve::<R>(Config::default(), record("one")).await;
    let two = serve::<R>(Config::default(), record("two")).await;
    let groups = Groups::new();
    let mut peers = Vec::new();
    for server in [&one, &two] {
        let connect = Client::<R>::builder()
            .groups(groups.clone())
            .connect(&server.url, Methods::new());
        let peer = within::<R, _>("connect", connect).await.unwrap();
        peers.push(peer);
    }
    assert_eq!(groups.all().count(), 2);
    assert!(peers[1].join("second"));
    let sent = groups.all().invoke("Message", ("to all",)).unwrap();
    assert_eq!(sent.delivered, 2);
    groups.to("second").invoke("Message", ("to two",)).unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(signal::<R, _>("a message", &mut messages).await);
    }
    got.sort();
    assert_eq!(got, ["one: to all", "two: to all", "two: to two"]);

    peers[0].close();
    within::<R, _>("the first connection to close", peers[0].closed()).await;
    assert_eq!(groups.all().count(), 1);
}

/// What a recording cluster backend saw.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<String>>,
}

impl Backend for Recorder {
    fn changed(&self, change: Change<'_>) {
        let line = match change {
            Change::Connected(peer) => format!("connected {}", peer.id()),
            Change::Joined { group, peer } => format!("joined {group} {}", peer.id()),
            Change::Left { group, peer } => format!("left {group} {}", peer.id()),
            Change::Disconnected(peer) => format!("disconnected {}", peer.id()),
        };
        self.seen.lock().unwrap().push(line);
    }

    fn published(&self, target: Target<'_>, except: &[u64], frame: &Frame) {
        let line = format!(
            "published {target:?} except {except:?}, {} bytes",
            frame.len()
        );
        self.seen.lock().unwrap().push(line);
    }
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.seen.lock().unwrap())
    }
}

/// The seam of a cluster backend: it sees every membership change in order and every broadcast
/// published here (once, encoded, with its target); what it delivers from elsewhere
/// ([`Groups::deliver`]) reaches the local members and is not handed back to it.
pub async fn groups_backend_sees_changes_and_broadcasts<R: Runtime + Default>() {
    let groups = Groups::new();
    let recorder = Arc::new(Recorder::default());
    assert!(groups.set_backend(recorder.clone()).is_ok());
    assert!(groups.set_backend(recorder.clone()).is_err(), "set twice");
    let (methods, mut opens) = opened_peers(group_methods());
    let bind = Server::<R>::builder()
        .groups(groups.clone())
        .bind("127.0.0.1:0", methods);
    let server = within::<R, _>("bind", bind).await.unwrap();
    let url = format!("ws://{}", server.local_addr());
    R::default().spawn(server.run());

    let (ann, mut to_ann) = listener::<R>(&url).await;
    let ann_id = signal::<R, _>("ann's open", &mut opens).await.id();
    let (bob, mut to_bob) = listener::<R>(&url).await;
    let bob_id = signal::<R, _>("bob's open", &mut opens).await.id();
    for peer in [&ann, &bob] {
        assert_eq!(call::<R, bool>(peer, "Join", ("room",)).await, Ok(true));
    }
    assert_eq!(call::<R, usize>(&ann, "Say", ("room", "hi")).await, Ok(1));
    let hi = Frame::notification("Message", ("hi",), 1 << 20).unwrap();
    assert_eq!(
        recorder.take(),
        [
            format!("connected {ann_id}"),
            format!("connected {bob_id}"),
            format!("joined room {ann_id}"),
            format!("joined room {bob_id}"),
            format!(
                "published Group(\"room\") except [{ann_id}], {} bytes",
                hi.len()
            ),
        ]
    );

    // From another process: delivered here, not published again.
    let frame = Frame::notification("Message", ("from afar",), 1 << 20).unwrap();
    let delivery = groups.deliver(Target::Group("room"), &[bob_id], &frame);
    assert_eq!((delivery.delivered, delivery.skipped.len()), (1, 0));
    let delivery = groups.deliver(Target::All, &[], &frame);
    assert_eq!(delivery.delivered, 2);
    assert!(recorder.take().is_empty());
    expect::<R>(&mut to_ann, &["from afar", "from afar"]).await;
    expect::<R>(&mut to_bob, &["hi", "from afar"]).await;

    // A group with no member here is still published (members may be elsewhere).
    let sent = groups.to("elsewhere").push(&frame);
    assert_eq!(sent.delivered, 0);
    assert_eq!(
        recorder.take(),
        [format!(
            "published Group(\"elsewhere\") except [], {} bytes",
            frame.len()
        )]
    );

    ann.close();
    within::<R, _>("ann's connection to close", ann.closed()).await;
    within::<R, _>("ann to be gone", async {
        while groups.peer(ann_id).is_some() {
            sleep::<R>(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(
        recorder.take(),
        [
            format!("left room {ann_id}"),
            format!("disconnected {ann_id}")
        ]
    );
}

/// A reconnecting client's connections share one registry; membership is each connection's:
/// its handle joins with the connection open now, and a new connection is in no group.
pub async fn reconnecting_client_joins_with_its_current_connection<R: Runtime + Default>() {
    let (methods, mut opens) = opened_peers(Methods::new());
    let server = serve::<R>(Config::default(), methods).await;
    let (opened, mut client_opens) = mpsc::unbounded::<u64>();
    let methods = Methods::new().on_open(move |ctx: Ctx| {
        let _ = opened.unbounded_send(ctx.peer().id());
        async {}
    });
    let connect = Client::<R>::builder()
        .reconnect(jrpc_driver::Reconnect::default().initial_delay(Duration::from_millis(20)))
        .connect(&server.url, methods);
    let handle = within::<R, _>("connect", connect).await.unwrap();
    let first = signal::<R, _>("the first connection", &mut client_opens).await;
    let groups = handle.groups().clone();
    assert!(handle.join("upstream"));
    assert_eq!(ids(&groups.members("upstream")), [first]);

    // The server drops the connection: the client dials again, in the same registry.
    signal::<R, _>("the server side", &mut opens).await.close();
    let second = signal::<R, _>("the second connection", &mut client_opens).await;
    assert_ne!(first, second);
    assert_eq!(
        groups.count("upstream"),
        0,
        "a new connection is in no group"
    );
    assert_eq!(ids(&groups.all().members()), [second]);
    assert!(handle.join("upstream"));
    assert_eq!(ids(&groups.members("upstream")), [second]);
    handle.close();
}
