//! Which WebSocket handshakes a server accepts: the `Origin` allow-list, on loopback the
//! `Host` check, then the server's authentication hook.

use std::net::{IpAddr, SocketAddr};

use futures_channel::oneshot;
use tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response};
use tungstenite::http::{HeaderMap, header};

use crate::auth::{Authenticate, Handshake, Locals, Refusal};

/// The policy a server applies to every handshake, made from its [`Config`](crate::Config).
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// `None`: same-origin only (the `Origin` names the host the request was sent to).
    allowed_origins: Option<Vec<String>>,
    /// Set when bound to loopback and the check is on.
    loopback_only_host: bool,
}

impl Policy {
    pub(crate) fn new(config: &crate::Config, bound: SocketAddr) -> Self {
        Self {
            allowed_origins: config.allowed_origins.clone(),
            loopback_only_host: config.check_host && bound.ip().is_loopback(),
        }
    }

    /// Why the request must be refused, if it must.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if self.loopback_only_host && !is_loopback_host(host) {
            return Err(format!("Host '{host}' is not a loopback name"));
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            // Not a browser: nothing to protect the user from.
            return Ok(());
        };
        let origin = origin
            .to_str()
            .map_err(|_| "Origin is not text".to_owned())?
            .trim_end_matches('/')
            .to_ascii_lowercase();
        let allowed = match &self.allowed_origins {
            Some(list) => list.iter().any(|o| o == "*" || *o == origin),
            None => origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        };
        if allowed {
            Ok(())
        } else {
            Err(format!("Origin '{origin}' is not allowed"))
        }
    }
}

/// Whether the host part of a `Host` header names this machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [::1]:port
        rest.split_once(']').map_or(rest, |(ip, _)| ip)
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Applies a [`Policy`], then the authentication hook if any: why the handshake must be
/// refused, or the values to attach to the connection.
pub(crate) fn admit(
    policy: &Policy,
    auth: Option<&Authenticate>,
    handshake: &Handshake<'_>,
) -> Result<Locals, Refusal> {
    policy
        .check(handshake.headers())
        .map_err(Refusal::forbidden)?;
    match auth {
        Some(auth) => auth.check(handshake),
        None => Ok(Locals::new()),
    }
}

/// The tungstenite callback of [`Server::bind`](crate::Server)'s handshakes: applies the
/// policy and the authentication hook, answers a refusal with its status, and hands what the
/// hook attached over to the connection.
pub(crate) struct Guard {
    pub(crate) policy: Policy,
    pub(crate) auth: Option<Authenticate>,
    pub(crate) peer: SocketAddr,
    pub(crate) admitted: oneshot::Sender<Locals>,
}

impl Callback for Guard {
    fn on_request(self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        let handshake = Handshake::of(request, Some(self.peer));
        match admit(&self.policy, self.auth.as_ref(), &handshake) {
            Ok(locals) => {
                // The receiver waits for the handshake's end: it is still there.
                let _ = self.admitted.send(locals);
                Ok(response)
            }
            Err(refusal) => {
                tracing::info!(peer = %self.peer, %refusal, "refused WebSocket handshake");
                let mut response = ErrorResponse::new(Some(refusal.body()));
                *response.status_mut() = refusal.status();
                Err(response)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::http::HeaderValue;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    fn policy(config: crate::Config) -> Policy {
        Policy::new(&config, "127.0.0.1:9000".parse().unwrap())
    }

    #[test]
    fn same_origin_by_default() {
        let p = policy(crate::Config::default());
        assert!(p.check(&headers("localhost:9000", None)).is_ok());
        assert!(
            p.check(&headers("localhost:9000", Some("http://localhost:9000")))
                .is_ok()
        );
        assert!(
            p.check(&headers("127.0.0.1:9000", Some("http://127.0.0.1:9000/")))
                .is_ok()
        );
        assert!(
            p.check(&headers("localhost:9000", Some("http://localhost:8080")))
                .is_err()
        );
        assert!(
            p.check(&headers("localhost:9000", Some("https://evil.example")))
                .is_err()
        );
        assert!(p.check(&headers("localhost:9000", Some("null"))).is_err());
    }

    #[test]
    fn allow_list_replaces_same_origin() {
        let p = policy(crate::Config::default().allow_origin("http://localhost:8080/"));
        assert!(
            p.check(&headers("localhost:9000", Some("http://LOCALHOST:8080")))
                .is_ok()
        );
        assert!(
            p.check(&headers("localhost:9000", Some("http://localhost:9000")))
                .is_err()
        );
        let any = policy(crate::Config::default().allow_any_origin());
        assert!(
            any.check(&headers("localhost:9000", Some("https://x.example")))
                .is_ok()
        );
    }

    #[test]
    fn loopback_server_checks_host() {
        let p = policy(crate::Config::default().allow_any_origin());
        for ok in [
            "localhost:9000",
            "127.0.0.1:9000",
            "[::1]:9000",
            "app.localhost",
            "127.1.2.3",
        ] {
            assert!(p.check(&headers(ok, None)).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example:9000",
            "10.0.0.1:9000",
            "localhost.evil.example",
            "",
        ] {
            assert!(p.check(&headers(bad, None)).is_err(), "{bad}");
        }
        let off = policy(crate::Config::default().check_host(false));
        assert!(off.check(&headers("evil.example:9000", None)).is_ok());
        let public = Policy::new(&crate::Config::default(), "0.0.0.0:9000".parse().unwrap());
        assert!(public.check(&headers("my.host:9000", None)).is_ok());
    }
}
