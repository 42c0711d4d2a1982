//! The starting point of a jrpc application: one method, `Echo`, and a page that calls it.
//! Copy this example, then add methods.
//!
//! ```sh
//! cargo run --example template    # then open http://localhost:8080/
//! ```

use std::process::ExitCode;

use jrpc_examples::Page;
use jrpc_tokio::Methods;
use serde::Deserialize;
use serde_json::Value;

/// The parameters of `Echo`: `Echo("hi")` or `Echo(message="hi")`.
#[derive(Deserialize)]
struct EchoParams {
    message: Value,
}

/// Answers what it was sent, whatever JSON value it is.
fn echo(params: EchoParams) -> Value {
    tracing::info!(message = %params.message, "Echo");
    params.message
}

#[tokio::main]
async fn main() -> ExitCode {
    let methods = Methods::new().add("Echo", echo);
    let page = Page {
        name: "template",
        html: include_str!("index.html"),
    };
    jrpc_examples::serve(page, methods, ()).await
}
