//! The options that are checked as they are parsed, so that a mistake is a usage error (exit
//! 2, said by clap) before anything is dialled: `--url`, `--root-cert`, `--header`, `--json`,
//! `--timeout`.

use std::path::Path;
use std::time::Duration;

use jrpc_tokio::rustls::RootCertStore;
use jrpc_tokio::rustls::pki_types::CertificateDer;
use jrpc_tokio::rustls::pki_types::pem::PemObject;
use serde_json::{Map, Value};

/// `--url`: a `ws://` or `wss://` URL; anything else is refused with what to write instead.
pub(crate) fn url(s: &str) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("ws://") || lower.starts_with("wss://") {
        return Ok(s.to_owned());
    }
    Err(match lower.split_once("://") {
        Some(("http" | "https", rest)) => {
            let secure = if lower.starts_with("https") { "s" } else { "" };
            let rest = &s[s.len() - rest.len()..];
            format!("a JRPC server has a WebSocket URL; did you mean ws{secure}://{rest}?")
        }
        Some((scheme, _)) => format!("the scheme must be ws:// or wss://, not {scheme}://"),
        None => format!("no ws:// or wss:// scheme; did you mean ws://{s}?"),
    })
}

/// `--root-cert`: the DER of a certificate read from a PEM (its first certificate) or DER
/// file, checked as rustls will use it.
pub(crate) fn root_certificate(path: &str) -> Result<Vec<u8>, String> {
    let path = Path::new(path);
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let der = if bytes.starts_with(b"-----BEGIN") {
        CertificateDer::from_pem_slice(&bytes)
            .map_err(|e| format!("{} is not a PEM certificate ({e})", path.display()))?
    } else {
        CertificateDer::from(bytes)
    };
    RootCertStore::empty().add(der.clone()).map_err(|e| {
        // rustls' Display blames the peer's certificate; this one is the user's file.
        let why = match e {
            jrpc_tokio::rustls::Error::InvalidCertificate(why) => format!("{why:?}"),
            other => other.to_string(),
        };
        format!(
            "{} is not an X.509 certificate in PEM or DER ({why})",
            path.display()
        )
    })?;
    Ok(der.to_vec())
}

/// `--header NAME:VALUE`: split at the first colon, the value's surrounding spaces trimmed.
/// Whether the name and value are valid HTTP is checked when connecting.
pub(crate) fn header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err("a header is NAME:VALUE, e.g. 'Authorization: Bearer abc'".to_owned()),
    }
}

/// The parameters of one `--json`: written inline, or `-` for standard input.
#[derive(Debug, Clone)]
pub(crate) enum Json {
    /// Read from standard input once the command line is parsed.
    Stdin,
    /// Given on the command line.
    Inline(JsonParams),
}

/// What a `--json` holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonParams {
    /// An array: positional arguments.
    Args(Vec<Value>),
    /// An object: keyword arguments.
    Kwargs(Map<String, Value>),
}

/// `--json`: `-`, or a JSON array or object.
pub(crate) fn json(s: &str) -> Result<Json, String> {
    if s.trim() == "-" {
        return Ok(Json::Stdin);
    }
    json_params(s).map(Json::Inline)
}

/// Text that must be a JSON array or object.
pub(crate) fn json_params(s: &str) -> Result<JsonParams, String> {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Array(args)) => Ok(JsonParams::Args(args)),
        Ok(Value::Object(kwargs)) => Ok(JsonParams::Kwargs(kwargs)),
        Ok(_) => Err(
            "--json takes an array (positional arguments) or an object (keyword \
                      arguments), e.g. '[5, 10]' or '{\"a\": 5}'"
                .to_owned(),
        ),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// `--timeout`: seconds, fractions allowed.
pub(crate) fn timeout(s: &str) -> Result<Duration, String> {
    let seconds: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("'{s}' is not a usable number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_need_a_websocket_scheme() {
        assert!(url("ws://localhost:9000").is_ok());
        assert!(url("WSS://example.test/rpc").is_ok());
        let hint = url("localhost:9000").unwrap_err();
        assert!(hint.ends_with("ws://localhost:9000?"), "{hint}");
        let hint = url("https://Example.test/rpc").unwrap_err();
        assert!(hint.ends_with("wss://Example.test/rpc?"), "{hint}");
        assert!(url("ftp://x").unwrap_err().contains("not ftp://"));
    }

    #[test]
    fn root_certificates_are_checked_here() {
        let dir = std::env::temp_dir().join(format!("jrpc-cli-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, b"hello\n").unwrap();
        let why = root_certificate(garbage.to_str().unwrap()).unwrap_err();
        assert!(why.contains("not an X.509 certificate"), "{why}");
        assert!(!why.contains("peer"), "{why}");
        let missing = dir.join("missing.pem");
        let why = root_certificate(missing.to_str().unwrap()).unwrap_err();
        assert!(why.starts_with("cannot read"), "{why}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn headers_split_at_the_first_colon() {
        assert_eq!(
            header("Authorization: Bearer a:b "),
            Ok(("Authorization".into(), "Bearer a:b".into()))
        );
        assert_eq!(header("X-Empty:"), Ok(("X-Empty".into(), "".into())));
        assert!(header("no colon").is_err());
        assert!(header(": value").is_err());
    }

    #[test]
    fn json_is_an_array_an_object_or_stdin() {
        assert!(matches!(json(" - "), Ok(Json::Stdin)));
        let args = |v: Value| JsonParams::Args(v.as_array().unwrap().clone());
        let kwargs = |v: Value| JsonParams::Kwargs(v.as_object().unwrap().clone());
        assert!(matches!(json("[5, 10]"), Ok(Json::Inline(p)) if p == args(json!([5, 10]))));
        assert!(matches!(json(r#"{"a":5}"#), Ok(Json::Inline(p)) if p == kwargs(json!({"a": 5}))));
        assert!(json("5").unwrap_err().contains("array"));
        assert!(json("[5,").unwrap_err().starts_with("not JSON"));
    }

    #[test]
    fn timeouts() {
        assert_eq!(timeout("30"), Ok(Duration::from_secs(30)));
        assert_eq!(timeout("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(timeout("0"), Ok(Duration::ZERO));
        assert!(timeout("-1").is_err());
        assert!(timeout("soon").is_err());
        assert!(timeout("inf").is_err());
    }
}
