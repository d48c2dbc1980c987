//! Removing what a terminal would act on from text that came over the network.
//!
//! Names and chat text end up drawn in other people's terminals. Control characters (C0, C1,
//! DEL), whole escape sequences (CSI, OSC, DCS and the like) and bidirectional overrides are
//! removed, so that `"\x1b]0;pwned\x07"` cannot retitle a window and nothing can move the
//! cursor or reorder what is shown.

use crate::limits::MAX_NAME_CHARS;

/// Whether `c` is a bidirectional embedding, override or isolate control.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Removes escape sequences and control characters; keeps `\n` when `keep_newline`,
/// and turns tabs into spaces.
pub fn strip_terminal_controls(input: &str, keep_newline: bool) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI, OSC, DCS, SOS, PM, APC introduce sequences just as ESC [ and ESC ] do.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' if keep_newline => out.push('\n'),
            '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string(chars),
        // Two-character sequences (ESC c, ESC 7 …): the one character is dropped too.
        _ => {}
    }
}

/// CSI: parameters and intermediates up to a final byte in `@`..=`~`.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
        if !(('\u{20}'..='\u{3f}').contains(&c)) {
            // Not a valid CSI body: stop here and drop the odd character too.
            return;
        }
    }
}

/// OSC, DCS and friends: a string ended by BEL, ST (ESC \) or C1 ST.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{07}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

/// A display name as the server keeps it: no controls, trimmed, 1 to 32 characters.
/// `None` when nothing usable is left or it is too long.
pub fn sanitize_name(name: &str) -> Option<String> {
    let clean = strip_terminal_controls(name, false);
    let trimmed = clean.trim();
    let len = trimmed.chars().count();
    (1..=MAX_NAME_CHARS)
        .contains(&len)
        .then(|| trimmed.to_string())
}

/// Chat text as the server keeps it: no controls but newlines, trimmed at the ends.
pub fn sanitize_chat_text(text: &str) -> String {
    strip_terminal_controls(text, true).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(strip_terminal_controls(input, true), expected, "{input:?}");
    }

    #[test]
    fn strips_sequences() {
        check("plain", "plain");
        check("\x1b]0;pwned\x07\x1b[2J", "");
        check("a\x1b[31mred\x1b[0mb", "aredb");
        check("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb");
        check("bell\x07 del\x7f c1\u{85}", "bell del c1");
        check("line\nbreak\r\n", "line\nbreak\n");
        check("tab\there", "tab here");
        check("\u{202E}evil", "evil");
        check("\u{9b}2Jcsi", "csi");
        check("unterminated \x1b]0;title", "unterminated ");
        check("emoji 🎉 and ñ", "emoji 🎉 and ñ");
    }

    #[test]
    fn names() {
        assert_eq!(sanitize_name("  alice \n"), Some("alice".into()));
        assert_eq!(sanitize_name("\x1b]0;pwned\x07\x1b[2J"), None);
        assert_eq!(sanitize_name("\x1b[1mbob\x1b[0m"), Some("bob".into()));
        assert_eq!(sanitize_name(&"x".repeat(32)), Some("x".repeat(32)));
        assert_eq!(sanitize_name(&"x".repeat(33)), None);
        assert_eq!(sanitize_name(""), None);
    }
}
