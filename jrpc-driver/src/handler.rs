//! How an ordinary Rust function becomes an RPC method: its arguments are bound from the
//! request's (args, kwargs) by the core's Python-style binding, its return value is serialized
//! into `result`, and an error it returns names the failure.
//!
//! Four shapes register, each for 0 to 6 parameters: `fn(A, B) -> R`, `fn(A, B) -> impl Future`,
//! and both with a leading [`Ctx`] parameter that reaches the peer and the server's state.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use jrpc_proto::{Args, RpcError, WriteJson};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Groups, Peer};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a method call gets besides its arguments: the peer that called (to call it back) and
/// the state shared by the whole server.
///
/// A method takes it as its first parameter, before its arguments:
///
/// ```
/// # use jrpc_driver::{CallError, Ctx, Methods};
/// let methods = Methods::new()
///     // Which connection called.
///     .add("WhoAmI", |ctx: Ctx| ctx.peer().id())
///     // A call back to the caller while answering it.
///     .add("Greet", |ctx: Ctx, greeting: String| async move {
///         let name: String = ctx.peer().request("GetName", ()).await?;
///         Ok::<_, CallError>(format!("{greeting}, {name}!"))
///     });
/// assert_eq!(methods.names(), ["Greet", "WhoAmI"]);
/// ```
#[derive(Clone)]
pub struct Ctx<S = ()> {
    pub(crate) peer: Peer,
    pub(crate) state: S,
}

impl<S> Ctx<S> {
    /// The peer this call came from; calls on it go back over the same connection.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// The groups of the server (or client): [`Groups::to`] broadcasts, [`Peer::join`] joins.
    pub fn groups(&self) -> &Groups {
        self.peer.groups()
    }

    /// The state shared by every connection of the server (or client).
    pub fn state(&self) -> &S {
        &self.state
    }
}

/// A method's answer: at once (synchronous functions) or later.
pub enum Reply {
    /// The function already returned.
    Ready(Result<Answer, RpcError>),
    /// The function returned a future.
    Pending(BoxFuture<Result<Answer, RpcError>>),
}

/// A method's result, kept as the method returned it until the connection writes it into the
/// response: encoded once, where it goes, with no [`Value`] tree made on the way (a method that
/// returns a megabyte of records pays for one encoding, not for a tree and its encoding).
///
/// ```
/// use jrpc_driver::Answer;
///
/// let answer = Answer::new(vec!["a".to_owned(), "b".to_owned()]);
/// let mut json = String::new();
/// answer.as_json().write_json(&mut json)?;
/// assert_eq!(json, r#"["a","b"]"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub struct Answer(Held);

enum Held {
    /// A float, the usual result (`|a: f64, b: f64| a + b`), written as it is: no `Value` made,
    /// none dropped, and the writer's float reached with no dispatch on a `Value`'s kind.
    F64(f64),
    /// A small plain value (a number, a bool, …), made a `Value` at no allocation.
    Value(Value),
    /// Anything else, boxed as it came.
    Boxed(Box<dyn WriteJson + Send>),
}

impl Answer {
    /// Holds `value` until it is written.
    pub fn new<T: Serialize + Send + 'static>(value: T) -> Self {
        // Decided when `T` is known: no test at run time.
        if let Some(&float) = (&value as &dyn Any).downcast_ref::<f64>() {
            return Self(Held::F64(float));
        }
        // A value this small with nothing to drop (numbers, bools, `()`) is a `Value` with no
        // allocation; boxing it would cost one.
        if std::mem::size_of::<T>() <= 16 && !std::mem::needs_drop::<T>() {
            if let Ok(value) = serde_json::to_value(&value) {
                return Self(Held::Value(value));
            }
        }
        Self(Held::Boxed(Box::new(value)))
    }

    /// The result as something that writes its JSON.
    pub fn as_json(&self) -> &dyn WriteJson {
        match &self.0 {
            Held::F64(float) => float,
            Held::Value(value) => value,
            Held::Boxed(boxed) => boxed.as_ref(),
        }
    }
}

impl From<Value> for Answer {
    fn from(value: Value) -> Self {
        Self(Held::Value(value))
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Held::F64(float) => f.debug_tuple("Answer").field(float).finish(),
            Held::Value(value) => f.debug_tuple("Answer").field(value).finish(),
            Held::Boxed(_) => f.write_str("Answer(..)"),
        }
    }
}

/// Turns what a method returns into the response's `result` or failure.
///
/// Implemented for any `T: Serialize` (marker `Plain`) and for `Result<T, E>` where
/// `E: Into<RpcError>` (marker `Fallible`: the error names the failure). `M` tells the two
/// apart, so an error type must not itself be `Serialize`... unless it is only ever returned
/// inside `Result`. A result that cannot be encoded as JSON is answered with an `InternalError`.
pub trait IntoResult<M> {
    /// The response this value makes.
    fn into_result(self) -> Result<Answer, RpcError>;
}

/// Marker of [`IntoResult`] for plain serializable values.
pub enum Plain {}
/// Marker of [`IntoResult`] for `Result<T, E>`.
pub enum Fallible {}

