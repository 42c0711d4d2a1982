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
//! The server's state is the connected pages, by connection id: added once named, removed
//! when their connection closes.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jrpc_examples::Page;
use jrpc_tokio::{Ctx, Methods, Peer, RpcError};

/// The longest name and message, in characters.
const MAX_NAME: usize = 40;
const MAX_MESSAGE: usize = 1000;

/// The connected pages, shared by every connection.
#[derive(Clone, Default)]
struct Chat {
    pages: Arc<Mutex<HashMap<u64, Peer>>>,
}

/// A page's name, kept with its connection.
struct Name(String);

impl Chat {
    fn pages(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Peer>> {
        // A panic while holding the map cannot leave it half-written: take it as it is.
        self.pages.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pushes a message to every page; a page that has just gone is skipped.
    async fn broadcast(&self, from: &str, text: &str) -> usize {
        let peers: Vec<Peer> = self.pages().values().cloned().collect();
        let mut delivered = 0;
        for peer in peers {
            match peer.invoke("Message", (from, text)).await {
                Ok(()) => delivered += 1,
                Err(e) => tracing::debug!(peer = peer.id(), error = %e, "message not delivered"),
            }
        }
        delivered
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
    {
        let mut pages = ctx.state().pages();
        // Closed meanwhile: `on_close` has run or will find nothing; don't keep a dead page.
        if peer.is_closed() {
            return;
        }
        pages.insert(peer.id(), peer.clone());
    }
    tracing::info!(peer = peer.id(), name, "joined");
    ctx.state()
        .broadcast("server", &format!("{name} joined"))
        .await;
}

/// A page has gone.
async fn on_close(ctx: Ctx<Chat>) {
    let removed = ctx.state().pages().remove(&ctx.peer().id()).is_some();
    if removed {
        let name = name_of(ctx.peer());
        tracing::info!(peer = ctx.peer().id(), name, "left");
        ctx.state()
            .broadcast("server", &format!("{name} left"))
            .await;
    }
}

/// `Say(text)`: sends `text` to every page, the sender's included; answers how many got it.
async fn say(ctx: Ctx<Chat>, text: String) -> Result<usize, RpcError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(RpcError::invalid_params("the message is empty"));
    }
    if text.chars().count() > MAX_MESSAGE {
        return Err(RpcError::invalid_params(format!(
            "the message is longer than {MAX_MESSAGE} characters"
        )));
    }
    Ok(ctx.state().broadcast(&name_of(ctx.peer()), text).await)
}

#[tokio::main]
async fn main() -> ExitCode {
    let methods = Methods::with_state()
        .add("Say", say)
        .on_open(on_open)
        .on_close(on_close);
    let page = Page {
        name: "twoway",
        html: include_str!("index.html"),
    };
    jrpc_examples::serve(page, methods, Chat::default()).await
}
