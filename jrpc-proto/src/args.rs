//! Where a request's arguments wait to be bound: kept as the text they came in when they are
//! only positional, or in place when they are a few numbers, booleans or nulls, and bound
//! straight from there, with no [`serde_json::Value`] tree made on the way.
//!
//! A method's parameters are usually a tuple of plain types (`|a: f64, b: f64|`), one value,
//! or a sequence, and its arguments an array: those bind from the array's text in one pass,
//! as `serde_json` reads any typed value, or from the scalars held in place. Everything else (keyword arguments, a struct as a
//! parameter list, `Option`, a raw `Value`), and every binding that fails, goes the way of
//! [`Params::bind`], with its Python-style rules and error messages: so a binding from text
//! either gives the very value `Params::bind` gives, or is not used at all.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;

use crate::wire::{RAW_VALUE_TOKEN, checked_value_end};
use crate::{Params, RpcError};

/// The arguments of an inbound request or notification, ready to be bound onto a method's
/// parameters with [`bind`](Self::bind) (the rules of [`Params::bind`]), or turned into
/// [`Params`] to be looked at.
///
/// ```
/// use jrpc_proto::{Args, Params};
///
/// let args = Args::from(Params::positional(vec![5.into(), 10.into()]));
/// let (a, b): (i64, i64) = args.clone().bind().unwrap();
/// assert_eq!((a, b), (5, 10));
/// assert_eq!(args.to_params().args.len(), 2);
/// ```
#[derive(Clone)]
pub struct Args(Held);

#[derive(Clone)]
enum Held {
    /// Arguments as values.
    Params(Params),
    /// Positional arguments only: the text of their array, known to parse as values do, and
    /// where its last element starts if known.
    Positional(String, Option<usize>),
    /// Positional arguments only, each a number, a boolean or null.
    Scalars(Scalars),
}

impl Args {
    /// Only positional arguments: the text of the `args` array (from its `[` to its `]`),
    /// which the caller has checked to parse as `Value`s would (and to nest less deeply than
    /// the parse allows), and where in it its last element starts, if the check noted it (a
    /// raw value there is handed its text without its end being looked for).
    pub(crate) fn positional_text(text: String, last: Option<usize>) -> Self {
        Self(Held::Positional(text, last))
    }

    /// Only positional arguments, each a number, a boolean or null.
    pub(crate) fn scalars(scalars: Scalars) -> Self {
        Self(Held::Scalars(scalars))
    }

    /// Binds the arguments onto `T` by the rules of [`Params::bind`], with the same result
    /// and the same errors.
    pub fn bind<T: DeserializeOwned>(self) -> Result<T, RpcError> {
        let bound = match &self.0 {
            Held::Params(_) => Err(GiveUp),
            Held::Positional(text, last) => T::deserialize(Positional(TextArray {
                text,
                last_start: *last,
            })),
            Held::Scalars(scalars) => T::deserialize(Positional(scalars.as_slice())),
        };
        bound.or_else(|GiveUp| self.into_params().bind())
    }

    /// True when there are neither positional nor keyword arguments.
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Held::Params(params) => params.is_empty(),
            // An array's text: empty when nothing but whitespace stands between its brackets.
            Held::Positional(text, _) => text.bytes().all(|b| b"[] \t\n\r".contains(&b)),
            Held::Scalars(scalars) => scalars.as_slice().is_empty(),
        }
    }

    /// The arguments as [`Params`].
    pub fn into_params(self) -> Params {
        match self.0 {
            Held::Params(params) => params,
            Held::Positional(text, _) => Params::positional(positional_values(&text)),
            Held::Scalars(scalars) => scalars.to_params(),
        }
    }

    /// The arguments as [`Params`], leaving these as they are.
    pub fn to_params(&self) -> Params {
        match &self.0 {
            Held::Params(params) => params.clone(),
            Held::Positional(text, _) => Params::positional(positional_values(text)),
            Held::Scalars(scalars) => scalars.to_params(),
        }
    }
}

/// An argument that is a number, a boolean or null, held as itself: a [`Value`] of these
/// kinds, without the room a `Value` keeps for strings and trees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    /// A non-negative integer (a `Value`'s `PosInt`).
    PosInt(u64),
    /// A negative integer (a `Value`'s `NegInt`).
    NegInt(i64),
    /// A finite double (a `Value`'s `Float`).
    Float(f64),
}

