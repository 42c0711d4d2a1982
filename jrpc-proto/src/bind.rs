//! Binding of a request's `args`/`kwargs` onto a Rust type with Python's rules for matching
//! arguments to parameters, through a `serde::Deserializer` over the owned [`Params`].
//!
//! Every failure becomes [`RpcError::invalid_params`] with a message that names the parameter.

use std::fmt;
use std::iter::Enumerate;
use std::vec;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::{Params, RpcError};

impl Params {
    /// Binds the arguments onto `T` the way Python binds a call to `def f(a, b)`.
    ///
    /// What `T` asks serde for decides the rules:
    ///
    /// - **A struct** (`#[derive(Deserialize)]`) is a parameter list: positional `args` fill the
    ///   fields in declaration order, `kwargs` fill them by (serde) name, and the two may be mixed.
    ///   More positional arguments than fields, a keyword that is not a field, a field given both
    ///   by position and by keyword, and a missing field are errors (`takes 2 positional
    ///   arguments but 3 were given`, `unexpected keyword argument 'x'`, `argument 'a' given by
    ///   position and by keyword`, `missing argument 'b'`). `Option` fields and
    ///   `#[serde(default)]` fields may be left out. `#[serde(rename)]` names are the keyword
    ///   names; an `#[serde(alias)]` is accepted as a keyword too. A wrong value names the field:
    ///   `argument 'a': invalid type: string "x", expected i64`. A struct with
    ///   `#[serde(flatten)]` fields is a map to serde, and takes keyword arguments only.
    /// - **A tuple** `(A, B)`, tuple struct or array `[T; N]`: exactly that many positional
    ///   arguments (`expected 2 arguments, got 3`) and no keyword argument. A wrong value names
    ///   its position, counted from 1: `argument 2: invalid type: ...`.
    /// - **A sequence** (`Vec<T>`, …): all positional arguments; no keyword argument.
    /// - **A map** (`HashMap<String, V>`, `BTreeMap`, `serde_json::Map`): all keyword arguments;
    ///   no positional argument.
    /// - **[`serde_json::Value`]** (anything that asks for `deserialize_any`, such as untagged
    ///   enums) sees the arguments raw: the `args` array when there are no `kwargs` (so `[]` for
    ///   no arguments at all), the `kwargs` object when there are only `kwargs`, and
    ///   `{"args": [...], "kwargs": {...}}` when there are both.
    /// - **`()`** or a unit struct: no arguments at all (`takes no arguments but 2 were given`).
    /// - **A single value** (`i64`, `String`, `bool`, `f64`, an enum, …): exactly one argument,
    ///   positional or keyword (whatever its name), else `takes 1 argument but 2 were given`.
    /// - **A newtype struct** is transparent: `struct Meters(f64)` binds like `f64` (one
    ///   argument), `struct Wrapped(AddArgs)` like `AddArgs`.
    /// - **`Option<T>`**: `None` when there are no arguments, else `Some` of `T` bound as above.
    ///
    /// Each argument is deserialized from its own JSON value, moved out of `self`.
    pub fn bind<T: de::DeserializeOwned>(self) -> Result<T, RpcError> {
        T::deserialize(ParamsDeserializer {
            args: self.args,
            kwargs: self.kwargs,
        })
        .map_err(|e| RpcError::invalid_params(e.0))
    }
}

/// The failure of a binding: the message of the `InvalidParams` error.
#[derive(Debug)]
struct BindError(String);

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BindError {}

impl de::Error for BindError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }

    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Self(format!("expected {exp}, got {}", plural(len, "argument")))
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        unexpected_keyword(field)
    }

    fn missing_field(field: &'static str) -> Self {
        Self(format!("missing argument '{field}'"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self(format!("argument '{field}' given more than once"))
    }
}

/// `1 argument`, `2 arguments`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `was` or `were`, for `n` things.
fn was(n: usize) -> &'static str {
    if n == 1 { "was" } else { "were" }
}

fn too_many_positional(takes: usize, given: usize) -> BindError {
    BindError(format!(
        "takes {} but {given} {} given",
        plural(takes, "positional argument"),
        was(given)
    ))
}

