//! A JSON value checked without being made: what the fast path does to an `args` array that
//! holds records, which is then bound from its text (`Args`). Written by hand: serde_json's
//! own walk (a visitor that ignores what it reads) costs about as much as parsing the value.
//!
//! It takes exactly what parsing the text as a `serde_json::Value` takes (the grammar, a number
//! that overflows a double refused, a string's control characters and escapes, a `\u`
//! surrogate only as half of a pair), and refuses as well nesting of [`MAX_DEPTH`] levels or
//! more and the key `serde_json` gives a meaning of its own: refusing more than `Value` would
//! only sends a message to the general path, which decides.

use super::fast::Scanner;
use super::scan::{self, string_len};

use super::RAW_VALUE_TOKEN;

/// Integers of this many digits or more may not fit 64 bits: a `Value` holds them as doubles
/// (the scanner notes them, `Scanner::wide_integer`).
const WIDE_DIGITS: usize = 19;

/// The length of the JSON value at the start of `text` (no whitespace before it), if it is one
/// that `serde_json` parses as a `Value`, nested fewer than `max_depth` levels (an array or
/// object at the top is one level), with no key [`RAW_VALUE_TOKEN`]; `None` otherwise. What
/// follows the value is not looked at: the caller checks it.
#[cfg(test)]
fn value_len(text: &str, max_depth: usize) -> Option<usize> {
    let mut scanner = Scanner::new(text);
    scanner.check_value(max_depth)?;
    Some(scanner.pos)
}

