//! A JSON writer that gives byte for byte what `serde_json::to_writer` gives (compact), and
//! fails where it fails with the same error, but faster on what answers are made of: a string's
//! plain runs are found eight bytes at a time and copied whole (serde_json looks at each byte),
//! and an integral `f64` of moderate size is written as an integer with `.0` rather than through
//! the shortest-float formatter.
//!
//! Numbers other than those `f64`s are written by `serde_json`'s own serializer, so they cannot
//! differ; a `serde_json::value::RawValue` is written as its text, as `serde_json` writes it.

use serde::ser::{self, Error as _, Impossible, Serialize, SerializeMap as _};
use serde_json::Error;

use super::RAW_VALUE_TOKEN;
use super::scan::{ESCAPED, string_len};

/// Appends the JSON text of `value` to `out`: the bytes of `serde_json::to_writer(out, value)`,
/// or its error (having written an unspecified part).
pub(crate) fn write_json<T: Serialize + ?Sized>(out: &mut String, value: &T) -> Result<(), Error> {
    value.serialize(Writer { out })
}

/// The serializer: one value written at the end of `out`.
pub(crate) struct Writer<'a> {
    out: &'a mut String,
}

impl<'a> Writer<'a> {
    /// A serializer writing at the end of `out`.
    pub(crate) fn new(out: &'a mut String) -> Self {
        Self { out }
    }

    /// Starts an object holding one key, `variant`, whose value comes next.
    fn variant(&mut self, variant: &str) {
        self.out.push('{');
        write_str(self.out, variant);
        self.out.push(':');
    }

    /// Opens an array or object (`open`); when it is known to be empty, closes it at once, as
    /// `serde_json` does.
    fn compound(self, [open, close]: [char; 2], len: Option<usize>) -> Compound<'a> {
        self.out.push(open);
        let state = if len == Some(0) {
            self.out.push(close);
            State::Empty
        } else {
            State::First
        };
        Compound {
            out: self.out,
            state,
        }
    }
}

/// Writes `text` as a JSON string: quoted, with `"`, `\` and the control characters escaped as
/// `serde_json` escapes them, everything else copied.
pub(crate) fn write_str(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = text;
    // Room for the quotes, for an escape every 32 bytes or so (a line break in text: more
    // than one in 32 and the string grows again) and for what usually follows a long string
    // (the end of a response, `,"error":null}`), so that a string written whole is not moved
    // again to add those.
    out.reserve(rest.len() + rest.len() / 32 + 2 + 16);
    out.push('"');
    while let Some(at) = string_len(rest.as_bytes()) {
        // `at` is an ASCII byte (a quote, a backslash or a control character): a char boundary.
        let (plain, special) = rest.split_at(at);
        out.push_str(plain);
        let byte = special.as_bytes()[0];
        rest = &special[1..];
        match ESCAPED[usize::from(byte)] {
            0 => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
            short => {
                out.push('\\');
                out.push(char::from(short));
            }
        }
    }
    out.push_str(rest);
    out.push('"');
}

/// A float (or a map key) written by `serde_json`'s own serializer, into a buffer on the
/// stack, then appended: its text is a few ASCII bytes (at most 40), checked as it is moved.
fn by_serde_json(
    out: &mut String,
    write: impl FnOnce(&mut serde_json::Serializer<&mut [u8]>) -> Result<(), Error>,
) -> Result<(), Error> {
    const ROOM: usize = 64;
    let mut buffer = [0u8; ROOM];
    let mut serializer = serde_json::Serializer::new(&mut buffer[..]);
    write(&mut serializer)?;
    let written = ROOM - serializer.into_inner().len();
    let text = buffer.get(..written).unwrap_or_default();
    out.push_str(std::str::from_utf8(text).map_err(Error::custom)?);
    Ok(())
}

