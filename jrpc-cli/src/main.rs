//! `jrpc`: calls one method of a JRPC server from the command line and prints its result.
//!
//! ```text
//! $ jrpc Add -a 5,10
//! 15
//! $ jrpc Add --json '{"a": 5, "b": 10}'
//! 15
//! $ jrpc Divide -a 1,0
//! ZeroDivisionError:division by zero
//! ```
//!
//! `cargo install jrpc-cli`, or `cargo jrpc Add -a 5,10` from the checkout.

mod exact;
mod items;
mod options;

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{ArgAction, CommandFactory, Parser};
use jrpc_driver::tungstenite::Error as WsError;
use jrpc_driver::tungstenite::error::ProtocolError;
use jrpc_driver::{Builder, CallError, Config, ConnectError, Methods, Params, Peer, RpcError};
use serde_json::{Map, Value};

use crate::exact::Tapped;
use crate::items::{Items, parse_args, parse_kwargs};
use crate::options::{Json, JsonParams};

/// Exit status of a call the server answered with a failure (`Kind:details` on stderr).
const EXIT_REMOTE: u8 = 1;
/// Exit status of a usage error: the command line, or what it names, cannot be used.
const EXIT_USAGE: u8 = 2;
/// Exit status of a call that could not be made or got no answer: no connection, a refused
/// handshake, timeout, connection closed.
const EXIT_LOCAL: u8 = 3;

const AFTER_HELP: &str = "\
Arguments (-a) and keyword arguments (-k):
  Items are separated by commas. Each item (each value after `=` for -k) is JSON if it
  parses as JSON, and a string as written otherwise: `-a 10,Foo` sends [10, \"Foo\"],
  `-a '\"10\"'` sends [\"10\"], `-k a=1,b=x` sends {\"a\": 1, \"b\": \"x\"}.
  An item that starts with `\"`, `[` or `{` runs to its matching `\"`, `]` or `}`, so its
  commas do not split: `-a '[1,2],\"x,y\"'` sends [[1, 2], \"x,y\"]; an unclosed one is a
  usage error. An empty -a sends no arguments. -a and -k may be repeated; the items add up.

Parameters as JSON (--json):
  An array is positional arguments, an object keyword arguments: `--json '[5, 10]'`,
  `--json '{\"a\": 5}'`; `--json -` reads it from standard input. --json adds up with -a
  and -k: positional arguments are those of -a, then those of --json.

Output:
  The result on stdout: a string as it is, anything else as one line of JSON with its
  numbers exactly as the server wrote them (15, [1,2], 9999999999800000000001, null).
  --invoke prints nothing. -v logs the connection on stderr (-vv more, -vvv everything);
  without -v, RUST_LOG is honoured.

Exit status:
  0  the call succeeded (or, with --invoke, the notification was sent)
  1  the server answered with a failure, printed on stderr as Kind:details
  2  usage error: the command line, a --url without ws:// or wss://, an unreadable or
     unusable --root-cert, an invalid --header, --json that is not JSON
  3  no answer: cannot connect, the server refused the WebSocket handshake or is not a
     WebSocket endpoint, timeout, connection closed (`jrpc: ...` on stderr)";

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

    /// Parameters as JSON: an array (positional) or an object (keyword); `-` reads stdin.
    #[arg(long, value_name = "JSON", allow_hyphen_values = true, value_parser = options::json)]
    json: Vec<Json>,

    /// WebSocket URL of the server (ws:// or wss://).
    #[arg(long, env = "JRPC_URL", default_value = "ws://localhost:9000",
          value_parser = options::url)]
    url: String,

    /// A header of the WebSocket handshake, e.g. `--header 'Authorization: Bearer abc'`. May
    /// be repeated.
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE", value_parser = options::header)]
    headers: Vec<(String, String)>,

    /// A subprotocol to offer in the handshake (Sec-WebSocket-Protocol); the server must
    /// choose one of those offered. May be repeated, in order of preference.
    #[arg(long = "subprotocol", value_name = "NAME")]
    subprotocols: Vec<String>,

    /// A certificate to trust for wss:// besides the usual (Mozilla) roots, in PEM or DER: a
    /// private certificate authority, or a development server's. May be repeated.
    #[arg(long, value_name = "FILE", value_parser = options::root_certificate)]
    root_cert: Vec<Vec<u8>>,

    /// Seconds to wait for the connection and for the answer (0: no limit).
    #[arg(long, value_name = "S", default_value = "30", value_parser = options::timeout)]
    timeout: Duration,

    /// Send a notification: no answer is awaited and nothing is printed.
    #[arg(long)]
    invoke: bool,

    /// Log the connection on stderr: -v what it does, -vv with the WebSocket's own logs,
    /// -vvv everything.
    #[arg(short, long, action = ArgAction::Count)]
    verbose: u8,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    logs(cli.verbose);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Remote(e)) => {
            let details = match &e.details {
                Value::String(_) => None,
                other => exact::exact(other),
            };
            match details {
                Some(details) => eprintln!("{}:{details}", e.kind),
                None => eprintln!("{e}"),
            }
            ExitCode::from(EXIT_REMOTE)
        }
        Err(Failure::Usage(message)) => {
            // Worded and formatted as clap's own usage errors.
            let _ = Cli::command()
                .error(ErrorKind::ValueValidation, message)
                .print();
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Local(message)) => {
            eprintln!("jrpc: {message}");
            ExitCode::from(EXIT_LOCAL)
        }
    }
}