/// The checks, on the fast path's scanner (its cursor, whitespace, literals and arrays).
impl Scanner<'_> {
    /// One value, with `room` levels of nesting left (an array or object needs two). Made
    /// part of each array's and object's loop (a record's fields are checked without a call
    /// each); only arrays and objects are calls.
    #[inline(always)]
    pub(super) fn check_value(&mut self, room: usize) -> Option<()> {
        match *self.bytes.get(self.pos)? {
            b'[' | b'{' => self.check_nested(room),
            b'"' => {
                self.pos += 1;
                self.check_string().map(|_| ())
            }
            b'1'..=b'9' => self.check_integer(),
            b'-' | b'0' => self.check_number(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => None,
        }
    }

    /// [`Self::check_value`] of the `args` array the scanner stands at: where its last
    /// element starts (where the array starts if it has none).
    pub(super) fn check_args(&mut self, room: usize) -> Option<usize> {
        if self.bytes.get(self.pos) != Some(&b'[') || room <= 1 {
            return None;
        }
        let mut last = self.pos;
        self.elements(|this| {
            last = this.pos;
            this.check_value(room - 1)
        })?;
        Some(last)
    }

    /// An array or object (the scanner stands at its `[` or `{`) with `room` levels of
    /// nesting left, and all it holds, in one loop over the values of every level rather than
    /// a call per array and object: the levels open kept as bits (set for an object), the
    /// cursor in a local, and the usual case of each step taken first (no whitespace, a key
    /// or string that ends plain in its first words, an integer of up to seven digits);
    /// anything else goes to the scanner's own checks. It takes exactly what
    /// [`Self::check_value`] written as a call per level would take (`room` is at most 64,
    /// the bits a `u64` holds: deeper is refused).
    #[inline(never)]
    fn check_nested(&mut self, room: usize) -> Option<()> {
        let bytes = self.bytes;
        let room = room.min(65);
        let mut pos = self.pos;
        let mut objects = 0u64;
        let mut depth = 0usize;
        loop {
            // A value starts at `pos`.
            match *bytes.get(pos)? {
                open @ (b'[' | b'{') => {
                    depth += 1;
                    if depth >= room {
                        return None;
                    }
                    let object = open == b'{';
                    objects = objects << 1 | u64::from(object);
                    pos = whitespace_end(bytes, pos + 1);
                    let close = if object { b'}' } else { b']' };
                    if bytes.get(pos) != Some(&close) {
                        if object {
                            pos = self.member_key(pos)?;
                        }
                        continue;
                    }
                    // Empty.
                    pos += 1;
                    depth -= 1;
                    objects >>= 1;
                }
                b'"' => pos = self.string_end(pos + 1)?,
                b'1'..=b'9' => pos = self.integer_end(pos)?,
                other => {
                    self.pos = pos;
                    match other {
                        b'-' | b'0' => self.check_number()?,
                        b't' => self.literal(b"true")?,
                        b'f' => self.literal(b"false")?,
                        b'n' => self.literal(b"null")?,
                        _ => return None,
                    }
                    pos = self.pos;
                }
            }
            // After a value: the levels it closes, then the next element or member.
            loop {
                if depth == 0 {
                    self.pos = pos;
                    return Some(());
                }
                let mut byte = *bytes.get(pos)?;
                if byte <= b' ' {
                    pos = whitespace_end(bytes, pos);
                    byte = *bytes.get(pos)?;
                }
                pos += 1;
                let object = objects & 1 == 1;
                match byte {
                    b',' => {
                        pos = whitespace_end(bytes, pos);
                        if object {
                            pos = self.member_key(pos)?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return None,
                }
                depth -= 1;
                objects >>= 1;
            }
        }
    }

    /// A member's key from `pos` (its opening quote), the colon after it and the whitespace
    /// around: where its value starts. A plain key that ends in its first eight bytes,
    /// followed at once by its colon, is taken in line (it is shorter than the raw-value
    /// token); any other key by [`Self::check_key`].
    #[inline(always)]
    fn member_key(&mut self, pos: usize) -> Option<usize> {
        let bytes = self.bytes;
        if bytes.get(pos) == Some(&b'"') {
            if let Some(flags) = bytes.get(pos + 1..).and_then(scan::word_flags) {
                let end = pos + 1 + scan::first(flags);
                if flags != 0 && bytes[end] == b'"' && bytes.get(end + 1) == Some(&b':') {
                    return Some(whitespace_end(bytes, end + 2));
                }
            }
        }
        self.pos = pos;
        self.check_key()?;
        self.skip_whitespace();
        if self.next()? != b':' {
            return None;
        }
        self.skip_whitespace();
        Some(self.pos)
    }

    /// [`Self::check_string`] from `pos` (after the opening quote), giving where the string
    /// ends (after its closing quote).
    #[inline(always)]
    fn string_end(&mut self, pos: usize) -> Option<usize> {
        self.pos = pos;
        self.check_string()?;
        Some(self.pos)
    }

    /// [`Self::check_integer`] from `pos` (its first digit, 1 to 9), giving where it ends:
    /// one of up to seven digits followed by neither a fraction nor an exponent as one word
    /// ([`scan::leading_digits`]).
    #[inline(always)]
    fn integer_end(&mut self, pos: usize) -> Option<usize> {
        if let Some(digits @ 0..8) = self.bytes.get(pos..).and_then(scan::leading_digits) {
            if !matches!(self.bytes[pos + digits], b'.' | b'e' | b'E') {
                return Some(pos + digits);
            }
        }
        self.pos = pos;
        self.check_integer()?;
        Some(self.pos)
    }

    /// A key: a string, but not [`RAW_VALUE_TOKEN`] however it is written.
    fn check_key(&mut self) -> Option<()> {
        if self.next()? != b'"' {
            return None;
        }
        let start = self.pos;
        let escaped = self.check_string()?;
        let raw = self.bytes.get(start..self.pos - 1)?;
        let token = if escaped {
            // Decoded to compare (a key holding a surrogate's escape, which this leaves
            // undecoded, is no ASCII token anyway).
            scan::string(self.text.get(start..)?).is_some_and(|(key, _)| key == RAW_VALUE_TOKEN)
        } else {
            raw == RAW_VALUE_TOKEN.as_bytes()
        };
        (!token).then_some(())
    }

    /// The rest of a string after its opening quote, up to and including its closing quote;
    /// whether it held an escape. One that ends plain in its first 32 bytes (keys and most
    /// strings in records) is checked in line, a word of eight bytes at a time
    /// ([`scan::word_flags`]); any other by [`Self::check_long_string`].
    #[inline(always)]
    fn check_string(&mut self) -> Option<bool> {
        let rest = self.bytes.get(self.pos..)?;
        let mut at = 0;
        while at < 32 {
            let Some(flags) = rest.get(at..).and_then(scan::word_flags) else {
                break;
            };
            if flags != 0 {
                let end = at + scan::first(flags);
                if rest[end] == b'"' {
                    self.pos += end + 1;
                    return Some(false);
                }
                break;
            }
            at += 8;
        }
        self.check_long_string()
    }

    /// [`Self::check_string`] of a string that does not end plain in its first 32 bytes.
    #[inline(never)]
    fn check_long_string(&mut self) -> Option<bool> {
        let mut escaped = false;
        loop {
            self.pos += string_len(self.bytes.get(self.pos..)?)?;
            match self.bytes[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.check_escape()?;
                }
                // A control character.
                _ => return None,
            }
        }
    }

    /// An escape, from its backslash: one of the eight short ones, or a `\u` of a character
    /// that is not a surrogate, or of a leading surrogate followed at once by a `\u` of a
    /// trailing one (what `serde_json` takes into a `String`).
    fn check_escape(&mut self) -> Option<()> {
        match *self.bytes.get(self.pos + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.pos += 2;
                Some(())
            }
            b'u' => {
                let code = self.hex_escape()?;
                if (0xDC00..=0xDFFF).contains(&code) {
                    return None;
                }
                if (0xD800..=0xDBFF).contains(&code) {
                    if self.bytes.get(self.pos + 1) != Some(&b'u') {
                        return None;
                    }
                    let trail = self.hex_escape()?;
                    if !(0xDC00..=0xDFFF).contains(&trail) {
                        return None;
                    }
                }
                Some(())
            }
            _ => None,
        }
    }

    /// A `\uXXXX` from its backslash: the code it stands for.
    fn hex_escape(&mut self) -> Option<u32> {
        if self.bytes.get(self.pos) != Some(&b'\\') {
            return None;
        }
        let code = scan::hex4(self.bytes.get(self.pos + 2..self.pos + 6)?)?;
        self.pos += 6;
        Some(code)
    }

    /// A number from its first digit, 1 to 9: a plain integer of fewer than twenty digits (a
    /// record's id, a count) in line; any other number by [`Self::check_number`], from its
    /// start again.
    #[inline(always)]
    fn check_integer(&mut self) -> Option<()> {
        let rest = self.bytes.get(self.pos..)?;
        let digits = rest
            .iter()
            .take(20)
            .take_while(|b| b.is_ascii_digit())
            .count();
        match rest.get(digits) {
            Some(b'.' | b'e' | b'E') => self.check_number(),
            _ if digits == 20 => self.check_number(),
            _ => {
                self.wide_integer |= digits >= WIDE_DIGITS;
                self.pos += digits;
                Some(())
            }
        }
    }

    /// A number in JSON's grammar that does not overflow a double (`serde_json` refuses those,
    /// and nothing else: one that rounds to zero is zero).
    fn check_number(&mut self) -> Option<()> {
        let start = self.pos;
        if self.bytes[self.pos] == b'-' {
            self.pos += 1;
        }
        let int_start = self.pos;
        match *self.bytes.get(self.pos)? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.skip_digits(),
            _ => return None,
        }
        let int_digits = self.pos - int_start;
        let fraction = self.bytes.get(self.pos) == Some(&b'.');
        if fraction {
            self.pos += 1;
            self.some_digits()?;
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            exponent = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        self.wide_integer |= !fraction && !exponent && int_digits >= WIDE_DIGITS;
        // Below 10^308 without an exponent: in range, whatever its digits.
        if !exponent && int_digits <= 308 {
            return Some(());
        }
        // Rust's parse rounds correctly, as serde_json does (`float_roundtrip`): the same
        // numbers overflow.
        let value: f64 = self.text.get(start..self.pos)?.parse().ok()?;
        value.is_finite().then_some(())
    }

    /// Steps over digits, if any.
    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Steps over one digit or more.
    fn some_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.skip_digits();
        (self.pos > start).then_some(())
    }
}