/// Appends the integer `n` in decimal: `itoa`'s text, as `serde_json` writes it, handed over
/// as a `str` (so nothing checks it again).
pub(crate) fn write_integer<N: itoa::Integer>(out: &mut String, n: N) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Below this magnitude an integral `f64` is an integer of at most 15 digits, exactly held by
/// an `i64`, and `serde_json`'s shortest-float formatter writes it as those digits and `.0`:
/// it switches to an exponent only from 1e16 on, so this stays an order of magnitude inside.
const PLAIN_F64_BELOW: f64 = 1e15;

/// The error `serde_json` gives for `value`, for the failures written here that it also has:
/// the same error, not one that only reads the same.
fn json_error<T: Serialize>(value: &T, otherwise: &str) -> Error {
    serde_json::to_vec(value)
        .err()
        .unwrap_or_else(|| Error::custom(otherwise))
}

/// A map of one entry, `K` to `null`: what makes `serde_json` refuse a key of type `K`.
struct KeyOf<K>(K);

impl<K: Serialize> Serialize for KeyOf<K> {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(&self.0, &())?;
        map.end()
    }
}

/// The error for a key that is not a string, a number, a bool or a char.
fn key_must_be_a_string() -> Error {
    json_error(&KeyOf(()), "key must be a string")
}

/// The error for a float key that is not finite.
fn float_key_must_be_finite() -> Error {
    json_error(
        &KeyOf(f64::NAN),
        "float key must be finite (got NaN or +/-inf)",
    )
}

/// A struct named as a `RawValue` with another field: what makes `serde_json` refuse one.
struct BadRawValue;

impl Serialize for BadRawValue {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use ser::SerializeStruct as _;
        let mut raw = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
        raw.serialize_field("text", "")?;
        raw.end()
    }
}

/// The error for a struct named as a `RawValue` whose field is not the one a `RawValue` has.
fn invalid_raw_value() -> Error {
    json_error(&BadRawValue, "expected value")
}

/// The error for a `RawValue` whose field is not text (`serde_json`'s own words).
fn not_raw_text() -> Error {
    Error::custom("expected RawValue")
}

/// Integers, written through `itoa` ([`write_integer`]).
macro_rules! integers {
    ($($method:ident($type:ty)),* $(,)?) => {
        $(
            fn $method(self, v: $type) -> Result<(), Error> {
                write_integer(self.out, v);
                Ok(())
            }
        )*
    };
}

/// What a value and a map's key write alike: strings and chars as strings, a unit variant as
/// its name, `Some` and a newtype struct as what they hold.
macro_rules! strings_and_wrappers {
    () => {
        fn serialize_char(self, v: char) -> Result<(), Error> {
            write_str(self.out, v.encode_utf8(&mut [0; 4]));
            Ok(())
        }

        fn serialize_str(self, v: &str) -> Result<(), Error> {
            write_str(self.out, v);
            Ok(())
        }

        fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
            value.serialize(self)
        }

        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
        ) -> Result<(), Error> {
            self.serialize_str(variant)
        }

        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<(), Error> {
            value.serialize(self)
        }
    };
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        by_serde_json(self.out, |s| ser::Serializer::serialize_f32(s, v))
    }

    integers! {
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
    }

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        // Integral when its truncation to an `i64` (exact below the bound) is itself: no call
        // to `trunc` (without SSE4.1, a call into libm).
        if v.abs() < PLAIN_F64_BELOW && (v as i64) as f64 == v {
            if v == 0.0 {
                self.out
                    .push_str(if v.is_sign_negative() { "-0.0" } else { "0.0" });
                return Ok(());
            }
            // Exact: integral and well inside the range of an i64.
            write_integer(self.out, v as i64);
            self.out.push_str(".0");
            return Ok(());
        }
        by_serde_json(self.out, |s| ser::Serializer::serialize_f64(s, v))
    }

    strings_and_wrappers!();

    /// An array of the bytes as numbers, as `serde_json` writes bytes.
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.out.push('[');
        for (i, byte) in v.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            write_integer(self.out, *byte);
        }
        self.out.push(']');
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.variant(variant);
        value.serialize(Writer {
            out: &mut *self.out,
        })?;
        self.out.push('}');
        Ok(())
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(self.compound(['[', ']'], len))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        mut self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.variant(variant);
        self.serialize_seq(Some(len))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(self.compound(['{', '}'], len))
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Compound<'a>, Error> {
        if name == RAW_VALUE_TOKEN {
            return Ok(Compound {
                out: self.out,
                state: State::Raw,
            });
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        mut self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.variant(variant);
        self.serialize_map(Some(len))
    }
}

