//! A request's `args` written straight from a `Serialize` value, in the cases where that gives
//! exactly the bytes of the two-pass way ([`Params::from_serialize`](crate::Params::from_serialize)
//! into a `serde_json::Value` tree, then that tree serialized): a sequence of scalars, strings
//! and sequences, or a single scalar. Anything else (a map or struct, whose keys the tree sorts;
//! an `f32`, which the tree widens to `f64`; a 128-bit integer, which the tree may refuse; an
//! enum variant with data; an error) answers [`Unsupported`], and the caller takes the
//! two-pass way, which then gives the bytes or the error it always gave.

use std::fmt;

use serde::ser::{self, Impossible, Serialize, SerializeSeq as _};

use super::write::Writer;

/// Writes `value` as the `args` array it stands for (`[]` for `()` or `null`, `[x]` for a
/// single scalar `x`), or answers [`Unsupported`] having written an unspecified part of it.
pub(crate) fn write_args<T: Serialize + ?Sized>(
    out: &mut String,
    value: &T,
) -> Result<(), Unsupported> {
    value.serialize(Direct { out, top: true })
}

/// This value is not one the one-pass way writes: take the two-pass way.
#[derive(Debug)]
pub(crate) struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not written in one pass")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Unsupported
    }
}

/// One JSON value, as the `Value` tree would serialize it. At the top (`top`), it is the whole
/// `args`: a sequence as it is, a scalar inside brackets, `()`, `null` and the non-finite
/// floats (which the tree turns into `null`) as no arguments.
struct Direct<'a> {
    out: &'a mut String,
    top: bool,
}

impl<'a> Direct<'a> {
    /// Writes a scalar as serde_json's serializer does (inside brackets at the top).
    fn scalar(
        self,
        write: impl FnOnce(Writer<'_>) -> serde_json::Result<()>,
    ) -> Result<(), Unsupported> {
        if self.top {
            self.out.push('[');
        }
        write(Writer::new(&mut *self.out)).map_err(|_| Unsupported)?;
        if self.top {
            self.out.push(']');
        }
        Ok(())
    }

    /// `null`, or no arguments at the top.
    fn null(self) -> Result<(), Unsupported> {
        self.out.push_str(if self.top { "[]" } else { "null" });
        Ok(())
    }

    fn seq(self) -> Result<Seq<'a>, Unsupported> {
        self.out.push('[');
        Ok(Seq {
            out: self.out,
            first: true,
        })
    }
}

/// The elements of a sequence, written one after the other.
struct Seq<'a> {
    out: &'a mut String,
    first: bool,
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        value.serialize(Direct {
            out: self.out,
            top: false,
        })
    }

    fn end(self) -> Result<(), Unsupported> {
        self.out.push(']');
        Ok(())
    }
}

impl ser::SerializeTuple for Seq<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Unsupported> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Seq<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Unsupported> {
        ser::SerializeSeq::end(self)
    }
}

/// Scalars the tree keeps as they are: written as serde_json's serializer writes them.
macro_rules! scalars {
    ($($method:ident($type:ty)),* $(,)?) => {
        $(
            fn $method(self, v: $type) -> Result<(), Unsupported> {
                self.scalar(|s| s.$method(v))
            }
        )*
    };
}

