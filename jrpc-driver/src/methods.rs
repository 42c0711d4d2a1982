//! The method table: names mapped to functions, and the hooks that run when a connection
//! opens and closes. Shared by every connection of a server (or by one client).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use jrpc_proto::Args;

use crate::handler::{BoxFuture, Ctx, Handler, Reply};

type ErasedHandler<S> = dyn Fn(&Ctx<S>, Args) -> Reply + Send + Sync;
type Hook<S> = dyn Fn(Ctx<S>) -> BoxFuture<()> + Send + Sync;

/// Names mapped to Rust functions, plus connection hooks; `S` is the state every call can
/// reach through [`Ctx::state`].
///
/// How a method runs: requests are started in the order they arrive, on the connection's own
/// task, up to the method's first `.await`; a method that finishes there (every plain `fn`) is
/// answered with no task and no channel hop. A method that awaits goes on as a task of its own,
/// so it may call back into its peer (`ctx.peer().request(..)`) without deadlocking, and a slow
/// one never holds up the others. So a method that blocks or computes for long should be an
/// `async fn` that moves that work off (e.g. `tokio::task::spawn_blocking`): until its first
/// `.await` it holds up its own connection (never the others).
///
/// ```
/// use jrpc_driver::{Ctx, Methods, RpcError};
///
/// #[derive(serde::Deserialize)]
/// struct Pair { a: f64, b: f64 }
///
/// async fn divide(p: Pair) -> Result<f64, RpcError> {
///     if p.b == 0.0 {
///         return Err(RpcError::new("ZeroDivisionError", "division by zero"));
///     }
///     Ok(p.a / p.b)
/// }
///
/// let methods = Methods::new()
///     .add("Add", |a: i64, b: i64| a + b)
///     .add("Divide", divide)
///     .add("WhoAmI", |ctx: Ctx| ctx.peer().id());
/// assert!(methods.contains("Divide"));
/// ```
///
/// A parameter of type `Box<serde_json::value::RawValue>` takes its argument's JSON through as
/// text, checked but not parsed into types (nor into a `Value`), and returned as such it is
/// written back as it came: the cheap way for a method that stores or forwards JSON it does not
/// look into.
///
/// ```
/// use jrpc_driver::Methods;
/// use serde_json::value::RawValue;
///
/// let methods = Methods::new().add("Store", |(document,): (Box<RawValue>,)| document);
/// assert!(methods.contains("Store"));
/// ```
pub struct Methods<S = ()> {
    /// Looked up once per request: foldhash rather than the default SipHash (4% of a call's
    /// instructions); the table's keys are ours, so a peer's names cannot flood it.
    /// Each handler shared, so that a connection can keep the one it called last
    /// ([`LastMethod`]).
    table: HashMap<String, Arc<ErasedHandler<S>>, foldhash::fast::RandomState>,
    on_open: Option<Arc<Hook<S>>>,
    on_close: Option<Arc<Hook<S>>>,
}

impl<S> Default for Methods<S> {
    fn default() -> Self {
        Self {
            table: HashMap::default(),
            on_open: None,
            on_close: None,
        }
    }
}

impl<S> fmt::Debug for Methods<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.table.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Methods").field("names", &names).finish()
    }
}

impl Methods<()> {
    /// An empty table with no shared state.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S: Clone + Send + Sync + 'static> Methods<S> {
    /// An empty table whose methods reach `S` through [`Ctx::state`]; the state itself is
    /// given to the server or client.
    pub fn with_state() -> Self {
        Self::default()
    }

    /// Registers `handler` under `name`, replacing any method of that name.
    pub fn add<M, H: Handler<S, M>>(mut self, name: impl Into<String>, handler: H) -> Self {
        self.insert(name, handler);
        self
    }

    /// Registers `handler` under `name` in place, replacing any method of that name.
    pub fn insert<M, H: Handler<S, M>>(&mut self, name: impl Into<String>, handler: H) {
        let erased = move |ctx: &Ctx<S>, params: Args| handler.call(ctx, params);
        self.table.insert(name.into(), Arc::new(erased));
    }

