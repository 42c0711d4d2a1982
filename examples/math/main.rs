//! The original jrpc's calculator: a page on <http://localhost:8080/> whose buttons call
//! `Add`, `Subtract`, `Multiply` and `Divide` on a JRPC WebSocket server on port 9000.
//!
//! ```sh
//! cargo run --example math
//! ```
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
//!
//! The methods and the page are in `calculator.rs`, shared with `math-async-std`, which serves
//! the same calculator on async-std.

extern crate jrpc_tokio as jrpc;

#[path = "calculator.rs"]
mod calculator;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    jrpc_examples::serve(calculator::PAGE, calculator::methods(), ()).await
}
