//! Scans shared by the reader and the writer: the end of a plain run of string bytes, and a
//! string read with its usual escapes decoded.

/// How many bytes of `bytes` stand before the first quote, backslash or control character (the
/// end of a plain string, or what makes it not plain); `None` if there is none.
///
/// The first sixteen bytes are looked at as two words (most keys and most strings in records
/// end in them); the next up to [`RAMP`] sixteen at a time (a line of text between two
/// escapes ends in them); the rest of a long run in blocks of 64. Sixteen bytes or a block are
/// looked at by [`plain`] (which the compiler makes vector instructions of: sixteen bytes in
/// about ten, 64 in about 30), and the first that is not plain is searched for the byte by
/// its [`pair`] of words. Fewer than sixteen left at the end are looked at in the last sixteen
/// (overlapping those before them, which hold no match).
#[inline]
pub(super) fn string_len(bytes: &[u8]) -> Option<usize> {
    let Some(head) = bytes.first_chunk::<16>() else {
        return short_len(bytes);
    };
    if let Some(at) = pair(head) {
        return Some(at);
    }
    let mut at = 16;
    while at < RAMP {
        match bytes.get(at..at + 16) {
            Some(lane) if plain::<16>(lane) => at += 16,
            Some(lane) => return Some(at + pair(lane.first_chunk::<16>()?)?),
            None => return last_len(bytes, at),
        }
    }
    long_len(bytes, at)
}

/// [`string_len`] of a long run, from `at` (the bytes before it hold no match): 64 bytes at a
/// time, then sixteen, then the last few.
fn long_len(bytes: &[u8], mut at: usize) -> Option<usize> {
    while let Some(block) = bytes.get(at..at + BLOCK) {
        if !plain::<BLOCK>(block) {
            return Some(at + first_in(block)?);
        }
        at += BLOCK;
    }
    while let Some(lane) = bytes.get(at..at + 16) {
        if !plain::<16>(lane) {
            return Some(at + pair(lane.first_chunk::<16>()?)?);
        }
        at += 16;
    }
    last_len(bytes, at)
}

/// The end of [`string_len`]: the bytes before `at` (sixteen or more, and fewer than sixteen
/// after it) hold no match, so the first match in the last sixteen is the first of all.
#[inline]
fn last_len(bytes: &[u8], at: usize) -> Option<usize> {
    if at >= bytes.len() {
        return None;
    }
    let from = bytes.len().checked_sub(16)?;
    Some(from + pair(bytes.last_chunk::<16>()?)?)
}

/// The bytes [`string_len`] looks at in one block of a long run.
const BLOCK: usize = 64;

/// Up to where [`string_len`] looks at sixteen bytes at a time before it takes blocks: a block
/// that is not plain costs a search of its sixteens after it, which runs of up to a line or two
/// of text (the usual distance between two escapes) are spared.
const RAMP: usize = 16 + 2 * BLOCK;

/// Whether none of the `N` bytes of `block` (16 or 64; `block` has that length) is a quote, a
/// backslash or a control character.
///
/// Written for the compiler to turn into vector instructions (SSE2, the x86-64 baseline): a
/// byte's [`key`] is 0 exactly when it is one of those; the keys of the bytes 16 apart are
/// folded by their minimum into 16 lanes, and the block is plain if no lane is 0. (Written
/// otherwise, as a fold over all the bytes or with the rows in the outer loop, the compiler
/// makes far slower code of it.)
#[inline(always)]
fn plain<const N: usize>(block: &[u8]) -> bool {
    let Ok(block) = <&[u8; N]>::try_from(block) else {
        return false;
    };
    let mut lanes = [0; 16];
    for (i, lane) in lanes.iter_mut().enumerate() {
        *lane = (16..N)
            .step_by(16)
            .fold(key(block[i]), |min, row| min.min(key(block[row + i])));
    }
    !lanes.iter().fold(false, |zero, &lane| zero | (lane == 0))
}

/// 0 for a quote, a backslash or a control character, more than 0 for any other byte: in
/// three operations that have a vector form. `byte ^ 0x02` is at most 0x20 exactly for the
/// control characters (0x00–0x1f, among themselves) and the quote (0x22 → 0x20); the
/// backslash is the 0 of `byte ^ b'\\'`.
#[inline(always)]
fn key(byte: u8) -> u8 {
    (byte ^ 0x02).saturating_sub(0x20).min(byte ^ b'\\')
}