fn unexpected_keyword(name: &str) -> BindError {
    BindError(format!("unexpected keyword argument '{name}'"))
}

fn wrong_count(expected: usize, given: usize) -> BindError {
    BindError(format!(
        "expected {}, got {given}",
        plural(expected, "argument")
    ))
}

/// How a failure names the argument it is about.
enum Label {
    /// A position in a tuple or sequence, counted from 1.
    Position(usize),
    /// A struct field filled by position.
    Field(&'static str),
    /// A keyword argument.
    Keyword(String),
}

impl Label {
    fn error(self, e: serde_json::Error) -> BindError {
        match self {
            Label::Position(n) => BindError(format!("argument {n}: {e}")),
            Label::Field(name) => BindError(format!("argument '{name}': {e}")),
            Label::Keyword(name) => BindError(format!("argument '{name}': {e}")),
        }
    }
}

/// The deserializer over the whole of the (owned) arguments.
struct ParamsDeserializer {
    args: Vec<Value>,
    kwargs: Map<String, Value>,
}

impl ParamsDeserializer {
    fn given(&self) -> usize {
        self.args.len() + self.kwargs.len()
    }

    fn reject_kwargs(&self) -> Result<(), BindError> {
        match self.kwargs.keys().next() {
            Some(name) => Err(unexpected_keyword(name)),
            None => Ok(()),
        }
    }

    /// The one argument of a single-value type.
    fn single(self) -> Result<ArgValue, BindError> {
        let given = self.given();
        if given == 1 {
            if let Some(value) = self.args.into_iter().next() {
                return Ok(ArgValue::new(value, Label::Position(1)));
            }
            if let Some((name, value)) = self.kwargs.into_iter().next() {
                return Ok(ArgValue::new(value, Label::Keyword(name)));
            }
        }
        Err(BindError(format!(
            "takes 1 argument but {given} {} given",
            was(given)
        )))
    }

    /// The arguments as one JSON value, for `deserialize_any`.
    fn raw(self) -> Value {
        if self.kwargs.is_empty() {
            Value::Array(self.args)
        } else if self.args.is_empty() {
            Value::Object(self.kwargs)
        } else {
            let mut both = Map::new();
            both.insert("args".to_owned(), Value::Array(self.args));
            both.insert("kwargs".to_owned(), Value::Object(self.kwargs));
            Value::Object(both)
        }
    }

    /// Feeds the positional arguments to a sequence visitor; all must be taken.
    fn visit_args<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        let given = self.args.len();
        let mut access = ArgsAccess {
            args: self.args.into_iter().enumerate(),
        };
        let value = visitor.visit_seq(&mut access)?;
        let left = access.args.len();
        if left > 0 {
            return Err(wrong_count(given - left, given));
        }
        Ok(value)
    }

    fn visit_kwargs<'de, V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, BindError> {
        let given = self.args.len();
        visitor.visit_map(ParamsAccess {
            fields,
            given,
            args: self.args.into_iter().enumerate(),
            kwargs: self.kwargs.into_iter(),
            pending: None,
        })
    }
}

