//! The protocol state machine of one connection: frames in, frames and events out.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::event::{Diagnostic, IncomingNotification, IncomingRequest, Outcome, Responder};
use crate::outstanding::Outstanding;
use crate::wire::{self, EncodedRequest, Inbound, RequestId, WriteJson};
use crate::{CallError, CallId, Config, Event, Params, RpcError};

/// Why [`Endpoint::handle_frame`] refused a message. The endpoint is closed afterwards.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// The message exceeds the inbound limit: close the connection with code 1009.
    #[error("inbound message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the message.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
}

/// Answers up to this size are written in a buffer the endpoint keeps, and lent from it
/// ([`Endpoint::next_transmit`]); a larger one takes the buffer along, so that no large buffer
/// stays with a connection unless the driver gives it back
/// ([`Endpoint::recycle_answer_buffer`]).
const REUSED_BUFFER: usize = 1024;

/// The largest allocation [`Endpoint::recycle_name`] keeps, in bytes.
const MAX_SPARE_NAME: usize = 64;

/// One side of a JRPC connection, with no IO.
///
/// The driver hands it what arrives ([`handle_frame`](Self::handle_frame)), what the
/// application wants ([`call`](Self::call), [`notify`](Self::notify), [`reply`](Self::reply),
/// [`cancel`](Self::cancel), [`close`](Self::close)) and the time
/// ([`handle_timeout`](Self::handle_timeout)), then drains frames to send
/// ([`poll_transmit`](Self::poll_transmit)), events ([`poll_event`](Self::poll_event)) and the
/// next deadline ([`poll_timeout`](Self::poll_timeout)). It never reads a clock.
#[derive(Debug)]
pub struct Endpoint {
    config: Config,
    calls: Outstanding,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    closed: bool,
    /// Where answers are written (kept for the next while it is small).
    answer_buffer: String,
    /// Whether `transmits` holds [`Transmit::Answer`]: the text in `answer_buffer`.
    answer_queued: bool,
    /// A method name given back ([`recycle_name`](Self::recycle_name)), for the next request's.
    spare_name: Option<String>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Endpoint {
    /// A fresh endpoint with the given limits.
    pub fn new(config: Config) -> Self {
        Self {
            calls: Outstanding::new(config.outstanding_limit()),
            config,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            closed: false,
            answer_buffer: String::new(),
            answer_queued: false,
            spare_name: None,
        }
    }

    /// The limits this endpoint was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Queues a request and starts tracking its answer. With a `timeout`, the call fails with
    /// [`CallError::Timeout`] if no answer came by `now + timeout`. Its [`Outcome`] comes out of
    /// [`poll_event`](Self::poll_event); on error nothing was queued.
    pub fn call(
        &mut self,
        method: &str,
        params: &Params,
        now: Instant,
        timeout: Option<Duration>,
    ) -> Result<CallId, CallError> {
        // Checked before encoding, so that a call that fails for several reasons always fails
        // for the same one.
        self.check_call()?;
        let request = EncodedRequest::new(method, params)?;
        self.call_encoded(request, now, timeout)
    }

    /// [`call`](Self::call) with a request encoded ahead of time (by the caller's task, say):
    /// only its id is written here.
    pub fn call_encoded(
        &mut self,
        request: EncodedRequest,
        now: Instant,
        timeout: Option<Duration>,
    ) -> Result<CallId, CallError> {
        self.check_call()?;
        let frame = request.with_id(self.calls.next_id().get());
        wire::check_size(&frame, self.config.outbound_limit())?;
        let deadline = timeout.and_then(|t| now.checked_add(t));
        let id = self.calls.insert(deadline);
        self.transmits.push_back(Transmit::Own(frame));
        Ok(id)
    }

    fn check_call(&self) -> Result<(), CallError> {
        if self.closed {
            return Err(CallError::ConnectionClosed);
        }
        self.calls.check_room()
    }

    /// Queues a notification: a request that wants no answer.
    pub fn notify(&mut self, method: &str, params: &Params) -> Result<(), CallError> {
        if self.closed {
            return Err(CallError::ConnectionClosed);
        }
        let frame =
            EncodedRequest::new(method, params)?.into_notification(self.config.outbound_limit())?;
        self.transmits.push_back(Transmit::Own(frame));
        Ok(())
    }

    /// Takes one inbound WebSocket message (a text payload, or a binary one decoded as UTF-8).
    ///
    /// Malformed input never fails this call: it becomes a [`Diagnostic`] event (and an
    /// `InvalidRequest` response when it carried an id). Only a message over the inbound limit
    /// is refused; the endpoint then closes, failing every outstanding call.
    pub fn handle_frame(&mut self, frame: &[u8]) -> Result<(), InboundError> {
        self.handle_inbound(frame.len(), |name| wire::parse(frame, name))
    }

    /// [`handle_frame`](Self::handle_frame) for a text message, whose payload the WebSocket
    /// layer has already checked to be UTF-8 (RFC 6455 requires it of text messages): the same
    /// outcome, without checking it a second time.
    pub fn handle_text(&mut self, text: &str) -> Result<(), InboundError> {
        self.handle_inbound(text.len(), |name| wire::parse_text(text, name))
    }

    fn handle_inbound(
        &mut self,
        size: usize,
        parse: impl FnOnce(&mut Option<String>) -> Inbound,
    ) -> Result<(), InboundError> {
        if self.closed {
            return Ok(());
        }
        let limit = self.config.inbound_limit();
        if size > limit {
            self.close();
            return Err(InboundError::TooLarge { size, limit });
        }
        match parse(&mut self.spare_name) {
            Inbound::Request {
                method,
                params,
                id: Some(id),
            } => self.events.push_back(Event::Request(IncomingRequest {
                method,
                params,
                responder: Responder { id },
            })),
            Inbound::Request {
                method,
                params,
                id: None,
            } => self
                .events
                .push_back(Event::Notification(IncomingNotification { method, params })),
            Inbound::InvalidRequest { id, reason } => {
                if let Some(id) = &id {
                    let error = RpcError::invalid_request(reason.clone());
                    self.reply(Responder { id: id.clone() }, Err(error));
                }
                let id = id.map(RequestId::into_value);
                self.diagnose(Diagnostic::InvalidRequest { id, reason });
            }
            Inbound::Response { id, outcome } => match self.calls.take_wire(&id) {
                Some(call) => self.resolve(call, outcome.map_err(CallError::Remote)),
                None => self.diagnose(Diagnostic::UnknownResponse { id }),
            },
            Inbound::Malformed { reason } => self.diagnose(Diagnostic::Malformed { reason }),
        }
        Ok(())
    }

    /// Gives back the method name of a request or notification this endpoint produced, once
    /// the caller is done with it: the next request's name is written into its allocation
    /// rather than a new one (a served call then allocates nothing for its name). Optional;
    /// one name is kept, and only a short one.
    #[inline]
    pub fn recycle_name(&mut self, mut name: String) {
        if name.capacity() <= MAX_SPARE_NAME && self.spare_name.is_none() {
            name.clear();
            self.spare_name = Some(name);
        }
    }

    /// Queues the one answer to a request. After [`close`](Self::close) it is dropped: the
    /// connection it was for is gone.
    pub fn reply(&mut self, responder: Responder, result: Result<Value, RpcError>) {
        self.reply_with(responder, result.as_ref().map(|v| v as &dyn WriteJson));
    }

    /// [`reply`](Self::reply) with a result that writes itself into the response (any
    /// `Serialize` value): encoded once, where it goes, with no [`Value`] made on the way. A
    /// result that fails to encode is answered with an `InternalError`.
    pub fn reply_with(&mut self, responder: Responder, result: Result<&dyn WriteJson, &RpcError>) {
        if self.closed {
            return;
        }
        let Responder { id } = responder;
        self.set_queued_answer_aside();
        let limit = self.config.outbound_limit();
        let frame = match wire::encode_response(&mut self.answer_buffer, &id, result) {
            Ok(()) if self.answer_buffer.len() <= limit => {
                // The usual answer waits in the buffer, to be lent out; a large one takes it.
                if self.answer_buffer.len() > REUSED_BUFFER {
                    let frame = std::mem::take(&mut self.answer_buffer);
                    self.transmits.push_back(Transmit::Own(frame));
                } else {
                    self.transmits.push_back(Transmit::Answer);
                    self.answer_queued = true;
                }
                return;
            }
            Ok(()) => None,
            Err(e) => Some(fallback_response(
                &id,
                format!("the result cannot be encoded: {e}"),
            )),
        };
        let size = frame.as_ref().map_or(self.answer_buffer.len(), String::len);
        if self.answer_buffer.len() > REUSED_BUFFER {
            self.answer_buffer = String::new();
        }
        if let Some(frame) = frame.filter(|frame| frame.len() <= limit) {
            self.transmits.push_back(Transmit::Own(frame));
            return;
        }
        let message = format!("the result of {size} bytes exceeds the limit of {limit} bytes");
        let fallback = fallback_response(&id, message);
        // Only an id close to the limit itself (the peer's choice) makes even the short
        // failure too large; then nothing can be sent within the limit.
        if fallback.len() <= limit {
            self.transmits.push_back(Transmit::Own(fallback));
        }
        self.diagnose(Diagnostic::ReplyTooLarge {
            id: id.into_value(),
            size,
            limit,
        });
    }

    /// Gives back the buffer of a large answer (one over 1 KiB, handed over whole by
    /// [`next_transmit`](Self::next_transmit)) once the driver is done with its bytes: the next
    /// answers are written into it, where a new buffer would grow again, copying as it grows,
    /// and touch fresh memory (at 1 MiB, a page fault every 4 KiB: most of what such a call
    /// costs). Kept until [`release_answer_buffer`](Self::release_answer_buffer); a buffer no
    /// larger than the one held is dropped.
    pub fn recycle_answer_buffer(&mut self, mut buffer: String) {
        if self.answer_queued || buffer.capacity() <= self.answer_buffer.capacity() {
            return;
        }
        buffer.clear();
        self.answer_buffer = buffer;
    }

    /// Lets go of a large buffer given back by
    /// [`recycle_answer_buffer`](Self::recycle_answer_buffer) (unless an answer waits in it):
    /// a driver calls it once a connection has had no large answer for a while, so that an
    /// idle connection holds none.
    pub fn release_answer_buffer(&mut self) {
        if !self.answer_queued && self.answer_buffer.capacity() > REUSED_BUFFER {
            self.answer_buffer = String::new();
        }
    }

    /// Before the answer buffer is written again: the answer still waiting in it gets a
    /// buffer of its own (only when a driver queues answers faster than it takes them).
    fn set_queued_answer_aside(&mut self) {
        if !std::mem::take(&mut self.answer_queued) {
            return;
        }
        let text = self.answer_buffer.clone();
        if let Some(slot) = self
            .transmits
            .iter_mut()
            .rev()
            .find(|t| matches!(t, Transmit::Answer))
        {
            *slot = Transmit::Own(text);
        }
    }

    /// Fails the call with [`CallError::Cancelled`] and retires its id; a late answer is then
    /// reported as unknown. Returns false if the call was no longer outstanding.
    pub fn cancel(&mut self, id: CallId) -> bool {
        match self.calls.take(id) {
            Some(call) => {
                self.resolve(call, Err(CallError::Cancelled));
                true
            }
            None => false,
        }
    }

    /// Fails every call whose deadline is at or before `now` with [`CallError::Timeout`] and
    /// retires their ids.
    pub fn handle_timeout(&mut self, now: Instant) {
        let events = &mut self.events;
        self.calls.expire(now, |id| {
            events.push_back(Event::Outcome(Outcome {
                id,
                result: Err(CallError::Timeout),
            }));
        });
    }

    /// The connection is gone: every outstanding call fails with
    /// [`CallError::ConnectionClosed`] at once, new calls are refused, frames not yet sent are
    /// discarded and later replies are dropped. Idempotent.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.transmits.clear();
        self.answer_queued = false;
        for id in self.calls.drain() {
            self.resolve(id, Err(CallError::ConnectionClosed));
        }
    }