/// Logs on stderr: by `-v`, else by `RUST_LOG`, else none.
fn logs(verbose: u8) {
    let filter = match verbose {
        0 => match std::env::var("RUST_LOG") {
            Ok(filter) => filter,
            Err(_) => return,
        },
        1 => "warn,jrpc_driver=debug,jrpc=debug".to_owned(),
        2 => {
            "info,jrpc_driver=trace,jrpc=trace,tungstenite=debug,tokio_tungstenite=debug".to_owned()
        }
        _ => "trace".to_owned(),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

enum Failure {
    /// The server's answer: printed as `Kind:details`.
    Remote(RpcError),
    /// The command line, or something it names, cannot be used: exit 2.
    Usage(String),
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
    let params = params(cli.args, cli.kwargs, cli.json)?;
    // Zero: no limit.
    let timeout = Some(cli.timeout).filter(|t| !t.is_zero());
    let mut builder = Builder::<Tapped, ()>::default();
    let mut config = Config::default();
    for der in cli.root_cert {
        config = config.add_root_certificate(der);
    }
    builder = builder.config(config);
    for (name, value) in cli.headers {
        builder = builder.header(name, value);
    }
    for protocol in cli.subprotocols {
        builder = builder.subprotocol(protocol);
    }
    let connect = builder.connect(&cli.url, Methods::new());
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
    .map_err(connect_failure)?;

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

/// The parameters of `-a`, `-k` and `--json`, reading standard input for `--json -`.
fn params(
    args: Vec<Items>,
    kwargs: Vec<Map<String, Value>>,
    json: Vec<Json>,
) -> Result<Params, Failure> {
    let mut args: Vec<Value> = args.into_iter().flat_map(|items| items.0).collect();
    let mut kwargs: Map<String, Value> = kwargs.into_iter().flatten().collect();
    let mut stdin_read = false;
    for given in json {
        let value = match given {
            Json::Inline(value) => value,
            Json::Stdin if stdin_read => {
                return Err(Failure::Usage("--json - reads stdin once only".to_owned()));
            }
            Json::Stdin => {
                stdin_read = true;
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| Failure::Usage(format!("--json -: cannot read stdin: {e}")))?;
                options::json_params(&text)
                    .map_err(|e| Failure::Usage(format!("--json - (stdin): {e}")))?
            }
        };
        match value {
            JsonParams::Args(items) => args.extend(items),
            JsonParams::Kwargs(map) => kwargs.extend(map),
        }
    }
    Ok(Params::new(args, kwargs))
}

/// Who failed, in one line: the command line (exit 2), or the server or the network (exit 3).
fn connect_failure(e: ConnectError) -> Failure {
    match e {
        ConnectError::InvalidUrl { url, reason } => {
            Failure::Usage(format!("invalid --url '{url}': {reason}"))
        }
        ConnectError::InvalidHeader { name, reason } => {
            Failure::Usage(format!("invalid --header '{name}': {reason}"))
        }
        ConnectError::InvalidSubprotocol { protocol } => Failure::Usage(format!(
            "invalid --subprotocol '{protocol}': not an HTTP token"
        )),
        ConnectError::Tls { reason, .. } => Failure::Usage(format!("--root-cert: {reason}")),
        ConnectError::Handshake { url, source } => Failure::Local(handshake_failure(&url, *source)),
    }
}

/// Why a handshake failed, naming the party at fault.
fn handshake_failure(url: &str, e: WsError) -> String {
    match e {
        WsError::Http(response) => {
            let status = response.status();
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .and_then(|body| body.lines().next().map(str::to_owned))
                .filter(|line| !line.trim().is_empty())
                .map(|line| format!(": {}", line.chars().take(200).collect::<String>()))
                .unwrap_or_default();
            if status.is_success() || status.is_redirection() {
                format!(
                    "{url} is not a WebSocket (JRPC) endpoint: the server answered the upgrade \
                     with HTTP {status}, as a web server does for a page"
                )
            } else if status.as_u16() == 404 {
                format!("{url} is not a WebSocket (JRPC) endpoint: HTTP {status}{body}")
            } else {
                format!("the server at {url} refused the WebSocket handshake: HTTP {status}{body}")
            }
        }
        WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(why)) => {
            format!("the server at {url} did not accept the offered subprotocol: {why}")
        }
        WsError::Protocol(
            ProtocolError::HttparseError(_)
            | ProtocolError::WrongHttpVersion
            | ProtocolError::HandshakeIncomplete
            | ProtocolError::MissingConnectionUpgradeHeader
            | ProtocolError::MissingUpgradeWebSocketHeader
            | ProtocolError::SecWebSocketAcceptKeyMismatch,
        ) => format!(
            "{url} is not a WebSocket (JRPC) endpoint: its answer to the upgrade is not a \
             WebSocket handshake ({e})"
        ),
        other => format!("cannot connect to {url}: {other}"),
    }
}

/// Closes the connection politely. The notification of `--invoke` went to the socket before
/// the close is handled, and this waits (a bounded time) for the connection to end, so the
/// process does not exit with the frame unsent.
async fn close(peer: &Peer) {
    peer.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), peer.closed()).await;
}

/// Prints a result: a string as it is, anything else as one line of JSON with the server's
/// own digits.
fn print_result(value: &Value) -> Result<(), Failure> {
    let text = match value {
        Value::String(s) => s.clone(),
        other => exact::exact(other).unwrap_or_else(|| other.to_string()),
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Local(format!("cannot write the result: {e}")))
}
