//! Text from other people made safe to draw, shared by the app (its notices) and the UI
//! (every panel), so neither has to import the other for it.

/// Text from other people, safe to draw: control characters (escape sequences included)
/// become visible placeholders instead of reaching the terminal.
pub fn safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{1b}' => '␛',
            '\n' | '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_made_visible() {
        assert_eq!(safe("\x1b]0;pwned\x07\x1b[2J"), "␛]0;pwned\u{fffd}␛[2J");
        assert_eq!(safe("a\nb"), "a b");
        assert_eq!(safe("ok ñ 🎉"), "ok ñ 🎉");
    }
}
