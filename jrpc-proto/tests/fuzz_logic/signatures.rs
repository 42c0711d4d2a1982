//! The `bind` target's oracle: `(args, kwargs)` bound into typical method signatures, each
//! result compared with what Python's rules for matching arguments to parameters give,
//! computed here without serde's help (see [`slots`]). A binding that succeeds must produce
//! exactly the value the rules produce; one that fails must fail exactly when the rules say so,
//! with an `InvalidParams` error whose details are a non-empty string.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use jrpc_proto::{Args, Params, RpcError};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// `def add(a, b)`.
#[derive(Debug, PartialEq, Deserialize)]
struct Add {
    a: i64,
    b: i64,
}

/// `def typical(a, b=None, c=[])`.
#[derive(Debug, PartialEq, Deserialize)]
struct Typical {
    a: i64,
    b: Option<String>,
    #[serde(default)]
    c: Vec<f64>,
}

/// A parameter with other names accepted as keywords (serde lists them sorted with the name:
/// `["0a", "a", "aa", "b"]`, not in declaration order).
#[derive(Debug, PartialEq, Deserialize)]
struct Aliased {
    #[serde(alias = "aa", alias = "0a")]
    a: i64,
    b: bool,
}

/// Keyword names that are not the field names.
#[derive(Debug, PartialEq, Deserialize)]
struct Range {
    #[serde(rename = "from")]
    start: i64,
    #[serde(rename = "to")]
    end: Option<u32>,
}

/// Unknown keywords refused by serde too.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    #[serde(alias = "x")]
    a: Value,
}

/// A newtype is transparent: one argument.
#[derive(Debug, PartialEq, Deserialize)]
struct Meters(f64);

#[derive(Debug, PartialEq, Deserialize)]
enum Color {
    Red,
    Custom(u8),
}

/// The value `v` deserializes into, if any.
fn typed<T: DeserializeOwned>(v: &Value) -> Option<T> {
    T::deserialize(v).ok()
}

/// Python's matching of arguments to the parameters `fields` (each with the names it is
/// accepted under as a keyword, the first being its own): positional arguments fill the
/// parameters in order, keyword ones by name. `None` when the call does not fit: more
/// positional arguments than parameters, an unknown keyword, a parameter given twice (by
/// position and keyword, or by two of its names). A parameter given no argument is `None`
/// in the result; whether it may be left out is for the caller to say.
fn slots<'p>(params: &'p Params, fields: &[&[&str]]) -> Option<Vec<Option<&'p Value>>> {
    if params.args.len() > fields.len() {
        return None;
    }
    let mut slots: Vec<Option<&Value>> = vec![None; fields.len()];
    for (slot, arg) in slots.iter_mut().zip(&params.args) {
        *slot = Some(arg);
    }
    for (name, value) in &params.kwargs {
        let i = fields
            .iter()
            .position(|names| names.contains(&name.as_str()))?;
        if slots[i].replace(value).is_some() {
            return None;
        }
    }
    Some(slots)
}

/// The one argument of a single-value signature.
fn single(params: &Params) -> Option<&Value> {
    match (params.args.as_slice(), params.kwargs.len()) {
        ([one], 0) => Some(one),
        ([], 1) => params.kwargs.values().next(),
        _ => None,
    }
}

/// The positional arguments, when there is no keyword one.
fn positional(params: &Params) -> Option<&[Value]> {
    params.kwargs.is_empty().then_some(params.args.as_slice())
}

/// The keyword arguments, when there is no positional one.
fn keywords(params: &Params) -> Option<&Map<String, Value>> {
    params.args.is_empty().then_some(&params.kwargs)
}

fn expect_add(p: &Params) -> Option<Add> {
    let s = slots(p, &[&["a"], &["b"]])?;
    Some(Add {
        a: typed(s[0]?)?,
        b: typed(s[1]?)?,
    })
}