/// Where the first quote, backslash or control character of `block` stands (its length is a
/// multiple of sixteen): the first sixteen bytes that are not [`plain`], then their [`pair`]
/// of words; `None` if it holds none.
#[inline]
fn first_in(block: &[u8]) -> Option<usize> {
    let mut at = 0;
    for bytes in block.chunks_exact(16) {
        if !plain::<16>(bytes) {
            return Some(at + pair(bytes.first_chunk::<16>()?)?);
        }
        at += 16;
    }
    None
}

/// [`string_len`] of fewer than sixteen bytes: eight at a time, then the last few (the last
/// eight bytes, again); fewer than eight as the word of their first four and last four.
#[inline]
fn short_len(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    let mut rest = bytes;
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
    if let (Some(low), Some(high)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        // Four to seven bytes: the first four and the last four (overlapping) as one word.
        // Its high half flags nothing falsely unless its low half flags a match, which is
        // then the first.
        let flags = special(
            u64::from(u32::from_le_bytes(*low)) | u64::from(u32::from_le_bytes(*high)) << 32,
        );
        return (flags != 0).then(|| match first(flags) {
            index @ 0..4 => index,
            index => index + bytes.len() - 8,
        });
    }
    // Fewer than four bytes in all: one at a time, by a table.
    rest.iter().position(|&byte| SPECIAL[usize::from(byte)])
}

/// The JSON string whose text (after the opening quote) starts `text`: its value, and how many
/// bytes it takes (the closing quote included). Plain runs are found by [`string_len`] and
/// copied whole; the escapes `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t` and a `\u`
/// of a character outside the surrogates are decoded. `None` for anything else (a control
/// character, another escape, a surrogate's `\u` (paired or lone), no closing quote): left to
/// `serde_json`, which decides, so what is taken here is only what it takes the same way.
///
/// A string with escapes grows as it is decoded; past [`GROWN`] bytes it is given room at once
/// for the rest of `text` (an upper bound of what is left of it), and what it did not use is
/// given back at its end if that is more than [`GROWN`] and an eighth of the string. (A little
/// room is kept: shrinking a large block costs a call to the system, and glibc, seeing it
/// freed at its shrunk size, maps the next string of the same text anew, a page fault every
/// 4 KiB, where a block freed at the size asked for is reused.)
pub(super) fn string(text: &str) -> Option<(String, usize)> {
    let bytes = text.as_bytes();
    let mut pos = string_len(bytes)?;
    if bytes[pos] == b'"' {
        return Some((text.get(..pos)?.to_owned(), pos + 1));
    }
    let mut value = String::from(text.get(..pos)?);
    let mut sized = false;
    loop {
        // `pos` stands on an ASCII byte (a quote, a backslash or a control character), so
        // the slices taken here fall on character boundaries.
        match bytes[pos] {
            b'"' => {
                let spare = value.capacity() - value.len();
                if sized && spare > GROWN && spare > value.len() / 8 {
                    value.shrink_to_fit();
                }
                return Some((value, pos + 1));
            }
            b'\\' => {}
            _ => return None,
        }
        let escaped = *bytes.get(pos + 1)?;
        match UNESCAPED[usize::from(escaped)] {
            0 if escaped == b'u' => {
                let code = hex4(bytes.get(pos + 2..pos + 6)?)?;
                // A surrogate (paired or not) is left to serde_json.
                value.push(char::from_u32(code)?);
                pos += 6;
            }
            0 => return None,
            short => {
                value.push(char::from(short));
                pos += 2;
            }
        }
        let run = string_len(bytes.get(pos..)?)?;
        if !sized && value.len() >= GROWN && value.capacity() - value.len() < run {
            // A long string: room at once for all the text that is left, which holds the rest
            // of it, rather than growing it by doubling (each time a copy, and in fresh pages).
            sized = true;
            value.reserve_exact(bytes.len() - pos);
        }
        value.push_str(text.get(pos..pos + run)?);
        pos += run;
    }
}

