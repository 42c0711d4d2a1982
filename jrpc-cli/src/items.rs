//! The items of `-a` and `-k`: comma-separated, each JSON if it parses as JSON and a string
//! otherwise; a value that opens with `"`, `[` or `{` runs to its matching close.

use serde_json::{Map, Value};

/// The positional arguments of one `-a`.
#[derive(Debug, Clone)]
pub(crate) struct Items(pub(crate) Vec<Value>);

/// `-a`: comma-separated items, each JSON or else a string.
pub(crate) fn parse_args(s: &str) -> Result<Items, String> {
    let items = split_items(s, false)?;
    Ok(Items(items.into_iter().map(to_value).collect()))
}

/// `-k`: comma-separated `NAME=VALUE` items, each value JSON or else a string.
pub(crate) fn parse_kwargs(s: &str) -> Result<Map<String, Value>, String> {
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
}