/// Compares `args.bind::<T>()` (from the text they came in, when they were left so) with the
/// rules' `expected` value (`None`: must fail), and with `Params::bind` from their values.
fn agree<T>(args: &Args, expected: Option<T>)
where
    T: DeserializeOwned + PartialEq + Debug,
{
    let name = std::any::type_name::<T>();
    let params = &args.to_params();
    let bound = args.clone().bind::<T>();
    let from_values = params.clone().bind::<T>();
    match (&bound, &from_values) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{name}: bound from {args:?} as they came"),
        (Err(a), Err(b)) => assert_eq!(a, b, "{name}: refused {args:?} as they came"),
        _ => panic!("{name}: {args:?} as they came gave {bound:?}, as values {from_values:?}"),
    }
    match (bound, expected) {
        (Ok(got), Some(want)) => assert_eq!(got, want, "{name} bound from {params:?}"),
        (Err(e), None) => {
            assert!(e.is(RpcError::INVALID_PARAMS), "{name}: {e:?}");
            assert!(
                e.details.as_str().is_some_and(|s| !s.is_empty()),
                "{name}: details {:?}",
                e.details
            );
        }
        (Ok(got), None) => panic!("{name} bound from {params:?} as {got:?}; the rules refuse it"),
        (Err(e), Some(want)) => {
            panic!("{name} refused {params:?} ({e}); the rules bind it as {want:?}")
        }
    }
}

/// Binds `args` into each signature and compares with the rules.
pub fn check(args: &Args) {
    let params = &args.to_params();
    let p = params;
    let a = args;

    // Raw: the args, the kwargs, or both, as documented.
    let raw = match (p.args.is_empty(), p.kwargs.is_empty()) {
        (_, true) => Value::Array(p.args.clone()),
        (true, false) => Value::Object(p.kwargs.clone()),
        (false, false) => json!({"args": p.args, "kwargs": p.kwargs}),
    };
    agree::<Value>(a, Some(raw));

    // No parameter, one parameter.
    agree::<()>(a, (p.args.is_empty() && p.kwargs.is_empty()).then_some(()));
    agree::<i64>(a, single(p).and_then(typed));
    agree::<String>(a, single(p).and_then(typed));
    agree::<Meters>(a, single(p).and_then(typed).map(Meters));
    agree::<Color>(a, single(p).and_then(typed));
    agree::<Option<i64>>(
        a,
        match p.args.len() + p.kwargs.len() {
            0 => Some(None),
            _ => single(p).and_then(typed).map(Some),
        },
    );

    // Positional only: tuples (what a method `|a: i64, b: i64|` binds) and sequences.
    agree::<(i64, i64)>(
        a,
        positional(p).and_then(|a| match a {
            [x, y] => Some((typed(x)?, typed(y)?)),
            _ => None,
        }),
    );
    agree::<(f64, String, bool)>(
        a,
        positional(p).and_then(|a| match a {
            [x, y, z] => Some((typed(x)?, typed(y)?, typed(z)?)),
            _ => None,
        }),
    );
    agree::<Vec<f64>>(a, positional(p).and_then(|a| a.iter().map(typed).collect()));

    // Keyword only: maps.
    agree::<HashMap<String, i64>>(
        a,
        keywords(p).and_then(|k| {
            k.iter()
                .map(|(n, v)| Some((n.clone(), typed(v)?)))
                .collect()
        }),
    );
    agree::<BTreeMap<String, Value>>(a, keywords(p).map(|k| k.clone().into_iter().collect()));

    // Parameter lists: structs.
    agree::<Add>(a, expect_add(p));
    agree::<Option<Add>>(
        a,
        if p.args.is_empty() && p.kwargs.is_empty() {
            Some(None)
        } else {
            expect_add(p).map(Some)
        },
    );
    agree::<Typical>(
        a,
        slots(p, &[&["a"], &["b"], &["c"]]).and_then(|s| {
            Some(Typical {
                a: typed(s[0]?)?,
                b: match s[1] {
                    None => None,
                    Some(v) => typed(v)?,
                },
                c: match s[2] {
                    None => Vec::new(),
                    Some(v) => typed(v)?,
                },
            })
        }),
    );
    agree::<Aliased>(
        a,
        slots(p, &[&["a", "aa", "0a"], &["b"]]).and_then(|s| {
            Some(Aliased {
                a: typed(s[0]?)?,
                b: typed(s[1]?)?,
            })
        }),
    );
    agree::<Range>(
        a,
        slots(p, &[&["from"], &["to"]]).and_then(|s| {
            Some(Range {
                start: typed(s[0]?)?,
                end: match s[1] {
                    None => None,
                    Some(v) => typed(v)?,
                },
            })
        }),
    );
    agree::<Strict>(
        a,
        slots(p, &[&["a", "x"]]).and_then(|s| Some(Strict { a: s[0]?.clone() })),
    );
}
