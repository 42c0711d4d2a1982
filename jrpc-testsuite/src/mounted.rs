//! Handshake authentication, and connections upgraded by another HTTP server and handed to an
//! [`Acceptor`]: the same hook, `Config` and shutdown as [`Server::bind`]'s own.

use jrpc_driver::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request as ServerRequest, Response as ServerResponse,
};
use jrpc_driver::{Acceptor, Handshake, Locals, Refusal};

use super::*;

/// The identity the test hook attaches.
#[derive(Debug)]
pub struct User(pub String);

/// What else the test hook saw of the request, attached beside the [`User`].
#[derive(Debug)]
pub struct Seen {
    /// The request's path.
    pub path: String,
    /// Where it came from.
    pub remote: Option<SocketAddr>,
}

/// The test's authentication hook: a name from `Authorization: Bearer NAME`, the cookie
/// `session=NAME` or the query `?token=NAME`; none is 401, `mallory` is 403.
pub fn authenticate(handshake: &Handshake<'_>) -> Result<Locals, Refusal> {
    let name = handshake
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .or_else(|| handshake.cookie("session"))
        .or_else(|| handshake.query_param("token"));
    match name {
        None => Err(Refusal::unauthorized("no credentials")),
        Some("mallory") => Err(Refusal::forbidden("mallory may not connect")),
        Some(name) => Ok(Locals::new().with(User(name.to_owned())).with(Seen {
            path: handshake.path().to_owned(),
            remote: handshake.remote_addr(),
        })),
    }
}

/// Methods that tell who the caller is and what its handshake looked like; `on_open` reports
/// each connection's user on `opened`.
pub fn who_methods(opened: mpsc::UnboundedSender<Option<String>>) -> Methods {
    Methods::new()
        .add("WhoAmI", |ctx: Ctx| {
            ctx.peer().local::<User>().map(|user| user.0.clone())
        })
        .add("Seen", |ctx: Ctx| {
            let seen = ctx.peer().local::<Seen>();
            let path = seen.as_ref().map(|seen| seen.path.clone());
            let loopback = seen
                .and_then(|seen| seen.remote)
                .map(|a| a.ip().is_loopback());
            (path, loopback, ctx.peer().remote_addr().is_some())
        })
        .on_open(move |ctx: Ctx| {
            let user = ctx.peer().local::<User>().map(|user| user.0.clone());
            let _ = opened.unbounded_send(user);
            async {}
        })
}

/// Dials `url` with extra `headers`: the raw socket, or the status and body of a refusal.
async fn dial_with<R: Runtime + Default>(
    url: &str,
    headers: &[(&'static str, &str)],
) -> Result<Raw<R>, (StatusCode, String)> {
    let mut request = url.into_client_request().expect("URL");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("header"));
    }
    match Raw::<R>::handshake(request).await {
        Ok(raw) => Ok(raw),
        Err(WsError::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            Err((
                response.status(),
                String::from_utf8_lossy(body).into_owned(),
            ))
        }
        Err(other) => panic!("handshake failed with {other}, not an HTTP refusal"),
    }
}

/// What `method` answers on a raw socket (a request with id 1).
async fn raw_call<R: Runtime + Default>(raw: &mut Raw<R>, method: &str) -> Value {
    raw.send_json(&request(method, json!([]), 1)).await;
    let mut answer = raw.recv_json().await;
    assert_eq!(answer["error"], Value::Null, "{method} failed: {answer}");
    answer["result"].take()
}