impl<T: Serialize + Send + 'static> IntoResult<Plain> for T {
    fn into_result(self) -> Result<Answer, RpcError> {
        Ok(Answer::new(self))
    }
}

impl<T: Serialize + Send + 'static, E: Into<RpcError>> IntoResult<Fallible> for Result<T, E> {
    fn into_result(self) -> Result<Answer, RpcError> {
        self.map(Answer::new).map_err(Into::into)
    }
}

/// A function that can serve as an RPC method. `M` is a marker that tells the shapes apart;
/// it is inferred, never written.
pub trait Handler<S, M>: Send + Sync + 'static {
    /// Calls the function with arguments bound from `params`. The context is borrowed: only a
    /// function that takes it pays for a copy.
    fn call(&self, ctx: &Ctx<S>, params: Args) -> Reply;
}

/// Marker: a plain function.
pub enum SyncFn {}
/// Marker: a function returning a future.
pub enum AsyncFn {}
/// Marker: a plain function whose first parameter is [`Ctx`].
pub enum SyncCtxFn {}
/// Marker: a function returning a future whose first parameter is [`Ctx`].
pub enum AsyncCtxFn {}

/// Binds `params` to the tuple of the function's parameter types: none, the one type itself
/// (so a struct takes args and kwargs by name), or a tuple (positional).
macro_rules! bind {
    ($params:ident;) => {
        $params.bind::<()>().map(|()| ())
    };
    ($params:ident; $a:ident) => {
        $params.bind::<$a>().map(|a| (a,))
    };
    ($params:ident; $($a:ident),+) => {
        $params.bind::<($($a,)+)>()
    };
}

macro_rules! handlers {
    ($($a:ident),*) => {
        #[allow(non_snake_case, unused_variables)]
        impl<S, F, R, RM, $($a,)*> Handler<S, (SyncFn, RM, $($a,)*)> for F
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
            R: IntoResult<RM>,
            $($a: DeserializeOwned,)*
        {
            fn call(&self, _ctx: &Ctx<S>, params: Args) -> Reply {
                Reply::Ready(bind!(params; $($a),*).and_then(|($($a,)*)| self($($a),*).into_result()))
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<S, F, Fut, R, RM, $($a,)*> Handler<S, (AsyncFn, RM, $($a,)*)> for F
        where
            F: Fn($($a),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoResult<RM>,
            $($a: DeserializeOwned,)*
        {
            fn call(&self, _ctx: &Ctx<S>, params: Args) -> Reply {
                match bind!(params; $($a),*) {
                    Ok(($($a,)*)) => {
                        let future = self($($a),*);
                        Reply::Pending(Box::pin(async move { future.await.into_result() }))
                    }
                    Err(e) => Reply::Ready(Err(e)),
                }
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<S, F, R, RM, $($a,)*> Handler<S, (SyncCtxFn, RM, $($a,)*)> for F
        where
            S: Clone,
            F: Fn(Ctx<S>, $($a),*) -> R + Send + Sync + 'static,
            R: IntoResult<RM>,
            $($a: DeserializeOwned,)*
        {
            fn call(&self, ctx: &Ctx<S>, params: Args) -> Reply {
                Reply::Ready(bind!(params; $($a),*).and_then(|($($a,)*)| self(ctx.clone(), $($a),*).into_result()))
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<S, F, Fut, R, RM, $($a,)*> Handler<S, (AsyncCtxFn, RM, $($a,)*)> for F
        where
            S: Clone,
            F: Fn(Ctx<S>, $($a),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoResult<RM>,
            $($a: DeserializeOwned,)*
        {
            fn call(&self, ctx: &Ctx<S>, params: Args) -> Reply {
                match bind!(params; $($a),*) {
                    Ok(($($a,)*)) => {
                        let future = self(ctx.clone(), $($a),*);
                        Reply::Pending(Box::pin(async move { future.await.into_result() }))
                    }
                    Err(e) => Reply::Ready(Err(e)),
                }
            }
        }
    };
}

handlers!();
handlers!(A1);
handlers!(A1, A2);
handlers!(A1, A2, A3);
handlers!(A1, A2, A3, A4);
handlers!(A1, A2, A3, A4, A5);
handlers!(A1, A2, A3, A4, A5, A6);

#[cfg(test)]
mod tests {
    use super::*;

    /// A float held as it is writes what its `Value` wrote (the way every other small result
    /// goes): `null` for what JSON cannot hold, `.0` on integral ones, the shortest digits.
    #[test]
    fn a_float_answer_writes_as_its_value_did() -> Result<(), serde_json::Error> {
        for float in [
            3.0,
            0.0,
            -0.0,
            0.1,
            -2.5,
            1e15,
            1e16,
            1e300,
            9007199254740993.0,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let mut held = String::new();
            Answer::new(float).as_json().write_json(&mut held)?;
            let mut as_value = String::new();
            Answer::from(serde_json::to_value(float)?)
                .as_json()
                .write_json(&mut as_value)?;
            assert_eq!(held, as_value, "{float}");
            assert_eq!(held, serde_json::to_string(&float)?, "{float}");
        }
        Ok(())
    }
}
