//! The server calls the browser: a small chat.
//!
//! ```sh
//! cargo run --example twoway    # then open http://localhost:8080/ in two tabs
//! ```
//!
//! - When a page connects, the server asks it for its name: a `request("GetName")` that the
//!   page answers from its `dispatch` (with `?name=...` from its URL, or by asking the user).
//! - A page sends a message with `request("Say", [text])`.
//! - The server pushes every message to every page with `invoke("Message", [name, text])`,
//!   a notification the page's `dispatch` shows.
//!
//! The pages are the members of the group `chat` of the server's [`Groups`]: a page joins once
//! named, and leaves by itself when its connection closes. A broadcast is encoded once and
//! queued on every page without waiting for any: a page that stops reading is skipped (and
//! closed if it stays behind), never a delay for the others, and every page sees the messages
//! in one and the same order.
//!
//! With `JRPC_REDIS_URL` set (`redis://127.0.0.1:6379/`), the process is one node of a
//! cluster ([`Cluster`]): the chat's group and its messages span every process on that Redis,
//! behind a load balancer (`scripts/cluster.sh` runs two behind nginx). Two more methods show
//! calls across processes: `Who()` lists the cluster-wide ids of the chat's pages, and
//! `NameOf(id)` asks that page, wherever it is connected, for its name.
//!
//! [`Groups`]: jrpc_tokio::Groups
//! [`Cluster`]: jrpc_tokio::Cluster

use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use jrpc_examples::Page;
use jrpc_tokio::{
    Cluster, ClusterConfig, ClusterError, Ctx, Groups, Methods, Peer, PeerId, RpcError, Server,
    Tokio,
};

/// The longest name and message, in characters.
const MAX_NAME: usize = 40;
const MAX_MESSAGE: usize = 1000;

/// The group of the named pages.
const CHAT: &str = "chat";

/// The chat's state: its cluster node, when it is one.
#[derive(Clone, Default)]
struct Chat {
    cluster: Option<Cluster>,
}

/// A page's name, kept with its connection.
struct Name(String);

/// Pushes a message to every page of the chat; answers how many got it.
fn broadcast(groups: &Groups, from: &str, text: &str) -> usize {
    match groups.to(CHAT).invoke("Message", (from, text)) {
        Ok(delivery) => {
            for skipped in &delivery.skipped {
                let (peer, error) = (skipped.peer.id(), &skipped.error);
                tracing::debug!(peer, %error, "message not delivered");
            }
            delivery.delivered
        }
        Err(e) => {
            tracing::warn!(error = %e, "message not sent");
            0
        }
    }
}

fn name_of(peer: &Peer) -> String {
    match peer.local::<Name>() {
        Some(name) => name.0.clone(),
        None => format!("guest-{}", peer.id()),
    }
}

/// A new page: ask it for its name, then let everyone know.
async fn on_open(ctx: Ctx<Chat>) {
    let peer = ctx.peer();
    // The page may ask its user: give them time.
    let asked = peer
        .request_with_timeout::<String>("GetName", (), Some(Duration::from_secs(300)))
        .await;
    let name: String = match asked {
        Ok(name) => name.trim().chars().take(MAX_NAME).collect(),
        Err(e) => {
            tracing::info!(peer = peer.id(), error = %e, "GetName failed");
            String::new()
        }
    };
    let name = if name.is_empty() { name_of(peer) } else { name };
    peer.set_local(Name(name.clone()));
    // Closed meanwhile: it joins nothing.
    if !peer.join(CHAT) {
        return;
    }
    tracing::info!(peer = peer.id(), name, "joined");
    broadcast(ctx.groups(), "server", &format!("{name} joined"));
}

/// A page has gone (it has left the chat by itself).
async fn on_close(ctx: Ctx<Chat>) {
    if ctx.peer().local::<Name>().is_some() {
        let name = name_of(ctx.peer());
        tracing::info!(peer = ctx.peer().id(), name, "left");
        broadcast(ctx.groups(), "server", &format!("{name} left"));
    }
}

