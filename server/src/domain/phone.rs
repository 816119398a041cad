//! Phone numbers as the city receives them: `09121234567`, `9121234567`,
//! `+98 912 123 4567`, `0098-912-123-4567`, in Latin, Persian (`۰۹۱۲…`) or Arabic-Indic
//! digits. [`normalise`] reads any of them (a number without a country code is Iranian)
//! into E.164 (`+989121234567`) with Google's libphonenumber rules (the `phonenumber`
//! crate, which carries their metadata), so one person's number is one string however
//! it was typed: what contacts store, what an SMS is sent to, what the call centre's
//! lookup hashes. [`normalise_mobile`] also requires a mobile number (SMS).

use phonenumber::country::Id;
use phonenumber::{Mode, Type};

/// Why a phone number is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Not a phone number at all.
    #[error("{0:?} is not a phone number")]
    Unreadable(String),
    /// Readable, but no number in use has this shape.
    #[error("{0:?} is not a valid phone number")]
    Invalid(String),
    /// Valid, but not a mobile number (no SMS can reach it).
    #[error("{0:?} is not a mobile number")]
    NotMobile(String),
}

/// The longest input looked at (a number with spaces, dashes and a prefix).
const MAX_INPUT: usize = 40;

/// Persian and Arabic-Indic digits as ASCII; every other character as it is.
pub fn ascii_digits(input: &str) -> String {
    input
        .chars()
        .map(|c| match c {
            '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
            '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
            c => c,
        })
        .collect()
}

fn parse(input: &str) -> Result<phonenumber::PhoneNumber, PhoneError> {
    let shown: String = input.chars().take(MAX_INPUT).collect();
    if input.chars().count() > MAX_INPUT {
        return Err(PhoneError::Unreadable(shown));
    }
    let ascii = ascii_digits(input.trim());
    // libphonenumber reads letters as a keypad's digits (`0912-CALL-ME`); no one in the
    // city gives a number that way, and a letter is far likelier a typing slip.
    if ascii.chars().any(char::is_alphabetic) {
        return Err(PhoneError::Unreadable(shown));
    }
    // `00` is the international prefix in Iran and most of the world.
    let ascii = match ascii.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => ascii,
    };
    let n = phonenumber::parse(Some(Id::IR), &ascii)
        .map_err(|_| PhoneError::Unreadable(shown.clone()))?;
    if !n.is_valid() {
        return Err(PhoneError::Invalid(shown));
    }
    Ok(n)
}

/// Any valid phone number, in E.164.
pub fn normalise(input: &str) -> Result<String, PhoneError> {
    let n = parse(input)?;
    Ok(n.format().mode(Mode::E164).to_string())
}

/// A valid mobile number, in E.164.
pub fn normalise_mobile(input: &str) -> Result<String, PhoneError> {
    let n = parse(input)?;
    match n.number_type(&phonenumber::metadata::DATABASE) {
        Type::Mobile | Type::FixedLineOrMobile => Ok(n.format().mode(Mode::E164).to_string()),
        _ => Err(PhoneError::NotMobile(
            input.chars().take(MAX_INPUT).collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iranian_mobile_formats_are_one_number() {
        for s in [
            "09121234567",
            "9121234567",
            "+989121234567",
            "+98 912 123 4567",
            "0098-912-123-4567",
            "۰۹۱۲۱۲۳۴۵۶۷",
            "٠٩١٢١٢٣٤٥٦٧",
        ] {
            assert_eq!(normalise_mobile(s).as_deref(), Ok("+989121234567"), "{s}");
        }
    }

    #[test]
    fn landlines_foreign_numbers_and_junk() {
        // A Tehran landline: valid, not a mobile.
        assert_eq!(normalise("021 8888 1234").as_deref(), Ok("+982188881234"));
        assert!(matches!(
            normalise_mobile("02188881234"),
            Err(PhoneError::NotMobile(_))
        ));
        // A UK mobile with its country code.
        assert_eq!(
            normalise_mobile("+44 7400 123456").as_deref(),
            Ok("+447400123456")
        );
        assert!(matches!(
            normalise("0912"),
            Err(PhoneError::Invalid(_) | PhoneError::Unreadable(_))
        ));
        assert!(matches!(normalise("hello"), Err(PhoneError::Unreadable(_))));
        assert!(matches!(
            normalise("0912-CALL-ME"),
            Err(PhoneError::Unreadable(_))
        ));
        assert!(matches!(
            normalise("0912 123 45 6 7 x"),
            Err(PhoneError::Unreadable(_))
        ));
        assert!(normalise("<b>0912</b>").is_err());
        assert!(matches!(
            normalise(&"9".repeat(10_000)),
            Err(PhoneError::Unreadable(_))
        ));
    }
}
