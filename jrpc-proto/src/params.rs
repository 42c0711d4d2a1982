//! The arguments of a request: positional `args` and keyword `kwargs`, as the wire carries them.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{CallError, EncodedRequest};

/// Positional and keyword arguments of one request.
///
/// Outbound, build it from a tuple (positional), a struct or map (keyword), or both with
/// [`Params::new`]. Inbound, bind it onto a Rust type with [`Params::bind`], which follows
/// Python's rules for matching arguments to parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    /// Positional arguments (`args`).
    pub args: Vec<Value>,
    /// Keyword arguments (`kwargs`).
    pub kwargs: Map<String, Value>,
}

impl Params {
    /// Params from both parts.
    pub fn new(args: Vec<Value>, kwargs: Map<String, Value>) -> Self {
        Self { args, kwargs }
    }

    /// Positional arguments only.
    pub fn positional(args: Vec<Value>) -> Self {
        Self {
            args,
            kwargs: Map::new(),
        }
    }

    /// Keyword arguments only.
    pub fn keyword(kwargs: Map<String, Value>) -> Self {
        Self {
            args: Vec::new(),
            kwargs,
        }
    }

    /// True when there are neither positional nor keyword arguments.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty() && self.kwargs.is_empty()
    }

    /// Params from any serializable value: a sequence (tuple, `Vec`, array) becomes `args`, a
    /// struct or map becomes `kwargs`, `()` or `null` becomes no arguments, and any other single
    /// value becomes one positional argument.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(match serde_json::to_value(value)? {
            Value::Null => Self::default(),
            Value::Array(args) => Self::positional(args),
            Value::Object(kwargs) => Self::keyword(kwargs),
            other => Self::positional(vec![other]),
        })
    }
}

impl From<Vec<Value>> for Params {
    fn from(args: Vec<Value>) -> Self {
        Self::positional(args)
    }
}

impl From<Map<String, Value>> for Params {
    fn from(kwargs: Map<String, Value>) -> Self {
        Self::keyword(kwargs)
    }
}

/// Anything a call's arguments can be made from: a [`Params`] as it is, or any serializable
/// value through [`Params::from_serialize`] (a tuple is positional, a struct or map is keyword).
///
/// ```
/// use jrpc_proto::{IntoParams, Params};
/// use serde_json::json;
///
/// assert_eq!((5, 10).into_params().unwrap().args, vec![json!(5), json!(10)]);
/// let kw = json!({"a": 1}).into_params().unwrap();
/// assert_eq!(kw.kwargs["a"], json!(1));
/// let both = Params::new(vec![json!(1)], kw.kwargs.clone()).into_params().unwrap();
/// assert_eq!((both.args.len(), both.kwargs.len()), (1, 1));
/// ```
pub trait IntoParams {
    /// The params, or why the value cannot be encoded as JSON.
    fn into_params(self) -> Result<Params, serde_json::Error>;

    /// The request of `method` with these params, encoded: `EncodedRequest::new` of
    /// [`into_params`](Self::into_params) (a serializable value writes the same bytes in one
    /// pass where it can, `EncodedRequest::from_serialize`).
    fn into_request(self, method: &str) -> Result<EncodedRequest, CallError>
    where
        Self: Sized,
    {
        let params = self
            .into_params()
            .map_err(|e| CallError::Encode(e.to_string()))?;
        EncodedRequest::new(method, &params)
    }
}

impl IntoParams for Params {
    fn into_params(self) -> Result<Params, serde_json::Error> {
        Ok(self)
    }
}

impl<T: Serialize> IntoParams for T {
    fn into_params(self) -> Result<Params, serde_json::Error> {
        Params::from_serialize(&self)
    }

    fn into_request(self, method: &str) -> Result<EncodedRequest, CallError> {
        EncodedRequest::from_serialize(method, &self)
    }
}
