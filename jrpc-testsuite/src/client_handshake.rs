//! What a client adds to its opening handshake ([`Builder::header`], [`Builder::subprotocol`]),
//! as a server sees it: an acceptor on the runtime under test that records the request's
//! headers and chooses a subprotocol (or none), then holds the connection open.

use jrpc_driver::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request as ServerRequest, Response,
};
use jrpc_driver::tungstenite::http::HeaderMap;
use jrpc_driver::{Builder, ConnectError};

use super::*;

/// The handshake callback of [`recording_acceptor`].
struct Recorder {
    seen: oneshot::Sender<HeaderMap>,
    chosen: Option<&'static str>,
}

impl Callback for Recorder {
    fn on_request(
        self,
        request: &ServerRequest,
        mut response: Response,
    ) -> Result<Response, ErrorResponse> {
        let _ = self.seen.send(request.headers().clone());
        if let Some(protocol) = self.chosen {
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(protocol),
            );
        }
        Ok(response)
    }
}

/// Accepts one WebSocket on 127.0.0.1 whose handshake answer names `chosen` as the
/// subprotocol (none when `None`); the URL, and the request headers once the handshake has
/// been seen.
async fn recording_acceptor<R: Runtime + Default>(
    chosen: Option<&'static str>,
) -> (String, oneshot::Receiver<HeaderMap>) {
    let runtime = R::default();
    let listener = within::<R, _>("bind", runtime.bind(([127, 0, 0, 1], 0).into()))
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!("ws://{}/", R::local_addr(&listener).expect("local address"));
    let (seen, headers) = oneshot::channel();
    runtime.spawn(async move {
        let Ok((tcp, _)) = R::accept(&listener).await else {
            return;
        };
        let record = Recorder { seen, chosen };
        let accepted = R::accept_websocket(tcp, record, WebSocketConfig::default()).await;
        if let Ok(mut socket) = accepted {
            // Held open (and drained) until the client goes.
            while let Some(Ok(_)) = socket.next().await {}
        }
    });
    (url, headers)
}

/// The extra headers of a client reach the server as given (a repeated name twice, in
/// order), the subprotocols are offered in order, and the one the server chooses is accepted.
pub async fn client_sends_extra_headers_and_subprotocols<R: Runtime + Default>() {
    let (url, headers) = recording_acceptor::<R>(Some("jrpc")).await;
    let connect = Builder::<R, ()>::default()
        .header("Authorization", "Bearer token-1")
        .header("X-Tag", "first")
        .header("x-tag", "second")
        .subprotocol("jrpc.v2")
        .subprotocol("jrpc")
        .connect(&url, Methods::new());
    let peer = within::<R, _>("connect", connect)
        .await
        .expect("the handshake with headers and a chosen subprotocol succeeds");
    let headers = within::<R, _>("the recorded request", headers)
        .await
        .expect("the acceptor saw the request");
    assert_eq!(headers["authorization"], "Bearer token-1");
    let tags: Vec<_> = headers.get_all("x-tag").iter().collect();
    assert_eq!(tags, ["first", "second"]);
    assert_eq!(headers["sec-websocket-protocol"], "jrpc.v2, jrpc");
    assert!(!peer.is_closed());
    peer.close();
}

/// Offered subprotocols the server does not choose from fail the handshake; a header that
/// cannot be sent fails the connect before anything is dialled, with the header named.
pub async fn client_handshake_refusals_are_typed<R: Runtime + Default>() {
    let (url, headers) = recording_acceptor::<R>(None).await;
    let connect = Builder::<R, ()>::default()
        .subprotocol("jrpc")
        .connect(&url, Methods::new());
    match within::<R, _>("connect", connect).await {
        Err(ConnectError::Handshake { .. }) => {}
        other => panic!("no subprotocol chosen, yet: {other:?}"),
    }
    assert!(
        within::<R, _>("the recorded request", headers)
            .await
            .is_ok()
    );

    // The acceptor takes one connection: the first that reaches it is the valid one at the end.
    let (url, headers) = recording_acceptor::<R>(None).await;
    for (name, value) in [("Bad Name", "x"), ("X-Ok", "a\nb"), ("Upgrade", "h2c")] {
        let connect = Builder::<R, ()>::default()
            .header(name, value)
            .connect(&url, Methods::new());
        match within::<R, _>("connect", connect).await {
            Err(ConnectError::InvalidHeader { name: named, .. }) => assert_eq!(named, name),
            other => panic!("{name}: {value:?}: {other:?}"),
        }
    }
    let connect = Builder::<R, ()>::default()
        .subprotocol("two words")
        .connect(&url, Methods::new());
    match within::<R, _>("connect", connect).await {
        Err(ConnectError::InvalidSubprotocol { protocol }) => assert_eq!(protocol, "two words"),
        other => panic!("{other:?}"),
    }
    let connect = Builder::<R, ()>::default()
        .header("X-Valid", "yes")
        .connect(&url, Methods::new());
    let peer = within::<R, _>("connect", connect).await.expect("valid");
    let headers = within::<R, _>("the recorded request", headers)
        .await
        .expect("the acceptor saw the request");
    assert_eq!(headers["x-valid"], "yes", "an invalid attempt was dialled");
    peer.close();
}