/// Checks the test hook's decisions on a server at `url` (`ws://host:port/`, serving
/// [`who_methods`] with [`authenticate`]; pages of `origin` allowed): refusals with their status, identities attached before `on_open`, seen by
/// methods, per connection.
pub async fn check_authentication<R: Runtime + Default>(
    url: &str,
    origin: &str,
    opens: &mut mpsc::UnboundedReceiver<Option<String>>,
) {
    let refusal = |raw: Result<Raw<R>, (StatusCode, String)>| match raw {
        Ok(_) => panic!("admitted"),
        Err((status, body)) => (status, body),
    };
    let (status, body) = refusal(dial_with::<R>(url, &[]).await);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.is_empty() || body.contains("no credentials"), "{body}");
    let forbidden = dial_with::<R>(url, &[("authorization", "Bearer mallory")]).await;
    assert_eq!(refusal(forbidden).0, StatusCode::FORBIDDEN);
    // The Origin check comes first: good credentials from a foreign page are refused.
    let foreign = [
        ("cookie", "session=alice"),
        ("origin", "http://evil.example"),
    ];
    assert_eq!(
        refusal(dial_with::<R>(url, &foreign).await).0,
        StatusCode::FORBIDDEN
    );

    let mut alice = dial_with::<R>(url, &[("authorization", "Bearer alice")])
        .await
        .expect("alice admitted");
    assert_eq!(
        signal::<R, _>("alice's on_open", opens).await.as_deref(),
        Some("alice"),
        "on_open sees the identity"
    );
    let cookie_url = format!("{url}rpc?page=1");
    let browser = [("cookie", "theme=dark; session=bob"), ("origin", origin)];
    let mut bob = dial_with::<R>(&cookie_url, &browser)
        .await
        .expect("bob admitted");
    let token_url = format!("{url}?token=carol");
    let mut carol = dial_with::<R>(&token_url, &[])
        .await
        .expect("carol admitted");
    assert_eq!(raw_call(&mut alice, "WhoAmI").await, json!("alice"));
    assert_eq!(raw_call(&mut bob, "WhoAmI").await, json!("bob"));
    assert_eq!(raw_call(&mut carol, "WhoAmI").await, json!("carol"));
    assert_eq!(
        raw_call(&mut bob, "Seen").await,
        json!(["/rpc", true, true])
    );
}

/// [`Server::bind`] with an authentication hook: 401 and 403 refusals, identities from a
/// header, a cookie or the query, attached to their connection before `on_open`.
pub async fn handshake_authentication<R: Runtime + Default>() {
    let (opened, mut opens) = mpsc::unbounded();
    let bind = Server::<R>::builder()
        .config(Config::default().allow_origin("http://app.localhost:8080"))
        .authenticate(authenticate)
        .bind("127.0.0.1:0", who_methods(opened));
    let server = within::<R, _>("bind", bind).await.expect("bind");
    let url = format!("ws://{}/", server.local_addr());
    let handle = server.handle();
    R::default().spawn(server.run());
    check_authentication::<R>(&url, "http://app.localhost:8080", &mut opens).await;
    within::<R, _>("shutdown", handle.shutdown(Duration::from_secs(1))).await;
}

/// A tungstenite handshake callback that asks an [`Acceptor`], as a custom server would.
struct AskAcceptor<R: Runtime> {
    acceptor: Acceptor<R>,
    remote: SocketAddr,
    admitted: oneshot::Sender<Locals>,
}

impl<R: Runtime> Callback for AskAcceptor<R> {
    fn on_request(
        self,
        request: &ServerRequest,
        response: ServerResponse,
    ) -> Result<ServerResponse, ErrorResponse> {
        match self
            .acceptor
            .admit(&Handshake::of(request, Some(self.remote)))
        {
            Ok(locals) => {
                let _ = self.admitted.send(locals);
                Ok(response)
            }
            Err(refusal) => {
                let mut response = ErrorResponse::new(Some(refusal.body()));
                *response.status_mut() = refusal.status();
                Err(response)
            }
        }
    }
}

