//! `jrpc`: calls one method of a JRPC server from the command line and prints its result.
//!
//! ```text
//! $ jrpc Add -a 5,10
//! 15
//! $ jrpc Divide -a 1,0
//! ZeroDivisionError:division by zero
//! ```
//!
//! Built with the `cli` feature: `cargo jrpc Add -a 5,10` from the checkout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use jrpc_tokio::rustls::pki_types::CertificateDer;
use jrpc_tokio::rustls::pki_types::pem::PemObject;
use jrpc_tokio::{CallError, Client, Config, Methods, Params, Peer};
use serde_json::{Map, Value};

/// Exit status of a call the server answered with a failure (`Kind:details` on stderr).
const EXIT_REMOTE: u8 = 1;
/// Exit status of a call that could not be made or got no answer: no connection, timeout,
/// connection closed.
const EXIT_LOCAL: u8 = 3;

const AFTER_HELP: &str = "\
Arguments (-a) and keyword arguments (-k):
  Items are separated by commas. Each item (each value after `=` for -k) is JSON if it
  parses as JSON, and a string as written otherwise: `-a 10,Foo` sends [10, \"Foo\"],
  `-a '\"10\"'` sends [\"10\"], `-k a=1,b=x` sends {\"a\": 1, \"b\": \"x\"}.
  An item that starts with `\"`, `[` or `{` runs to its matching `\"`, `]` or `}`, so its
  commas do not split: `-a '[1,2],\"x,y\"'` sends [[1, 2], \"x,y\"]; an unclosed one is a
  usage error. An empty -a sends no arguments. -a and -k may be repeated; the items add up.

Output:
  The result on stdout: a string as it is, anything else as one line of JSON (15, [1,2],
  null). --invoke prints nothing.

Exit status:
  0  the call succeeded (or, with --invoke, the notification was sent)
  1  the server answered with a failure, printed on stderr as Kind:details
  2  usage error
  3  no answer: cannot connect, timeout, connection closed (`jrpc: ...` on stderr)";

/// Calls METHOD on a JRPC server (two-way JSON RPC over WebSockets) and prints its result.
#[derive(Debug, Parser)]
#[command(name = "jrpc", version, after_help = AFTER_HELP)]
struct Cli {
    /// Name of the method to call.
    method: String,

    /// Positional arguments, comma-separated: `-a 5,10`.
    #[arg(short = 'a', long = "args", value_name = "ARGS", allow_hyphen_values = true,
          value_parser = parse_args)]
    args: Vec<Items>,

    /// Keyword arguments, comma-separated NAME=VALUE items: `-k a=1,b=2`.
    #[arg(short = 'k', long = "kwargs", value_name = "KWARGS", allow_hyphen_values = true,
          value_parser = parse_kwargs)]
    kwargs: Vec<Map<String, Value>>,

    /// WebSocket URL of the server (ws:// or wss://).
    #[arg(long, env = "JRPC_URL", default_value = "ws://localhost:9000")]
    url: String,

    /// A certificate to trust for wss:// besides the usual (Mozilla) roots, in PEM or DER: a
    /// private certificate authority, or a development server's. May be repeated.
    #[arg(long, value_name = "FILE")]
    root_cert: Vec<PathBuf>,

    /// Seconds to wait for the connection and for the answer (0: no limit).
    #[arg(long, value_name = "S", default_value = "30", value_parser = parse_timeout)]
    timeout: Duration,

    /// Send a notification: no answer is awaited and nothing is printed.
    #[arg(long)]
    invoke: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Remote(e)) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_REMOTE)
        }
        Err(Failure::Local(message)) => {
            eprintln!("jrpc: {message}");
            ExitCode::from(EXIT_LOCAL)
        }
    }
}

enum Failure {
    /// The server's answer: printed as `Kind:details`.
    Remote(jrpc_tokio::RpcError),
    /// Anything else, as one line.
    Local(String),
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Remote(e) => Self::Remote(e),
            other => Self::Local(other.to_string()),
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let params = Params::new(
        cli.args.into_iter().flat_map(|items| items.0).collect(),
        cli.kwargs.into_iter().flatten().collect(),
    );
    // Zero: no limit.
    let timeout = Some(cli.timeout).filter(|t| !t.is_zero());
    let mut config = Config::default();
    for path in &cli.root_cert {
        config = config.add_root_certificate(read_certificate(path)?);
    }
    let connect = Client::builder()
        .config(config)
        .connect(&cli.url, Methods::new());
    let peer = match timeout {
        Some(limit) => tokio::time::timeout(limit, connect).await.map_err(|_| {
            Failure::Local(format!(
                "cannot connect to {}: timed out after {}s",
                cli.url,
                limit.as_secs_f64()
            ))
        })?,
        None => connect.await,
    }
    .map_err(|e| Failure::Local(e.to_string()))?;

    let outcome = if cli.invoke {
        peer.invoke(&cli.method, params)
            .await
            .map_err(Failure::from)
    } else {
        match peer
            .request_with_timeout::<Value>(&cli.method, params, timeout)
            .await
        {
            Ok(value) => print_result(&value),
            Err(e) => Err(e.into()),
        }
    };
    close(&peer).await;
    outcome
}