/// Where an array or object being written stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Known empty and already closed.
    Empty,
    /// Nothing written in it yet.
    First,
    /// An element written: the next one takes a comma.
    Rest,
    /// A `RawValue`: its one field is its text.
    Raw,
}

/// An array or object being written.
pub(crate) struct Compound<'a> {
    out: &'a mut String,
    state: State,
}

impl Compound<'_> {
    /// The comma before an element, unless it is the first.
    fn separate(&mut self) {
        if self.state != State::First {
            self.out.push(',');
        }
        self.state = State::Rest;
    }

    /// Writes an element (or an entry's value).
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(Writer {
            out: &mut *self.out,
        })
    }

    /// Closes with `close` unless already closed.
    fn close(self, close: char) -> Result<(), Error> {
        if self.state != State::Empty {
            self.out.push(close);
        }
        Ok(())
    }

    /// Closes with `close` unless already closed, then closes the variant's object.
    fn close_variant(self, close: char) -> Result<(), Error> {
        let out = &mut *self.out;
        if self.state != State::Empty {
            out.push(close);
        }
        out.push('}');
        Ok(())
    }
}

/// The kinds written as a sequence: each element after a comma (not the first), the whole
/// closed by the method given (a tuple variant's array also closes its object).
macro_rules! like_a_sequence {
    ($($kind:ident::$element:ident => $close:ident),* $(,)?) => {
        $(
            impl ser::$kind for Compound<'_> {
                type Ok = ();
                type Error = Error;

                fn $element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                    self.separate();
                    self.value(value)
                }

                fn end(self) -> Result<(), Error> {
                    self.$close(']')
                }
            }
        )*
    };
}

like_a_sequence! {
    SerializeSeq::serialize_element => close,
    SerializeTuple::serialize_element => close,
    SerializeTupleStruct::serialize_field => close,
    SerializeTupleVariant::serialize_field => close_variant,
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.separate();
        key.serialize(KeyWriter {
            out: &mut *self.out,
        })?;
        self.out.push(':');
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.value(value)
    }

    fn end(self) -> Result<(), Error> {
        self.close('}')
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        if self.state == State::Raw {
            if key != RAW_VALUE_TOKEN {
                return Err(invalid_raw_value());
            }
            return value.serialize(RawText {
                out: &mut *self.out,
            });
        }
        self.separate();
        write_str(self.out, key);
        self.out.push(':');
        self.value(value)
    }

    fn end(self) -> Result<(), Error> {
        if self.state == State::Raw {
            return Ok(());
        }
        self.close('}')
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn end(self) -> Result<(), Error> {
        self.close_variant('}')
    }
}

/// Methods that refuse with the error `$error()`, for serializers that take few kinds.
macro_rules! refuse {
    ($error:ident: $($method:ident($($arg:ty),*)),* $(,)?) => {
        $(
            fn $method(self, $(_: $arg),*) -> Result<(), Error> {
                Err($error())
            }
        )*
    };
}

/// The compound kinds a refusing serializer refuses, with the error `$error()`.
macro_rules! refuse_compounds {
    ($error:ident) => {
        type SerializeSeq = Impossible<(), Error>;
        type SerializeTuple = Impossible<(), Error>;
        type SerializeTupleStruct = Impossible<(), Error>;
        type SerializeTupleVariant = Impossible<(), Error>;
        type SerializeMap = Impossible<(), Error>;
        type SerializeStruct = Impossible<(), Error>;
        type SerializeStructVariant = Impossible<(), Error>;

        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), Error> {
            Err($error())
        }

        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
            Err($error())
        }

        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
            Err($error())
        }

        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, Error> {
            Err($error())
        }

        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Error> {
            Err($error())
        }

        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
            Err($error())
        }

        fn serialize_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStruct, Error> {
            Err($error())
        }

        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Error> {
            Err($error())
        }
    };
}

