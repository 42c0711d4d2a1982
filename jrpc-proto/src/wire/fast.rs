//! The fast path of [`parse_text`](super::parse_text): the keys of a message read by hand, and
//! only the values that need it handed to `serde_json`.
//!
//! Most messages are a request or a response whose keys are plain, each given once: `{"method":
//! "add","args":[1,2],"kwargs":{},"id":7}`. Here such a message's keys are matched without
//! decoding them, and its plain values (a string, its usual escapes decoded, a number, `null`, `true`,
//! `false`, an array of those, `{}`) are made without a parser; an `args` array holding more
//! (records, nested arrays) is only checked, and kept as text for `Args` to bind from; any
//! other value is parsed by `serde_json` on its own, as the general path would parse it.
//! Anything else this path does not take on (an unknown, repeated or escaped key, text that is
//! not JSON, a value nested deeply) makes it give up, and the general path reads the message
//! from the start: so what a message means is decided by one set of rules, and this path only
//! reaches the same [`Fields`] sooner.

use serde_json::{Map, Value};

use super::scan::{self, string_len};
use super::{Fields, Inbound, Key, RequestId, Unparsed};
use crate::args::{Scalar, Scalars};
use crate::{Args, Params, RpcError};

/// Values nested this deep (or deeper) are left to the general path: `serde_json`'s recursion
/// limit applies to a whole message, and a value parsed on its own starts one level higher.
const MAX_DEPTH: usize = 64;

/// Reads the fields of `text` into `fields` (which must be empty); false if this path does not
/// take the message on, with `fields` left in any state.
pub(super) fn read_fields(text: &str, fields: &mut Fields) -> bool {
    Scanner::new(text).object(fields).is_some()
}

/// The usual request (`{"method":"add","args":[1,2],"kwargs":{},"id":7}`) or response
/// (`{"id":7,"result":3,"error":null}`), its keys in any order, read into what it means with
/// no [`Fields`] on the way; `None` when `text` is neither, to be read by [`read_fields`] or
/// the general path.
#[inline]
pub(super) fn read_usual(text: &str, spare_name: &mut Option<String>) -> Option<Inbound> {
    let canonical = match text.as_bytes().get(2) {
        Some(b'm') => Scanner::new(text).canonical(spare_name),
        Some(b'i') => Scanner::new(text).canonical_response(),
        _ => None,
    };
    canonical.or_else(|| Scanner::new(text).usual(spare_name))
}

/// A decimal with a point, no exponent and at most 15 digits (`3.0`, `-0.25`) as the nearest
/// double, as Rust's parse makes it, in a few operations: its digits as an integer (below
/// 10^15, so an exact double) over the power of ten of its fraction (exact too), and the
/// quotient of two exact doubles is rounded correctly (Clinger's fast path). `None` for a
/// longer one.
fn short_decimal(text: &[u8]) -> Option<f64> {
    /// The powers of ten up to 10^15, each an exact double.
    const POWERS: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, digits) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, text),
    };
    // Fifteen digits and the point.
    if digits.len() > 16 {
        return None;
    }
    let (mut mantissa, mut scale, mut point) = (0u64, 0, false);
    for &byte in digits {
        match byte {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(byte - b'0');
                scale += usize::from(point);
            }
            b'.' => point = true,
            _ => return None,
        }
    }
    let magnitude = mantissa as f64 / POWERS.get(scale)?;
    Some(if negative { -magnitude } else { magnitude })
}

/// An `args` array as the fast path holds it.
enum ArgsArray {
    Held(Unparsed),
    Values(Vec<Value>),
}

/// A cursor over one message's text, read by hand (the checks of `wire/check.rs` use it too).
pub(super) struct Scanner<'a> {
    pub(super) text: &'a str,
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
    /// Set by the checks when they meet an integer of 19 digits or more (see
    /// [`args_array`](Self::args_array)).
    pub(super) wide_integer: bool,
}

