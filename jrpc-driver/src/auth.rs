//! Handshake authentication: a hook that sees the WebSocket upgrade request (method, path,
//! query, headers, cookies, remote address) and refuses it with an HTTP status, or accepts it
//! and attaches values to the connection (an identity) that methods reach through
//! [`Peer::local`](crate::Peer::local).
//!
//! The same hook runs for [`Server::bind`](crate::Server)'s own handshake and for connections
//! upgraded by another HTTP server and handed over through an [`Acceptor`](crate::Acceptor).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use tungstenite::http::{HeaderMap, Method, StatusCode, Uri};

/// The WebSocket upgrade request a server is asked to accept, as an authentication hook
/// sees it.
#[derive(Debug, Clone, Copy)]
pub struct Handshake<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    remote_addr: Option<SocketAddr>,
}

impl<'a> Handshake<'a> {
    /// The request's parts, as an HTTP server parsed them, and the address it came from.
    pub fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        remote_addr: Option<SocketAddr>,
    ) -> Self {
        Self {
            method,
            uri,
            headers,
            remote_addr,
        }
    }

    /// A request of any body type (`http::Request`, as hyper, axum and tungstenite have it).
    pub fn of<B>(request: &'a tungstenite::http::Request<B>, remote: Option<SocketAddr>) -> Self {
        Self::new(request.method(), request.uri(), request.headers(), remote)
    }

    /// The request method (`GET` for every WebSocket handshake).
    pub fn method(&self) -> &Method {
        self.method
    }

    /// The request target: path and query.
    pub fn uri(&self) -> &Uri {
        self.uri
    }

    /// The path of the request target (`/` or `/rpc`).
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The query string, without its `?`, as sent (not percent-decoded).
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The value of query parameter `name` (`?token=...`), as sent (not percent-decoded): the
    /// way to pass a short-lived token from a browser, which cannot set headers on a WebSocket.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// Every request header.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// The value of header `name` when it is present and text (`Authorization`, say).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The value of cookie `name`, from the request's `Cookie` headers: how a browser page
    /// proves who it is (the session cookie of the same site goes along with the handshake).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(tungstenite::http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.trim_matches('"'))
    }

    /// The address the request came from, when the server knows it.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }
}

/// Why a handshake is refused: the HTTP status answered (401, 403, …) and a reason, sent as
/// the body of the response and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    status: StatusCode,
    reason: String,
}

impl Refusal {
    /// A refusal with any status.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }

    /// 401 Unauthorized: the caller did not say who it is (no session, no token).
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, reason)
    }

    /// 403 Forbidden: the caller is known and may not connect.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, reason)
    }

    /// The HTTP status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Why.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The body of the refusing response: the status's name and the reason
    /// (`Unauthorized: no session`).
    pub fn body(&self) -> String {
        let name = self.status.canonical_reason().unwrap_or("Refused");
        format!("{name}: {}", self.reason)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.reason)
    }
}

pub(crate) type LocalMap = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

/// Values an authentication hook attaches to a connection, one per type: each becomes
/// [`Peer::local::<T>()`](crate::Peer::local) on the connection it accepted, set before
/// `on_open` runs.
///
/// ```
/// use jrpc_driver::Locals;
///
/// struct User(String);
/// let locals = Locals::new().with(User("ada".into()));
/// assert_eq!(locals.get::<User>().map(|u| u.0.as_str()), Some("ada"));
/// ```
#[derive(Default, Clone)]
pub struct Locals {
    pub(crate) map: LocalMap,
}

impl Locals {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// These values and `value` (replacing an earlier `T`).
    pub fn with<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.insert(value);
        self
    }

    /// Adds `value`, replacing an earlier `T`.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.map.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, if any.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.map.get(&TypeId::of::<T>())?.downcast_ref()
    }

    /// Whether there is no value.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl fmt::Debug for Locals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locals")
            .field("values", &self.map.len())
            .finish()
    }
}

type HookFn = dyn Fn(&Handshake<'_>) -> Result<Locals, Refusal> + Send + Sync;

/// A server's authentication hook (see [`Builder::authenticate`](crate::Builder::authenticate)).
#[derive(Clone)]
pub(crate) struct Authenticate(Arc<HookFn>);

impl Authenticate {
    pub(crate) fn new<F>(hook: F) -> Self
    where
        F: Fn(&Handshake<'_>) -> Result<Locals, Refusal> + Send + Sync + 'static,
    {
        Self(Arc::new(hook))
    }

    pub(crate) fn check(&self, handshake: &Handshake<'_>) -> Result<Locals, Refusal> {
        (self.0)(handshake)
    }
}

impl fmt::Debug for Authenticate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticate(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::http::{HeaderValue, header};

    #[test]
    fn cookies_query_and_headers() {
        let method = Method::GET;
        let uri: Uri = "/rpc?token=abc&flag&x=1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; session=s1"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("other=\"q\""));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        let h = Handshake::new(&method, &uri, &headers, None);
        assert_eq!(h.path(), "/rpc");
        assert_eq!(h.query_param("token"), Some("abc"));
        assert_eq!(h.query_param("flag"), Some(""));
        assert_eq!(h.query_param("missing"), None);
        assert_eq!(h.cookie("session"), Some("s1"));
        assert_eq!(h.cookie("theme"), Some("dark"));
        assert_eq!(h.cookie("other"), Some("q"));
        assert_eq!(h.cookie("sess"), None);
        assert_eq!(h.header("authorization"), Some("Bearer t"));
    }

    #[test]
    fn refusal_body_names_the_status() {
        let r = Refusal::unauthorized("no session");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.body(), "Unauthorized: no session");
        assert_eq!(r.to_string(), "401 no session");
    }
}