/// A map's key, as `serde_json` writes one: a string as it is; a number or bool as its text
/// in quotes; a float only when finite; anything else refused.
struct KeyWriter<'a> {
    out: &'a mut String,
}

impl KeyWriter<'_> {
    /// Writes a scalar with `serde_json`'s serializer, in quotes.
    fn quoted(
        self,
        write: impl FnOnce(&mut serde_json::Serializer<&mut [u8]>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.out.push('"');
        by_serde_json(self.out, write)?;
        self.out.push('"');
        Ok(())
    }
}

/// Scalars a key writes in quotes.
macro_rules! quoted {
    ($($method:ident($type:ty)),* $(,)?) => {
        $(
            fn $method(self, v: $type) -> Result<(), Error> {
                self.quoted(|s| ser::Serializer::$method(s, v))
            }
        )*
    };
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = Error;

    refuse_compounds!(key_must_be_a_string);

    quoted! {
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
    }

    refuse! {
        key_must_be_a_string:
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(float_key_must_be_finite());
        }
        self.quoted(|s| ser::Serializer::serialize_f32(s, v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(float_key_must_be_finite());
        }
        self.quoted(|s| ser::Serializer::serialize_f64(s, v))
    }

    strings_and_wrappers!();
}

/// The text of a `RawValue`, written as it is; anything else refused, as `serde_json` does.
struct RawText<'a> {
    out: &'a mut String,
}

