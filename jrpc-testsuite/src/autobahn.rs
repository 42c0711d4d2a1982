//! Echo peers for the Autobahn WebSocket conformance suite (`scripts/autobahn.sh`), written
//! once over [`Runtime`] so that each adapter's socket layer is tested as a JRPC connection
//! runs it: the same tungstenite settings ([`Config::websocket`]), the same accept and dial.
//!
//! Autobahn checks the WebSocket layer, not JRPC: an echo peer sends every text and binary
//! message back as it came; tungstenite answers pings and close frames itself.

use std::io;
use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use jrpc_driver::tungstenite::client::IntoClientRequest;
use jrpc_driver::tungstenite::handshake::server::NoCallback;
use jrpc_driver::tungstenite::{Error as WsError, Message};
use jrpc_driver::{Config, Dial, Runtime, WebSocket};

/// Serves WebSocket echo on `addr` until the process ends; prints the bound address first.
pub async fn echo_server<R: Runtime + Default>(addr: SocketAddr, config: Config) -> io::Result<()> {
    let rt = R::default();
    let listener = rt.bind(addr).await?;
    println!(
        "autobahn echo server listening on {}",
        R::local_addr(&listener)?
    );
    loop {
        let (tcp, _) = match R::accept(&listener).await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        let websocket = config.websocket();
        rt.spawn(async move {
            if let Ok(socket) = R::accept_websocket(tcp, NoCallback, websocket).await {
                echo(socket).await;
            }
        });
    }
}

/// Sends every data message back until the connection ends (a close, or a failure, which
/// tungstenite reports after failing the connection as RFC 6455 says).
async fn echo<W: WebSocket>(mut socket: W) {
    while let Some(Ok(message)) = socket.next().await {
        if (message.is_text() || message.is_binary()) && socket.send(message).await.is_err() {
            break;
        }
    }
}

/// Runs every case of an Autobahn fuzzing server at `base` (`ws://host:port`) as the client
/// `agent`, then asks it to write its reports; returns the number of cases run.
pub async fn echo_client<R: Runtime + Default>(
    base: &str,
    agent: &str,
    config: Config,
) -> Result<usize, WsError> {
    let count_url = format!("{base}/getCaseCount");
    let (mut socket, _) = R::connect(
        count_url.into_client_request()?,
        Dial::plain(config.websocket()),
    )
    .await?;
    let count = match socket.next().await {
        Some(Ok(Message::Text(text))) => text.as_str().trim().parse::<usize>().unwrap_or(0),
        other => {
            eprintln!("unexpected answer to getCaseCount: {other:?}");
            0
        }
    };
    let _ = socket.close().await;
    while let Some(Ok(_)) = socket.next().await {}

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        match R::connect(url.into_client_request()?, Dial::plain(config.websocket())).await {
            Ok((socket, _)) => echo(socket).await,
            Err(e) => eprintln!("case {case}: connect failed: {e}"),
        }
    }

    let url = format!("{base}/updateReports?agent={agent}");
    if let Ok((mut socket, _)) =
        R::connect(url.into_client_request()?, Dial::plain(config.websocket())).await
    {
        let _ = socket.close().await;
        while let Some(Ok(_)) = socket.next().await {}
    }
    Ok(count)
}
