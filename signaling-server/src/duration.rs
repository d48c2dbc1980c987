//! Durations as people write them in flags and scripts: `500ms`, `2s`, `1m`, `1h`.

use std::time::Duration;

/// Parses `500ms`, `2s`, `1.5s`, `1m` or `1h`. A bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; write it like 500ms, 2s or 1m"))?;
    if !value.is_finite() || value < 0.0 || value * scale > 1e9 {
        return Err(format!(
            "{text:?} is out of range; durations are 0 or more, like 500ms, 2s or 1m"
        ));
    }
    Ok(Duration::from_secs_f64(value * scale))
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