impl From<Scalar> for Value {
    fn from(scalar: Scalar) -> Self {
        match scalar {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::PosInt(n) => Value::from(n),
            Scalar::NegInt(n) => Value::from(n),
            // Finite, so always a number.
            Scalar::Float(x) => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
        }
    }
}

/// At most [`Scalars::CAPACITY`] scalar arguments, held in place (no allocation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scalars {
    len: usize,
    items: [Scalar; Scalars::CAPACITY],
}

impl Scalars {
    /// How many arguments fit.
    pub(crate) const CAPACITY: usize = 4;

    /// None yet.
    pub(crate) fn new() -> Self {
        Self {
            len: 0,
            items: [Scalar::Null; Self::CAPACITY],
        }
    }

    /// Adds one; `None` when there is no room.
    pub(crate) fn push(&mut self, scalar: Scalar) -> Option<()> {
        *self.items.get_mut(self.len)? = scalar;
        self.len += 1;
        Some(())
    }

    fn as_slice(&self) -> &[Scalar] {
        &self.items[..self.len]
    }

    /// The arguments as values.
    pub(crate) fn values(&self) -> Vec<Value> {
        self.as_slice().iter().map(|&s| Value::from(s)).collect()
    }

    fn to_params(self) -> Params {
        Params::positional(self.values())
    }
}

/// The values of an `args` array's text. The text was checked to parse: the empty fallback is
/// never taken.
pub(crate) fn positional_values(text: &str) -> Vec<Value> {
    serde_json::from_str(text).unwrap_or_default()
}

impl From<Params> for Args {
    fn from(params: Params) -> Self {
        Self(Held::Params(params))
    }
}

/// Equal when they are the same values, however each is held.
impl PartialEq for Args {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Held::Positional(a, _), Held::Positional(b, _)) if a == b => true,
            _ => self.to_params() == other.to_params(),
        }
    }
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Shown as the values they are, however they are held.
        fmt::Debug::fmt(&self.to_params(), f)
    }
}

/// Binding from text gave up: [`Params::bind`] decides, and words the error.
#[derive(Debug)]
struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("left to the binding from values")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    fn custom<T: fmt::Display>(_: T) -> Self {
        GiveUp
    }
}

/// Positional arguments held as a whole array (its text, or its scalars), bound the way
/// [`Params::bind`] binds them when there are no keyword arguments: a tuple or a sequence
/// takes the array, a single value takes its one element, a newtype is transparent. Anything
/// else gives up.
struct Positional<S>(S);

/// Where a [`Positional`] array is read from.
trait Source<'de> {
    /// Reads the whole array with `seed`; nothing may be left of it after.
    fn read<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, GiveUp>;
}

/// The array's text, its elements read one by one.
impl<'de> Source<'de> for TextArray<'de> {
    fn read<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, GiveUp> {
        seed.deserialize(self)
    }
}

/// The rest of a whole array's `Deserializer`, given its `deserialize_seq`: a tuple or a tuple
/// struct is read as the sequence (as `serde_json` reads an array); anything else gives up
/// (`Positional` asks only for these three).
macro_rules! read_only_as_seq {
    () => {
        fn deserialize_tuple<V: Visitor<'de>>(
            self,
            _len: usize,
            visitor: V,
        ) -> Result<V::Value, GiveUp> {
            self.deserialize_seq(visitor)
        }

        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _len: usize,
            visitor: V,
        ) -> Result<V::Value, GiveUp> {
            self.deserialize_seq(visitor)
        }

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GiveUp> {
            Err(GiveUp)
        }

        serde::forward_to_deserialize_any! {
            <W: Visitor<'de>>
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct map struct enum identifier ignored_any
        }
    };
}

/// The text of an array that parses as values do (`Args::positional_text`), read as
/// `serde_json` reads it as a sequence, an element at a time: each by `serde_json` from its
/// own text, except a raw value (`Box<RawValue>`), which is handed its text as `serde_json`
/// hands it over (the map of [`RawText`]) without reading it again: the check that took the
/// text did, and an element's end is found by following its brackets and strings alone.
#[derive(Clone, Copy)]
struct TextArray<'de> {
    /// The array, from its `[` to its `]`.
    text: &'de str,
    /// Where its last element starts, if known.
    last_start: Option<usize>,
}