/// A server of its own (its accept loop and handshakes here, on the runtime's sockets) that
/// hands each upgraded socket to an [`Acceptor`]: served with the acceptor's methods, hook and
/// limits; closed (1001) by the acceptor's shutdown, after which a socket is no longer served.
pub async fn acceptor_serves_upgraded_sockets<R: Runtime + Default>() {
    let runtime = R::default();
    let listener = within::<R, _>("bind", runtime.bind(([127, 0, 0, 1], 0).into()))
        .await
        .expect("bind");
    let addr = R::local_addr(&listener).expect("local address");
    let (opened, mut opens) = mpsc::unbounded();
    let methods = who_methods(opened).add("Echo", |text: String| text);
    let acceptor = Server::<R>::builder()
        .config(
            Config::default()
                .allow_origin("http://app.localhost:8080")
                .max_message_size(1 << 10),
        )
        .authenticate(authenticate)
        .acceptor(addr, methods);
    let (served, mut serves) = mpsc::unbounded::<bool>();
    let accepting = acceptor.clone();
    runtime.spawn(async move {
        while let Ok((tcp, remote)) = R::accept(&listener).await {
            let acceptor = accepting.clone();
            let served = served.clone();
            R::default().spawn(async move {
                let (admitted, mut locals) = oneshot::channel();
                let ask = AskAcceptor {
                    acceptor: acceptor.clone(),
                    remote,
                    admitted,
                };
                let config = acceptor.websocket_config();
                if let Ok(socket) = R::accept_websocket(tcp, ask, config).await {
                    let locals = locals.try_recv().ok().flatten().unwrap_or_default();
                    let peer = acceptor.serve(socket, Some(remote), locals);
                    let _ = served.unbounded_send(peer.is_some());
                }
            });
        }
    });
    let url = format!("ws://{addr}/");
    check_authentication::<R>(&url, "http://app.localhost:8080", &mut opens).await;
    for _ in 0..3 {
        assert!(signal::<R, _>("a socket served", &mut serves).await);
    }

    // The acceptor's Config applies: a message over its limit closes with 1009.
    let mut big = dial_with::<R>(&url, &[("cookie", "session=dan")])
        .await
        .expect("dan admitted");
    assert!(signal::<R, _>("dan served", &mut serves).await);
    big.send_json(&json!({"method": "Echo", "args": ["x".repeat(2 << 10)], "id": 1}))
        .await;
    assert_eq!(big.close_code().await, CloseCode::Size);

    // Shutdown closes the connections served (1001) and then resolves.
    let mut erin = dial_with::<R>(&url, &[("cookie", "session=erin")])
        .await
        .expect("erin admitted");
    assert!(signal::<R, _>("erin served", &mut serves).await);
    assert_eq!(raw_call(&mut erin, "WhoAmI").await, json!("erin"));
    // The same service on a second port, a Server of its own: same hook, same shutdown.
    let second = within::<R, _>("bind", acceptor.bind("127.0.0.1:0"))
        .await
        .expect("a second port");
    let second_url = format!("ws://{}/", second.local_addr());
    runtime.spawn(second.run());
    let refused = dial_with::<R>(&second_url, &[]).await.err().map(|(s, _)| s);
    assert_eq!(refused, Some(StatusCode::UNAUTHORIZED));
    let mut gus = dial_with::<R>(&second_url, &[("cookie", "session=gus")])
        .await
        .expect("gus admitted on the second port");
    // Earlier connections' reports come first.
    while signal::<R, _>("gus's on_open", &mut opens).await.as_deref() != Some("gus") {}
    assert_eq!(raw_call(&mut gus, "WhoAmI").await, json!("gus"));

    let handle = acceptor.handle();
    within::<R, _>("shutdown", handle.shutdown(Duration::from_secs(1))).await;
    assert_eq!(erin.close_code().await, CloseCode::Away);
    assert_eq!(gus.close_code().await, CloseCode::Away);
    assert!(
        acceptor.bind("127.0.0.1:0").await.is_err(),
        "bound after shutdown"
    );
    // A socket upgraded after shutdown is not served: its connection just ends.
    let mut late = dial_with::<R>(&url, &[("cookie", "session=fay")])
        .await
        .expect("the handshake itself still succeeds");
    assert!(!signal::<R, _>("fay refused", &mut serves).await);
    assert_eq!(late.next().await, None);
}