    /// Runs `hook` as a task of its own when a connection opens (the original's `onOpen`):
    /// it may call the peer, e.g. to start pushing to it.
    pub fn on_open<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Ctx<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_open = Some(Arc::new(move |ctx| Box::pin(hook(ctx))));
        self
    }

    /// Runs `hook` as a task of its own once a connection has closed; calls on its peer then
    /// fail with a connection-closed error.
    pub fn on_close<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Ctx<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_close = Some(Arc::new(move |ctx| Box::pin(hook(ctx))));
        self
    }
}

/// The number that tells a handler from the table's others: where its shared allocation lives
/// (the handler's own address does not, since handlers without captures share one).
fn key<S>(handler: &Arc<ErasedHandler<S>>) -> usize {
    Arc::as_ptr(handler).cast::<()>() as usize
}

/// The method a connection called last, kept so that calls of one method in a row (the usual
/// load) find it by one comparison of names, not by hashing the name and probing the table
/// (about 110 instructions a call).
pub(crate) struct LastMethod<S> {
    /// Its name (a name the table has, so no longer than the longest of them).
    name: String,
    /// Its handler, once a method was found.
    handler: Option<Arc<ErasedHandler<S>>>,
}

impl<S> Default for LastMethod<S> {
    fn default() -> Self {
        Self {
            name: String::new(),
            handler: None,
        }
    }
}

impl<S> LastMethod<S> {
    /// The method `name` of `methods` (always the same table), with its [`key`]: the one
    /// kept when it has that name, else looked up, and kept when found.
    #[inline(always)]
    pub(crate) fn get<'a>(
        &'a mut self,
        methods: &Methods<S>,
        name: &str,
    ) -> Option<(&'a ErasedHandler<S>, usize)> {
        if self.handler.is_none() || self.name != name {
            self.look_up(methods, name)?;
        }
        let handler = self.handler.as_ref()?;
        Some((handler.as_ref(), key(handler)))
    }

    /// [`get`](Self::get) of a method other than the one kept: found in the table, and kept.
    #[cold]
    #[inline(never)]
    fn look_up(&mut self, methods: &Methods<S>, name: &str) -> Option<()> {
        let entry = methods.table.get(name)?;
        self.handler = Some(entry.clone());
        self.name.clear();
        self.name.push_str(name);
        Some(())
    }
}

impl<S> Methods<S> {
    /// Whether a method of that name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.table.contains_key(name)
    }

    /// The names of the registered methods, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.table.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Makes the `on_open` hook, if any, wait for `gate(ctx)` before it runs.
    pub(crate) fn gate_open<G, Fut>(&mut self, gate: G)
    where
        S: Clone + Send + 'static,
        G: Fn(&Ctx<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if let Some(hook) = self.on_open.take() {
            self.on_open = Some(Arc::new(move |ctx: Ctx<S>| {
                let ready = gate(&ctx);
                let hook = hook.clone();
                Box::pin(async move {
                    ready.await;
                    hook(ctx).await
                })
            }));
        }
    }

    pub(crate) fn open_hook(&self) -> Option<Arc<Hook<S>>> {
        self.on_open.clone()
    }

    pub(crate) fn close_hook(&self) -> Option<Arc<Hook<S>>> {
        self.on_close.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The method kept is found again under its name only; another name is looked up (and
    /// kept when the table has it), an unknown one found nowhere: each name always finds the
    /// table's own handler (told apart by its key, the handler's allocation).
    #[test]
    fn the_last_method_is_found_again_by_name() {
        let methods = Methods::new()
            .add("one", || 1)
            .add("two", || 2)
            .add("on", || 3);
        let in_table = |name: &str| methods.table.get(name).map(key);
        let (one, two, on) = (in_table("one"), in_table("two"), in_table("on"));
        assert!(one.is_some() && two.is_some() && on.is_some());
        assert!(one != two && one != on && two != on);
        let mut last = LastMethod::default();
        for name in [
            "one", "one", "two", "on", "one", "nope", "one", "ones", "", "two", "two",
        ] {
            let found = last.get(&methods, name).map(|(_, key)| key);
            assert_eq!(found, in_table(name), "{name}");
        }
    }
}