impl<'de> de::Deserializer<'de> for TextArray<'de> {
    type Error = GiveUp;

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        let text = self.text;
        let close = text.len().checked_sub(1).ok_or(GiveUp)?;
        let mut elements = TextElements {
            text,
            pos: 1,
            close,
            last_start: self.last_start,
        };
        elements.skip_whitespace();
        if text.as_bytes().get(elements.pos) == Some(&b']') {
            elements.pos = close;
        }
        let value = visitor.visit_seq(&mut elements)?;
        // Every element taken, as `serde_json` requires of an array read as a sequence.
        if elements.pos != close {
            return Err(GiveUp);
        }
        Ok(value)
    }

    read_only_as_seq!();
}

/// The elements of a [`TextArray`]: `pos` stands at the next one, or at `close` (the closing
/// bracket) when none is left.
struct TextElements<'de> {
    text: &'de str,
    pos: usize,
    close: usize,
    last_start: Option<usize>,
}

impl TextElements<'_> {
    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Steps past the element that ends at `end`, its comma and the whitespace around.
    fn past(&mut self, end: usize) -> Result<(), GiveUp> {
        self.pos = end;
        self.skip_whitespace();
        match self.text.as_bytes().get(self.pos) {
            Some(b',') => {
                self.pos += 1;
                self.skip_whitespace();
                Ok(())
            }
            Some(b']') if self.pos == self.close => Ok(()),
            _ => Err(GiveUp),
        }
    }
}

impl<'de> SeqAccess<'de> for TextElements<'de> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GiveUp> {
        if self.pos >= self.close {
            return Ok(None);
        }
        seed.deserialize(TextElement(self)).map(Some)
    }
}

/// The element a [`TextElements`] stands at.
struct TextElement<'a, 'de>(&'a mut TextElements<'de>);

impl<'de> TextElement<'_, 'de> {
    /// The element read by `serde_json` with `read`, from its start to the end of the array's
    /// elements. If only whitespace follows it there, it was the last; otherwise its end is
    /// found by its brackets and strings.
    fn parsed<T>(
        self,
        read: impl FnOnce(
            &mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
        ) -> serde_json::Result<T>,
    ) -> Result<T, GiveUp> {
        let elements = self.0;
        let rest = elements
            .text
            .get(elements.pos..elements.close)
            .ok_or(GiveUp)?;
        let mut reader = serde_json::Deserializer::from_str(rest);
        let value = read(&mut reader).map_err(|_| GiveUp)?;
        if reader.end().is_ok() {
            elements.pos = elements.close;
        } else {
            let end = checked_value_end(elements.text, elements.pos).ok_or(GiveUp)?;
            elements.past(end)?;
        }
        Ok(value)
    }
}

/// Deserializer methods (given their arguments before the visitor) that read the element with
/// `serde_json`.
macro_rules! parsed_kinds {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, GiveUp> {
                self.parsed(|reader| de::Deserializer::$method(reader, $($arg,)* visitor))
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for TextElement<'_, 'de> {
    type Error = GiveUp;

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        if name != RAW_VALUE_TOKEN {
            return self.parsed(|reader| {
                de::Deserializer::deserialize_newtype_struct(reader, name, visitor)
            });
        }
        // A raw value: its text, from its first byte to its last, as `serde_json` gives it.
        let elements = self.0;
        let end = if elements.last_start == Some(elements.pos) {
            // The last element: only whitespace stands between it and the closing bracket.
            let before = elements.text.get(..elements.close).ok_or(GiveUp)?;
            before.trim_end_matches([' ', '\t', '\n', '\r']).len()
        } else {
            checked_value_end(elements.text, elements.pos).ok_or(GiveUp)?
        };
        let raw = elements.text.get(elements.pos..end).ok_or(GiveUp)?;
        elements.past(end)?;
        visitor.visit_map(RawText(Some(raw)))
    }

    parsed_kinds! {
        deserialize_any(),
        deserialize_bool(),
        deserialize_i8(),
        deserialize_i16(),
        deserialize_i32(),
        deserialize_i64(),
        deserialize_i128(),
        deserialize_u8(),
        deserialize_u16(),
        deserialize_u32(),
        deserialize_u64(),
        deserialize_u128(),
        deserialize_f32(),
        deserialize_f64(),
        deserialize_char(),
        deserialize_str(),
        deserialize_string(),
        deserialize_bytes(),
        deserialize_byte_buf(),
        deserialize_option(),
        deserialize_unit(),
        deserialize_unit_struct(name: &'static str),
        deserialize_seq(),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_map(),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier(),
        deserialize_ignored_any(),
    }
}

/// A raw value's text, handed over as `serde_json` hands it to `RawValue`'s visitor: a map of
/// one entry, whose key is [`RAW_VALUE_TOKEN`] and whose value is the text as a string.
struct RawText<'de>(Option<&'de str>);

impl<'de> de::MapAccess<'de> for RawText<'de> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GiveUp> {
        if self.0.is_none() {
            return Ok(None);
        }
        seed.deserialize(BorrowedStrDeserializer::new(RAW_VALUE_TOKEN))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, GiveUp> {
        seed.deserialize(BorrowedStrDeserializer::new(self.0.take().ok_or(GiveUp)?))
    }
}

