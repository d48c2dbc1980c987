//! Reading the words of a line: quoted text, durations, `on`/`off`, numbers and key
//! escapes, each error saying how to write it.

use std::time::Duration;

use termmeet_signaling::duration::parse_duration;

/// Splits a line into words; `"double quoted"` words may hold spaces and `\"`.
pub(super) fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' {
            chars.next();
            let mut word = String::new();
            loop {
                match chars.next() {
                    Some('\\') => word.extend(chars.next()),
                    Some('"') => break,
                    Some(c) => word.push(c),
                    None => return Err("a quoted text is not closed with \"".into()),
                }
            }
            out.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

/// A duration like `500ms`; `what` names the command in the error.
pub(super) fn duration(word: Option<&String>, what: &str) -> Result<Duration, String> {
    let word = word.ok_or_else(|| format!("{what} needs a duration, like 2s"))?;
    parse_duration(word)
}

/// `on` or `off`; `what` names the command in the error.
pub(super) fn on_off(word: Option<&String>, what: &str) -> Result<bool, String> {
    match word.map(String::as_str) {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        other => Err(format!("write `{what} on` or `{what} off`, not {other:?}")),
    }
}

/// A number of any kind; `what` names it in the error.
pub(super) fn number<T: std::str::FromStr>(word: Option<&String>, what: &str) -> Result<T, String> {
    let word = word.ok_or_else(|| format!("{what} needs a number"))?;
    word.parse()
        .map_err(|_| format!("{word:?} is not a number ({what})"))
}

/// Keys as a script writes them: `\r`, `\n`, `\t`, `\e` (escape) and `\\`.
pub(super) fn unescape_keys(text: &str) -> Result<Vec<u8>, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('r') => '\r',
            Some('n') => '\n',
            Some('t') => '\t',
            Some('e') => '\u{1b}',
            Some('\\') => '\\',
            Some(c) => {
                return Err(format!(
                    "\\{c} is not a key escape (use \\r \\n \\t \\e \\\\)"
                ))
            }
            None => return Err("a key escape is cut short at the end of the line".into()),
        });
    }
    Ok(out.into_bytes())
}
