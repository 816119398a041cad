//! Crockford's base 32, the one codec of every code people read out and type back:
//! tracking codes (`domain::citizen::codes`) and receipt codes
//! (`domain::integrity::receipt`).
//!
//! Symbols are `0-9` and the letters but `I`, `L`, `O` and `U`, written upper case and
//! shown in groups of four (`K7QM-4XPD-2RJW`). Reading forgives what people do when they
//! copy a code from paper or a phone call: lower case, dashes and spaces anywhere, `O`
//! for zero, `I` and `L` for one, and digits typed on a Persian or Arabic keyboard
//! (`۰`–`۹`, `٠`–`٩`: a Persian phone types these, and the code is read aloud in
//! Persian). This is the one place a typed code is folded: the tracking page and API,
//! the desk's lookup and the receipt page all read codes through [`read`]. The bit packing and the translations are
//! `data-encoding`'s (big-endian bit order, no padding).

use data_encoding::{Encoding, Specification};
use std::sync::LazyLock;

/// The 32 symbols, in value order.
pub const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static CODEC: LazyLock<Encoding> = LazyLock::new(|| {
    let mut spec = Specification::new();
    spec.symbols.push_str(ALPHABET);
    spec.translate.from.push_str("abcdefghjkmnpqrstvwxyzoOiIlL");
    spec.translate.to.push_str("ABCDEFGHJKMNPQRSTVWXYZ001111");
    #[allow(clippy::expect_used)] // A constant specification, checked by the tests.
    spec.encoding()
        .expect("Crockford's base 32 is a valid data-encoding specification")
});

/// The symbols of `bytes`, big-endian bit order (5 bytes make 8 symbols).
pub fn encode(bytes: &[u8]) -> String {
    CODEC.encode(bytes)
}

/// Fills `out` from canonical `symbols` (as [`read`] gives them); `None` unless they are
/// exactly `out.len()` bytes' worth, with no bits left over.
pub fn decode(symbols: &str, out: &mut [u8]) -> Option<()> {
    if CODEC.decode_len(symbols.len()).ok()? != out.len() {
        return None;
    }
    CODEC.decode_mut(symbols.as_bytes(), out).ok().map(|_| ())
}

/// Reads a code as typed into its canonical symbols (dashes and white space dropped,
/// case and look-alikes forgiven); `None` if any other character is not a symbol.
pub fn read(typed: &str) -> Option<String> {
    // Sized for the whole input, so a secret code is never copied by a reallocation.
    let mut out = String::with_capacity(typed.len());
    for c in typed.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = ascii_digit(c);
        let value = CODEC.interpret_byte(u8::try_from(c).ok()?).is_symbol()?;
        out.push(char::from(*ALPHABET.as_bytes().get(value)?));
    }
    Some(out)
}

/// `c` as an ASCII digit when it is a Persian (`۰`–`۹`) or Arabic-Indic (`٠`–`٩`)
/// digit, else `c`.
fn ascii_digit(c: char) -> char {
    let zero = match c {
        '\u{06F0}'..='\u{06F9}' => 0x06F0,
        '\u{0660}'..='\u{0669}' => 0x0660,
        _ => return c,
    };
    char::from_digit(u32::from(c) - zero, 10).unwrap_or(c)
}

/// Symbols as people read them: groups of four joined by dashes.
pub fn grouped(symbols: &str) -> String {
    let mut out = String::with_capacity(symbols.len() + symbols.len() / 4);
    for (i, c) in symbols.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// `n` random symbols (5 random bits each).
pub fn random(n: usize) -> String {
    let mut bytes = vec![0u8; (n * 5).div_ceil(8)];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let mut symbols = encode(&bytes);
    symbols.truncate(n);
    symbols
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_big_endian() {
        // 0x00 0x44 0x32 0x14 0xC7: 00000 00001 00010 00011 00100 00101 00110 00111.
        assert_eq!(encode(&[0x00, 0x44, 0x32, 0x14, 0xC7]), "01234567");
        assert_eq!(encode(&[0xFF; 5]), "ZZZZZZZZ");
        let mut out = [0u8; 5];
        decode("01234567", &mut out).unwrap();
        assert_eq!(out, [0x00, 0x44, 0x32, 0x14, 0xC7]);
        assert!(decode("0123456", &mut out).is_none());
        assert!(decode("012345678", &mut out).is_none());
        assert!(decode("0123456U", &mut out).is_none());
    }

    #[test]
    fn reading_forgives_typing() {
        assert_eq!(read("oooo-iiii-llll").as_deref(), Some("000011111111"));
        assert_eq!(
            read(" k7qm 4xpd\u{a0}2rjw\n").as_deref(),
            Some("K7QM4XPD2RJW")
        );
        assert_eq!(read("").as_deref(), Some(""));
        // Persian and Arabic-Indic digits, lower case: the code of a Persian keyboard.
        assert_eq!(read("k۷qm-۴xpd-۲rjw").as_deref(), Some("K7QM4XPD2RJW"));
        assert_eq!(read("K٧QM ٤XPD ٢RJW").as_deref(), Some("K7QM4XPD2RJW"));
        assert_eq!(read("۰۱۲۳۴۵۶۷۸۹").as_deref(), Some("0123456789"));
        assert_eq!(read("٠١٢٣٤٥٦٧٨٩").as_deref(), Some("0123456789"));
        // Other scripts' digits and letters are no symbols.
        for bad in ["ABCU", "AB_C", "ABC\u{0967}", "ÄÄÄÄ", "ABCک"] {
            assert_eq!(read(bad), None, "{bad}");
        }
    }

    #[test]
    fn groups_of_four() {
        assert_eq!(grouped("K7QM4XPD2RJW"), "K7QM-4XPD-2RJW");
        assert_eq!(grouped("K7QM4"), "K7QM-4");
        assert_eq!(grouped(""), "");
    }

    #[test]
    fn random_codes_use_every_symbol() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let s = random(12);
            assert_eq!(s.len(), 12);
            assert_eq!(read(&s).as_deref(), Some(s.as_str()));
            seen.extend(s.chars());
        }
        assert_eq!(seen.len(), 32);
    }
}
