//! JRPC on a route of a hyper server (feature `hyper`): [`upgrade`] answers a WebSocket
//! upgrade request and serves the socket hyper hands over, for programs that use hyper (or a
//! framework on it) directly. `axum` builds on it.
//!
//! The connection gets what [`Server::bind`](crate::Server) gives its own: the
//! [`Acceptor`]'s `Config` (limits, `Origin` and `Host` checks), its authentication hook and
//! its shutdown. The HTTP server must keep upgraded connections alive (hyper's
//! `serve_connection(..).with_upgrades()`; axum's `serve` does).

use std::net::SocketAddr;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use jrpc_driver::tungstenite::handshake::derive_accept_key;
use jrpc_driver::tungstenite::http::{
    HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header,
};
use jrpc_driver::tungstenite::protocol::Role;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;

use crate::{Acceptor, Handshake, ReadAheadStream, Refusal};

/// The role of every socket upgraded here.
const SERVER: Role = Role::Server;

/// Whether `headers` ask for a WebSocket upgrade (`Connection: upgrade`, `Upgrade:
/// websocket`): to serve a page and its WebSocket on the same path.
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let upgrade_websocket = headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("websocket"));
    connection_upgrade && upgrade_websocket
}

/// Answers `request`, a WebSocket upgrade request from `remote_addr`: `101 Switching
/// Protocols`, after which the upgraded socket is served by `acceptor` on a task of its own;
/// or a refusal: 400 (not a WebSocket handshake), 426 (another WebSocket version), 403 (the
/// `Origin` or `Host` check), or what the authentication hook answered.
///
/// The body is empty on success and the reason of a refusal otherwise.
pub fn upgrade<B, S>(
    acceptor: &Acceptor<S>,
    request: &mut Request<B>,
    remote_addr: Option<SocketAddr>,
) -> Response<String>
where
    S: Clone + Send + Sync + 'static,
{
    let accept_key = match accept_key(request.method(), request.headers()) {
        Ok(key) => key,
        Err(refusal) => return refused(&refusal),
    };
    let locals = match acceptor.admit(&Handshake::of(request, remote_addr)) {
        Ok(locals) => locals,
        Err(refusal) => return refused(&refusal),
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return refused(&Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the HTTP server does not support upgrades on this connection",
        ));
    };
    let acceptor = acceptor.clone();
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(?remote_addr, error = %e, "upgrade failed");
                return;
            }
        };
        let config = Some(acceptor.websocket_config());
        let served = match upgraded.downcast::<TokioIo<TcpStream>>() {
            // hyper served a plain `TcpStream` (its own http1 connection; tests/hyper.rs): the
            // socket is driven directly, as `Server::bind` drives its own, after the bytes hyper
            // read ahead. (axum's `serve` wraps the stream in a type of hyper-util's own, so
            // its connections take the general way below, through hyper's `Upgraded`.)
            Ok(parts) => {
                let (tcp, ahead) = (parts.io.into_inner(), parts.read_buf.to_vec());
                let tcp = ReadAheadStream::new(tcp);
                let socket = WebSocketStream::from_partially_read(tcp, ahead, SERVER, config);
                acceptor.serve(socket.await, remote_addr, locals)
            }
            Err(upgraded) => {
                let io = ReadAheadStream::new(TokioIo::new(upgraded));
                let socket = WebSocketStream::from_raw_socket(io, SERVER, config);
                acceptor.serve(socket.await, remote_addr, locals)
            }
        };
        if served.is_none() {
            tracing::debug!(?remote_addr, "upgraded after shutdown, connection dropped");
        }
    });
    let mut response = Response::new(String::new());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept_key);
    response
}

/// The `Sec-WebSocket-Accept` of a valid WebSocket handshake request (RFC 6455, 4.2.1), or
/// why it is not one.
fn accept_key(method: &Method, headers: &HeaderMap) -> Result<HeaderValue, Refusal> {
    if method != Method::GET || !is_websocket_upgrade(headers) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "not a WebSocket handshake: JRPC speaks over a WebSocket here",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|version| version != "13")
    {
        return Err(Refusal::new(
            StatusCode::UPGRADE_REQUIRED,
            "WebSocket version 13 is the one spoken here",
        ));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| Refusal::new(StatusCode::BAD_REQUEST, "no Sec-WebSocket-Key"))?;
    HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "unusable Sec-WebSocket-Key"))
}

/// The response of a refused handshake: its status, its reason as the body.
fn refused(refusal: &Refusal) -> Response<String> {
    let mut response = Response::new(refusal.body());
    *response.status_mut() = refusal.status();
    if refusal.status() == StatusCode::UPGRADE_REQUIRED {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(name.clone(), HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn handshake_requests_are_recognised() {
        let ok = headers(&[
            (header::CONNECTION, "keep-alive, Upgrade"),
            (header::UPGRADE, "WebSocket"),
            (header::SEC_WEBSOCKET_VERSION, "13"),
            (header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        assert!(is_websocket_upgrade(&ok));
        // RFC 6455's example.
        assert_eq!(
            accept_key(&Method::GET, &ok).unwrap(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(
            accept_key(&Method::POST, &ok).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        let page = headers(&[(header::CONNECTION, "keep-alive")]);
        assert!(!is_websocket_upgrade(&page));
        let old = headers(&[
            (header::CONNECTION, "upgrade"),
            (header::UPGRADE, "websocket"),
            (header::SEC_WEBSOCKET_VERSION, "8"),
        ]);
        assert_eq!(
            accept_key(&Method::GET, &old).unwrap_err().status(),
            StatusCode::UPGRADE_REQUIRED
        );
    }
}
