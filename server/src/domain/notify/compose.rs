//! The words of a notification, in the language the citizen filed in (Persian or
//! English): one short text per public status change, the tracking link, the after
//! photo's link for a completion, and the unsubscribe link every message carries.

use crate::base::crockford;

/// What a message says, before it is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// The subject (e-mail).
    pub subject: String,
    /// The text (e-mail body; the SMS).
    pub body: String,
    /// The language.
    pub lang: &'static str,
    /// The status text alone, one line (a Web Push notification's text).
    pub line: String,
    /// The tracking page's link.
    pub link: String,
}

/// What a notification is about.
#[derive(Debug, Clone)]
pub struct About<'a> {
    /// The public status change: `received`, `assigned`, `completed`, `reopened`,
    /// `merged`, `cancelled`, `answered`.
    pub event: &'a str,
    /// `fa` or `en` (anything else: Persian, the city's language).
    pub lang: &'a str,
    /// The citizen's tracking code, normalised.
    pub code: &'a str,
    /// The server's public base URL, no trailing `/`.
    pub base_url: &'a str,
    /// The after photo's public URL path (`/api/v1/photos/…`) of a completion.
    pub after_photo: Option<&'a str>,
    /// The task's title.
    pub title: &'a str,
}

/// Persian digits for a Persian text's numbers (the code stays Latin: it is typed).
fn fa_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(0x06F0 + (c as u32 - '0' as u32)).unwrap_or(c),
            c => c,
        })
        .collect()
}

/// Composes the message; `None` for an event no citizen is told of.
pub fn compose(a: &About<'_>) -> Option<Composed> {
    let code = crockford::grouped(a.code);
    let track = format!("{}/track/{}", a.base_url, a.code);
    let stop = format!("{}/track/{}/unsubscribe", a.base_url, a.code);
    let photo = a.after_photo.map(|p| format!("{}{p}", a.base_url));
    let title: String = a.title.chars().take(80).collect();
    if a.lang == "en" {
        let (subject, line) = match a.event {
            "received" => (
                "Report received",
                format!(
                    "We received your report \u{201c}{title}\u{201d}. Your tracking code is {code}."
                ),
            ),
            "assigned" => (
                "A crew is on it",
                format!("A crew is on your report \u{201c}{title}\u{201d}."),
            ),
            "completed" => (
                "Reported fixed",
                format!(
                    "Your report \u{201c}{title}\u{201d} was fixed. Not fixed? Say so on the tracking page."
                ),
            ),
            "reopened" => (
                "Report reopened",
                format!(
                    "Your report \u{201c}{title}\u{201d} was reopened and goes back to a crew."
                ),
            ),
            "merged" => (
                "Merged with another report",
                format!(
                    "Your report \u{201c}{title}\u{201d} was merged with another report of the same problem; your code follows it."
                ),
            ),
            "cancelled" => (
                "Report closed",
                format!(
                    "Your report \u{201c}{title}\u{201d} was closed without work. The tracking page says why."
                ),
            ),
            "answered" => (
                "The city answered",
                format!("The city answered your message \u{201c}{title}\u{201d}."),
            ),
            _ => return None,
        };
        let mut body = format!("{line}\n\nFollow it: {track}\n");
        if let Some(p) = &photo {
            body.push_str(&format!("After photo: {p}\n"));
        }
        body.push_str(&format!(
            "\nTehran 137 \u{2014} tracking code {code}\nNo more messages: {stop}\n"
        ));
        return Some(Composed {
            subject: format!("137: {subject} ({code})"),
            body,
            lang: "en",
            line,
            link: track,
        });
    }
    let (subject, line) = match a.event {
        "received" => (
            "گزارش دریافت شد",
            format!("گزارش شما «{title}» دریافت شد. کد پیگیری شما {code} است."),
        ),
        "assigned" => (
            "یک گروه در حال رسیدگی است",
            format!("یک گروه به گزارش شما «{title}» رسیدگی می‌کند."),
        ),
        "completed" => (
            "رفع شد",
            format!("گزارش شما «{title}» رفع شد. اگر رفع نشده، در صفحهٔ پیگیری بگویید."),
        ),
        "reopened" => (
            "گزارش دوباره باز شد",
            format!("گزارش شما «{title}» دوباره باز شد و به گروه برمی‌گردد."),
        ),
        "merged" => (
            "با گزارش دیگری یکی شد",
            format!(
                "گزارش شما «{title}» با گزارش دیگری از همین مشکل یکی شد؛ کد شما همان را دنبال می‌کند."
            ),
        ),
        "cancelled" => (
            "گزارش بسته شد",
            format!("گزارش شما «{title}» بدون انجام کار بسته شد. دلیلش در صفحهٔ پیگیری است."),
        ),
        "answered" => (
            "پاسخ شهرداری",
            format!("شهرداری به پیام شما «{title}» پاسخ داد."),
        ),
        _ => return None,
    };
    let mut body = format!("{line}\n\nپیگیری: {track}\n");
    if let Some(p) = &photo {
        body.push_str(&format!("عکس پس از کار: {p}\n"));
    }
    body.push_str(&format!(
        "\nسامانهٔ {} تهران — کد پیگیری {code}\nلغو پیام‌ها: {stop}\n",
        fa_digits("137")
    ));
    Some(Composed {
        subject: format!("{}: {subject} ({code})", fa_digits("137")),
        body,
        lang: "fa",
        line,
        link: track,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about<'a>(event: &'a str, lang: &'a str) -> About<'a> {
        About {
            event,
            lang,
            code: "ABCD2345EFGH",
            base_url: "https://137.example",
            after_photo: Some("/api/v1/photos/ab/display"),
            title: "Pothole",
        }
    }

    #[test]
    fn every_event_in_both_languages_carries_the_links() {
        for event in [
            "received",
            "assigned",
            "completed",
            "reopened",
            "merged",
            "cancelled",
            "answered",
        ] {
            for lang in ["fa", "en"] {
                let m = compose(&about(event, lang)).unwrap();
                assert!(
                    m.body.contains("https://137.example/track/ABCD2345EFGH"),
                    "{event} {lang}"
                );
                assert!(
                    m.body.contains("/track/ABCD2345EFGH/unsubscribe"),
                    "{event} {lang}"
                );
                assert!(m.subject.contains("ABCD-2345-EFGH"), "{event} {lang}");
            }
        }
        assert!(
            compose(&about("completed", "en"))
                .unwrap()
                .body
                .contains("After photo: https://137.example/api/v1/photos/ab/display")
        );
        assert!(
            compose(&about("completed", "fa"))
                .unwrap()
                .subject
                .starts_with("۱۳۷")
        );
        assert_eq!(compose(&about("xx", "fa")), None);
        // Anything but English is Persian, the city's language.
        assert_eq!(compose(&about("received", "de")).unwrap().lang, "fa");
    }
}