/// Where the whitespace (if any) that starts at `pos` ends.
#[inline(always)]
fn whitespace_end(bytes: &[u8], mut pos: usize) -> usize {
    // Most text has none: one comparison then.
    if bytes.get(pos).is_some_and(|&b| b > b' ') {
        return pos;
    }
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

/// [`Scanner::check_args`] of the whole of `text` (an array with nothing around it).
#[cfg(test)]
pub(crate) fn checked_args(text: &str) -> Option<usize> {
    let mut scanner = Scanner::new(text);
    // The fast path's depth limit.
    let last = scanner.check_args(64)?;
    (scanner.pos == text.len()).then_some(last)
}

/// The end of the value that starts at `start` in `text`, a value the checks above have taken
/// (so only its brackets and strings are followed, nothing checked again): where a raw value
/// bound from checked text ends. `None` if it does not end (text no check took).
pub(crate) fn checked_value_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut pos = start;
    let mut depth = 0usize;
    loop {
        let byte = *bytes.get(pos)?;
        pos += 1;
        match byte {
            b'"' => pos = checked_string_end(bytes, pos)?,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.checked_sub(1)?,
            // A number or a literal, alone: it runs to the first delimiter.
            _ if depth == 0 => {
                let len = bytes
                    .get(pos..)?
                    .iter()
                    .position(|b| b",]} \t\n\r".contains(b));
                return Some(len.map_or(bytes.len(), |len| pos + len));
            }
            // Inside an array or object: a separator, whitespace, a number's or a literal's.
            _ => continue,
        }
        if depth == 0 {
            return Some(pos);
        }
    }
}

