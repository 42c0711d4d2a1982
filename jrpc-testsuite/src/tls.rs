//! `wss://`: a client on the runtime under test dials a TLS server, trusting (or not) the test
//! certificate authority. The server is a plain blocking one (std sockets, rustls, tungstenite)
//! on threads of its own, answering with the sans-IO core, so it is the same for every runtime
//! and shares nothing with the client it tests.
//!
//! The certificates are in `tls/` (made by `scripts/make-test-certs.sh`): a test authority and a
//! certificate for `localhost` and `127.0.0.1` signed by it, valid until 2126.

use std::error::Error;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use jrpc_driver::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use jrpc_driver::rustls::{self, ServerConfig, ServerConnection, StreamOwned};
use jrpc_driver::tungstenite::{self, Message};
use jrpc_driver::{Builder, Config, ConnectError, Methods, Runtime};
use jrpc_proto::{Endpoint, Event, RpcError};

/// The test certificate authority, DER-encoded.
pub const TEST_CA: &[u8] = include_bytes!("../tls/ca.der");
/// The same, PEM-encoded.
pub const TEST_CA_PEM: &str = include_str!("../tls/ca.pem");
const CERTIFICATE: &[u8] = include_bytes!("../tls/localhost.der");
const KEY: &[u8] = include_bytes!("../tls/localhost.key.der");

/// Starts a `wss://` server on 127.0.0.1 that answers `Add(a, b)` with the certificate for
/// `localhost` and `127.0.0.1` (signed by [`TEST_CA`]); it lives as long as the test process.
pub fn serve() -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(KEY.to_vec()));
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(CERTIFICATE.to_vec())], key)
        .expect("the test certificate and key");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            // A refused handshake is what some cases want: its error is theirs to see.
            std::thread::spawn(move || {
                let _ = answer(tcp, config);
            });
        }
    });
    addr
}

/// Serves one connection: TLS, the WebSocket handshake, then every request answered by an
/// endpoint of the core.
fn answer(tcp: TcpStream, config: Arc<ServerConfig>) -> Result<(), Box<dyn Error>> {
    let tls = StreamOwned::new(ServerConnection::new(config)?, tcp);
    let mut ws = tungstenite::accept(tls)?;
    let mut endpoint = Endpoint::default();
    loop {
        let Message::Text(text) = ws.read()? else {
            continue;
        };
        endpoint.handle_text(text.as_str())?;
        while let Some(event) = endpoint.poll_event() {
            if let Event::Request(request) = event {
                let result = match request.method.as_str() {
                    "Add" => request
                        .params
                        .bind::<(i64, i64)>()
                        .map(|(a, b)| serde_json::json!(a + b)),
                    other => Err(RpcError::method_not_found(other)),
                };
                endpoint.reply(request.responder, result);
            }
        }
        while let Some(frame) = endpoint.poll_transmit() {
            ws.send(Message::text(frame))?;
        }
    }
}

/// With the test authority among its roots, a client dials `wss://` by name and by address
/// and calls a method over TLS.
pub async fn wss_calls_a_server_it_trusts<R: Runtime + Default>() {
    let port = serve().port();
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("wss://{host}:{port}/");
        let config = Config::default().add_root_certificate(TEST_CA);
        let peer = Builder::<R, ()>::default()
            .config(config)
            .connect(&url, Methods::new())
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let sum: i64 = peer.request("Add", (5, 10)).await.expect("answered");
        assert_eq!(sum, 15, "{url}");
    }
}

/// Without the test authority, the server's certificate is refused: the connection fails
/// with a TLS error that names the certificate.
pub async fn wss_refuses_a_server_it_does_not_trust<R: Runtime + Default>() {
    let url = format!("wss://localhost:{}/", serve().port());
    let refused = Builder::<R, ()>::default()
        .connect(&url, Methods::new())
        .await
        .expect_err("an unknown issuer is refused");
    match refused {
        ConnectError::Handshake { source, .. } => {
            assert!(source.to_string().contains("certificate"), "{source}")
        }
        other => panic!("refused for another reason: {other}"),
    }
}

/// A root that is not a DER certificate is reported before anything is dialled, as a fault of
/// the root (not of the server's certificate).
pub async fn wss_reports_an_unusable_root<R: Runtime + Default>() {
    let config = Config::default().add_root_certificate(b"not a certificate".to_vec());
    let failed = Builder::<R, ()>::default()
        .config(config)
        .connect("wss://localhost:9/", Methods::new())
        .await
        .expect_err("an unusable root fails the connect");
    assert!(matches!(failed, ConnectError::Tls { .. }), "{failed}");
    let message = failed.to_string();
    assert!(message.contains("root certificate #1"), "{message}");
    assert!(!message.contains("peer"), "{message}");
}
