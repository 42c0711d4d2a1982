//! Scans shared by the reader and the writer: the end of a plain run of string bytes.

/// How many bytes of `bytes` stand before the first quote, backslash or control character (the
/// end of a plain string, or what makes it not plain); `None` if there is none. Eight bytes are
/// looked at a time, the last few too (the last eight bytes, again): a long argument is mostly
/// string, and most strings in records are short.
#[inline]
pub(super) fn string_len(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        if let Some(found) = first(special(u64::from_le_bytes(word))) {
            return Some(at + found);
        }
        at += 8;
    }
    let tail = chunks.remainder();
    if tail.is_empty() {
        return None;
    }
    if let Some(last) = bytes.last_chunk::<8>() {
        // The last eight bytes: those before the tail were looked at already and hold no
        // match (so none carries a false flag up), and their flags are dropped.
        let seen = 8 - tail.len();
        return first(special(u64::from_le_bytes(*last)) >> (8 * seen) << (8 * seen))
            .map(|found| at + found - seen);
    }
    // Fewer than eight bytes in all: one at a time, by a table.
    tail.iter().position(|&byte| SPECIAL[usize::from(byte)])
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
/// Each test is the classic "has a zero byte" trick: it flags a byte that matches, and may
/// falsely flag a byte above a match (a borrow carried up), never one below; so the lowest
/// flag of all three is a true match, and the first one.
fn special(word: u64) -> u64 {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    /// Flags (in the high bit) the zero bytes of `word`.
    fn zeros(word: u64) -> u64 {
        word.wrapping_sub(ONES) & !word
    }
    // A byte below 0x20 has none of the bits 0xE0 set: taking 0x20 from it borrows.
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = zeros(word ^ (ONES * u64::from(b'"')));
    let backslash = zeros(word ^ (ONES * u64::from(b'\\')));
    (control | quote | backslash) & HIGHS
}

/// The index of the byte of the lowest flag in `flags`, if any.
fn first(flags: u64) -> Option<usize> {
    (flags != 0).then(|| flags.trailing_zeros() as usize / 8)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
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
                0..80,
            ),
            start in 0usize..8,
        ) {
            let bytes = &bytes[start.min(bytes.len())..];
            let bytewise = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            prop_assert_eq!(string_len(bytes), bytewise);
        }
    }
}