impl<'a> Scanner<'a> {
    /// At the start of `text`.
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            wide_integer: false,
        }
    }

    /// The whole message: one object, then only whitespace.
    fn object(&mut self, fields: &mut Fields) -> Option<()> {
        self.members(|this, key| {
            if fields.slot(key)?.is_some() || key == Key::Args && fields.args_held.is_some() {
                return None;
            }
            if key == Key::Args && this.bytes.get(this.pos) == Some(&b'[') {
                match this.args_array()? {
                    ArgsArray::Held(held) => fields.args_held = Some(held),
                    ArgsArray::Values(items) => fields.args = Some(Value::Array(items)),
                }
            } else {
                *fields.slot(key)? = Some(this.value()?);
            }
            Some(())
        })
    }

    /// A whole message: one object, each member read by `member` (given the scanner at its
    /// value, and its key; `None` gives up), then only whitespace.
    #[inline(always)]
    fn members(&mut self, mut member: impl FnMut(&mut Self, Key) -> Option<()>) -> Option<()> {
        self.skip_whitespace();
        self.expect(b'{')?;
        loop {
            self.skip_whitespace();
            let key = self.key()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            member(self, key)?;
            self.skip_whitespace();
            match self.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
        self.skip_whitespace();
        (self.pos == self.bytes.len()).then_some(())
    }

    /// The usual request or response, read straight into what it means. A request: keys
    /// `method` (a plain string), `args` (an array or `null`), `kwargs` (`{}` or `null`) and
    /// `id`; a response: keys `id`, `result` and `error` (a plain string or `null`). Each key
    /// at most once, the id an integer, a plain string or `null`. `None` for anything else.
    fn usual(&mut self, spare_name: &mut Option<String>) -> Option<Inbound> {
        let (mut method, mut args, mut kwargs, mut id) = (None, None, false, None);
        let (mut result, mut error) = (None, None);
        self.members(|this, key| {
            let given = match key {
                Key::Method => method.replace(this.plain_string()?).is_some(),
                Key::Args => args.replace(this.request_args()?).is_some(),
                Key::Kwargs => std::mem::replace(&mut kwargs, this.no_kwargs()?),
                Key::Id => id.replace(this.usual_id()?).is_some(),
                Key::Result => result.replace(this.value()?).is_some(),
                Key::Error => error.replace(this.error_kind()?).is_some(),
                Key::Other => return None,
            };
            (!given).then_some(())
        })?;
        let Some(method) = method else {
            // A response: to the call its id names.
            if result.is_none() && error.is_none() || args.is_some() || kwargs {
                return None;
            }
            let result = result.unwrap_or(Value::Null);
            let outcome = match error.flatten() {
                None => Ok(result),
                Some(kind) => Err(RpcError::new(kind, result)),
            };
            return Some(Inbound::Response { id: id?, outcome });
        };
        if result.is_some() || error.is_some() {
            return None;
        }
        self.request(method, args.flatten(), id, spare_name)
    }

    /// The canonical request, as jrpc's Rust and JavaScript clients write a call of a few
    /// numbers: `{"method":"add","args":[1,2],"kwargs":{},"id":7}`, its four keys in this
    /// order, no whitespace, `args` a few numbers, booleans or nulls (or `null`), `kwargs`
    /// empty. Read with no member loop; any other text (a key elsewhere, a space, a string
    /// argument, anything more) gives `None`, and [`usual`](Self::usual) reads the message
    /// from the start: this path takes only messages that one takes, and reads them into the
    /// same request.
    #[inline]
    fn canonical(&mut self, spare_name: &mut Option<String>) -> Option<Inbound> {
        self.fixed(b"{\"method\":")?;
        let method = self.plain_string()?;
        self.fixed(b",\"args\":")?;
        // Any other `args` (strings, records, whitespace) is read by `usual`: reading it here
        // first would check a large array twice.
        let args = match self.bytes.get(self.pos)? {
            b'[' => Some(ArgsArray::Held(Unparsed::Scalars(self.compact_scalars()?))),
            _ => self.fixed(b"null").map(|()| None)?,
        };
        self.fixed(b",\"kwargs\":{},\"id\":")?;
        let id = match self.natural() {
            Some(n) => Value::from(n),
            None => self.usual_id()?,
        };
        if self.bytes.get(self.pos..)? != b"}" {
            return None;
        }
        self.request(method, args, Some(id), spare_name)
    }

    /// The canonical response, as jrpc writes a success (`Endpoint::reply_with`):
    /// `{"id":7,"result":3.0,"error":null}`, its three keys in this order, no whitespace, an
    /// integer id. Read with no member loop, the result as [`usual`](Self::usual) reads it
    /// (and only once the text is known to end as a success's does); any other text gives
    /// `None`, and `usual` reads the message from the start.
    #[inline]
    fn canonical_response(&mut self) -> Option<Inbound> {
        const SUCCESS: &[u8] = b",\"error\":null}";
        if !self.bytes.ends_with(SUCCESS) {
            return None;
        }
        self.fixed(b"{\"id\":")?;
        let id = Value::from(self.natural()?);
        self.fixed(b",\"result\":")?;
        let result = self.value()?;
        (self.pos + SUCCESS.len() == self.bytes.len()).then_some(Inbound::Response {
            id,
            outcome: Ok(result),
        })
    }

    /// An array of at most [`Scalars::CAPACITY`] numbers, booleans or nulls, written with no
    /// whitespace (`[1,2]`, `[]`), read as [`held_scalars`](Self::held_scalars) reads it, a
    /// [natural](Self::natural) first tried without the general number's steps. `None` for
    /// any other text, the scanner left anywhere.
    #[inline(always)]
    fn compact_scalars(&mut self) -> Option<Scalars> {
        let mut scalars = Scalars::new();
        self.pos += 1;
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Some(scalars);
        }
        loop {
            let start = self.pos;
            let scalar = match self.natural() {
                Some(n) if matches!(self.bytes.get(self.pos), Some(b',' | b']')) => {
                    Scalar::PosInt(n)
                }
                _ => self.at(start).plain_scalar()?,
            };
            scalars.push(scalar)?;
            match self.next()? {
                b',' => {}
                b']' => return Some(scalars),
                _ => return None,
            }
        }
    }

    /// Where the run of ASCII digits from `start` ends, and its value (wrapped past 19
    /// digits: the callers use it only for 18 or fewer).
    #[inline(always)]
    fn digits_from(&self, start: usize) -> (usize, u64) {
        let mut end = start;
        let mut magnitude = 0u64;
        while let Some(&b @ b'0'..=b'9') = self.bytes.get(end) {
            magnitude = magnitude.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            end += 1;
        }
        (end, magnitude)
    }

    /// An integer of one to 18 digits with no sign and no leading zero, as
    /// [`number`](Self::number) reads it when what follows is not a fraction or an exponent
    /// (the caller checks what follows); `None` for anything else, the scanner where it was.
    #[inline(always)]
    fn natural(&mut self) -> Option<u64> {
        let start = self.pos;
        let (end, magnitude) = self.digits_from(start);
        let digits = end - start;
        if digits == 0 || digits > 18 || digits > 1 && self.bytes[start] == b'0' {
            return None;
        }
        self.pos = end;
        Some(magnitude)
    }

    /// The request of `method`, its `args` and `id` as [`usual`](Self::usual) read them.
    #[inline(always)]
    fn request(
        &self,
        method: &str,
        args: Option<ArgsArray>,
        id: Option<Value>,
        spare_name: &mut Option<String>,
    ) -> Option<Inbound> {
        let params = match args {
            None => Args::from(Params::default()),
            Some(ArgsArray::Values(items)) => Args::from(Params::positional(items)),
            Some(ArgsArray::Held(Unparsed::Scalars(scalars))) => Args::scalars(scalars),
            Some(ArgsArray::Held(Unparsed::Text(range, last))) => {
                Args::positional_text(self.text.get(range)?.to_owned(), Some(last))
            }
        };
        let method = match spare_name.take() {
            Some(mut name) => {
                name.push_str(method);
                name
            }
            None => method.to_owned(),
        };
        Some(Inbound::Request {
            method,
            params,
            id: id.filter(|id| !id.is_null()).map(RequestId::plain),
        })
    }

    /// A request's `args`: an array, or `null` (`Some(None)`).
    fn request_args(&mut self) -> Option<Option<ArgsArray>> {
        match self.bytes.get(self.pos)? {
            b'[' => self.args_array().map(Some),
            _ => self.literal(b"null").map(|()| None),
        }
    }

    /// A request's `kwargs` when it holds none: `{}` or `null`.
    fn no_kwargs(&mut self) -> Option<bool> {
        match self.bytes.get(self.pos)? {
            b'{' => self.empty(b'}')?,
            _ => self.literal(b"null")?,
        }
        Some(true)
    }

    /// An `id`: an integer, a plain string, or `null`. (A float is left to the general path,
    /// which keeps a request's id as written.)
    fn usual_id(&mut self) -> Option<Value> {
        match self.bytes.get(self.pos)? {
            b'"' => self.plain_string().map(|s| Value::String(s.to_owned())),
            _ => match self.plain_scalar()? {
                Scalar::Null => Some(Value::Null),
                Scalar::PosInt(n) => Some(Value::from(n)),
                Scalar::NegInt(n) => Some(Value::from(n)),
                Scalar::Bool(_) | Scalar::Float(_) => None,
            },
        }
    }

    /// A response's `error`: the kind of error, a plain string, or `null` (`Some(None)`).
    fn error_kind(&mut self) -> Option<Option<String>> {
        match self.bytes.get(self.pos)? {
            b'"' => self.plain_string().map(|kind| Some(kind.to_owned())),
            _ => self.literal(b"null").map(|()| None),
        }
    }

    /// An `args` array: a few numbers, booleans or nulls (the usual arguments) are held as
    /// they are; other scalars (strings) are cheaper made values here than left as text; an
    /// array holding more (objects, arrays) is left as text, to be bound from it with no
    /// `Value` tree made: it is only checked here.
    fn args_array(&mut self) -> Option<ArgsArray> {
        let start = self.pos;
        if let Some(scalars) = self.held_scalars() {
            return Some(ArgsArray::Held(Unparsed::Scalars(scalars)));
        }
        if let Some(items) = self.at(start).scalars() {
            return Some(ArgsArray::Values(items));
        }
        // Checked as a `Value` would parse it, nothing made (`wire/check.rs`).
        self.wide_integer = false;
        let last = self.at(start).check_args(MAX_DEPTH)?;
        // An integer beyond 64 bits is a double in a `Value`, but a 128-bit parameter bound
        // from the text would take it exactly: such arguments are left to the general path,
        // whose values bind as `Params::bind` binds them.
        if self.wide_integer {
            return None;
        }
        Some(ArgsArray::Held(Unparsed::Text(
            start..self.pos,
            last - start,
        )))
    }

    /// A key that means something, written plainly (quotes included).
    fn key(&mut self) -> Option<Key> {
        let rest = self.bytes.get(self.pos..)?;
        // Each compared as one fixed-size word (no call to memcmp).
        let (key, len) = match rest.get(1)? {
            b'm' if rest.first_chunk() == Some(b"\"method\"") => (Key::Method, 8),
            b'a' if rest.first_chunk() == Some(b"\"args\"") => (Key::Args, 6),
            b'k' if rest.first_chunk() == Some(b"\"kwargs\"") => (Key::Kwargs, 8),
            b'i' if rest.first_chunk() == Some(b"\"id\"") => (Key::Id, 4),
            b'r' if rest.first_chunk() == Some(b"\"result\"") => (Key::Result, 8),
            b'e' if rest.first_chunk() == Some(b"\"error\"") => (Key::Error, 7),
            _ => return None,
        };
        self.pos += len;
        Some(key)
    }

    /// One value: made here when it is plain, else parsed by `serde_json`.
    fn value(&mut self) -> Option<Value> {
        let start = self.pos;
        let plain = match self.bytes.get(start)? {
            b'"' => self.string().map(Value::String),
            b'[' => self.scalars().map(Value::Array),
            b'{' => self.empty(b'}').map(|()| Value::Object(Map::new())),
            _ => self.scalar(),
        };
        plain.or_else(|| {
            self.pos = start;
            self.parsed()
        })
    }

    /// A number, `null`, `true` or `false`, or a string.
    fn scalar(&mut self) -> Option<Value> {
        match self.bytes.get(self.pos)? {
            b'"' => self.string().map(Value::String),
            _ => self.plain_scalar().map(Value::from),
        }
    }

    /// A number, `null`, `true` or `false`.
    #[inline]
    fn plain_scalar(&mut self) -> Option<Scalar> {
        match self.bytes.get(self.pos)? {
            b'-' | b'0'..=b'9' => self.number(),
            b'n' => self.literal(b"null").map(|()| Scalar::Null),
            b't' => self.literal(b"true").map(|()| Scalar::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Scalar::Bool(false)),
            _ => None,
        }
    }

    /// An array of at most [`Scalars::CAPACITY`] numbers, booleans or nulls.
    #[inline]
    fn held_scalars(&mut self) -> Option<Scalars> {
        let mut scalars = Scalars::new();
        self.elements(|this| scalars.push(this.plain_scalar()?))?;
        Some(scalars)
    }

    /// An array (the scanner at its `[`), each element read by `element` (`None` gives up).
    #[inline(always)]
    pub(super) fn elements(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.pos += 1;
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Some(());
        }
        loop {
            element(self)?;
            self.skip_whitespace();
            match self.next()? {
                b',' => self.skip_whitespace(),
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// The scanner, moved back to `pos`.
    fn at(&mut self, pos: usize) -> &mut Self {
        self.pos = pos;
        self
    }

    /// An array of scalars (the usual `args`), empty or not.
    #[inline]
    fn scalars(&mut self) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        self.elements(|this| {
            items.push(this.scalar()?);
            Some(())
        })?;
        Some(items)
    }

    /// A value parsed by `serde_json` from where the scanner stands, exactly as the general
    /// path parses it; `None` when it does not parse or is nested too deeply.
    fn parsed(&mut self) -> Option<Value> {
        let rest = self.text.get(self.pos..)?;
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        let value = values.next()?.ok()?;
        if !shallow(&value, MAX_DEPTH) {
            return None;
        }
        self.pos += values.byte_offset();
        Some(value)
    }

    /// A string with neither escapes nor control characters (the text is UTF-8 already).
    #[inline]
    fn plain_string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.pos;
        let end = start + string_len(&self.bytes[start..])?;
        if self.bytes[end] != b'"' {
            return None;
        }
        self.pos = end + 1;
        self.text.get(start..end)
    }

    /// A string, its usual escapes decoded ([`scan::string`]); `None` for one left to
    /// `serde_json` (the text is UTF-8 already).
    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let (string, len) = scan::string(self.text.get(self.pos..)?)?;
        self.pos += len;
        Some(string)
    }

    /// A number as `serde_json` makes it: an integer of at most 18 digits (not `-0`, which
    /// is a float there) as an integer; anything else as the nearest double (Rust's parse and
    /// `serde_json`'s `float_roundtrip` both round correctly), unless it is out of a double's
    /// range (an error there) or rounds to zero (left to `serde_json` to decide).
    fn number(&mut self) -> Option<Scalar> {
        let start = self.pos;
        let negative = self.bytes[start] == b'-';
        let int_start = start + usize::from(negative);
        // The integer part, read once (its value only matters for 18 digits or fewer).
        let (end, magnitude) = self.digits_from(int_start);
        let int_digits = end - int_start;
        if int_digits == 0 || int_digits > 1 && self.bytes[int_start] == b'0' {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.bytes.get(end) {
            return self.float(start, end);
        }
        // More digits may not fit a u64: `serde_json` decides.
        if int_digits > 18 {
            return None;
        }
        self.pos = end;
        Some(match (negative, magnitude) {
            // `-0` is a float to `serde_json`.
            (true, 0) => Scalar::Float(-0.0),
            // 18 digits fit an i64.
            (true, _) => Scalar::NegInt(-(magnitude as i64)),
            (false, _) => Scalar::PosInt(magnitude),
        })
    }

    /// The rest of a number from `start` whose integer part ends at `end`: a fraction, an
    /// exponent or both. (Kept out of line: the integers before it are the usual numbers.)
    #[inline(never)]
    fn float(&mut self, start: usize, mut end: usize) -> Option<Scalar> {
        let mut exponent = false;
        if self.bytes.get(end) == Some(&b'.') {
            let digits = self.digits(end + 1);
            if digits == 0 {
                return None;
            }
            end += 1 + digits;
        }
        if let Some(b'e' | b'E') = self.bytes.get(end) {
            exponent = true;
            end += 1;
            if let Some(b'+' | b'-') = self.bytes.get(end) {
                end += 1;
            }
            let digits = self.digits(end);
            if digits == 0 {
                return None;
            }
            end += digits;
        }
        self.pos = end;
        if !exponent {
            if let Some(number) = short_decimal(&self.bytes[start..end]) {
                return Some(Scalar::Float(number));
            }
        }
        let number: f64 = self.text.get(start..end)?.parse().ok()?;
        let underflow = number == 0.0
            && self.bytes[start..end]
                .iter()
                .any(|b| (b'1'..=b'9').contains(b));
        if !number.is_finite() || underflow {
            return None;
        }
        Some(Scalar::Float(number))
    }

    /// How many ASCII digits stand from `at` on.
    fn digits(&self, at: usize) -> usize {
        self.bytes.get(at..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        })
    }

    /// `literal`, as it is, compared as a few fixed-size words (no call to `memcmp`).
    #[inline(always)]
    fn fixed<const N: usize>(&mut self, literal: &[u8; N]) -> Option<()> {
        if self.bytes.get(self.pos..)?.first_chunk::<N>() != Some(literal) {
            return None;
        }
        self.pos += N;
        Some(())
    }

    /// `literal`, as it is.
    pub(super) fn literal(&mut self, literal: &[u8]) -> Option<()> {
        let end = self.pos + literal.len();
        if self.bytes.get(self.pos..end)? != literal {
            return None;
        }
        self.pos = end;
        Some(())
    }

    /// An empty array or object: its opening byte, whitespace, then `close`.
    fn empty(&mut self, close: u8) -> Option<()> {
        self.pos += 1;
        self.skip_whitespace();
        self.expect(close)
    }

    #[inline]
    pub(super) fn skip_whitespace(&mut self) {
        // Most messages have none: one comparison then.
        if self.bytes.get(self.pos).is_some_and(|&b| b > b' ') {
            return;
        }
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    pub(super) fn next(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }
}

