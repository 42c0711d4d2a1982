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
//! [`Groups`]: jrpc_tokio::Groups

use std::process::ExitCode;
use std::time::Duration;

use jrpc_examples::Page;
use jrpc_tokio::{Ctx, Groups, Methods, Peer, RpcError};

/// The longest name and message, in characters.
const MAX_NAME: usize = 40;
const MAX_MESSAGE: usize = 1000;

/// The group of the named pages.
const CHAT: &str = "chat";

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
async fn on_open(ctx: Ctx) {
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
async fn on_close(ctx: Ctx) {
    if ctx.peer().local::<Name>().is_some() {
        let name = name_of(ctx.peer());
        tracing::info!(peer = ctx.peer().id(), name, "left");
        broadcast(ctx.groups(), "server", &format!("{name} left"));
    }
}

/// `Say(text)`: sends `text` to every page, the sender's included; answers how many got it.
fn say(ctx: Ctx, text: String) -> Result<usize, RpcError> {
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

#[tokio::main]
async fn main() -> ExitCode {
    let methods = Methods::new()
        .add("Say", say)
        .on_open(on_open)
        .on_close(on_close);
    let page = Page {
        name: "twoway",
        html: include_str!("index.html"),
    };
    jrpc_examples::serve(page, methods, ()).await
}