/// The end of a checked string from just after its opening quote: after its closing quote.
fn checked_string_end(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        pos += string_len(bytes.get(pos..)?)?;
        match bytes[pos] {
            b'"' => return Some(pos + 1),
            // An escape's backslash and the byte after it (a `\u`'s digits are plain).
            b'\\' => pos += 2,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use proptest::prelude::*;
    use serde::de::{
        self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
    };
    use serde_json::Value;

    use super::*;

    const MAX_DEPTH: usize = 64;

    // The walk this replaces, serde_json's own, kept as the reference.

    /// A value parsed as a [`Value`] would be, and dropped as it is read: what [`Value`] refuses
    /// (a number out of range, a lone surrogate, bad syntax) is refused, and so is nesting of
    /// [`MAX_DEPTH`] levels or more and the key `serde_json` gives a meaning of its own.
    struct Checked;

    impl<'de> Deserialize<'de> for Checked {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            Check(MAX_DEPTH).deserialize(deserializer).map(|()| Checked)
        }
    }

    /// [`Checked`] with `room` levels of nesting left.
    #[derive(Clone, Copy)]
    struct Check(usize);

    impl<'de> DeserializeSeed<'de> for Check {
        type Value = ();

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Check {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }

        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }

        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }

        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }

        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }

        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let inner = self.nested()?;
            while seq.next_element_seed(inner)?.is_some() {}
            Ok(())
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let inner = self.nested()?;
            while map.next_key_seed(CheckKey)?.is_some() {
                map.next_value_seed(inner)?;
            }
            Ok(())
        }
    }

    impl Check {
        /// The check of what an array or object holds, one level deeper.
        fn nested<E: de::Error>(self) -> Result<Check, E> {
            match self.0 {
                0 | 1 => Err(E::custom("nested too deeply")),
                room => Ok(Check(room - 1)),
            }
        }
    }

    /// A key of an object, read as a string and kept nowhere.
    struct CheckKey;

    impl<'de> DeserializeSeed<'de> for CheckKey {
        type Value = ();

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_str(self)
        }
    }

    impl<'de> Visitor<'de> for CheckKey {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a key")
        }

        fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
            // `Value` reads an object with this first key as a raw value: left to it.
            if key == RAW_VALUE_TOKEN {
                return Err(E::custom("a raw value"));
            }
            Ok(())
        }
    }

    /// The reference: serde_json's walk over the value at the start of `text`, and its end.
    fn reference(text: &str) -> Option<usize> {
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<Checked>();
        values.next()?.ok()?;
        Some(values.byte_offset())
    }

    /// Whether `value` nests fewer than `room` arrays and objects.
    fn shallow(value: &Value, room: usize) -> bool {
        match value {
            Value::Array(items) => room > 1 && items.iter().all(|v| shallow(v, room - 1)),
            Value::Object(map) => room > 1 && map.values().all(|v| shallow(v, room - 1)),
            _ => true,
        }
    }

    /// Pieces near every edge of the grammar: numbers, strings, literals, and broken ones.
    const LEAVES: &[&str] = &[
        "0",
        "-0",
        "01",
        "-01",
        "7",
        "-",
        "1.",
        ".5",
        "+1",
        "1.5",
        "1e3",
        "1E+3",
        "1e-3",
        "1e",
        "1e+",
        "0e5",
        "-0.0e-0",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "1.8e308",
        "1e308",
        "1e309",
        "-1e309",
        "1e400",
        "0e99999999999999999999",
        "1e-99999999999999999999",
        "4.9e-324",
        "2e-324",
        "18446744073709551616",
        "-9223372036854775809",
        "123456789012345678901234567890",
        "null",
        "nul",
        "true",
        "tru",
        "false",
        "falsey",
        r#""""#,
        r#""a""#,
        r#""a\"b""#,
        r#""\\""#,
        r#""\/""#,
        r#""\b\f\n\r\t""#,
        r#""\x""#,
        r#""\u0041""#,
        r#""\u00e9\u00E9""#,
        r#""\uD83D\uDE00""#,
        r#""\ud83d\ude00""#,
        r#""\ud800""#,
        r#""\udc00""#,
        r#""\ud800\u0041""#,
        r#""\ud800\n""#,
        r#""\ud800x""#,
        r#""\u12""#,
        r#""\u12g4""#,
        r#""\u+123""#,
        "\"tab\there\"",
        "\"\u{7f}\"",
        r#""é😀""#,
        r#""unterminated"#,
        "[]",
        "[ ]",
        "{}",
        "{ }",
        "[1,]",
        "[,1]",
        "{,}",
        r#"{"a"}"#,
        r#"{"a":}"#,
        r#"{1:2}"#,
        r#"{"a":1,}"#,
        r#"{"$serde_json::private::RawValue":"1"}"#,
        r#"{"a":1,"$serde_json::private::RawValue":2}"#,
        r#"{"\u0024serde_json::private::RawValue":"1"}"#,
        "",
        " ",
        "]",
        "}",
        ":",
        ",",
    ];

    /// Values built of those pieces, nested, with whitespace.
    fn near_json() -> impl Strategy<Value = String> {
        let space = prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\n\t "), 1 => Just("\r")];
        let leaf = proptest::sample::select(LEAVES).prop_map(str::to_owned);
        let value = leaf.prop_recursive(4, 40, 5, move |inner| {
            let space = space.clone();
            let key = prop_oneof![
                4 => "\"[a-z]{0,3}\"",
                1 => proptest::sample::select(LEAVES).prop_map(str::to_owned),
            ];
            prop_oneof![
                proptest::collection::vec((space.clone(), inner.clone(), space.clone()), 0..5)
                    .prop_map(|items| {
                        let items: Vec<String> =
                            items.iter().map(|(a, v, b)| format!("{a}{v}{b}")).collect();
                        format!("[{}]", items.join(","))
                    }),
                proptest::collection::vec((key, space, inner), 0..4).prop_map(|entries| {
                    let entries: Vec<String> = entries
                        .iter()
                        .map(|(k, s, v)| format!("{k}{s}:{s}{v}"))
                        .collect();
                    format!("{{{}}}", entries.join(","))
                }),
            ]
        });
        let deep = (60usize..70, 120usize..130, any::<bool>()).prop_map(|(a, b, object)| {
            let n = if object { a } else { b };
            format!("{}1{}", "[".repeat(n), "]".repeat(n))
        });
        let deep_objects =
            (60usize..66).prop_map(|n| format!("{}1{}", r#"{"k":"#.repeat(n), "}".repeat(n)));
        let whole = prop_oneof![8 => value, 1 => deep, 1 => deep_objects];
        // Now and then a byte dropped or one put in, anywhere.
        (whole, 0usize..200, prop_oneof![
            6 => Just(None),
            1 => Just(Some("")),
            1 => proptest::sample::select(&["\"", "\\", ",", "]", "}", "[", "{", ":", "0", "e", "-", "\u{1}", " "][..]).prop_map(Some),
        ])
            .prop_map(|(text, at, edit)| match edit {
                None => text,
                Some(insert) => {
                    let at = (0..=at.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                    let next = (at + 1..=text.len()).find(|&i| text.is_char_boundary(i));
                    let cut = if insert.is_empty() { next.unwrap_or(at) } else { at };
                    format!("{}{insert}{}", &text[..at], &text[cut..])
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The hand check takes what serde_json's walk takes, to the same end, and refuses
        /// what it refuses; and where no key is serde_json's own and nothing nests deeply, that
        /// is what parsing as a `Value` takes.
        #[test]
        fn agrees_with_serde_json(text in near_json(), after in "[ ,\\]}x]{0,2}") {
            let text = format!("{text}{after}");
            let ours = value_len(&text, MAX_DEPTH);
            let theirs = reference(&text);
            // serde_json's stream looks past a bare number or literal at the top (this leaves
            // that to its caller, which only checks arrays): compared where it does not.
            let self_delimited = text.starts_with(['[', '{', '"']);
            // And the check starts at a value (its callers stand on one); serde_json skips
            // whitespace before it.
            let at_value = !text.starts_with([' ', '\t', '\n', '\r']);
            if self_delimited {
                prop_assert_eq!(ours, theirs, "{:?}", text);
            }
            // Over checked text, its end is found by its brackets and strings alone; and an
            // array's check noting where its last element starts checks the same.
            if let Some(end) = ours {
                let found = checked_value_end(&text, 0);
                if self_delimited {
                    prop_assert_eq!(found, Some(end), "{:?}", text);
                } else {
                    // A bare number or literal: to the delimiter, or the end of the text.
                    let delimited = text[end..].starts_with([',', ']', '}', ' ', '\t', '\n', '\r']);
                    prop_assert!(!delimited || found == Some(end), "{:?}", text);
                }
            }
            if text.starts_with('[') {
                let mut scanner = Scanner::new(&text);
                let last = scanner.check_args(MAX_DEPTH);
                prop_assert_eq!(last.map(|_| scanner.pos), ours, "{:?}", text);
                if let Some(last) = last {
                    // The last element runs from there to the closing bracket.
                    let element = text[last..ours.unwrap_or(0) - 1].trim_end();
                    let inner = &text[1..ours.unwrap_or(0) - 1];
                    prop_assert!(inner.trim().is_empty() && last == 0
                        || checked_value_end(&text, last) == Some(last + element.len()),
                        "{:?}", text);
                }
            }
            if !self_delimited && theirs.is_some() && at_value {
                prop_assert_eq!(ours, theirs, "{:?}", text);
            }
            let mut values = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
            let parsed = values.next().and_then(Result::ok);
            let end = values.byte_offset();
            let plain = !text.contains("RawValue");
            if self_delimited && plain && parsed.as_ref().is_none_or(|v| shallow(v, MAX_DEPTH)) {
                prop_assert_eq!(ours, parsed.map(|_| end), "{:?}", text);
            }
        }
    }

    /// Strings of every length to past the 32 bytes checked in line, with an escape, a bad
    /// escape, a control character or a multi-byte character at every place, as values and as
    /// keys (the raw-value token among them); integers of every number of digits to past the
    /// twenty checked in line, plain and followed by a fraction or an exponent: the check
    /// takes what serde_json's walk takes, to the same end.
    #[test]
    fn strings_and_integers_near_the_in_line_edges_agree_with_serde_json() {
        let mut texts = Vec::new();
        for len in 0..=40 {
            for at in 0..=len {
                for piece in ["\\n", "\\x", "\u{1}", "é", "\\u00e9", "\""] {
                    let body = format!("{}{piece}{}", "a".repeat(at), "b".repeat(len - at));
                    texts.push(format!("[\"{body}\",1]"));
                    texts.push(format!("{{\"{body}\":1}}"));
                    texts.push(format!("{{\"{body}\" : [1,{{\"a\":\"{body}\"}}]}}"));
                }
            }
        }
        texts.push(format!("{{\"{RAW_VALUE_TOKEN}\":1}}"));
        for digits in 1..=25 {
            let integer: String = (0..digits).map(|i| char::from(b'1' + i % 9)).collect();
            for after in ["", ".5", "e5", "E-2", "e400", ".", "e", "0", "x"] {
                texts.push(format!("[{integer}{after}]"));
                texts.push(format!("{{\"k\":{integer}{after}}}"));
            }
        }
        for text in texts {
            assert_eq!(value_len(&text, MAX_DEPTH), reference(&text), "{text:?}");
        }
    }

    #[test]
    fn takes_records_and_refuses_what_value_refuses() {
        let records = r#"[{"id":1,"name":"item \"one\"","tags":["a","b\u00e9"]},{"id":2.5e3,"name":"","tags":[]}]"#;
        assert_eq!(value_len(records, MAX_DEPTH), Some(records.len()));
        assert_eq!(
            value_len(&format!("{records}, 1"), MAX_DEPTH),
            Some(records.len())
        );
        for refused in [
            r#"[1e309]"#,
            r#"["\ud800"]"#,
            r#"["\udc00\ud800"]"#,
            "[\"\u{1}\"]",
            r#"[01]"#,
            r#"[1,]"#,
            r#"{"$serde_json::private::RawValue":1}"#,
            r#"{"\u0024serde_json::private::RawValue":1}"#,
        ] {
            assert_eq!(value_len(refused, MAX_DEPTH), None, "{refused}");
            assert_eq!(reference(refused), None, "{refused}");
        }
        let nested = |n| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(value_len(&nested(63), MAX_DEPTH), Some(126));
        assert_eq!(value_len(&nested(64), MAX_DEPTH), None);
        assert_eq!(reference(&nested(63)), Some(126));
        assert_eq!(reference(&nested(64)), None);
    }
}
