//! The calculator's methods and page, shared by `math` (tokio) and `math-async-std`: each
//! main includes this file as a module after naming its adapter crate `jrpc`
//! (`extern crate jrpc_tokio as jrpc;`), as `jrpc = { package = "jrpc-tokio" }` would in a
//! Cargo.toml of its own.
//!
//! Each method takes `a` and `b`, by position (`Add(5, 10)`) or by name (`Add(a=5, b=10)`).
//! They are numbers or numeric strings, since a textbox sends strings: `"5"`, `" 2.5 "`,
//! `"1e3"`. Whole numbers stay whole (`Add("5", "10")` is `15`, not `15.0`); `Divide` always
//! answers a float (`Divide(1, 4)` is `0.25`).
//!
//! Failures:
//! - `Divide` by zero: `ZeroDivisionError`, details `division by zero` (as the original).
//! - a value that is not a number (`"Foo"`, `true`, `""`): `InvalidParams`, details naming the
//!   argument (`argument 'b': invalid value: string "Foo", expected a number or a numeric
//!   string`). The original Python server answered `TypeError` here; `InvalidParams` is the
//!   protocol's name for an argument of the wrong type (PROTOCOL.md).
//! - a result out of the range of a float (`Multiply("1e308", 10)`): `OverflowError`.

use std::fmt;

use jrpc::{Methods, RpcError};
use jrpc_examples::Page;
use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number as a calculator sees it: whole, or not.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    /// `int` when both are whole and the result fits in an `i64`, else `float`.
    fn apply(
        a: Number,
        b: Number,
        int: fn(i64, i64) -> Option<i64>,
        float: fn(f64, f64) -> f64,
    ) -> Result<Number, RpcError> {
        if let (Number::Int(x), Number::Int(y)) = (a, b) {
            if let Some(n) = int(x, y) {
                return Ok(Number::Int(n));
            }
        }
        finite(float(a.as_f64(), b.as_f64())).map(Number::Float)
    }
}

/// JSON has no infinity: a result out of range fails, as Python's does for `2.0 ** 10000`.
fn finite(x: f64) -> Result<f64, RpcError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(RpcError::new(
            "OverflowError",
            "numerical result out of range",
        ))
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Number::Int(i) => serializer.serialize_i64(i),
            Number::Float(f) => serializer.serialize_f64(f),
        }
    }
}

/// Accepts a JSON number or a string holding one.
impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;

        impl Visitor<'_> for NumberVisitor {
            type Value = Number;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a numeric string")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number::Int(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(i64::try_from(v).map_or(Number::Float(v as f64), Number::Int))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number::Float(v))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                let text = v.trim();
                if let Ok(i) = text.parse::<i64>() {
                    return Ok(Number::Int(i));
                }
                match text.parse::<f64>() {
                    // Rust also parses "inf" and "NaN": not numbers a calculator takes.
                    Ok(f) if f.is_finite() => Ok(Number::Float(f)),
                    _ => Err(E::invalid_value(Unexpected::Str(v), &self)),
                }
            }
        }

        deserializer.deserialize_any(NumberVisitor)
    }
}

/// The parameters of every method: a struct, so they bind by position or by name.
#[derive(Debug, Deserialize)]
struct Operands {
    a: Number,
    b: Number,
}

fn add(Operands { a, b }: Operands) -> Result<Number, RpcError> {
    Number::apply(a, b, i64::checked_add, |x, y| x + y)
}

fn subtract(Operands { a, b }: Operands) -> Result<Number, RpcError> {
    Number::apply(a, b, i64::checked_sub, |x, y| x - y)
}

fn multiply(Operands { a, b }: Operands) -> Result<Number, RpcError> {
    Number::apply(a, b, i64::checked_mul, |x, y| x * y)
}

fn divide(Operands { a, b }: Operands) -> Result<f64, RpcError> {
    if b.as_f64() == 0.0 {
        return Err(RpcError::new("ZeroDivisionError", "division by zero"));
    }
    finite(a.as_f64() / b.as_f64())
}