    /// Whether [`close`](Self::close) has happened.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Where our call `id` sits in the table of outstanding calls: an index below the most
    /// calls outstanding at once so far, which no other outstanding call shares (a later call
    /// may reuse it once this one is over). So a driver's table of who waits for each call can
    /// be a `Vec` indexed by it, checking the id it keeps there, rather than a map.
    #[inline]
    pub fn call_slot(&self, id: CallId) -> usize {
        self.calls.slot(id)
    }

    /// Number of our calls awaiting an answer.
    #[inline]
    pub fn outstanding(&self) -> usize {
        self.calls.len()
    }

    /// Number of frames queued and not yet taken by [`poll_transmit`](Self::poll_transmit). A
    /// driver whose socket cannot keep up stops reading while this is high, so that a peer
    /// that does not read its answers cannot make them pile up without bound.
    #[inline]
    pub fn queued_transmits(&self) -> usize {
        self.transmits.len()
    }

    /// The next frame to send, as the text of one WebSocket message.
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.next_transmit().map(Cow::into_owned)
    }

    /// [`poll_transmit`](Self::poll_transmit) without a copy: the usual answer is lent from the
    /// buffer it was written in (copy it to where it goes: it costs no allocation of its own),
    /// any other frame is handed over whole.
    #[inline]
    pub fn next_transmit(&mut self) -> Option<Cow<'_, str>> {
        match self.transmits.pop_front()? {
            Transmit::Own(frame) => Some(Cow::Owned(frame)),
            Transmit::Answer => {
                self.answer_queued = false;
                Some(Cow::Borrowed(&self.answer_buffer))
            }
        }
    }

    /// The next event.
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, if any call has a
    /// deadline.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.calls.next_deadline()
    }

    fn resolve(&mut self, id: CallId, result: Result<Value, CallError>) {
        self.events
            .push_back(Event::Outcome(Outcome { id, result }));
    }

    fn diagnose(&mut self, diagnostic: Diagnostic) {
        self.events.push_back(Event::Diagnostic(diagnostic));
    }
}

/// A frame waiting to be sent.
#[derive(Debug)]
enum Transmit {
    /// In a buffer of its own.
    Own(String),
    /// The answer in the endpoint's answer buffer (at most one waits there).
    Answer,
}

/// An `InternalError` response that is sure to encode (the id came from JSON; the message is
/// a string).
fn fallback_response(id: &RequestId, message: String) -> String {
    let error = RpcError::internal(message);
    let mut frame = String::new();
    match wire::encode_response(&mut frame, id, Err(&error)) {
        Ok(()) => frame,
        Err(_) => format!(
            r#"{{"id":null,"result":"unencodable answer","error":"{INTERNAL}"}}"#,
            INTERNAL = RpcError::INTERNAL_ERROR
        ),
    }
}
