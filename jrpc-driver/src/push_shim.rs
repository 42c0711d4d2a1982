//! TEMPORARY, replaced by the merge of branch `push`: `Frame` and `Peer::try_push` with the
//! signatures of notes/PUSH-API.md, done over the existing unbounded command channel (no
//! queue bound, encoded once per member), so that groups compile and run until then.

use std::sync::Arc;

use futures_channel::oneshot;
use jrpc_proto::{CallError, IntoParams, Params};

use crate::Peer;
use crate::peer::Command;

/// An encoded notification, cheap to clone.
#[derive(Clone, Debug)]
pub struct Frame {
    method: Arc<str>,
    params: Arc<Params>,
    len: usize,
}

impl Frame {
    /// Encodes a notification once.
    pub fn notification(
        method: &str,
        params: impl IntoParams,
        max_message: usize,
    ) -> Result<Frame, CallError> {
        let params = params
            .into_params()
            .map_err(|e| CallError::Encode(e.to_string()))?;
        let len = serde_json::to_string(&(method, &params.args, &params.kwargs))
            .map_err(|e| CallError::Encode(e.to_string()))?
            .len();
        if len > max_message {
            return Err(CallError::TooLarge {
                size: len,
                limit: max_message,
            });
        }
        Ok(Frame {
            method: method.into(),
            params: Arc::new(params),
            len,
        })
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty (never).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Peer {
    /// Queues `frame` without waiting.
    pub fn try_push(&self, frame: &Frame) -> Result<(), CallError> {
        let (done, _) = oneshot::channel();
        self.send(Command::Notify {
            method: frame.method.to_string(),
            params: (*frame.params).clone(),
            done,
        })
    }
}

impl Frame {
    /// The notification as JSON text, for a cluster backend to carry it to other processes.
    #[cfg(feature = "redis")]
    pub(crate) fn to_text(&self) -> Result<String, CallError> {
        let message = serde_json::json!({
            "method": &*self.method,
            "args": self.params.args,
            "kwargs": self.params.kwargs,
            "id": null,
        });
        serde_json::to_string(&message).map_err(|e| CallError::Encode(e.to_string()))
    }

    /// A frame from the text [`to_text`](Self::to_text) wrote (on another process).
    #[cfg(feature = "redis")]
    pub(crate) fn from_text(text: &str) -> Result<Frame, CallError> {
        #[derive(serde::Deserialize)]
        struct Notification {
            method: String,
            #[serde(default)]
            args: Vec<serde_json::Value>,
            #[serde(default)]
            kwargs: serde_json::Map<String, serde_json::Value>,
        }
        let n: Notification =
            serde_json::from_str(text).map_err(|e| CallError::Decode(e.to_string()))?;
        Ok(Frame {
            method: n.method.into(),
            params: Arc::new(Params::new(n.args, n.kwargs)),
            len: text.len(),
        })
    }
}
