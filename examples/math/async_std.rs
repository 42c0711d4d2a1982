//! The calculator of `math` (same page, ports and methods: `calculator.rs`), served on
//! async-std: the only differences from `math/main.rs` are the adapter crate, its runtime
//! type, the `main` attribute and the name in the logs.
//!
//! ```sh
//! cargo run --example math-async-std    # then open http://localhost:8080/
//! ```

extern crate jrpc_async_std as jrpc;

#[path = "calculator.rs"]
mod calculator;

use std::process::ExitCode;

use jrpc_examples::Page;

#[async_std::main]
async fn main() -> ExitCode {
    let page = Page {
        name: "math-async-std",
        ..calculator::PAGE
    };
    jrpc_examples::serve_async_std(page, calculator::methods(), ()).await
}