impl<'a> ser::Serializer for Direct<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Impossible<(), Unsupported>;
    type SerializeMap = Impossible<(), Unsupported>;
    type SerializeStruct = Impossible<(), Unsupported>;
    type SerializeStructVariant = Impossible<(), Unsupported>;

    scalars! {
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_char(char),
        serialize_str(&str),
    }

    fn serialize_f64(self, v: f64) -> Result<(), Unsupported> {
        if v.is_finite() {
            self.scalar(|s| s.serialize_f64(v))
        } else {
            self.null()
        }
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Unsupported> {
        // The tree holds bytes as an array of numbers, at the top as well.
        let mut seq = self.seq()?;
        for byte in v {
            seq.serialize_element(byte)?;
        }
        seq.end()
    }

    fn serialize_none(self) -> Result<(), Unsupported> {
        self.null()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.null()
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unsupported> {
        self.null()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'a>, Unsupported> {
        self.seq()
    }

    fn serialize_tuple(self, _: usize) -> Result<Seq<'a>, Unsupported> {
        self.seq()
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Seq<'a>, Unsupported> {
        self.seq()
    }

    // What the tree writes differently, or may refuse: the caller takes the two-pass way.

    fn serialize_f32(self, _: f32) -> Result<(), Unsupported> {
        Err(Unsupported)
    }

    fn serialize_i128(self, _: i128) -> Result<(), Unsupported> {
        Err(Unsupported)
    }

    fn serialize_u128(self, _: u128) -> Result<(), Unsupported> {
        Err(Unsupported)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Unsupported> {
        Err(Unsupported)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::{Value, json};

    use crate::{EncodedRequest, Params};

    /// Both ways agree: the same frame, or the same error.
    fn agree<T: Serialize + ?Sized>(value: &T) {
        let once = EncodedRequest::from_serialize("m\"é", value);
        let twice = Params::from_serialize(value)
            .map_err(|e| crate::CallError::Encode(e.to_string()))
            .and_then(|params| EncodedRequest::new("m\"é", &params));
        assert_eq!(once, twice);
    }

    #[derive(Serialize)]
    struct Point {
        y: i32,
        x: i32,
    }

    #[derive(Serialize)]
    struct Wrapper(f64);

    #[derive(Serialize)]
    struct Pair(u8, &'static str);

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    enum Shape {
        Empty,
        Circle(f64),
        Line(u8, u8),
        Rect { w: u8, h: u8 },
    }

    struct Failing;

    impl Serialize for Failing {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("no way"))
        }
    }

    #[test]
    fn a_call_ends_with_its_id_in_decimal() {
        for id in [
            0,
            1,
            9,
            10,
            11,
            99,
            100,
            101,
            512,
            1000,
            12345,
            100_000,
            crate::MAX_ID,
            u64::MAX,
        ] {
            let frame = EncodedRequest::from_serialize("m", &())
                .unwrap()
                .with_id(id);
            assert_eq!(
                frame,
                format!(r#"{{"method":"m","args":[],"kwargs":{{}},"id":{id}}}"#)
            );
        }
    }

    #[test]
    fn sequences_and_scalars_take_one_pass_and_maps_do_not() {
        let one_pass = |value: &dyn erased::Erased| value.write().is_ok();
        assert!(one_pass(&(1.0, 2.0)));
        assert!(one_pass(&()));
        assert!(one_pass(&("a", vec![1, 2], [None, Some(true)])));
        assert!(one_pass(&7));
        assert!(!one_pass(&Point { y: 1, x: 2 }));
        assert!(!one_pass(&(1, json!({"a": 1}))));
        assert!(!one_pass(&(0.5f32,)));
    }

    /// `write_args` of values of different types, behind one pointer type.
    mod erased {
        pub(super) trait Erased {
            fn write(&self) -> Result<(), super::super::Unsupported>;
        }
        impl<T: serde::Serialize> Erased for T {
            fn write(&self) -> Result<(), super::super::Unsupported> {
                super::super::write_args(&mut String::new(), self)
            }
        }
    }

    #[test]
    fn every_shape_encodes_as_through_a_value_tree() {
        agree(&());
        agree(&(1.0, 2.0));
        agree(&(5, -10, u64::MAX, i64::MIN, true, 'c', "s\n\u{1}"));
        agree(&[f64::NAN, f64::INFINITY, -0.0, 1e300, 0.1]);
        agree(&f64::NAN);
        agree(&f64::NEG_INFINITY);
        agree(&Some(f64::NAN));
        agree(&(0.1f32, 1));
        agree(&0.1f32);
        agree(&(u128::MAX,));
        agree(&(1u128, -1i128));
        agree(&i128::MIN);
        agree(&7);
        agree(&"one");
        agree(&None::<u8>);
        agree(&Some((1, 2)));
        agree(&Unit);
        agree(&Wrapper(2.5));
        agree(&Pair(1, "a"));
        agree(&(Point { y: 1, x: 2 },));
        agree(&Point { y: 1, x: 2 });
        agree(&(Shape::Empty, Shape::Circle(1.0)));
        agree(&Shape::Empty);
        agree(&Shape::Circle(1.0));
        agree(&(Shape::Line(1, 2),));
        agree(&Shape::Rect { w: 1, h: 2 });
        agree(&vec![vec![1, 2], vec![], vec![3]]);
        agree(&(vec![(1, "a")], ((),), [None, Some(1)]));
        agree(serde_bytes_like(&[1, 2, 255]));
        agree(&json!(null));
        agree(&json!([1, [2.5, "x"], {"b": 1, "a": [null]}]));
        agree(&json!({"b": 1, "a": 2}));
        agree(&json!("text"));
        agree(&BTreeMap::from([("k", 1)]));
        agree(&HashMap::from([("b", 1), ("a", 2)]));
        agree(&HashMap::from([(2, "x"), (1, "y")]));
        agree(&(Failing,));
        agree(&Failing);
        agree(&(1, Failing));
        agree(&serde_json::value::RawValue::from_string("[1,  2]".to_owned()).unwrap());
        agree(&(serde_json::value::RawValue::from_string("{ }".to_owned()).unwrap(),));
    }

    /// Bytes serialized as bytes (`serialize_bytes`), as `serde_bytes` would.
    fn serde_bytes_like(bytes: &'static [u8]) -> &'static impl Serialize {
        struct Bytes(&'static [u8]);
        impl Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        Box::leak(Box::new(Bytes(bytes)))
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec((".{0,3}", inner), 0..4)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_value_tree_encodes_alike(value in any_value()) {
            agree(&value);
            agree(&(value.clone(), 1.5));
        }

        #[test]
        fn any_id_is_written_in_decimal(id in any::<u64>()) {
            let frame = EncodedRequest::from_serialize("m", &()).unwrap().with_id(id);
            let tail = format!(r#""id":{id}}}"#);
            prop_assert!(frame.ends_with(&tail), "{}", frame);
        }

        #[test]
        fn any_numbers_encode_alike(a in any::<f64>(), b in any::<f32>(), c in any::<i64>()) {
            agree(&(a, c));
            agree(&a);
            agree(&(a, b));
        }
    }
}