/// A certificate file: PEM (its first certificate) or DER.
fn read_certificate(path: &Path) -> Result<Vec<u8>, Failure> {
    let failed = |why: String| Failure::Local(format!("cannot read {}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    if !bytes.starts_with(b"-----BEGIN") {
        return Ok(bytes);
    }
    CertificateDer::from_pem_slice(&bytes)
        .map(|der| der.to_vec())
        .map_err(|e| failed(format!("not a PEM certificate ({e})")))
}

/// Closes the connection politely. The notification of `--invoke` went to the socket before
/// the close is handled, and this waits (a bounded time) for the connection to end, so the
/// process does not exit with the frame unsent.
async fn close(peer: &Peer) {
    peer.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), peer.closed()).await;
}

fn print_result(value: &Value) -> Result<(), Failure> {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Local(format!("cannot write the result: {e}")))
}

/// The positional arguments of one `-a`.
#[derive(Debug, Clone)]
struct Items(Vec<Value>);

/// `-a`: comma-separated items, each JSON or else a string.
fn parse_args(s: &str) -> Result<Items, String> {
    let items = split_items(s, false)?;
    Ok(Items(items.into_iter().map(to_value).collect()))
}

/// `-k`: comma-separated `NAME=VALUE` items, each value JSON or else a string.
fn parse_kwargs(s: &str) -> Result<Map<String, Value>, String> {
    split_items(s, true)?
        .into_iter()
        .map(|item| match item.split_once('=') {
            Some(("", _)) => Err(format!("item '{item}' has no name")),
            Some((name, value)) => Ok((name.to_owned(), to_value(value))),
            None => Err(format!("item '{item}' is not NAME=VALUE")),
        })
        .collect()
}

/// The item as JSON when it parses as JSON, else as a string as written.
fn to_value(item: &str) -> Value {
    serde_json::from_str(item).unwrap_or_else(|_| Value::String(item.to_owned()))
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let seconds: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("'{s}' is not a usable number of seconds"))
}

/// Splits `s` at its commas, except inside a value that starts with `"`, `[` or `{` (at the
/// start of an item, or right after the first `=` of an item when `keyed`): such a value runs
/// to its matching close, honouring JSON strings and their escapes. An empty `s` has no
/// items.
fn split_items(s: &str, keyed: bool) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    if s.is_empty() {
        return Ok(items);
    }
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    // Where the current item's value begins: its start, or after its `=` once seen.
    let mut value_at = Some(0).filter(|_| !keyed);
    loop {
        if i == bytes.len() {
            items.push(&s[start..]);
            return Ok(items);
        }
        match bytes[i] {
            b',' => {
                items.push(&s[start..i]);
                i += 1;
                start = i;
                value_at = Some(i).filter(|_| !keyed);
            }
            b'=' if keyed && value_at.is_none() => {
                i += 1;
                value_at = Some(i);
            }
            b'"' | b'[' | b'{' if value_at == Some(i) => {
                i = skip_group(bytes, i).ok_or_else(|| {
                    format!(
                        "'{}' is not closed; write a string that starts with '\"', '[' or '{{' as a JSON string",
                        &s[i..]
                    )
                })?;
                value_at = None;
            }
            _ => i += 1,
        }
    }
}

/// The index just past the JSON-like group that opens at `bytes[open]`, or `None` if it is
/// not closed.
fn skip_group(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = open;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => {
                    in_string = false;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(s: &str) -> Value {
        Value::Array(parse_args(s).unwrap().0)
    }

    #[test]
    fn args_are_json_or_strings() {
        assert_eq!(args("5,10"), json!([5, 10]));
        assert_eq!(args("10,Foo"), json!([10, "Foo"]));
        assert_eq!(args("1.5,true,null,-3"), json!([1.5, true, null, -3]));
        assert_eq!(args(""), json!([]));
        assert_eq!(args("a,,b"), json!(["a", "", "b"]));
        assert_eq!(args("hello world"), json!(["hello world"]));
    }

    #[test]
    fn groups_keep_their_commas() {
        assert_eq!(args(r#""x,y""#), json!(["x,y"]));
        assert_eq!(args(r#"[1,2],"x,y",3"#), json!([[1, 2], "x,y", 3]));
        assert_eq!(
            args(r#"{"a":[1,{"b":"]"}]},2"#),
            json!([{"a": [1, {"b": "]"}]}, 2])
        );
        assert_eq!(args(r#""a\",b",c"#), json!(["a\",b", "c"]));
        // Brackets inside a plain item group nothing.
        assert_eq!(args("a[1,2]"), json!(["a[1", "2]"]));
        // A group followed by more text is a string.
        assert_eq!(args("[1]x,2"), json!(["[1]x", 2]));
        assert!(parse_args("[1,2").is_err());
        assert!(parse_args(r#""abc"#).is_err());
    }

    #[test]
    fn kwargs() {
        let k = parse_kwargs(r#"a=1,b=x,c=[1,2],d="p,q",e=a=b,f="#).unwrap();
        assert_eq!(
            Value::Object(k),
            json!({"a": 1, "b": "x", "c": [1, 2], "d": "p,q", "e": "a=b", "f": ""})
        );
        assert!(parse_kwargs("a=1,b").is_err());
        assert!(parse_kwargs("=1").is_err());
        assert!(parse_kwargs("").unwrap().is_empty());
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_timeout("0"), Ok(Duration::ZERO));
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("soon").is_err());
        assert!(parse_timeout("inf").is_err());
    }
}