/// The short escapes of a JSON string, as `serde_json` writes them: each character and the
/// letter after its backslash. (Read, `\/` stands for `/` too; it is never written.)
const SHORT_ESCAPES: [(u8, u8); 7] = [
    (b'"', b'"'),
    (b'\\', b'\\'),
    (0x08, b'b'),
    (0x0c, b'f'),
    (b'\n', b'n'),
    (b'\r', b'r'),
    (b'\t', b't'),
];

/// What each byte after a backslash stands for in a JSON string ([`SHORT_ESCAPES`] and `\/`);
/// 0 for `u` (four hex digits follow) and for the bytes that make no escape.
static UNESCAPED: [u8; 256] = {
    let mut table = escape_table(true);
    table[b'/' as usize] = b'/';
    table
};

/// The letter after the backslash of each byte's short escape ([`SHORT_ESCAPES`]); 0 for the
/// other control characters (written `\u00XX`) and for the bytes that are not escaped.
pub(super) static ESCAPED: [u8; 256] = escape_table(false);

/// [`SHORT_ESCAPES`] as a table: indexed by the letter, holding the character (`reading`), or
/// indexed by the character, holding the letter; 0 elsewhere.
const fn escape_table(reading: bool) -> [u8; 256] {
    let mut table = [0; 256];
    let mut i = 0;
    while i < SHORT_ESCAPES.len() {
        let (character, letter) = SHORT_ESCAPES[i];
        if reading {
            table[letter as usize] = character;
        } else {
            table[character as usize] = letter;
        }
        i += 1;
    }
    table
}

/// The length up to which [`string`] grows a string with escapes by doubling, and the room
/// left unused past which it gives back what it reserved beyond (the text after the string,
/// when that is long).
const GROWN: usize = 4096;

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