/// `Say(text)`: sends `text` to every page, the sender's included; answers how many got it.
fn say(ctx: Ctx<Chat>, text: String) -> Result<usize, RpcError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(RpcError::invalid_params("the message is empty"));
    }
    if text.chars().count() > MAX_MESSAGE {
        return Err(RpcError::invalid_params(format!(
            "the message is longer than {MAX_MESSAGE} characters"
        )));
    }
    Ok(broadcast(ctx.groups(), &name_of(ctx.peer()), text))
}

/// The id of `peer` in the cluster (`NODE.ID`), or on this process alone (`ID`).
fn id_of(ctx: &Ctx<Chat>, peer: &Peer) -> String {
    match &ctx.state().cluster {
        Some(cluster) => cluster.peer_id(peer).to_string(),
        None => peer.id().to_string(),
    }
}

/// `Me()`: the caller's own id, as `Who` lists it.
fn me(ctx: Ctx<Chat>) -> String {
    id_of(&ctx, ctx.peer())
}

/// `Who()`: the ids of the chat's pages, on every process of the cluster.
async fn who(ctx: Ctx<Chat>) -> Result<Vec<String>, RpcError> {
    match &ctx.state().cluster {
        Some(cluster) => match cluster.members(CHAT).await {
            Ok(ids) => Ok(ids.iter().map(PeerId::to_string).collect()),
            Err(e) => Err(RpcError::new("Unavailable", e.to_string())),
        },
        None => Ok(ctx
            .groups()
            .members(CHAT)
            .iter()
            .map(|p| p.id().to_string())
            .collect()),
    }
}

/// `NameOf(id)`: asks the page `id` (on whichever process) for its name; `PeerGone` when it
/// is not connected any more, `Timeout` when it does not answer within 10 s.
async fn name_of_page(ctx: Ctx<Chat>, id: String) -> Result<String, RpcError> {
    const WITHIN: Duration = Duration::from_secs(10);
    let Some(cluster) = &ctx.state().cluster else {
        let member = ctx
            .groups()
            .members(CHAT)
            .into_iter()
            .find(|p| p.id().to_string() == id);
        let Some(page) = member else {
            return Err(RpcError::new("PeerGone", format!("no page {id}")));
        };
        return page
            .request_with_timeout("GetName", (), Some(WITHIN))
            .await
            .map_err(|e| RpcError::new("Failed", e.to_string()));
    };
    let id: PeerId = id
        .parse()
        .map_err(|e: jrpc_tokio::BadPeerId| RpcError::invalid_params(e.to_string()))?;
    cluster
        .request(&id, "GetName", (), Some(WITHIN))
        .await
        .map_err(|e| match e {
            ClusterError::PeerGone(_) => RpcError::new("PeerGone", e.to_string()),
            ClusterError::Timeout => RpcError::new("Timeout", e.to_string()),
            other => RpcError::new("Failed", other.to_string()),
        })
}

#[tokio::main]
async fn main() -> ExitCode {
    jrpc_examples::init_tracing();
    let groups = Groups::new();
    let mut chat = Chat::default();
    if let Some(url) = std::env::var("JRPC_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        // Liveness from the environment, for the tests: a killed process is forgotten after
        // JRPC_NODE_TTL_MS (default 10 s).
        let mut config = ClusterConfig::default();
        if let Some(ttl) = std::env::var("JRPC_NODE_TTL_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
        {
            let ttl = Duration::from_millis(ttl);
            config = config.node_ttl(ttl).heartbeat(ttl / 4);
        }
        match Cluster::start(Tokio, &groups, &url, config) {
            Ok(cluster) => {
                tracing::info!(node = cluster.node_id(), "cluster node on {url}");
                chat.cluster = Some(cluster);
            }
            Err(e) => {
                tracing::error!(error = %e, "JRPC_REDIS_URL={url}");
                return ExitCode::FAILURE;
            }
        }
    }
    let methods = Methods::with_state()
        .add("Say", say)
        .add("Me", me)
        .add("Who", who)
        .add("NameOf", name_of_page)
        .on_open(on_open)
        .on_close(on_close);
    let page = Page {
        name: "twoway",
        html: include_str!("index.html"),
    };
    let builder = Server::builder().state(chat).groups(groups);
    jrpc_examples::serve_router(page.name, builder, methods, move |rpc| {
        Router::new().route("/", jrpc_examples::page_or_websocket(page.html, rpc))
    })
    .await
}