/// Single-value requests: exactly one argument, deserialized by its own value.
macro_rules! single_value {
    ($($method:ident $(($($arg:ident: $ty:ty),*))?;)*) => {$(
        fn $method<V: Visitor<'de>>(
            self,
            $($($arg: $ty,)*)?
            visitor: V,
        ) -> Result<V::Value, BindError> {
            self.single()?.$method($($($arg,)*)? visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ParamsDeserializer {
    type Error = BindError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        self.raw()
            .deserialize_any(visitor)
            .map_err(|e| BindError(e.to_string()))
    }

    single_value! {
        deserialize_bool; deserialize_i8; deserialize_i16; deserialize_i32; deserialize_i64;
        deserialize_i128; deserialize_u8; deserialize_u16; deserialize_u32; deserialize_u64;
        deserialize_u128; deserialize_f32; deserialize_f64; deserialize_char; deserialize_str;
        deserialize_string; deserialize_bytes; deserialize_byte_buf; deserialize_identifier;
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        if self.given() == 0 {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        let given = self.given();
        if given == 0 {
            visitor.visit_unit()
        } else {
            Err(BindError(format!(
                "takes no arguments but {given} {} given",
                was(given)
            )))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, BindError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, BindError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        self.reject_kwargs()?;
        self.visit_args(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, BindError> {
        self.reject_kwargs()?;
        if self.args.len() != len {
            return Err(wrong_count(len, self.args.len()));
        }
        self.visit_args(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, BindError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        if !self.args.is_empty() {
            return Err(too_many_positional(0, self.args.len()));
        }
        self.visit_kwargs(&[], visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, BindError> {
        // `fields` lists every name serde accepts, in declaration order, aliases included (each
        // field's names sorted among themselves). Without aliases it is exactly the parameter
        // list; with them it is longer, and the checks below never reject a valid call. The
        // rest is then caught while binding (see `PositionalKey` and `ArgValue`).
        let given = self.args.len();
        if given > fields.len() {
            return Err(too_many_positional(fields.len(), given));
        }
        let positional = fields.get(..given).unwrap_or(fields);
        for name in self.kwargs.keys() {
            if positional.contains(&name.as_str()) {
                return Err(BindError(format!(
                    "argument '{name}' given by position and by keyword"
                )));
            }
            if !fields.contains(&name.as_str()) {
                return Err(unexpected_keyword(name));
            }
        }
        self.visit_kwargs(fields, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        visitor.visit_unit()
    }
}

/// The positional arguments as a sequence.
struct ArgsAccess {
    args: Enumerate<vec::IntoIter<Value>>,
}

impl<'de> SeqAccess<'de> for ArgsAccess {
    type Error = BindError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, BindError> {
        match self.args.next() {
            Some((index, value)) => seed
                .deserialize(ArgValue::new(value, Label::Position(index + 1)))
                .map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.args.len())
    }
}

/// The arguments as the entries of a map: positional ones first, keyed by the struct's field
/// (by index or by name, see [`PositionalKey`]), then the keyword ones, keyed by their name.
struct ParamsAccess {
    fields: &'static [&'static str],
    /// Number of positional arguments.
    given: usize,
    args: Enumerate<vec::IntoIter<Value>>,
    kwargs: serde_json::map::IntoIter,
    /// The value of the key last handed out.
    pending: Option<ArgValue>,
}

impl<'de> MapAccess<'de> for ParamsAccess {
    type Error = BindError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, BindError> {
        if let Some((index, value)) = self.args.next() {
            let Some(&name) = self.fields.get(index) else {
                return Err(too_many_positional(self.fields.len(), self.given));
            };
            let mut by_index = false;
            let key = seed
                .deserialize(PositionalKey {
                    index,
                    name,
                    by_index: &mut by_index,
                })
                // A derived field visitor refuses an index only when it is past the last field
                // (with `deny_unknown_fields`).
                .map_err(|e| {
                    if by_index {
                        too_many_positional(index, self.given)
                    } else {
                        e
                    }
                })?;
            let mut value = ArgValue::new(value, Label::Field(name));
            if by_index {
                value.past_last_field = Some((index, self.given));
            }
            self.pending = Some(value);
            return Ok(Some(key));
        }
        if let Some((name, value)) = self.kwargs.next() {
            let key = seed.deserialize(IntoDeserializer::<BindError>::into_deserializer(
                name.as_str(),
            ))?;
            self.pending = Some(ArgValue::new(value, Label::Keyword(name)));
            return Ok(Some(key));
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, BindError> {
        match self.pending.take() {
            Some(value) => seed.deserialize(value),
            None => Err(BindError("a value was asked for before its key".to_owned())),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.args.len() + self.kwargs.len())
    }
}

/// The key of the positional argument `index` of a struct.
///
/// A field visitor made by `#[derive(Deserialize)]` (which says it expects a "field
/// identifier") receives the index: it maps it to the `index`-th field in declaration order,
/// which stays right when fields have aliases. Any other visitor (hand-written, or serde's own
/// for `Duration`, `Range`, …) receives the field's name.
struct PositionalKey<'a> {
    index: usize,
    name: &'static str,
    /// Set when the key was given by index.
    by_index: &'a mut bool,
}

/// Displays what a visitor expects.
struct Expecting<'a, V>(&'a V);

impl<'de, V: Visitor<'de>> fmt::Display for Expecting<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }
}

impl<'de> de::Deserializer<'de> for PositionalKey<'_> {
    type Error = BindError;

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        if Expecting(&visitor).to_string() == "field identifier" {
            *self.by_index = true;
            visitor.visit_u64(u64::try_from(self.index).unwrap_or(u64::MAX))
        } else {
            visitor.visit_str(self.name)
        }
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        visitor.visit_str(self.name)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        ignored_any
    }
}

/// One argument: its JSON value, deserialized by serde_json, with failures naming the argument.
struct ArgValue {
    value: Value,
    label: Label,
    /// For a positional argument keyed by index: (its index, number of positional arguments).
    /// When the struct ignores its value, the index was past the last field.
    past_last_field: Option<(usize, usize)>,
}

impl ArgValue {
    fn new(value: Value, label: Label) -> Self {
        Self {
            value,
            label,
            past_last_field: None,
        }
    }
}

/// Forwards to the same method of `serde_json::Value`, naming the argument on failure.
macro_rules! forward_to_value {
    ($($method:ident $(($($arg:ident: $ty:ty),*))?;)*) => {$(
        fn $method<V: Visitor<'de>>(
            self,
            $($($arg: $ty,)*)?
            visitor: V,
        ) -> Result<V::Value, BindError> {
            let label = self.label;
            self.value.$method($($($arg,)*)? visitor).map_err(|e| label.error(e))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ArgValue {
    type Error = BindError;

    forward_to_value! {
        deserialize_any; deserialize_bool; deserialize_i8; deserialize_i16; deserialize_i32;
        deserialize_i64; deserialize_i128; deserialize_u8; deserialize_u16; deserialize_u32;
        deserialize_u64; deserialize_u128; deserialize_f32; deserialize_f64; deserialize_char;
        deserialize_str; deserialize_string; deserialize_bytes; deserialize_byte_buf;
        deserialize_option; deserialize_unit; deserialize_seq; deserialize_map;
        deserialize_identifier;
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        if let Some((index, given)) = self.past_last_field {
            return Err(too_many_positional(index, given));
        }
        let label = self.label;
        self.value
            .deserialize_ignored_any(visitor)
            .map_err(|e| label.error(e))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    fn params(args: Value, kwargs: Value) -> Params {
        let Value::Array(args) = args else {
            panic!("args must be an array")
        };
        let Value::Object(kwargs) = kwargs else {
            panic!("kwargs must be an object")
        };
        Params::new(args, kwargs)
    }

    fn bind<T: de::DeserializeOwned>(args: Value, kwargs: Value) -> Result<T, RpcError> {
        params(args, kwargs).bind()
    }

    /// The message of the `InvalidParams` error of a failed binding.
    fn fails<T: de::DeserializeOwned + fmt::Debug>(args: Value, kwargs: Value) -> String {
        let e = bind::<T>(args, kwargs).unwrap_err();
        assert!(e.is(RpcError::INVALID_PARAMS), "{e:?}");
        match e.details {
            Value::String(s) => s,
            other => panic!("details not a string: {other}"),
        }
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Add {
        a: i64,
        b: i64,
    }

    #[test]
    fn struct_by_keyword() {
        assert_eq!(
            bind::<Add>(json!([]), json!({"a": 1, "b": 2})).unwrap(),
            Add { a: 1, b: 2 }
        );
    }

    #[test]
    fn struct_by_position() {
        assert_eq!(
            bind::<Add>(json!([1, 2]), json!({})).unwrap(),
            Add { a: 1, b: 2 }
        );
    }

    #[test]
    fn struct_mixed() {
        assert_eq!(
            bind::<Add>(json!([1]), json!({"b": 2})).unwrap(),
            Add { a: 1, b: 2 }
        );
    }

    #[test]
    fn struct_too_many_positional() {
        assert_eq!(
            fails::<Add>(json!([1, 2, 3]), json!({})),
            "takes 2 positional arguments but 3 were given"
        );
        #[derive(Debug, Deserialize)]
        struct One {
            #[allow(dead_code)]
            x: i64,
        }
        assert_eq!(
            fails::<One>(json!([1, 2]), json!({})),
            "takes 1 positional argument but 2 were given"
        );
        #[derive(Debug, Deserialize)]
        struct Empty {}
        assert_eq!(
            fails::<Empty>(json!([1]), json!({})),
            "takes 0 positional arguments but 1 was given"
        );
    }

    #[test]
    fn struct_unexpected_keyword() {
        assert_eq!(
            fails::<Add>(json!([]), json!({"a": 1, "b": 2, "c": 3})),
            "unexpected keyword argument 'c'"
        );
    }

    #[test]
    fn struct_position_and_keyword() {
        assert_eq!(
            fails::<Add>(json!([1]), json!({"a": 2})),
            "argument 'a' given by position and by keyword"
        );
    }

    #[test]
    fn struct_missing_argument() {
        assert_eq!(fails::<Add>(json!([1]), json!({})), "missing argument 'b'");
        assert_eq!(
            fails::<Add>(json!([]), json!({"b": 1})),
            "missing argument 'a'"
        );
    }

    #[test]
    fn struct_wrong_type_names_the_field() {
        assert_eq!(
            fails::<Add>(json!(["x", 2]), json!({})),
            r#"argument 'a': invalid type: string "x", expected i64"#
        );
        assert_eq!(
            fails::<Add>(json!([1]), json!({"b": true})),
            "argument 'b': invalid type: boolean `true`, expected i64"
        );
    }

    #[test]
    fn struct_nested_error_names_the_argument() {
        #[derive(Debug, Deserialize)]
        struct Point {
            #[allow(dead_code)]
            x: i64,
        }
        #[derive(Debug, Deserialize)]
        struct Move {
            #[allow(dead_code)]
            p: Point,
        }
        assert_eq!(
            fails::<Move>(json!([{}]), json!({})),
            "argument 'p': missing field `x`"
        );
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Optional {
        a: i64,
        b: Option<String>,
        #[serde(default)]
        c: Vec<i64>,
    }

    #[test]
    fn struct_option_and_default_fields_may_be_left_out() {
        assert_eq!(
            bind::<Optional>(json!([1]), json!({})).unwrap(),
            Optional {
                a: 1,
                b: None,
                c: vec![]
            }
        );
        assert_eq!(
            bind::<Optional>(json!([1, null]), json!({"c": [7]})).unwrap(),
            Optional {
                a: 1,
                b: None,
                c: vec![7]
            }
        );
        assert_eq!(
            bind::<Optional>(json!([]), json!({"a": 1, "b": "x"})).unwrap(),
            Optional {
                a: 1,
                b: Some("x".into()),
                c: vec![]
            }
        );
    }

    #[test]
    fn struct_rename() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct Range {
            #[serde(rename = "from")]
            start: i64,
            #[serde(rename = "to")]
            end: i64,
        }
        let expected = Range { start: 1, end: 2 };
        assert_eq!(
            bind::<Range>(json!([1]), json!({"to": 2})).unwrap(),
            expected
        );
        assert_eq!(
            bind::<Range>(json!([]), json!({"from": 1, "to": 2})).unwrap(),
            expected
        );
        assert_eq!(
            fails::<Range>(json!([1]), json!({"end": 2})),
            "unexpected keyword argument 'end'"
        );
        assert_eq!(
            fails::<Range>(json!([1]), json!({})),
            "missing argument 'to'"
        );
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Aliased {
        #[serde(alias = "aa", alias = "0a")]
        a: i64,
        b: i64,
    }

    #[test]
    fn struct_alias() {
        let expected = Aliased { a: 1, b: 2 };
        // serde lists ["0a", "a", "aa", "b"]: positional binding still goes by field.
        assert_eq!(bind::<Aliased>(json!([1, 2]), json!({})).unwrap(), expected);
        assert_eq!(
            bind::<Aliased>(json!([]), json!({"aa": 1, "b": 2})).unwrap(),
            expected
        );
        assert_eq!(
            bind::<Aliased>(json!([1]), json!({"b": 2})).unwrap(),
            expected
        );
        assert_eq!(
            fails::<Aliased>(json!([1, 2, 3]), json!({})),
            "takes 2 positional arguments but 3 were given"
        );
        assert_eq!(
            fails::<Aliased>(json!([1]), json!({"aa": 2, "b": 2})),
            "argument 'a' given more than once"
        );
        assert_eq!(
            fails::<Aliased>(json!([]), json!({"a": 1, "aa": 1, "b": 2})),
            "argument 'a' given more than once"
        );
    }

    #[test]
    fn struct_deny_unknown_fields() {
        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Strict {
            #[serde(alias = "x")]
            a: i64,
        }
        assert_eq!(
            bind::<Strict>(json!([1]), json!({})).unwrap(),
            Strict { a: 1 }
        );
        assert_eq!(
            fails::<Strict>(json!([]), json!({"b": 1})),
            "unexpected keyword argument 'b'"
        );
        assert_eq!(
            fails::<Strict>(json!([1, 2]), json!({})),
            "takes 1 positional argument but 2 were given"
        );
    }

    #[test]
    fn struct_with_hand_written_field_visitor() {
        // `Duration` is a struct to serde with a field visitor that only knows names.
        assert_eq!(
            bind::<std::time::Duration>(json!([1, 5]), json!({})).unwrap(),
            std::time::Duration::new(1, 5)
        );
        assert_eq!(
            bind::<std::time::Duration>(json!([1]), json!({"nanos": 5})).unwrap(),
            std::time::Duration::new(1, 5)
        );
    }

    #[test]
    fn flattened_struct_takes_keywords() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct Outer {
            #[serde(flatten)]
            inner: Add,
            c: i64,
        }
        assert_eq!(
            bind::<Outer>(json!([]), json!({"a": 1, "b": 2, "c": 3})).unwrap(),
            Outer {
                inner: Add { a: 1, b: 2 },
                c: 3
            }
        );
        assert_eq!(
            fails::<Outer>(json!([1]), json!({})),
            "takes 0 positional arguments but 1 was given"
        );
    }

    #[test]
    fn tuple() {
        assert_eq!(
            bind::<(i64, String)>(json!([1, "x"]), json!({})).unwrap(),
            (1, "x".to_owned())
        );
        assert_eq!(
            fails::<(i64, String)>(json!([1, "x", 3]), json!({})),
            "expected 2 arguments, got 3"
        );
        assert_eq!(
            fails::<(i64,)>(json!([]), json!({})),
            "expected 1 argument, got 0"
        );
        assert_eq!(
            fails::<(i64, String)>(json!([1, "x"]), json!({"y": 1})),
            "unexpected keyword argument 'y'"
        );
        assert_eq!(
            fails::<(i64, String)>(json!([1, 2]), json!({})),
            "argument 2: invalid type: integer `2`, expected a string"
        );
        assert_eq!(
            bind::<[u8; 3]>(json!([1, 2, 3]), json!({})).unwrap(),
            [1, 2, 3]
        );
    }

    #[test]
    fn tuple_struct() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct Pair(i64, bool);
        assert_eq!(
            bind::<Pair>(json!([1, true]), json!({})).unwrap(),
            Pair(1, true)
        );
        assert_eq!(
            fails::<Pair>(json!([1]), json!({})),
            "expected 2 arguments, got 1"
        );
        assert_eq!(
            fails::<Pair>(json!([1, 2]), json!({})),
            "argument 2: invalid type: integer `2`, expected a boolean"
        );
    }

    #[test]
    fn sequence() {
        assert_eq!(
            bind::<Vec<f64>>(json!([1, 2.5]), json!({})).unwrap(),
            vec![1.0, 2.5]
        );
        assert_eq!(
            bind::<Vec<i64>>(json!([]), json!({})).unwrap(),
            Vec::<i64>::new()
        );
        assert_eq!(
            fails::<Vec<i64>>(json!([1]), json!({"k": 1})),
            "unexpected keyword argument 'k'"
        );
        assert_eq!(
            fails::<Vec<i64>>(json!([1, 2, "x"]), json!({})),
            r#"argument 3: invalid type: string "x", expected i64"#
        );
    }

    #[test]
    fn maps() {
        let kwargs = json!({"x": 1, "y": 2});
        assert_eq!(
            bind::<HashMap<String, i64>>(json!([]), kwargs.clone()).unwrap(),
            HashMap::from([("x".to_owned(), 1), ("y".to_owned(), 2)])
        );
        assert_eq!(
            bind::<BTreeMap<String, i64>>(json!([]), kwargs.clone()).unwrap(),
            BTreeMap::from([("x".to_owned(), 1), ("y".to_owned(), 2)])
        );
        assert_eq!(
            bind::<Map<String, Value>>(json!([]), kwargs.clone()).unwrap(),
            kwargs.as_object().unwrap().clone()
        );
        assert_eq!(
            bind::<HashMap<String, i64>>(json!([]), json!({})).unwrap(),
            HashMap::new()
        );
        assert_eq!(
            fails::<HashMap<String, i64>>(json!([1, 2]), kwargs),
            "takes 0 positional arguments but 2 were given"
        );
        assert_eq!(
            fails::<HashMap<String, i64>>(json!([]), json!({"x": "s"})),
            r#"argument 'x': invalid type: string "s", expected i64"#
        );
    }

    #[test]
    fn value_is_raw() {
        assert_eq!(bind::<Value>(json!([]), json!({})).unwrap(), json!([]));
        assert_eq!(
            bind::<Value>(json!([1, "x"]), json!({})).unwrap(),
            json!([1, "x"])
        );
        assert_eq!(
            bind::<Value>(json!([]), json!({"a": 1})).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            bind::<Value>(json!([1]), json!({"a": 1})).unwrap(),
            json!({"args": [1], "kwargs": {"a": 1}})
        );
    }

    #[test]
    fn unit() {
        bind::<()>(json!([]), json!({})).unwrap();
        assert_eq!(
            fails::<()>(json!([1, 2]), json!({})),
            "takes no arguments but 2 were given"
        );
        assert_eq!(
            fails::<()>(json!([]), json!({"a": 1})),
            "takes no arguments but 1 was given"
        );
        #[derive(Debug, PartialEq, Deserialize)]
        struct Nothing;
        assert_eq!(bind::<Nothing>(json!([]), json!({})).unwrap(), Nothing);
        assert_eq!(
            fails::<Nothing>(json!([1]), json!({})),
            "takes no arguments but 1 was given"
        );
    }

    #[test]
    fn single_values() {
        assert_eq!(bind::<i64>(json!([5]), json!({})).unwrap(), 5);
        assert_eq!(bind::<f64>(json!([1.5]), json!({})).unwrap(), 1.5);
        assert!(bind::<bool>(json!([true]), json!({})).unwrap());
        assert_eq!(
            bind::<String>(json!([]), json!({"name": "x"})).unwrap(),
            "x"
        );
        assert_eq!(
            fails::<i64>(json!([]), json!({})),
            "takes 1 argument but 0 were given"
        );
        assert_eq!(
            fails::<i64>(json!([1, 2]), json!({})),
            "takes 1 argument but 2 were given"
        );
        assert_eq!(
            fails::<i64>(json!([1]), json!({"b": 2})),
            "takes 1 argument but 2 were given"
        );
        assert_eq!(
            fails::<i64>(json!(["x"]), json!({})),
            r#"argument 1: invalid type: string "x", expected i64"#
        );
        assert_eq!(
            fails::<i64>(json!([]), json!({"n": "x"})),
            r#"argument 'n': invalid type: string "x", expected i64"#
        );
    }

    #[test]
    fn enums() {
        #[derive(Debug, PartialEq, Deserialize)]
        enum Color {
            Red,
            Custom(u8),
        }
        assert_eq!(
            bind::<Color>(json!(["Red"]), json!({})).unwrap(),
            Color::Red
        );
        assert_eq!(
            bind::<Color>(json!([{"Custom": 7}]), json!({})).unwrap(),
            Color::Custom(7)
        );
        assert_eq!(
            fails::<Color>(json!(["Blue"]), json!({})),
            "argument 1: unknown variant `Blue`, expected `Red` or `Custom`"
        );
        assert_eq!(
            fails::<Color>(json!(["Red", "Red"]), json!({})),
            "takes 1 argument but 2 were given"
        );
    }

    #[test]
    fn newtype_is_transparent() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct Meters(f64);
        assert_eq!(
            bind::<Meters>(json!([2.5]), json!({})).unwrap(),
            Meters(2.5)
        );
        assert_eq!(
            fails::<Meters>(json!([]), json!({})),
            "takes 1 argument but 0 were given"
        );
        #[derive(Debug, PartialEq, Deserialize)]
        struct Wrapped(Add);
        assert_eq!(
            bind::<Wrapped>(json!([1]), json!({"b": 2})).unwrap(),
            Wrapped(Add { a: 1, b: 2 })
        );
    }

    #[test]
    fn option_at_top_level() {
        assert_eq!(bind::<Option<i64>>(json!([]), json!({})).unwrap(), None);
        assert_eq!(bind::<Option<i64>>(json!([5]), json!({})).unwrap(), Some(5));
        assert_eq!(
            bind::<Option<Add>>(json!([1, 2]), json!({})).unwrap(),
            Some(Add { a: 1, b: 2 })
        );
        assert_eq!(
            fails::<Option<Add>>(json!([1]), json!({})),
            "missing argument 'b'"
        );
    }

    #[test]
    fn error_kind_and_display() {
        let e = bind::<Add>(json!([]), json!({})).unwrap_err();
        assert_eq!(e, RpcError::invalid_params("missing argument 'a'"));
        assert_eq!(e.to_string(), "InvalidParams:missing argument 'a'");
    }

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    struct Five {
        n: i64,
        s: String,
        flag: bool,
        maybe: Option<i64>,
        list: Vec<u8>,
    }

    fn five() -> impl Strategy<Value = Five> {
        (
            any::<i64>(),
            ".*",
            any::<bool>(),
            any::<Option<i64>>(),
            proptest::collection::vec(any::<u8>(), 0..4),
        )
            .prop_map(|(n, s, flag, maybe, list)| Five {
                n,
                s,
                flag,
                maybe,
                list,
            })
    }

    fn five_fields(f: &Five) -> Vec<(&'static str, Value)> {
        vec![
            ("n", json!(f.n)),
            ("s", json!(f.s)),
            ("flag", json!(f.flag)),
            ("maybe", json!(f.maybe)),
            ("list", json!(f.list)),
        ]
    }

    fn junk_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(junk_key(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn junk_key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("c".to_owned()),
            Just("args".to_owned()),
            ".{0,6}",
        ]
    }

    fn junk_params() -> impl Strategy<Value = Params> {
        (
            proptest::collection::vec(junk_value(), 0..5),
            proptest::collection::btree_map(junk_key(), junk_value(), 0..5),
        )
            .prop_map(|(args, kwargs)| Params::new(args, kwargs.into_iter().collect()))
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Typical {
        a: i64,
        b: Option<String>,
        #[serde(default)]
        c: Vec<f64>,
    }

    proptest! {
        #[test]
        fn any_split_into_positional_and_keyword_binds_back(f in five(), split in 0usize..=5) {
            let mut args = Vec::new();
            let mut kwargs = Map::new();
            for (i, (name, value)) in five_fields(&f).into_iter().enumerate() {
                if i < split {
                    args.push(value);
                } else {
                    kwargs.insert(name.to_owned(), value);
                }
            }
            prop_assert_eq!(Params::new(args, kwargs).bind::<Five>().unwrap(), f);
        }

        #[test]
        fn junk_never_panics(p in junk_params()) {
            let _ = p.clone().bind::<Typical>();
            let _ = p.clone().bind::<(i64, String)>();
            let _ = p.clone().bind::<Vec<f64>>();
            let _ = p.clone().bind::<Option<Aliased>>();
            let _ = p.clone().bind::<HashMap<String, i64>>();
            let raw = p.clone().bind::<Value>().unwrap();
            let expected = match (p.args.is_empty(), p.kwargs.is_empty()) {
                (_, true) => Value::Array(p.args),
                (true, false) => Value::Object(p.kwargs),
                (false, false) => json!({"args": p.args, "kwargs": p.kwargs}),
            };
            prop_assert_eq!(raw, expected);
        }
    }
}