/// The array's scalars, each read as the `Value` it is (no allocation for these kinds), so by
/// the very rules `Params::bind` reads it with.
impl<'de> Source<'de> for &[Scalar] {
    fn read<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, GiveUp> {
        seed.deserialize(ScalarArray(self.iter()))
    }
}

/// The scalars as a JSON array.
struct ScalarArray<'s>(std::slice::Iter<'s, Scalar>);

impl<'de> de::Deserializer<'de> for ScalarArray<'_> {
    type Error = GiveUp;

    fn deserialize_seq<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, GiveUp> {
        let value = visitor.visit_seq(&mut self)?;
        // Every element taken, as `serde_json` requires of an array read as a sequence.
        match self.0.len() {
            0 => Ok(value),
            _ => Err(GiveUp),
        }
    }

    read_only_as_seq!();
}

impl<'de> SeqAccess<'de> for ScalarArray<'_> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GiveUp> {
        match self.0.next() {
            Some(&scalar) => seed.deserialize(One(scalar)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// Deserializer methods for kinds a scalar never is (given their arguments before the
/// visitor): they give up.
macro_rules! refuse_kinds {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, $(_: $arg,)* _: V) -> Result<V::Value, GiveUp> {
                Err(GiveUp)
            }
        )*
    };
}

/// One scalar read exactly as the `Value` it is reads (`serde_json`'s `Value` deserializer,
/// its calls to the visitor one for one), without making that `Value`. Where the `Value` would
/// fail, this gives up, and `Params::bind` words the error.
struct One(Scalar);