/// The calculator's page: two inputs, four buttons, the result.
pub const PAGE: Page = Page {
    name: "math",
    html: include_str!("index.html"),
};

/// The calculator's methods: `Add`, `Subtract`, `Multiply`, `Divide`.
pub fn methods() -> Methods {
    Methods::new()
        .add("Add", add)
        .add("Subtract", subtract)
        .add("Multiply", multiply)
        .add("Divide", divide)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jrpc::Params;
    use serde_json::{Value, json};

    /// Binds `args`/`kwargs` the way a request does and runs `f`.
    fn call<R: Serialize>(
        f: fn(Operands) -> Result<R, RpcError>,
        args: Value,
        kwargs: Value,
    ) -> Result<Value, RpcError> {
        let (Value::Array(args), Value::Object(kwargs)) = (args, kwargs) else {
            panic!("args must be an array and kwargs an object");
        };
        let operands = Params::new(args, kwargs).bind::<Operands>()?;
        f(operands).map(|r| serde_json::to_value(r).unwrap())
    }

    #[test]
    fn whole_numbers_stay_whole() {
        assert_eq!(call(add, json!([5, 10]), json!({})), Ok(json!(15)));
        assert_eq!(call(add, json!(["5", "10"]), json!({})), Ok(json!(15)));
        assert_eq!(call(subtract, json!([" 5 ", 10]), json!({})), Ok(json!(-5)));
        assert_eq!(call(multiply, json!(["3", "4"]), json!({})), Ok(json!(12)));
        assert_eq!(call(add, json!(["2.5", 1]), json!({})), Ok(json!(3.5)));
        assert_eq!(call(add, json!([1.5, "1e1"]), json!({})), Ok(json!(11.5)));
        // Past i64: a float, as close as it gets.
        assert_eq!(
            call(add, json!([i64::MAX, 1]), json!({})),
            Ok(json!(i64::MAX as f64 + 1.0))
        );
    }

    #[test]
    fn divide_answers_a_float() {
        assert_eq!(call(divide, json!([1, 4]), json!({})), Ok(json!(0.25)));
        assert_eq!(call(divide, json!(["10", "5"]), json!({})), Ok(json!(2.0)));
        let zero = RpcError::new("ZeroDivisionError", "division by zero");
        assert_eq!(call(divide, json!([1, 0]), json!({})), Err(zero.clone()));
        assert_eq!(call(divide, json!([1, "0.0"]), json!({})), Err(zero));
    }

    #[test]
    fn keyword_and_mixed_arguments() {
        assert_eq!(
            call(subtract, json!([]), json!({"b": 1, "a": 10})),
            Ok(json!(9))
        );
        assert_eq!(call(subtract, json!([10]), json!({"b": "1"})), Ok(json!(9)));
        let missing = call(add, json!([1]), json!({})).unwrap_err();
        assert_eq!(missing.kind, RpcError::INVALID_PARAMS);
    }

    #[test]
    fn non_numbers_are_invalid_params() {
        for bad in [
            json!("Foo"),
            json!(""),
            json!("inf"),
            json!("NaN"),
            json!(true),
            json!(null),
        ] {
            let e = call(add, json!([10, bad]), json!({})).unwrap_err();
            assert_eq!(e.kind, RpcError::INVALID_PARAMS, "{bad}");
            let details = e.details.as_str().unwrap_or_default();
            assert!(details.starts_with("argument 'b': "), "{details}");
        }
    }

    #[test]
    fn overflow_fails() {
        let e = call(multiply, json!(["1e308", 10]), json!({})).unwrap_err();
        assert_eq!(e.kind, "OverflowError");
    }

    #[test]
    fn methods_are_registered() {
        assert_eq!(methods().names(), ["Add", "Divide", "Multiply", "Subtract"]);
    }
}