impl ser::Serializer for RawText<'_> {
    type Ok = ();
    type Error = Error;

    refuse_compounds!(not_raw_text);

    refuse! {
        not_raw_text:
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.out.push_str(v);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
        Err(not_raw_text())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(not_raw_text())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::value::RawValue;
    use serde_json::{Map, Number, Value};

    use super::*;

    /// Writes `value` both ways: the same bytes, or the same error.
    fn same<T: Serialize + ?Sized>(value: &T) -> Result<(), TestCaseError> {
        let mut ours = "x".to_owned();
        let ours = write_json(&mut ours, value).map(|()| ours);
        let mut theirs = b"x".to_vec();
        let theirs = serde_json::to_writer(&mut theirs, value).map(|()| theirs);
        match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => prop_assert_eq!(ours, String::from_utf8_lossy(&theirs)),
            (Err(ours), Err(theirs)) => {
                prop_assert_eq!(ours.to_string(), theirs.to_string());
                prop_assert_eq!(ours.classify(), theirs.classify());
            }
            (ours, theirs) => prop_assert!(false, "ours {ours:?}, serde_json's {theirs:?}"),
        }
        Ok(())
    }

    /// Strings of every kind: plain runs, every escape, control characters, multi-byte
    /// characters, at every alignment.
    fn text() -> impl Strategy<Value = String> {
        text_of("[a-z ]{1,12}")
    }

    /// Pieces of a string as [`text`] has them, its plain runs as `runs` makes them.
    fn text_of(runs: &'static str) -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                8 => runs,
                2 => Just("\"".to_owned()),
                2 => Just("\\".to_owned()),
                2 => (0u8..0x20).prop_map(|b| char::from(b).to_string()),
                1 => Just("\u{7f}".to_owned()),
                2 => any::<char>().prop_map(String::from),
                1 => Just("é€😀".to_owned()),
            ],
            0..12,
        )
        .prop_map(|pieces| pieces.concat())
    }

    /// Floats near every edge of the formatter: integral ones of every size, tiny and huge
    /// ones, zeros of both signs, the non-finite ones.
    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            (-1e17f64..1e17).prop_map(f64::trunc),
            (-20i32..20, any::<i64>()).prop_map(|(e, m)| (m as f64) * 10f64.powi(e)),
            Just(0.0),
            Just(-0.0),
            Just(1e15),
            Just(1e15 - 1.0),
            Just(-1e15),
            Just(1e16),
            Just(9_007_199_254_740_993.0),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            prop_oneof![Just(i64::MIN), Just(i64::MAX)].prop_map(Value::from),
            Just(Value::from(u64::MAX)),
            float().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((text(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    #[derive(Serialize, Debug, Clone)]
    struct Record {
        id: u64,
        name: String,
        score: f64,
        tags: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        kind: Kind,
        unit: (),
        pair: (i8, char),
        bytes: serde_bytes_like::Bytes,
    }

    /// Bytes serialized as bytes (`serialize_bytes`), without a crate for it.
    mod serde_bytes_like {
        #[derive(Debug, Clone)]
        pub struct Bytes(pub Vec<u8>);

        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
    }

    #[derive(Serialize, Debug, Clone)]
    enum Kind {
        Plain,
        Newtype(f32),
        Tuple(u8, String),
        Empty(),
        Struct { a: i128, b: Option<u128> },
        Nothing {},
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Wrapper(String);

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Plain),
            any::<f32>().prop_map(Kind::Newtype),
            (any::<u8>(), text()).prop_map(|(a, b)| Kind::Tuple(a, b)),
            Just(Kind::Empty()),
            (any::<i128>(), any::<Option<u128>>()).prop_map(|(a, b)| Kind::Struct { a, b }),
            Just(Kind::Nothing {}),
        ]
    }

    fn record() -> impl Strategy<Value = Record> {
        (
            (any::<u64>(), text(), float()),
            (
                proptest::collection::vec(text(), 0..4),
                any::<Option<String>>(),
                kind(),
            ),
            (any::<i8>(), any::<char>(), any::<Vec<u8>>()),
        )
            .prop_map(
                |((id, name, score), (tags, note, kind), (a, c, bytes))| Record {
                    id,
                    name,
                    score,
                    tags,
                    note,
                    kind,
                    unit: (),
                    pair: (a, c),
                    bytes: serde_bytes_like::Bytes(bytes),
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn values_are_written_as_serde_json_writes_them(value in value()) {
            same(&value)?;
        }

        #[test]
        fn strings_are_written_as_serde_json_writes_them(text in text(), skip in 0usize..8) {
            let skip = (0..=skip.min(text.len())).rev().find(|&at| text.is_char_boundary(at));
            same(&text[skip.unwrap_or(0)..])?;
        }

        /// Long runs (through the scan's sixteens and into its blocks, multi-byte characters
        /// at any place) are copied whole where serde_json writes them byte by byte.
        #[test]
        fn long_strings_are_written_as_serde_json_writes_them(text in text_of("[a-zé ]{1,300}")) {
            same(&text)?;
        }

        #[test]
        fn floats_are_written_as_serde_json_writes_them(f in float(), g in any::<f32>()) {
            same(&f)?;
            same(&-f)?;
            same(&g)?;
            same(&(f as f32))?;
        }

        #[test]
        fn typed_values_are_written_as_serde_json_writes_them(
            records in proptest::collection::vec(record(), 0..4),
            numbers in any::<(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128)>(),
            option in any::<Option<Option<bool>>>(),
        ) {
            same(&records)?;
            same(&numbers)?;
            same(&option)?;
            same(&(Unit, Wrapper("w\"x".to_owned()), [(); 0], ((),)))?;
        }

        /// Keys of every kind serde_json takes, and those it refuses, with its own errors.
        #[test]
        fn map_keys_are_written_or_refused_as_serde_json_does(
            ints in any::<Vec<(i64, u8)>>(),
            wide in any::<Vec<(u128, i128)>>(),
            bools in any::<Vec<(bool, bool)>>(),
            chars in any::<Vec<(char, ())>>(),
            float in float(),
            small in any::<f32>(),
            text in text(),
        ) {
            same(&ints.into_iter().collect::<BTreeMap<_, _>>())?;
            same(&wide.into_iter().collect::<BTreeMap<_, _>>())?;
            same(&bools.into_iter().collect::<BTreeMap<_, _>>())?;
            same(&chars.into_iter().collect::<BTreeMap<_, _>>())?;
            same(&KeyOf(float))?;
            same(&KeyOf(small))?;
            same(&KeyOf(Some(text.clone())))?;
            same(&KeyOf(Wrapper(text)))?;
        }
    }

    #[test]
    fn keys_serde_json_refuses_are_refused_with_its_errors() -> Result<(), TestCaseError> {
        same(&KeyOf(()))?;
        same(&KeyOf(None::<u8>))?;
        same(&KeyOf(Unit))?;
        same(&KeyOf(vec![1]))?;
        same(&KeyOf((1, 2)))?;
        same(&KeyOf(b"ab".as_slice()))?;
        same(&KeyOf(Kind::Plain))?;
        same(&KeyOf(Kind::Newtype(1.0)))?;
        same(&KeyOf(Kind::Tuple(1, String::new())))?;
        same(&KeyOf(Kind::Nothing {}))?;
        same(&KeyOf(BTreeMap::<u8, u8>::new()))?;
        same(&KeyOf(f64::INFINITY))?;
        same(&KeyOf(f32::NAN))?;
        same(&KeyOf(
            RawValue::from_string("1".to_owned())
                .map_err(|e| TestCaseError::fail(e.to_string()))?,
        ))?;
        let mut map = HashMap::new();
        map.insert(Wrapper("k".to_owned()).0, Kind::Struct { a: -1, b: None });
        same(&map)?;
        Ok(())
    }

    #[test]
    fn raw_values_are_written_as_their_text() -> Result<(), TestCaseError> {
        for text in ["[1,  2]", "{ }", r#""\u00e9""#, "null", " 1.50 "] {
            let raw = RawValue::from_string(text.to_owned())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            same(&raw)?;
            same(&vec![Some(&raw)])?;
            let mut map = BTreeMap::new();
            map.insert("k", &raw);
            same(&map)?;
        }
        same(&BadRawValue)?;
        Ok(())
    }

    /// A struct named as a `RawValue` whose field is not text: refused as `serde_json` refuses
    /// it.
    #[test]
    fn raw_values_that_are_not_text_are_refused_as_serde_json_refuses_them()
    -> Result<(), TestCaseError> {
        struct NotText<T>(T);

        impl<T: Serialize> Serialize for NotText<T> {
            fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeStruct as _;
                let mut raw = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
                raw.serialize_field(RAW_VALUE_TOKEN, &self.0)?;
                raw.end()
            }
        }
        same(&NotText(1))?;
        same(&NotText(()))?;
        same(&NotText(Some("1")))?;
        same(&NotText(vec![1]))?;
        same(&NotText(Kind::Plain))?;
        same(&NotText(Wrapper(String::new())))?;
        same(&NotText("[1]"))?;
        Ok(())
    }

    /// A sequence or map whose length was given as 0 but that then has elements: serde_json
    /// writes something odd, and so does this, byte for byte.
    #[test]
    fn lying_lengths_are_written_as_serde_json_writes_them() -> Result<(), TestCaseError> {
        struct Liar;

        impl Serialize for Liar {
            fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeSeq as _;
                let mut seq = serializer.serialize_seq(Some(0))?;
                seq.serialize_element(&1)?;
                seq.serialize_element(&KeyOfLiar)?;
                seq.end()
            }
        }

        struct KeyOfLiar;

        impl Serialize for KeyOfLiar {
            fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeMap as _;
                let mut map = serializer.serialize_map(Some(0))?;
                map.serialize_entry("a", &1)?;
                map.end()
            }
        }
        same(&Liar)?;
        Ok(())
    }
}
