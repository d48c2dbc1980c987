//! The short code that lets two people check their media path. Media is encrypted peer to
//! peer (DTLS-SRTP), but the signaling server relays the SDP and could swap the DTLS
//! fingerprints in it to sit in the middle. Both ends derive six digits from the two
//! fingerprints, in an order that does not depend on who is who; read out and compared,
//! equal codes mean the keys are the ones the two ends really hold. The page derives the
//! same code the same way (`web/app.js`).

use sha2::{Digest, Sha256};

/// The first `a=fingerprint:` of an SDP, normalised: the hash name in lower case, the hex in
/// upper case (`sha-256 AB:CD:…`).
pub fn fingerprint(sdp: &str) -> Option<String> {
    sdp.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("a=fingerprint:")?;
        let (hash, hex) = rest.trim().split_once(' ')?;
        Some(format!(
            "{} {}",
            hash.to_ascii_lowercase(),
            hex.trim().to_ascii_uppercase()
        ))
    })
}

/// The code for a connection whose two SDPs are `local` and `remote`: `"123 456"`. The
/// SHA-256 of both fingerprints, sorted and joined by a newline; its first four bytes, big
/// endian, modulo a million.
pub fn short_code(local: &str, remote: &str) -> Option<String> {
    let (a, b) = (fingerprint(local)?, fingerprint(remote)?);
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let digest = Sha256::digest(format!("{first}\n{second}").as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000;
    Some(format!("{:03} {:03}", n / 1000, n % 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "v=0\r\na=fingerprint:SHA-256 ab:cd:ef\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
    const B: &str = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=fingerprint:sha-256 01:02:03\r\n";

    #[test]
    fn both_ends_get_the_same_code() {
        assert_eq!(fingerprint(A).as_deref(), Some("sha-256 AB:CD:EF"));
        let code = short_code(A, B).unwrap();
        assert_eq!(short_code(B, A).as_deref(), Some(code.as_str()));
        assert_eq!(code.len(), 7);
        // Computed independently: the first 4 bytes of
        // sha256("sha-256 01:02:03\nsha-256 AB:CD:EF"), big endian, mod 1e6.
        assert_eq!(code, "791 067");
    }

    #[test]
    fn a_swapped_fingerprint_changes_the_code() {
        let mitm = B.replace("01:02:03", "01:02:04");
        assert_ne!(short_code(A, B), short_code(A, &mitm));
        assert_eq!(short_code(A, "v=0\r\n"), None);
    }
}
