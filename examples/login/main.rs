//! A page with a login: the WebSocket is refused (401) without a session cookie, and methods
//! answer per user.
//!
//! ```sh
//! cargo run --example login    # then open http://localhost:8080/ (two browsers: two users)
//! ```
//!
//! - `GET /` serves the sign-in form, or once signed in the app page; a WebSocket handshake on
//!   `/` is the app's JRPC connection.
//! - `POST /login` (the form: a name, no password in this demo) starts a session: a random id
//!   in an `HttpOnly`, `SameSite=Strict` cookie, the name kept on the server under that id.
//! - The handshake's authentication hook looks the cookie up: no cookie or an unknown one is
//!   refused with 401; a known one attaches the user to the connection, where `WhoAmI`,
//!   `Count` and `Increment` find it (`ctx.peer().local::<User>()`).
//! - `POST /logout` ends the session; the page's WebSocket is then refused again.
//!
//! A browser cannot set headers on a WebSocket, so a page proves who it is with what the
//! browser sends along by itself: the site's cookie, as here. The other standard way is a
//! short-lived token in the URL's query (`new JRPC.WebSocket("/?token=...")`, read with
//! `Handshake::query_param`), handed out by an authenticated HTTP request; non-browser clients
//! send an `Authorization` header instead.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::extract::{Form, Request};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jrpc_tokio::hyper::is_websocket_upgrade;
use jrpc_tokio::{Ctx, Handshake, Locals, Methods, Refusal, RpcError, Server};
use serde::Deserialize;

/// The session cookie's name.
const COOKIE: &str = "jrpc_session";
/// Most sessions kept at once: signing in beyond that is refused (503) rather than growing.
const MAX_SESSIONS: usize = 10_000;
/// The longest name, in characters.
const MAX_NAME: usize = 40;

/// The sessions (id → user name) and each user's counter, shared by the web routes, the
/// authentication hook and the methods.
#[derive(Clone, Default)]
struct App {
    sessions: Arc<Mutex<HashMap<String, String>>>,
    counters: Arc<Mutex<HashMap<String, u64>>>,
}

/// Who a connection belongs to: attached by the authentication hook.
struct User(String);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the map cannot leave it half-written: take it as it is.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl App {
    /// The user of the session whose id the cookie `COOKIE` carries, if any.
    fn user_of(&self, handshake: &Handshake<'_>) -> Option<String> {
        let id = handshake.cookie(COOKIE)?;
        lock(&self.sessions).get(id).cloned()
    }

    /// The handshake's authentication: a known session, or 401.
    fn authenticate(&self, handshake: &Handshake<'_>) -> Result<Locals, Refusal> {
        match self.user_of(handshake) {
            Some(name) => Ok(Locals::new().with(User(name))),
            None => Err(Refusal::unauthorized("sign in first")),
        }
    }
}

/// The signed-in user of a call (always there: the hook refused connections without one).
fn user(ctx: &Ctx<App>) -> Result<String, RpcError> {
    let user = ctx.peer().local::<User>();
    user.map(|user| user.0.clone())
        .ok_or_else(|| RpcError::new("Unauthorized", "not signed in"))
}

/// The methods: each answers for the caller's own user.
fn methods() -> Methods<App> {
    Methods::with_state()
        .add("WhoAmI", |ctx: Ctx<App>| user(&ctx))
        .add("Count", |ctx: Ctx<App>| {
            let name = user(&ctx)?;
            Ok::<_, RpcError>(lock(&ctx.state().counters).get(&name).copied().unwrap_or(0))
        })
        .add("Increment", |ctx: Ctx<App>| {
            let name = user(&ctx)?;
            let mut counters = lock(&ctx.state().counters);
            let count = counters.entry(name).or_insert(0);
            *count += 1;
            Ok::<_, RpcError>(*count)
        })
}

/// The sign-in form's fields.
#[derive(Deserialize)]
struct Login {
    name: String,
}

/// `POST /login`: a session for `name`, its id in the cookie, then back to `/`.
fn login(app: &App, Login { name }: Login) -> Response {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        let reason = format!("a name of 1 to {MAX_NAME} characters, please");
        return (StatusCode::BAD_REQUEST, reason).into_response();
    }
    let mut id = [0u8; 16];
    if getrandom::fill(&mut id).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let id: String = id.iter().map(|byte| format!("{byte:02x}")).collect();
    {
        let mut sessions = lock(&app.sessions);
        if sessions.len() >= MAX_SESSIONS {
            return (StatusCode::SERVICE_UNAVAILABLE, "too many sessions").into_response();
        }
        sessions.insert(id.clone(), name.to_owned());
    }
    tracing::info!(name, "signed in");
    let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// `POST /logout`: the session ends, its cookie is cleared, back to `/`.
fn logout(app: &App, request: &Request) -> Response {
    let handshake = Handshake::of(request, None);
    if let Some(id) = handshake.cookie(COOKIE) {
        lock(&app.sessions).remove(id);
    }
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

#[tokio::main]
async fn main() -> ExitCode {
    let app = App::default();
    let hook = app.clone();
    let builder = Server::builder()
        .state(app.clone())
        .authenticate(move |handshake| hook.authenticate(handshake));
    jrpc_examples::serve_router("login", builder, methods(), move |rpc| {
        let pages = app.clone();
        let (sign_in, sign_out) = (app.clone(), app);
        Router::new()
            .route(
                "/",
                get(move |request: Request| {
                    let response = if is_websocket_upgrade(request.headers()) {
                        // The authentication hook decides.
                        jrpc_tokio::axum::upgrade(&rpc, request)
                    } else if pages.user_of(&Handshake::of(&request, None)).is_some() {
                        Html(include_str!("app.html")).into_response()
                    } else {
                        Html(include_str!("login.html")).into_response()
                    };
                    async move { response }
                }),
            )
            .route(
                "/login",
                post(move |Form(form): Form<Login>| {
                    let response = login(&sign_in, form);
                    async move { response }
                }),
            )
            .route(
                "/logout",
                post(move |request: Request| {
                    let response = logout(&sign_out, &request);
                    async move { response }
                }),
            )
    })
    .await
}
