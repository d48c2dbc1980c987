//! Large letters for a name where a camera is off: a 3x5 pixel font drawn with half blocks,
//! so each letter takes 3 columns (plus one of space) and the whole name 3 rows.

/// Glyphs, five rows of three pixels each, `#` on. Letters are matched case-insensitively.
const GLYPHS: &[(char, [&str; 5])] = &[
    ('A', [".#.", "#.#", "###", "#.#", "#.#"]),
    ('B', ["##.", "#.#", "##.", "#.#", "##."]),
    ('C', [".##", "#..", "#..", "#..", ".##"]),
    ('D', ["##.", "#.#", "#.#", "#.#", "##."]),
    ('E', ["###", "#..", "##.", "#..", "###"]),
    ('F', ["###", "#..", "##.", "#..", "#.."]),
    ('G', [".##", "#..", "#.#", "#.#", ".##"]),
    ('H', ["#.#", "#.#", "###", "#.#", "#.#"]),
    ('I', ["###", ".#.", ".#.", ".#.", "###"]),
    ('J', ["..#", "..#", "..#", "#.#", ".#."]),
    ('K', ["#.#", "#.#", "##.", "#.#", "#.#"]),
    ('L', ["#..", "#..", "#..", "#..", "###"]),
    ('M', ["#.#", "###", "###", "#.#", "#.#"]),
    ('N', ["##.", "#.#", "#.#", "#.#", "#.#"]),
    ('O', [".#.", "#.#", "#.#", "#.#", ".#."]),
    ('P', ["##.", "#.#", "##.", "#..", "#.."]),
    ('Q', [".#.", "#.#", "#.#", "##.", ".##"]),
    ('R', ["##.", "#.#", "##.", "#.#", "#.#"]),
    ('S', [".##", "#..", ".#.", "..#", "##."]),
    ('T', ["###", ".#.", ".#.", ".#.", ".#."]),
    ('U', ["#.#", "#.#", "#.#", "#.#", "###"]),
    ('V', ["#.#", "#.#", "#.#", "#.#", ".#."]),
    ('W', ["#.#", "#.#", "###", "###", "#.#"]),
    ('X', ["#.#", "#.#", ".#.", "#.#", "#.#"]),
    ('Y', ["#.#", "#.#", ".#.", ".#.", ".#."]),
    ('Z', ["###", "..#", ".#.", "#..", "###"]),
    ('0', ["###", "#.#", "#.#", "#.#", "###"]),
    ('1', [".#.", "##.", ".#.", ".#.", "###"]),
    ('2', ["##.", "..#", ".#.", "#..", "###"]),
    ('3', ["##.", "..#", ".#.", "..#", "##."]),
    ('4', ["#.#", "#.#", "###", "..#", "..#"]),
    ('5', ["###", "#..", "##.", "..#", "##."]),
    ('6', [".##", "#..", "###", "#.#", "###"]),
    ('7', ["###", "..#", ".#.", ".#.", ".#."]),
    ('8', ["###", "#.#", "###", "#.#", "###"]),
    ('9', ["###", "#.#", "###", "..#", "##."]),
    (' ', ["...", "...", "...", "...", "..."]),
    ('-', ["...", "...", "###", "...", "..."]),
    ('_', ["...", "...", "...", "...", "###"]),
    ('.', ["...", "...", "...", "...", ".#."]),
];

fn glyph(c: char) -> Option<&'static [&'static str; 5]> {
    let c = c.to_ascii_uppercase();
    GLYPHS.iter().find(|(g, _)| *g == c).map(|(_, rows)| rows)
}

/// Columns `text` takes in large letters.
pub fn width(text: &str) -> usize {
    let n = text.chars().count();
    if n == 0 {
        0
    } else {
        n * 4 - 1
    }
}

/// `text` in large letters: three lines of half blocks, or `None` when a character has no
/// glyph (the caller shows the name as plain text then).
pub fn render(text: &str) -> Option<[String; 3]> {
    let glyphs: Vec<_> = text.chars().map(glyph).collect::<Option<_>>()?;
    let mut lines: [String; 3] = Default::default();
    for (i, g) in glyphs.iter().enumerate() {
        for (row, line) in lines.iter_mut().enumerate() {
            if i > 0 {
                line.push(' ');
            }
            let top = g[row * 2].as_bytes();
            let bottom = g.get(row * 2 + 1).map(|r| r.as_bytes());
            for x in 0..3 {
                let t = top[x] == b'#';
                let b = bottom.is_some_and(|r| r[x] == b'#');
                line.push(match (t, b) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
        }
    }
    Some(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_in_half_blocks() {
        let [a, b, c] = render("Hi").unwrap();
        assert_eq!(a, "█ █ ▀█▀");
        assert_eq!(b, "█▀█  █ ");
        assert_eq!(c, "▀ ▀ ▀▀▀");
        assert_eq!(width("Hi"), 7);
        assert_eq!(a.chars().count(), 7);
    }

    #[test]
    fn names_outside_the_font_are_left_to_plain_text() {
        assert!(render("José").is_none());
        assert!(render("\u{1b}[2J").is_none());
        assert_eq!(
            render("").unwrap(),
            [String::new(), String::new(), String::new()]
        );
    }

    #[test]
    fn every_glyph_is_three_by_five() {
        for (c, rows) in GLYPHS {
            assert!(rows.iter().all(|r| r.len() == 3), "{c}");
        }
    }
}
