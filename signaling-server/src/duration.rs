//! Durations as people write them in flags and scripts: `500ms`, `2s`, `1m`, `1h30m`
//! (`humantime`), plus what scripts have always taken: a bare number of seconds and a
//! decimal with one unit (`1.5s`).

use std::time::Duration;

/// Parses `500ms`, `2s`, `1m`, `1h30m` or `1.5s`. A bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let out_of_range =
        || format!("{text:?} is out of range; durations are 0 or more, like 500ms, 2s or 1m");
    let checked = |d: Duration| {
        if d.as_secs_f64() > 1e9 {
            Err(out_of_range())
        } else {
            Ok(d)
        }
    };
    if let Ok(d) = humantime::parse_duration(t) {
        return checked(d);
    }
    // What humantime leaves out: a bare number, or a decimal with one unit.
    let (number, scale) = [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)]
        .iter()
        .find_map(|(unit, scale)| t.strip_suffix(unit).map(|n| (n, *scale)))
        .unwrap_or((t, 1.0));
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; write it like 500ms, 2s or 1m"))?;
    if !value.is_finite() || value < 0.0 || value * scale > 1e9 {
        return Err(out_of_range());
    }
    checked(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases = [
            ("500ms", 500),
            ("2s", 2000),
            ("1.5s", 1500),
            ("1m", 60_000),
            ("3", 3000),
            ("0s", 0),
            ("1h30m", 5_400_000),
            ("2min", 120_000),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_millis(ms),
                "{text}"
            );
        }
        for bad in ["", "s", "-1s", "abc", "1x", "NaNs", "1e300s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