impl<'de> de::Deserializer<'de> for One {
    type Error = GiveUp;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        match self.0 {
            Scalar::Null => visitor.visit_unit(),
            Scalar::Bool(b) => visitor.visit_bool(b),
            Scalar::PosInt(n) => visitor.visit_u64(n),
            Scalar::NegInt(n) => visitor.visit_i64(n),
            Scalar::Float(x) => visitor.visit_f64(x),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        match self.0 {
            Scalar::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        match self.0 {
            Scalar::Bool(b) => visitor.visit_bool(b),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        match self.0 {
            Scalar::Null => visitor.visit_unit(),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        // A `RawValue` is made from the `Value`'s text: left to the values.
        if name == RAW_VALUE_TOKEN {
            return Err(GiveUp);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'de>>
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64
    }

    // Kinds no scalar is (strings, arrays, objects, enums).
    refuse_kinds! {
        deserialize_char(),
        deserialize_str(),
        deserialize_string(),
        deserialize_identifier(),
        deserialize_bytes(),
        deserialize_byte_buf(),
        deserialize_seq(),
        deserialize_map(),
        deserialize_tuple(usize),
        deserialize_tuple_struct(&'static str, usize),
        deserialize_struct(&'static str, &'static [&'static str]),
        deserialize_enum(&'static str, &'static [&'static str]),
    }
}

/// Seeds that read the whole array as the parameter asks.
struct AsSeq<V>(V);
struct AsTuple<V>(usize, V);
struct AsTupleStruct<V>(&'static str, usize, V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for AsSeq<V> {
    type Value = V::Value;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        deserializer.deserialize_seq(self.0)
    }
}

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for AsTuple<V> {
    type Value = V::Value;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        deserializer.deserialize_tuple(self.0, self.1)
    }
}

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for AsTupleStruct<V> {
    type Value = V::Value;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        deserializer.deserialize_tuple_struct(self.0, self.1, self.2)
    }
}

/// The single-value kinds: one argument, its element read as the parameter asks.
macro_rules! one_argument {
    ($($method:ident $(($($arg:ident: $ty:ty),*))?;)*) => {$(
        fn $method<V: Visitor<'de>>(
            self,
            $($($arg: $ty,)*)?
            visitor: V,
        ) -> Result<V::Value, GiveUp> {
            struct Ask<V>($($($ty,)*)? V);
            impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Ask<V> {
                type Value = V::Value;
                #[allow(non_snake_case)]
                fn deserialize<D: de::Deserializer<'de>>(
                    self,
                    deserializer: D,
                ) -> Result<V::Value, D::Error> {
                    let Ask($($($arg,)*)? visitor) = self;
                    deserializer.$method($($($arg,)*)? visitor)
                }
            }
            self.0.read(AsSeq(OnlyElement(Ask($($($arg,)*)? visitor))))
        }
    )*};
}

impl<'de, S: Source<'de>> de::Deserializer<'de> for Positional<S> {
    type Error = GiveUp;

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.0.read(AsTuple(len, visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.0.read(AsTupleStruct(name, len, visitor))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        self.0.read(AsSeq(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        visitor.visit_newtype_struct(self)
    }

    one_argument! {
        deserialize_bool; deserialize_i8; deserialize_i16; deserialize_i32; deserialize_i64;
        deserialize_u8; deserialize_u16; deserialize_u32; deserialize_u64; deserialize_f32;
        deserialize_f64; deserialize_char; deserialize_str; deserialize_string;
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
    }

    // The rest has rules of its own (raw values, no arguments, parameter lists, maps,
    // options): the binding from values applies them.
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GiveUp> {
        Err(GiveUp)
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'de>>
        i128 u128 bytes byte_buf option unit unit_struct map struct identifier ignored_any
    }
}

/// Reads an array of exactly one element with the seed: a single parameter takes exactly one
/// argument.
struct OnlyElement<S>(S);

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for OnlyElement<S> {
    type Value = S::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("one argument")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<S::Value, A::Error> {
        let Some(value) = seq.next_element_seed(self.0)? else {
            return Err(de::Error::custom("no argument"));
        };
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("more than one argument"));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Deserialize;

    use super::*;
    use crate::wire::checked_args;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Pair {
        a: i64,
        b: Option<String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Meters(f64);

    #[derive(Debug, PartialEq, Deserialize)]
    struct Point(i64, i64);

    #[derive(Debug, PartialEq, Deserialize)]
    enum Color {
        Red,
        Rgb(u8, u8, u8),
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(untagged)]
    enum Loose {
        N(f64),
        S(String),
    }

    /// `Args::bind` from text and `Params::bind` from values, written out the same.
    /// [`same`], for held scalars against values only.
    fn same_held<T: DeserializeOwned + fmt::Debug>(text: &str) -> Result<(), TestCaseError> {
        let values: Vec<Value> = serde_json::from_str(text)
            .map_err(|e| TestCaseError::reject(format!("not an array of values: {e}")))?;
        if let Some(scalars) = held_scalars(&values) {
            let from_scalars = format!("{:?}", Args::scalars(scalars).bind::<T>());
            let from_values = format!("{:?}", Params::positional(values).bind::<T>());
            prop_assert_eq!(from_scalars, from_values, "{} held as scalars", text);
        }
        Ok(())
    }

    fn same<T: DeserializeOwned + fmt::Debug>(text: &str) -> Result<(), TestCaseError> {
        let values: Vec<Value> = serde_json::from_str(text)
            .map_err(|e| TestCaseError::reject(format!("not an array of values: {e}")))?;
        let held = Args::positional_text(text.to_owned(), checked_args(text));
        let from_text = format!("{:?}", held.bind::<T>());
        let from_scalars =
            held_scalars(&values).map(|s| format!("{:?}", Args::scalars(s).bind::<T>()));
        let from_values = format!("{:?}", Params::positional(values).bind::<T>());
        let ty = std::any::type_name::<T>();
        prop_assert_eq!(&from_text, &from_values, "{} as {}", text, ty);
        if let Some(from_scalars) = from_scalars {
            prop_assert_eq!(
                from_scalars,
                from_values,
                "{} as {}, held as scalars",
                text,
                ty
            );
        }
        Ok(())
    }

    /// The values as scalars held in place, when they are few numbers, booleans or nulls.
    fn held_scalars(values: &[Value]) -> Option<Scalars> {
        let mut scalars = Scalars::new();
        for value in values {
            scalars.push(match value {
                Value::Null => Scalar::Null,
                Value::Bool(b) => Scalar::Bool(*b),
                Value::Number(n) if n.is_u64() => Scalar::PosInt(n.as_u64()?),
                Value::Number(n) if n.is_i64() => Scalar::NegInt(n.as_i64()?),
                Value::Number(n) => Scalar::Float(n.as_f64()?),
                _ => return None,
            })?;
        }
        assert_eq!(scalars.values(), values);
        Some(scalars)
    }

    fn check_all(text: &str) -> Result<(), TestCaseError> {
        same::<(f64, f64)>(text)?;
        same::<(i64, i64)>(text)?;
        same::<(u8, String, bool)>(text)?;
        same::<(Value,)>(text)?;
        same::<(Vec<Value>,)>(text)?;
        same::<(BTreeMap<String, i64>,)>(text)?;
        same::<(Pair,)>(text)?;
        same::<(Option<i64>, Option<i64>)>(text)?;
        same::<Vec<f64>>(text)?;
        same::<Vec<String>>(text)?;
        same::<f64>(text)?;
        same::<u32>(text)?;
        same::<i8>(text)?;
        same::<String>(text)?;
        same::<char>(text)?;
        same::<bool>(text)?;
        same::<Color>(text)?;
        same::<Loose>(text)?;
        same::<Meters>(text)?;
        same::<Point>(text)?;
        same::<[i64; 2]>(text)?;
        same::<Pair>(text)?;
        same::<Option<f64>>(text)?;
        same::<Value>(text)?;
        same::<()>(text)?;
        same::<(Option<Option<i64>>, Option<Meters>)>(text)?;
        // Bound from text, a 128-bit parameter takes an integer beyond 64 bits exactly where
        // the value path (which holds it as a double) refuses it, so the parser never holds
        // such arguments as text (`wire/fast.rs`, tested by `tests/protocol.rs::
        // integers_beyond_64_bits_bind_as_their_values_do`): held scalars agree.
        same_held::<(u128, i128)>(text)?;
        same::<(f32, f32)>(text)?;
        same::<(IgnoredAny, i64)>(text)?;
        same::<((), ())>(text)?;
        same::<(Color,)>(text)?;
        Ok(())
    }

    fn element() -> impl Strategy<Value = String> {
        let leaf = proptest::sample::select(
            &[
                "0",
                "1",
                "-1",
                "2.5",
                "1e3",
                "255",
                "256",
                "-129",
                "18446744073709551615",
                "18446744073709551616",
                "null",
                "true",
                "false",
                r#""""#,
                r#""a""#,
                r#""ab""#,
                r#""\u00e9""#,
                r#""Red""#,
                r#""Blue""#,
                r#"{"Rgb":[1,2,3]}"#,
                r#"{"a":1}"#,
                r#"{"a":1,"b":"x"}"#,
                r#"{"a":1,"a":2}"#,
                "[]",
                "[1,2]",
                "[1,2,3]",
                r#"["x"]"#,
            ][..],
        );
        leaf.prop_map(str::to_owned)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Bound from text, the arguments give what bound from values they give: the same
        /// value, or the same error.
        #[test]
        fn binding_from_text_agrees_with_binding_from_values(
            items in proptest::collection::vec(element(), 0..4),
            spaced in any::<bool>(),
        ) {
            let separator = if spaced { " , " } else { "," };
            check_all(&format!("[{}]", items.join(separator)))?;
        }
    }

    /// A `RawValue` parameter bound from a scalar held in place gets the text the value
    /// path gives it (the scalar written out), not a failure.
    #[test]
    fn a_raw_value_binds_from_a_held_scalar_as_from_its_value() {
        let mut scalars = Scalars::new();
        scalars.push(Scalar::Float(1000.0)).unwrap();
        scalars.push(Scalar::Null).unwrap();
        type Raw = (
            Box<serde_json::value::RawValue>,
            Box<serde_json::value::RawValue>,
        );
        let held = Args::scalars(scalars).bind::<Raw>().unwrap();
        let values = Params::positional(scalars.values()).bind::<Raw>().unwrap();
        assert_eq!((held.0.get(), held.1.get()), ("1000.0", "null"));
        assert_eq!((values.0.get(), values.1.get()), ("1000.0", "null"));
    }

    #[test]
    fn a_tuple_binds_from_text() {
        // The text path is taken (not only agreed with)...
        let text = TextArray {
            text: "[1.5, 2]",
            last_start: None,
        };
        let bound = <(f64, f64)>::deserialize(Positional(text));
        assert!(matches!(bound, Ok((a, b)) if a == 1.5 && b == 2.0));
        // ...and a bad element makes it give up, so the answer still names the argument as
        // the rules word it.
        let text = TextArray {
            text: r#"[1, "x"]"#,
            last_start: None,
        };
        assert!(<(f64, f64)>::deserialize(Positional(text)).is_err());
        let e = Args::positional_text(r#"[1, "x"]"#.to_owned(), None)
            .bind::<(f64, f64)>()
            .unwrap_err();
        assert!(
            e.details.as_str().unwrap().starts_with("argument 2:"),
            "{e:?}"
        );
    }

    type Raw = Box<serde_json::value::RawValue>;

    /// Bound from checked text, with the start of its last element noted and without, `T`
    /// is what `serde_json` reading the whole array as `T` gives (what the text path did
    /// before raw values were handed their text): a raw value's text to the byte, or a failure.
    fn raw_as_serde_json<T: DeserializeOwned + fmt::Debug>(
        text: &str,
    ) -> Result<(), TestCaseError> {
        let Some(last) = checked_args(text) else {
            return Err(TestCaseError::reject("not checked"));
        };
        let theirs = serde_json::from_str::<T>(text).map(|v| format!("{v:?}"));
        for last_start in [Some(last), None] {
            let ours = T::deserialize(Positional(TextArray { text, last_start }))
                .map(|v| format!("{v:?}"));
            prop_assert_eq!(
                ours.as_ref().ok(),
                theirs.as_ref().ok(),
                "{} as {} (last element noted: {})",
                text,
                std::any::type_name::<T>(),
                last_start.is_some()
            );
        }
        Ok(())
    }

    /// Elements with whitespace, nesting and strings that hold brackets, quotes and escapes.
    fn raw_element() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            element(),
            proptest::sample::select(
                &[
                    r#""]""#,
                    r#""a,\"]}""#,
                    r#""\\""#,
                    r#""\u005d\\\"""#,
                    r#"{ "k" : [ 1 , "]" ] , "v":{}}"#,
                    "[\n1,\t[2 ,[ ] ] ]",
                    "-0.5e-3",
                    r#""é😀""#,
                ][..]
            )
            .prop_map(str::to_owned),
        ];
        leaf.prop_recursive(2, 12, 3, |inner| {
            proptest::collection::vec(inner, 0..3)
                .prop_map(|items| format!("[ {} ]", items.join(" ,")))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Raw values bound from text get the text `serde_json` gives them, wherever they
        /// stand among the arguments, and what is bound beside them is bound as before.
        #[test]
        fn raw_values_bind_from_text_as_serde_json_reads_them(
            items in proptest::collection::vec(raw_element(), 0..4),
            before in "[ \n]{0,2}",
            after in "[ \n\t]{0,2}",
        ) {
            let text = format!("[{before}{}{after}]", items.join(&format!("{after},{before}")));
            raw_as_serde_json::<(Raw,)>(&text)?;
            raw_as_serde_json::<(Raw, Raw)>(&text)?;
            raw_as_serde_json::<(Raw, Raw, Raw)>(&text)?;
            raw_as_serde_json::<(i64, Raw)>(&text)?;
            raw_as_serde_json::<(Raw, Value)>(&text)?;
            raw_as_serde_json::<(Value, Raw)>(&text)?;
            raw_as_serde_json::<(Vec<Value>, Raw)>(&text)?;
            raw_as_serde_json::<Vec<Raw>>(&text)?;
            raw_as_serde_json::<(Vec<Raw>,)>(&text)?;
            raw_as_serde_json::<(Option<Raw>, Raw)>(&text)?;
            raw_as_serde_json::<(Value, Value)>(&text)?;
            raw_as_serde_json::<Vec<Value>>(&text)?;
        }
    }

    /// The benchmark's shape: one argument of records, bound raw, is its text.
    #[test]
    fn records_bind_raw_to_their_text() {
        let records =
            r#"[{"id":1,"name":"a \"b\" ]","tags":["x","y"]}, {"id":2,"name":"","tags":[]}]"#;
        let text = format!("[ {records}\n]");
        let args = Args::positional_text(text.clone(), checked_args(&text));
        let (raw,) = args.bind::<(Raw,)>().unwrap();
        assert_eq!(raw.get(), records);
    }
}