/// Where the first quote, backslash or control character of sixteen bytes stands, looked at
/// as two words; `None` if there is none.
#[inline(always)]
fn pair(bytes: &[u8; 16]) -> Option<usize> {
    let (low, high) = bytes.split_at(8);
    let low = special(word(low));
    let high = special(word(high));
    if low | high == 0 {
        None
    } else if low != 0 {
        Some(first(low))
    } else {
        Some(8 + first(high))
    }
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
/// Each test is the classic "has a zero byte" trick, `(x - 0x01…) & !x & 0x80…`, here as
/// "has a byte below n", `(x - n…) & !x & 0x80…`: it flags a byte that matches, and may
/// falsely flag a byte above a match (a borrow carried up), never one below; so the lowest flag
/// of both is a true match, and the first one. `word ^ 0x02…` maps the control characters
/// (0x00–0x1f) among themselves and the quote (0x22) to 0x20, and no other byte below 0x21:
/// its bytes below 0x21 are the control characters and the quote. The backslash is a zero of
/// `word ^ 0x5c…`. As neither xor touches the high bit, `!x`'s high bits are those of
/// `!word` in both, so that factor is taken once (eight operations in all).
#[inline]
fn special(word: u64) -> u64 {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let control_or_quote = (word ^ (ONES * 0x02)).wrapping_sub(ONES * 0x21);
    let backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
    (control_or_quote | backslash) & !word & HIGHS
}

/// The flags of [`special`] in the first eight bytes of `bytes` (the lowest exact: the first
/// quote, backslash or control character there); `None` if it has fewer than eight.
#[inline(always)]
pub(super) fn word_flags(bytes: &[u8]) -> Option<u64> {
    Some(special(u64::from_le_bytes(*bytes.first_chunk::<8>()?)))
}

/// How many of the first eight bytes of `bytes` are ASCII digits before the first that is not
/// (eight if all are); `None` if it has fewer than eight.
///
/// Each byte xor `'0'` is at most 9 exactly for a digit; one above 9 is flagged by its high
/// bit: set in it already (0x80 and above), or set by adding 0x76 to its low seven bits (which
/// carries nothing into the next byte).
#[inline(always)]
pub(super) fn leading_digits(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    let x = u64::from_le_bytes(*bytes.first_chunk::<8>()?) ^ (ONES * u64::from(b'0'));
    let above = (((x & (ONES * 0x7f)) + ONES * 0x76) | x) & (ONES * 0x80);
    Some(if above == 0 { 8 } else { first(above) })
}

/// The index of the byte of the lowest flag in `flags` (which is not 0).
#[inline]
pub(super) fn first(flags: u64) -> usize {
    flags.trailing_zeros() as usize / 8
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Up to `len` bytes: printable ASCII (`ascii` in every `ascii + high + 3`), bytes of
    /// multi-byte characters (`high`), and one each of a quote, a backslash and a control
    /// character.
    fn run_bytes(ascii: u32, high: u32, len: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                ascii => 0x20u8..0x7f,
                1 => Just(b'"'),
                1 => Just(b'\\'),
                1 => 0u8..0x20,
                high => 0x80u8..=0xff,
            ],
            0..len,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Eight bytes at a time, the end of a plain string is found where a byte at a time
        /// finds it.
        #[test]
        fn string_len_is_the_bytewise_scan(
            bytes in run_bytes(30, 6, 100),
            start in 0usize..8,
        ) {
            let bytes = &bytes[start.min(bytes.len())..];
            let bytewise = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            prop_assert_eq!(string_len(bytes), bytewise);
        }
    }

    /// The end of a plain string as a byte at a time finds it.
    fn bytewise(bytes: &[u8]) -> Option<usize> {
        bytes
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
    }

    /// Every byte value at every place of a word of digits (and of other bytes): the digits
    /// before it are counted as a byte at a time counts them; and `word_flags`' first flag is
    /// the first quote, backslash or control character.
    #[test]
    fn leading_digits_and_word_flags_are_the_bytewise_scans() {
        for background in [*b"12345678", *b"abcdefgh", *b"9\xff0\x80/:0 "] {
            for at in 0..8 {
                for byte in 0..=u8::MAX {
                    let mut word = background;
                    word[at] = byte;
                    let digits = word.iter().take_while(|b| b.is_ascii_digit()).count();
                    assert_eq!(leading_digits(&word), Some(digits), "{word:?}");
                    let flags = word_flags(&word).unwrap();
                    let found = (flags != 0).then(|| first(flags));
                    assert_eq!(found, bytewise(&word), "{word:?}");
                }
            }
        }
        assert_eq!(leading_digits(b"1234567"), None);
        assert_eq!(word_flags(b"abc"), None);
    }

    /// Two bytes of the kinds near the edges of [`special`]'s tests (below, at and above the
    /// control characters, the quote and the backslash, and high bytes) at every two places of
    /// a word: its first flag is the first quote, backslash or control character, whatever a
    /// match below carries up into the bytes above it.
    #[test]
    fn word_flags_first_flag_is_exact_with_two_bytes_anywhere() {
        let kinds: Vec<u8> = (0x00..=0x24)
            .chain([
                0x5b, 0x5c, 0x5d, 0x7d, 0x7f, 0x80, 0x81, 0xa2, 0xdc, 0xff, b'a',
            ])
            .collect();
        for low in 0..8 {
            for high in low + 1..8 {
                for &a in &kinds {
                    for &b in &kinds {
                        let mut word = *b"abcdefgh";
                        word[low] = a;
                        word[high] = b;
                        let flags = word_flags(&word).unwrap();
                        let found = (flags != 0).then(|| first(flags));
                        assert_eq!(found, bytewise(&word), "{word:?}");
                    }
                }
            }
        }
    }

    /// Bytes next to the three kinds that end a plain run (and those kinds), for
    /// [`string_len_finds_every_byte_at_every_place`].
    const NEAR: [u8; 24] = [
        0x00, 0x01, 0x02, 0x08, 0x0a, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x2f, 0x5b, 0x5c, 0x5d, 0x5e,
        0x7f, 0x80, 0x9f, 0xa0, 0xa2, 0xdc, 0xe2, 0xfe, 0xff,
    ];

    /// A byte at every place of every length up to 48 and of the lengths around each edge up
    /// to past the first block (sixteen bytes as words, the sixteens up to [`RAMP`], a block,
    /// the overlapping last sixteen), amid plain ASCII and amid two-byte UTF-8, alone and with
    /// a second match at the end; every byte value at every place of two lengths.
    #[test]
    fn string_len_finds_every_byte_at_every_place() {
        let edges = [
            16,
            32,
            48,
            64,
            80,
            128,
            RAMP,
            RAMP + 16,
            RAMP + BLOCK,
            RAMP + BLOCK + 16,
        ];
        let lengths = (0..=48).chain(edges.into_iter().flat_map(|edge| edge - 1..=edge + 1));
        for background in [&b"ab"[..], "é".as_bytes()] {
            for len in lengths.clone() {
                let plain: Vec<u8> = background.iter().copied().cycle().take(len).collect();
                assert_eq!(string_len(&plain), None, "len {len}");
                let every = background == b"ab" && [17, 100].contains(&len);
                for at in 0..len {
                    let bytes: Box<dyn Iterator<Item = u8>> = if every {
                        Box::new(0..=u8::MAX)
                    } else {
                        Box::new(NEAR.into_iter())
                    };
                    for byte in bytes {
                        let mut bytes = plain.clone();
                        bytes[at] = byte;
                        let found = string_len(&bytes);
                        assert_eq!(found, bytewise(&bytes), "len {len}, {byte:#x} at {at}");
                        bytes[len - 1] = b'"';
                        let found = string_len(&bytes);
                        assert_eq!(
                            found,
                            bytewise(&bytes),
                            "len {len}, {byte:#x} at {at}, then '\"'"
                        );
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Long runs (through the ramp and into blocks, at any alignment) end where a byte at
        /// a time finds their end.
        #[test]
        fn long_string_len_is_the_bytewise_scan(
            bytes in run_bytes(400, 100, 1200),
            start in 0usize..80,
        ) {
            let bytes = &bytes[start.min(bytes.len())..];
            prop_assert_eq!(string_len(bytes), bytewise(bytes));
        }
    }

    /// Pieces of a string's text: plain runs (as `runs` makes them), every escape (valid or
    /// not, surrogates among them), control characters, multi-byte characters, quotes.
    fn string_text(runs: &'static str) -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                8 => runs,
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

    /// A string [`string`] reads is the string serde_json reads there, the same length; and
    /// one serde_json reads, it reads too unless it holds a surrogate's escape.
    fn read_as_serde_json_reads(body: &str, after: &str) -> Result<(), TestCaseError> {
        let text = format!("{body}\"{after}");
        let theirs = serde_json::Deserializer::from_str(&format!("\"{text}"))
            .into_iter::<serde_json::Value>()
            .next();
        match string(&text) {
            Some((value, len)) => {
                let theirs =
                    serde_json::from_str::<serde_json::Value>(&format!("\"{}", &text[..len]));
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
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Short strings are read as serde_json reads them.
        #[test]
        fn strings_are_read_as_serde_json_reads_them(
            body in string_text("[a-z ]{1,20}"),
            after in "[,\\]} 1]{0,2}",
        ) {
            read_as_serde_json_reads(&body, &after)?;
        }
    }

    /// Strings with escapes past the length where `string` reserves at once for the rest of
    /// the text: read as serde_json reads them, followed by little or by much (what they did
    /// not use given back, unless it is little beside them), with the escapes dense or far
    /// apart, ending at every place around the edge.
    #[test]
    fn long_escaped_strings_are_read_whole() {
        for (line, lines) in [
            ("a\\n", 2000),
            ("lorem ipsum café\\t", 300),
            ("x\\u00e9", 1000),
        ] {
            for extra in [0, 1, 7, 100] {
                let body = format!("{}{}", line.repeat(lines), "z".repeat(extra));
                for after in ["", "]", &format!(",{}", "1".repeat(GROWN * 3))] {
                    let text = format!("{body}\"{after}");
                    let (value, len) = string(&text).expect("read");
                    assert_eq!(len, body.len() + 1);
                    let theirs: String = serde_json::from_str(&format!("\"{}", &text[..len]))
                        .expect("serde_json reads it");
                    assert_eq!(value, theirs);
                    let spare = value.capacity() - value.len();
                    assert!(spare <= GROWN.max(value.len() / 8), "kept room");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Long strings (plain runs through the sixteens and into blocks, with multi-byte
        /// characters at any place) are read as serde_json reads them.
        #[test]
        fn long_strings_are_read_as_serde_json_reads_them(
            body in string_text("[a-zé ]{1,300}"),
            after in "[,\\]} 1]{0,2}",
        ) {
            read_as_serde_json_reads(&body, &after)?;
        }
    }
}