/// Whether `value` nests fewer than `room` arrays and objects.
fn shallow(value: &Value, room: usize) -> bool {
    match value {
        Value::Array(items) => room > 1 && items.iter().all(|v| shallow(v, room - 1)),
        Value::Object(map) => room > 1 && map.values().all(|v| shallow(v, room - 1)),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_general, parse_text};
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::Config as ProptestConfig;

    /// The fast path takes the usual shapes on (else it would be dead code).
    #[test]
    fn takes_the_usual_requests_and_responses() {
        for text in [
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":7}"#,
            r#"{"method":"Echo","args":["hello"],"kwargs":{"a":{"b":[1.5]}},"id":null}"#,
            r#" { "id" : -12 , "method" : "x" } "#,
            r#"{"id":7,"result":3.0,"error":null}"#,
            r#"{"id":7,"result":"division by zero","error":"ZeroDivisionError"}"#,
            r#"{"method":"a","args":"not an array","id":"s"}"#,
        ] {
            assert!(read_fields(text, &mut Fields::default()), "{text}");
        }
    }

    /// What it leaves to the general path.
    #[test]
    fn gives_up_on_what_is_not_plain() {
        let deep = format!(
            r#"{{"method":"a","args":{}1{}}}"#,
            "[".repeat(64),
            "]".repeat(64)
        );
        for text in [
            r#"{"method":"a","method":"b"}"#,
            r#"{"method":"a","x":1}"#,
            r#"{"meth\u006fd":"a"}"#,
            r#"{"method":"a"} x"#,
            r#"{"method":"a",}"#,
            r#"{}"#,
            r#"[1]"#,
            r#"{"method":"a","id":1e400}"#,
            r#"{"method":"\ud800"}"#,
            deep.as_str(),
        ] {
            assert!(!read_fields(text, &mut Fields::default()), "{text}");
        }
    }

    /// What the canonical path makes of `text`, if it takes it on.
    fn canonical(text: &str) -> Option<String> {
        Scanner::new(text)
            .canonical(&mut None)
            .map(|inbound| format!("{inbound:?}"))
    }

    /// What the canonical response path makes of `text`, if it takes it on.
    fn canonical_response(text: &str) -> Option<String> {
        Scanner::new(text)
            .canonical_response()
            .map(|inbound| format!("{inbound:?}"))
    }

    /// The success as jrpc writes it is read by the canonical response path, into what the
    /// member loop makes of it; every other response is left to the member loop (or the
    /// general path), and each reads as the general path reads it.
    #[test]
    fn canonical_takes_the_compact_success_only() {
        for text in [
            r#"{"id":7,"result":3.0,"error":null}"#,
            r#"{"id":0,"result":null,"error":null}"#,
            r#"{"id":123456789012345678,"result":"ok","error":null}"#,
            r#"{"id":1,"result":[1,2.5,"x"],"error":null}"#,
            r#"{"id":1,"result":{"a":[1,{"b":null}]},"error":null}"#,
            r#"{"id":1,"result":",\"error\":null}","error":null}"#,
            r#"{"id":1,"result":-0.0,"error":null}"#,
        ] {
            let read = canonical_response(text);
            assert!(read.is_some(), "{text}");
            let usual = Scanner::new(text).usual(&mut None);
            assert_eq!(read, usual.map(|inbound| format!("{inbound:?}")), "{text}");
        }
        for text in [
            // An error, or not quite a success.
            r#"{"id":7,"result":"division by zero","error":"ZeroDivisionError"}"#,
            r#"{"id":7,"result":3.0,"error":null,"error":null}"#,
            r#"{"id":7,"result":3.0,"result":4,"error":null}"#,
            r#"{"id":7,"error":null}"#,
            r#"{"id":7,"result":,"error":null}"#,
            r#"{"id":7,"result":3.0 ,"error":null}"#,
            r#"{"id":7,"result":3.0,"error":nul}"#,
            r#"{"id":7,"result":3.0,"error":null} "#,
            // Other ids, keys elsewhere, whitespace.
            r#"{"id":-7,"result":3.0,"error":null}"#,
            r#"{"id":07,"result":3.0,"error":null}"#,
            r#"{"id":7.5,"result":3.0,"error":null}"#,
            r#"{"id":"7","result":3.0,"error":null}"#,
            r#"{"id":null,"result":3.0,"error":null}"#,
            r#"{"id":12345678901234567890,"result":3.0,"error":null}"#,
            r#"{"result":3.0,"id":7,"error":null}"#,
            r#"{ "id":7,"result":3.0,"error":null}"#,
            r#"{"id": 7,"result":3.0,"error":null}"#,
            r#"{"i\u0064":7,"result":3.0,"error":null}"#,
            r#"{"id":7,"method":"m","result":3.0,"error":null}"#,
            r#"{"id":7,"result":[1,"error":null}"#,
            r#"{"id":7,"result":"x,"error":null}"#,
            r#","error":null}"#,
        ] {
            left_to_the_others(canonical_response, text);
        }
    }

    /// `path` (a canonical path) does not take `text` on, and the other paths read it as the
    /// general path reads it.
    fn left_to_the_others(path: fn(&str) -> Option<String>, text: &str) {
        assert_eq!(path(text), None, "{text}");
        let fast = format!("{:?}", parse_text(text, &mut None));
        assert_eq!(fast, format!("{:?}", parse_general(text)), "{text}");
    }

    /// A compact success with its pieces varied and one byte perhaps inserted, removed or
    /// replaced: whatever the canonical response path takes on reads as the member loop reads
    /// it, and every message reads as the general path reads it.
    #[test]
    fn canonical_response_agrees_with_the_other_paths() {
        let message = (
            piece(&["7", "0", "123456789012345678", "-3", r#""x""#]),
            piece(&[
                "3.0",
                "-2.5",
                "0.1",
                "15",
                "null",
                r#""ok""#,
                "[1,2]",
                r#"{"a":1}"#,
            ]),
            piece(&["null", r#""ZeroDivisionError""#]),
            edit(),
        )
            .prop_map(|(id, result, error, edit)| {
                edit.apply(format!(
                    r#"{{"id":{id},"result":{result},"error":{error}}}"#
                ))
            });
        agrees_where_taken(message, canonical_response, 1_000);
    }

    /// One of `usual`, or now and then a piece near an edge of the grammar.
    fn piece(usual: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop_oneof![
            6 => proptest::sample::select(usual).prop_map(str::to_owned),
            1 => value(),
        ]
    }

    /// One byte perhaps inserted, removed or replaced somewhere in a message.
    #[derive(Debug, Clone)]
    struct Edit {
        at: prop::sample::Index,
        kind: u8,
        byte: u8,
    }

    fn edit() -> impl Strategy<Value = Edit> {
        (
            any::<prop::sample::Index>(),
            0u8..4,
            proptest::sample::select(&[b' ', b',', b'"', b'}', b']', b'1', b'.', b'\\'][..]),
        )
            .prop_map(|(at, kind, byte)| Edit { at, kind, byte })
    }

    impl Edit {
        /// `text` so edited, if it is still UTF-8.
        fn apply(&self, text: String) -> Option<String> {
            let mut bytes = text.into_bytes();
            let at = self.at.index(bytes.len());
            match self.kind {
                0 => bytes.insert(at, self.byte),
                1 => drop(bytes.remove(at)),
                2 => bytes[at] = self.byte,
                _ => {}
            }
            String::from_utf8(bytes).ok()
        }
    }

    /// Runs `test` on 20,000 values of `messages`; panics with the first failure.
    fn run_20_000<S: Strategy>(
        messages: &S,
        test: impl Fn(S::Value) -> Result<(), proptest::test_runner::TestCaseError>,
    ) {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(20_000));
        if let Err(e) = runner.run(messages, test) {
            panic!("{e}");
        }
    }

    /// The message reads as the general path reads it, however the fast path takes it.
    fn reads_as_the_general_path(text: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let fast = format!("{:?}", parse_text(text, &mut None));
        let general = format!("{:?}", parse_general(text));
        prop_assert_eq!(fast, general, "{}", text);
        Ok(())
    }

    /// Runs 20,000 `messages` through `path` (a canonical path): whatever it takes on reads as
    /// the member loop reads it, every message reads as the general path reads it, and more
    /// than `least` of them take the path (so that the agreement means something).
    fn agrees_where_taken(
        messages: impl Strategy<Value = Option<String>>,
        path: fn(&str) -> Option<String>,
        least: u32,
    ) {
        let taken = std::cell::Cell::new(0u32);
        run_20_000(&messages, |text| {
            let Some(text) = text else {
                return Ok(());
            };
            if let Some(read) = path(&text) {
                taken.set(taken.get() + 1);
                let usual = Scanner::new(&text).usual(&mut None);
                let usual = usual.map(|inbound| format!("{inbound:?}"));
                prop_assert_eq!(Some(read), usual, "{}", text);
            }
            reads_as_the_general_path(&text)
        });
        assert!(
            taken.get() > least,
            "only {} messages took the canonical path",
            taken.get()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// A short decimal is the double Rust's parse makes of it, bit for bit (the sign of
        /// a zero included); a longer one is left to the parse.
        #[test]
        fn short_decimals_are_parsed_as_rust_parses_them(
            text in "-?(0|[1-9][0-9]{0,9})\\.[0-9]{1,14}",
        ) {
            let parsed: f64 = text.parse().expect("a number");
            match short_decimal(text.as_bytes()) {
                Some(number) => prop_assert_eq!(number.to_bits(), parsed.to_bits(), "{}", text),
                None => prop_assert!(text.trim_start_matches('-').len() > 16, "{}", text),
            }
        }
    }

    /// The canonical request is read by the canonical path, into what the member loop makes
    /// of it.
    #[test]
    fn canonical_takes_the_compact_request() {
        for text in [
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[],"kwargs":{},"id":0}"#,
            r#"{"method":"","args":null,"kwargs":{},"id":123456789012345678}"#,
            r#"{"method":"é","args":[-1,2.5,true,null],"kwargs":{},"id":-3}"#,
            r#"{"method":"a","args":[0,1e3,-0,false],"kwargs":{},"id":"x"}"#,
            r#"{"method":"a","args":[1],"kwargs":{},"id":null}"#,
        ] {
            let usual = Scanner::new(text).usual(&mut None);
            assert!(matches!(usual, Some(Inbound::Request { .. })), "{text}");
            let usual = usual.map(|inbound| format!("{inbound:?}"));
            assert_eq!(canonical(text), usual, "{text}");
        }
    }

    /// Every way of leaving the canonical layout leaves the message to the other paths, which
    /// classify it as before.
    #[test]
    fn canonical_leaves_everything_else() {
        for text in [
            // Whitespace anywhere.
            r#" {"method":"add","args":[1,2],"kwargs":{},"id":7}"#,
            r#"{ "method":"add","args":[1,2],"kwargs":{},"id":7}"#,
            r#"{"method": "add","args":[1,2],"kwargs":{},"id":7}"#,
            r#"{"method":"add", "args":[1,2],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[ 1,2],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[1, 2],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[1,2 ],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{ },"id":7}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id": 7}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":7 }"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":7} "#,
            "{\"method\":\"add\",\"args\":[1,2],\"kwargs\":{},\"id\":7}\n",
            // Keys in another order, left out, repeated, escaped or unknown.
            r#"{"args":[1,2],"method":"add","kwargs":{},"id":7}"#,
            r#"{"method":"add","kwargs":{},"args":[1,2],"id":7}"#,
            r#"{"id":7,"method":"add","args":[1,2],"kwargs":{}}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{}}"#,
            r#"{"method":"add","args":[1,2],"id":7}"#,
            r#"{"method":"add","kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":7,"id":8}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":7,"method":"b"}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":7,"x":1}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":7,"result":1}"#,
            r#"{"meth\u006fd":"add","args":[1,2],"kwargs":{},"id":7}"#,
            // Values it does not read.
            r#"{"method":"a\"b","args":[1,2],"kwargs":{},"id":7}"#,
            r#"{"method":"\ud800","args":[1,2],"kwargs":{},"id":7}"#,
            r#"{"method":7,"args":[1,2],"kwargs":{},"id":7}"#,
            r#"{"method":null,"args":[1,2],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":["x"],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[[1]],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[{}],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[1,2,3,4,5],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[1,],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[,1],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[01],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[1.],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[1e400],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[1234567890123456789],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[1;2],"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[1,2,"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":{},"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":"x","kwargs":{},"id":7}"#,
            r#"{"method":"add","args":nul,"kwargs":{},"id":7}"#,
            r#"{"method":"add","args":[1,2],"kwargs":null,"id":7}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{"a":1},"id":7}"#,
            r#"{"method":"add","args":[1,2],"kwargs":[],"id":7}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":7.5}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":1e2}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":07}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":-0}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":1234567890123456789}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":true}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":[7]}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":"a\nb"}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":}"#,
            // Cut short, or more after it.
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":7"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":7}}"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":7}x"#,
            r#"{"method":"add","args":[1,2],"kwargs":{},"id":"#,
            r#"{"method":"add","args":[1,2"#,
            r#"{"method":"add"#,
            r#"{"method":"#,
            "",
        ] {
            left_to_the_others(canonical, text);
        }
    }

    /// The canonical request with its pieces varied and one byte perhaps inserted, removed or
    /// replaced: whatever the canonical path takes on reads as the member loop reads it, and
    /// every message reads as the general path reads it.
    #[test]
    fn canonical_agrees_with_the_other_paths() {
        let message = (
            piece(&[r#""add""#, r#""""#, r#""é""#]),
            piece(&[
                "[1,2]",
                "[]",
                "null",
                "[-1,2.5,true,null]",
                "[0,1,2,3]",
                "[7,8,9,10,11]",
            ]),
            piece(&["{}"]),
            piece(&["7", "0", "-3", "123456789012345678", r#""x""#, "null"]),
            edit(),
        )
            .prop_map(|(method, args, kwargs, id, edit)| {
                edit.apply(format!(
                    r#"{{"method":{method},"args":{args},"kwargs":{kwargs},"id":{id}}}"#
                ))
            });
        agrees_where_taken(message, canonical, 1_500);
    }

    /// Pieces of messages, many of them near an edge of the grammar.
    fn value() -> impl Strategy<Value = String> {
        const PIECES: &[&str] = &[
            "0",
            "-0",
            "01",
            "-01",
            "7",
            "-7",
            "1.5",
            "1e3",
            "1E3",
            "-",
            "1.",
            "123456789012345678",
            "-123456789012345678",
            "1234567890123456789",
            "18446744073709551617",
            "1e400",
            "-0.0",
            "0.1",
            "3.0",
            "1e-400",
            "0e5",
            "2.5e-3",
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "4.9e-324",
            "2e-324",
            "9007199254740993",
            "0.30000000000000004",
            "1e+2",
            "1E-2",
            "1.e2",
            ".5",
            "+1",
            "0x10",
            "1_0",
            "null",
            "nul",
            "nullx",
            "true",
            "false",
            r#""""#,
            r#""add""#,
            r#""a\"b""#,
            r#""\u0041""#,
            r#""\ud800""#,
            r#""a\nb\\c\/d\be\ff\rg\th\"""#,
            r#""\u00e9x\u00E9\u0000\uffff""#,
            r#""\ud83d\ude00""#,
            r#""\x""#,
            r#""\u12g4""#,
            "\"tab\there\"",
            r#""é😀""#,
            "[]",
            "[ ]",
            "[\n]",
            "{}",
            "{ }",
            "[1,2]",
            "[1,]",
            r#"{"a":1}"#,
            r#"{"a":1,"a":2}"#,
            "[",
            "{",
            "]",
            r#"{"a"}"#,
            r#"{"$serde_json::private::RawValue":"1"}"#,
            "",
            " ",
        ];
        let deep = (60usize..70, 120usize..130).prop_flat_map(|(a, b)| {
            prop_oneof![Just(a), Just(b)]
                .prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n)))
        });
        let piece = proptest::sample::select(PIECES).prop_map(str::to_owned);
        let array = (
            proptest::collection::vec((space(), piece.clone(), space()), 0..4),
            space(),
        )
            .prop_map(|(items, tail)| {
                let items: Vec<String> =
                    items.iter().map(|(a, p, b)| format!("{a}{p}{b}")).collect();
                format!("[{}{tail}]", items.join(","))
            });
        prop_oneof![
            8 => piece,
            4 => array,
            1 => deep,
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            12 => proptest::sample::select(
                &[r#""method""#, r#""args""#, r#""kwargs""#, r#""id""#, r#""result""#, r#""error""#][..]
            ),
            1 => proptest::sample::select(
                &[r#""x""#, r#""meth\u006fd""#, r#""id ""#, "id", r#""""#][..]
            ),
        ]
        .prop_map(str::to_owned)
    }

    fn space() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            12 => Just(""),
            4 => proptest::sample::select(&[" ", "\n\t", "\r "][..]),
            1 => proptest::sample::select(&["\u{a0}", "x"][..]),
        ]
    }

    fn message() -> impl Strategy<Value = String> {
        let member = (space(), key(), space(), value(), space())
            .prop_map(|(a, k, b, v, c)| format!("{a}{k}{b}:{v}{c}"));
        (
            space(),
            proptest::collection::vec(member, 0..5),
            prop_oneof![12 => Just(","), 1 => Just(",,"), 1 => Just(";")],
            space(),
        )
            .prop_map(|(before, members, comma, after)| {
                format!("{before}{{{}}}{after}", members.join(comma))
            })
    }

    /// Objects of the members `keys` with values from `values`, in any order, some left out
    /// and one perhaps given twice.
    fn shaped(
        keys: [&'static str; 4],
        values: [BoxedStrategy<String>; 4],
    ) -> impl Strategy<Value = String> {
        let order = Just(vec![0, 1, 2, 3]).prop_shuffle();
        (values, order, 0usize..=4, 0usize..8, space()).prop_map(
            move |(values, order, kept, twice, gap)| {
                let members: Vec<String> = order[..kept]
                    .iter()
                    .map(|&i| format!(r#""{}":{}"#, keys[i], values[i]))
                    .collect();
                let mut chosen: Vec<&str> = members.iter().map(String::as_str).collect();
                if let Some(again) = chosen.get(twice).copied() {
                    chosen.push(again);
                }
                format!("{{{gap}{}}}", chosen.join(","))
            },
        )
    }

    /// One of `usual` most of the time, else any value.
    fn near(usual: &'static [&'static str]) -> BoxedStrategy<String> {
        prop_oneof![
            4 => proptest::sample::select(usual).prop_map(str::to_owned),
            1 => value(),
        ]
        .boxed()
    }

    /// Messages shaped as requests, with values near what the usual request allows.
    fn request() -> impl Strategy<Value = String> {
        shaped(
            ["method", "args", "kwargs", "id"],
            [
                near(&[r#""add""#, r#""""#, r#""é""#]),
                near(&["[1, -2.5, true, null]", "[]", "null"]),
                near(&["{}", "{ }", "null"]),
                near(&["7", "0", "-3", r#""x""#, "null"]),
            ],
        )
    }

    /// Messages shaped as responses (now and then with a request's key), with values near
    /// what the usual response allows.
    fn response() -> impl Strategy<Value = String> {
        shaped(
            ["id", "result", "error", "args"],
            [
                near(&["7", "0", "-3", r#""x""#, "null", "1.5"]),
                near(&["3.0", "15", "null", r#""ok""#, "[1, 2]", r#"{"a": [1]}"#]),
                near(&["null", r#""ZeroDivisionError""#, r#""""#]),
                near(&["[]"]),
            ],
        )
    }

    /// Whatever it takes on, it reads exactly as the general path does; and it takes on a fair
    /// share of the messages tried, so that the agreement means something.
    #[test]
    fn agrees_with_the_general_path() {
        let taken = std::cell::Cell::new(0u32);
        let requests = std::cell::Cell::new(0u32);
        let responses = std::cell::Cell::new(0u32);
        let messages = prop_oneof![2 => message(), 1 => request(), 2 => response()];
        run_20_000(&messages, |text| {
            if read_fields(&text, &mut Fields::default()) {
                taken.set(taken.get() + 1);
            }
            match read_usual(&text, &mut None) {
                Some(Inbound::Request { .. }) => requests.set(requests.get() + 1),
                Some(_) => responses.set(responses.get() + 1),
                None => {}
            }
            reads_as_the_general_path(&text)
        });
        assert!(
            taken.get() > 1_000,
            "only {} messages took the fast path",
            taken.get()
        );
        assert!(
            responses.get() > 300,
            "only {} messages were read as the usual response",
            responses.get()
        );
        assert!(
            requests.get() > 300,
            "only {} messages were read as the usual request (of {} by the fast path)",
            requests.get(),
            taken.get()
        );
    }
}
