//! Dialling a server: the client side of a connection serves methods too, for the calls the
//! server makes to it.

use std::sync::Arc;

use tungstenite::client::IntoClientRequest;

use crate::{Builder, Methods, Peer, Runtime, connection};

/// Why a client could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a usable `ws://` URL.
    #[error("invalid URL '{url}': {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TCP connection or the WebSocket handshake failed.
    #[error("cannot connect to {url}: {source}")]
    Handshake {
        /// The URL dialled.
        url: String,
        /// The underlying failure.
        #[source]
        source: Box<tungstenite::Error>,
    },
}

impl<R: Runtime, S: Clone + Send + Sync + 'static> Builder<R, S> {
    /// Dials `url` (`ws://host:port/path`) and serves `methods` to the server on the new
    /// connection. The returned [`Peer`] calls the server.
    pub async fn connect(self, url: &str, methods: Methods<S>) -> Result<Peer, ConnectError> {
        let request = url
            .into_client_request()
            .map_err(|e| ConnectError::InvalidUrl {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        let (socket, _response) =
            R::connect(request, self.config.websocket())
                .await
                .map_err(|e| ConnectError::Handshake {
                    url: url.to_owned(),
                    source: Box::new(e),
                })?;
        Ok(connection::spawn(
            &self.runtime,
            socket,
            Arc::new(methods),
            self.state,
            &self.config,
            None,
            None,
        ))
    }
}

/// Entry point of the client side: [`Client::connect`] for a plain client,
/// [`Client::builder`] for one with methods, state or settings of its own.
#[derive(Debug)]
pub struct Client<R>(std::marker::PhantomData<R>);

impl<R: Runtime + Default> Client<R> {
    /// A builder with default settings and no state.
    pub fn builder() -> Builder<R, ()> {
        Builder::default()
    }

    /// Dials `url` with default settings, serving no methods.
    pub async fn connect(url: &str) -> Result<Peer, ConnectError> {
        Self::builder().connect(url, Methods::new()).await
    }
}
