//! Scans shared by the reader and the writer: the end of a plain run of string bytes, and a
//! string read with its usual escapes decoded.

/// How many bytes of `bytes` stand before the first quote, backslash or control character (the
/// end of a plain string, or what makes it not plain); `None` if there is none. Sixteen bytes
/// are looked at a time (two words), then eight, then the last few (the last eight bytes,
/// again): a long argument is mostly string, and most strings in records are short.
#[inline]
pub(super) fn string_len(bytes: &[u8]) -> Option<usize> {
    let mut pairs = bytes.chunks_exact(16);
    let mut at = 0;
    for pair in &mut pairs {
        let (low, high) = pair.split_at(8);
        let low = special(word(low));
        let high = special(word(high));
        if low | high != 0 {
            return Some(
                at + if low != 0 {
                    first(low)
                } else {
                    8 + first(high)
                },
            );
        }
        at += 16;
    }
    let mut rest = pairs.remainder();
    if rest.len() >= 8 {
        let flags = special(word(&rest[..8]));
        if flags != 0 {
            return Some(at + first(flags));
        }
        at += 8;
        rest = &rest[8..];
    }
    if rest.is_empty() {
        return None;
    }
    if let Some(last) = bytes.last_chunk::<8>() {
        // The last eight bytes: those before the tail were looked at already and hold no
        // match (so none carries a false flag up), and their flags are dropped.
        let seen = 8 - rest.len();
        let flags = special(u64::from_le_bytes(*last)) >> (8 * seen) << (8 * seen);
        return (flags != 0).then(|| at + first(flags) - seen);
    }
    // Fewer than eight bytes in all: one at a time, by a table.
    rest.iter().position(|&byte| SPECIAL[usize::from(byte)])
}

/// The JSON string whose text (after the opening quote) starts `text`: its value, and how many
/// bytes it takes (the closing quote included). Plain runs are found by [`string_len`] and
/// copied whole; the escapes `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t` and a `\u`
/// of a character outside the surrogates are decoded. `None` for anything else (a control
/// character, another escape, a surrogate's `\u` (paired or lone), no closing quote): left to
/// `serde_json`, which decides, so what is taken here is only what it takes the same way.
pub(super) fn string(text: &str) -> Option<(String, usize)> {
    let bytes = text.as_bytes();
    let mut pos = string_len(bytes)?;
    if bytes[pos] == b'"' {
        return Some((text.get(..pos)?.to_owned(), pos + 1));
    }
    let mut value = String::from(text.get(..pos)?);
    loop {
        // `pos` stands on an ASCII byte (a quote, a backslash or a control character), so
        // the slices taken here fall on character boundaries.
        match bytes[pos] {
            b'"' => return Some((value, pos + 1)),
            b'\\' => {}
            _ => return None,
        }
        let decoded = match *bytes.get(pos + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let code = hex4(bytes.get(pos + 2..pos + 6)?)?;
                pos += 4;
                // A surrogate (paired or not) is left to serde_json.
                char::from_u32(code)?
            }
            _ => return None,
        };
        value.push(decoded);
        pos += 2;
        let run = string_len(bytes.get(pos..)?)?;
        value.push_str(text.get(pos..pos + run)?);
        pos += run;
    }
}

/// Four hex digits (either case) as a number; `None` if any is not one.
pub(super) fn hex4(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0, |code, &digit| {
        let value = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            b'A'..=b'F' => digit - b'A' + 10,
            _ => return None,
        };
        Some(code << 4 | u32::from(value))
    })
}

/// Eight bytes as a word, the first lowest.
#[inline]
fn word(bytes: &[u8]) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(bytes);
    u64::from_le_bytes(word)
}

/// The bytes that end a plain string: a quote, a backslash, a control character.
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// The bytes of `word` that are a quote, a backslash or a control character, each flagged by
/// its high bit; the lowest flag (the first byte, little-endian) is exact, those above it may
/// be false.
///
/// Each test is the classic "has a zero byte" trick, `(x - 0x01…) & !x & 0x80…`: it flags a
/// byte that matches, and may falsely flag a byte above a match (a borrow carried up), never
/// one below; so the lowest flag of all three is a true match, and the first one. A byte below
/// 0x20 is one that borrows when 0x20 is taken from it; the quote and the backslash are the
/// zeros of `word` xor their value; and as neither has its high bit set, `!x`'s high bits are
/// those of `!word` in all three, so that factor is taken once.
#[inline]
fn special(word: u64) -> u64 {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let control = word.wrapping_sub(ONES * 0x20);
    let quote = (word ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
    let backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
    (control | quote | backslash) & !word & HIGHS
}

/// The index of the byte of the lowest flag in `flags` (which is not 0).
#[inline]
fn first(flags: u64) -> usize {
    flags.trailing_zeros() as usize / 8
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Eight bytes at a time, the end of a plain string is found where a byte at a time
        /// finds it.
        #[test]
        fn string_len_is_the_bytewise_scan(
            bytes in proptest::collection::vec(
                prop_oneof![
                    30 => 0x20u8..0x7f,
                    1 => Just(b'"'),
                    1 => Just(b'\\'),
                    1 => 0u8..0x20,
                    6 => 0x80u8..=0xff,
                ],
                0..100,
            ),
            start in 0usize..8,
        ) {
            let bytes = &bytes[start.min(bytes.len())..];
            let bytewise = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            prop_assert_eq!(string_len(bytes), bytewise);
        }
    }

    /// Pieces of a string's text: plain runs, every escape (valid or not, surrogates among
    /// them), control characters, multi-byte characters, quotes.
    fn string_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                8 => "[a-z ]{1,20}",
                2 => Just("\\\"".to_owned()),
                2 => prop_oneof![
                    Just("\\\\"), Just("\\/"), Just("\\b"), Just("\\f"), Just("\\n"),
                    Just("\\r"), Just("\\t"), Just("\\x"), Just("\\"), Just("\\u12"),
                    Just("\\u00e9"), Just("\\u00E9"), Just("\\u0000"), Just("\\uffff"),
                    Just("\\ud83d\\ude00"), Just("\\ud800"), Just("\\udfff"), Just("\\u+123"),
                    Just("\\u12g4"),
                ]
                .prop_map(str::to_owned),
                1 => Just("\"".to_owned()),
                1 => (0u8..0x20).prop_map(|b| char::from(b).to_string()),
                2 => any::<char>().prop_map(String::from),
            ],
            0..12,
        )
        .prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// A string this reads is the string serde_json reads there, the same length; and
        /// one serde_json reads, this reads too unless it holds a surrogate's escape.
        #[test]
        fn strings_are_read_as_serde_json_reads_them(body in string_text(), after in "[,\\]} 1]{0,2}") {
            let text = format!("{body}\"{after}");
            let theirs = serde_json::Deserializer::from_str(&format!("\"{text}"))
                .into_iter::<serde_json::Value>()
                .next();
            match string(&text) {
                Some((value, len)) => {
                    let theirs = serde_json::from_str::<serde_json::Value>(&format!("\"{}", &text[..len]));
                    prop_assert_eq!(theirs.ok(), Some(serde_json::Value::String(value)));
                }
                None => {
                    // Only a surrogate's escape is left to serde_json while it takes it.
                    let surrogate = body.contains("\\ud");
                    prop_assert!(
                        surrogate || theirs.is_none_or(|r| r.is_err()),
                        "{body:?} not read"
                    );
                }
            }
        }
    }
}
