//! The one folding of place names and queries, so that the ways people type a Persian or
//! English name meet in one search key. Pure; stored keys (`places.key_fa`, `key_en`)
//! and every query go through [`normalize`], so changing it means re-importing places.
//!
//! What it does, in order:
//! 1. Unicode NFKD: Arabic presentation forms (old PDFs, some keyboards) become the base
//!    letters, letters with marks split into letter + mark (آ → ا + madda, أ/إ → ا +
//!    hamza, ؤ → و + hamza, ئ → ي + hamza, ۀ → ە + hamza, é → e + acute).
//! 2. Marks dropped: Arabic diacritics (fatha, kasra, damma, tanwin, shadda, sukun,
//!    superscript alef) and Latin accents alike.
//! 3. Letter variants folded to the Persian letter: Arabic yeh ي and alef maksura ى → ی;
//!    Arabic kaf ك → ک; teh marbuta ة, ە and heh goal ہ → ه; alef wasla ٱ → ا.
//! 4. Removed outright (not a word break): zero-width non-joiner and joiner (ZWNJ is
//!    typed, or not, between the parts of one word: «می‌دان» and «میدان»), tatweel ـ,
//!    the standalone hamza ء (spelt or not: «جزء»/«جز»), bidi controls, BOM, soft hyphen.
//! 5. Persian ۰–۹ and Arabic-Indic ٠–٩ digits → ASCII 0–9.
//! 6. Lower case.
//! 7. Anything that is not a letter or digit (spaces, punctuation, «،», «-», «(»…) is a
//!    word break; breaks collapse to one ASCII space, none at either end.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Folds `text` into its search key (see the module documentation). The result holds
/// only lower-case letters, ASCII digits and single spaces between words.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // A break seen since the last letter or digit, written only before the next one.
    let mut pending_break = false;
    for c in text.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        let c = match c {
            // Arabic yeh, alef maksura, and the yeh forms of other Arabic-script
            // languages a name may be typed with.
            '\u{064A}' | '\u{0649}' | '\u{06D0}' | '\u{06CD}' => 'ی',
            // Arabic kaf, and keheh's Arabic twin.
            '\u{0643}' | '\u{06AA}' => 'ک',
            // Teh marbuta, ae (ۀ decomposes to it), heh goal (ۂ decomposes to it).
            '\u{0629}' | '\u{06D5}' | '\u{06C1}' => 'ه',
            // Alef wasla (no decomposition).
            '\u{0671}' => 'ا',
            // ZWNJ, ZWJ, tatweel, hamza, LRM, RLM, ALM, bidi embeddings and isolates,
            // BOM, soft hyphen, word joiner: dropped without a break.
            '\u{200C}'
            | '\u{200D}'
            | '\u{0640}'
            | '\u{0621}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{00AD}'
            | '\u{2060}' => continue,
            // Persian and Arabic-Indic digits.
            '\u{06F0}'..='\u{06F9}' => ascii_digit(c, 0x06F0),
            '\u{0660}'..='\u{0669}' => ascii_digit(c, 0x0660),
            c => c,
        };
        if !c.is_alphanumeric() {
            pending_break = true;
            continue;
        }
        if pending_break && !out.is_empty() {
            out.push(' ');
        }
        pending_break = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// The ASCII digit of `c`, a digit of the block starting at `zero`.
fn ascii_digit(c: char, zero: u32) -> char {
    char::from_digit(u32::from(c).saturating_sub(zero), 10).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn arabic_yeh_and_kaf_fold_to_persian() {
        assert_eq!(normalize("علي"), "علی");
        assert_eq!(normalize("مصطفى"), "مصطفی");
        assert_eq!(normalize("كوچه"), "کوچه");
        assert_eq!(normalize("پارك ملي"), normalize("پارک ملی"));
    }

    #[test]
    fn heh_variants_fold() {
        assert_eq!(normalize("مدرسة"), "مدرسه");
        // ۀ as one code point, and as ه + hamza above.
        assert_eq!(normalize("خانۀ هنر"), "خانه هنر");
        assert_eq!(normalize("خانهٔ هنر"), "خانه هنر");
    }

    #[test]
    fn alef_and_hamza_forms_fold() {
        assert_eq!(normalize("آزادی"), "ازادی");
        assert_eq!(normalize("أمير"), "امیر");
        assert_eq!(normalize("إمام"), "امام");
        assert_eq!(normalize("ٱلله"), "الله");
        assert_eq!(normalize("مؤسسه"), "موسسه");
        assert_eq!(normalize("پائیز"), "پاییز");
        assert_eq!(normalize("جزء"), "جز");
    }

    #[test]
    fn zwnj_and_tatweel_are_removed_not_breaks() {
        assert_eq!(normalize("می\u{200C}دان"), "میدان");
        assert_eq!(normalize("میـــدان"), "میدان");
        assert_eq!(normalize("\u{200F}میدان\u{200E}"), "میدان");
        assert_eq!(normalize("\u{FEFF}park"), "park");
    }

    #[test]
    fn digits_become_ascii() {
        assert_eq!(normalize("کوچه ۱۲"), "کوچه 12");
        assert_eq!(normalize("کوچه ١٢"), "کوچه 12");
        assert_eq!(normalize("Alley 12"), "alley 12");
        assert_eq!(normalize("۰۱۲۳۴۵۶۷۸۹"), "0123456789");
    }

    #[test]
    fn diacritics_are_stripped() {
        assert_eq!(normalize("مُحَمَّد"), "محمد");
        assert_eq!(normalize("كِتابٌ"), "کتاب");
        assert_eq!(normalize("Café Nádir"), "cafe nadir");
    }

    #[test]
    fn case_folds_and_presentation_forms_decompose() {
        assert_eq!(normalize("VALIASR Street"), "valiasr street");
        // Isolated and final presentation forms of ک/ی/ل-ا, as some PDFs carry them.
        assert_eq!(normalize("\u{FEDB}\u{FEEE}\u{FEA0}\u{FEEA}"), "کوجه");
        assert_eq!(normalize("\u{FEFB}"), "لا");
    }

    #[test]
    fn punctuation_and_spaces_are_one_break() {
        assert_eq!(
            normalize("  خیابان   ولیعصر (عج)، شمالی  "),
            "خیابان ولیعصر عج شمالی"
        );
        assert_eq!(normalize("Valiasr-St."), "valiasr st");
        assert_eq!(normalize("a\t\nb"), "a b");
    }

    #[test]
    fn nothing_left_is_empty() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("   "), "");
        assert_eq!(normalize("\u{200C}ـ ،؟!"), "");
    }

    #[test]
    fn idempotent() {
        for s in ["خیابان ولي‌عصر ۱۲", "Café  NÁDIR", "مدرسة ﻻله", "آزادی"]
        {
            let once = normalize(s);
            assert_eq!(normalize(&once), once, "{s}");
        }
    }
}
