//! Real pixels by kitty's graphics protocol (kitty, WezTerm, Ghostty, Konsole): an RGB
//! picture to the escape sequences that transmit and place it, zlib-compressed and sent in
//! base64 chunks of at most 4096 bytes, as the protocol's documentation asks. Each frame
//! replaces the last under the same image and placement ids, so nothing flickers or piles
//! up, and the cursor does not move (`C=1`), so the screen never scrolls. Pure.

use std::io::Write as _;

use base64::Engine as _;

/// The most base64 bytes one escape sequence may carry.
pub const CHUNK: usize = 4096;

/// The image id frames are sent under.
pub const IMAGE_ID: u32 = 1;

/// The sequences that draw `rgb` (`width` x `height`, 3 bytes a pixel) at the cursor.
/// Empty when the picture is empty or shorter than its size says.
pub fn encode(rgb: &[u8], width: usize, height: usize) -> Vec<u8> {
    encode_as(rgb, width, height, IMAGE_ID)
}

/// The sequences that delete image `id` and its placements (a tile that is gone).
pub fn delete(id: u32) -> Vec<u8> {
    format!("\x1b_Ga=d,d=I,i={id},q=2\x1b\\").into_bytes()
}

/// As [`encode`], under image id `id` (one a tile), replacing what that id showed.
pub fn encode_as(rgb: &[u8], width: usize, height: usize, id: u32) -> Vec<u8> {
    if width == 0 || height == 0 || rgb.len() < width * height * 3 {
        return Vec::new();
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let compressed = match z
        .write_all(&rgb[..width * height * 3])
        .and_then(|_| z.finish())
    {
        Ok(c) => c,
        Err(_) => return Vec::new(),
    };
    let text = base64::engine::general_purpose::STANDARD.encode(compressed);
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(CHUNK).collect();
    let mut out = Vec::with_capacity(text.len() + chunks.len() * 16 + 64);
    for (k, chunk) in chunks.iter().enumerate() {
        let more = u8::from(k + 1 < chunks.len());
        if k == 0 {
            // Transmit and place, 24-bit RGB, zlib, quiet (no answers to read), the cursor
            // left where it is.
            let _ = write!(
                out,
                "\x1b_Ga=T,f=24,o=z,s={width},v={height},i={id},p=1,z=-1,q=2,C=1,m={more};"
            );
        } else {
            let _ = write!(out, "\x1b_Gm={more};");
        }
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\x1b\\");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    /// Parses what `encode` wrote as kitty's documentation describes the protocol: the
    /// control keys of the first sequence, and the picture the chunks carry.
    fn parse(bytes: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
        let text = std::str::from_utf8(bytes).unwrap();
        let mut keys = Vec::new();
        let mut payload = String::new();
        let sequences: Vec<&str> = text.split("\x1b\\").filter(|s| !s.is_empty()).collect();
        for (k, seq) in sequences.iter().enumerate() {
            let body = seq.strip_prefix("\x1b_G").expect("an APC G sequence");
            let (control, data) = body.split_once(';').unwrap();
            assert!(data.len() <= CHUNK, "a chunk of {} bytes", data.len());
            let pairs: Vec<(String, String)> = control
                .split(',')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect();
            let m = pairs
                .iter()
                .find(|(k, _)| k == "m")
                .map(|(_, v)| v.as_str());
            let last = k + 1 == sequences.len();
            assert_eq!(m, Some(if last { "0" } else { "1" }), "m= on sequence {k}");
            if k == 0 {
                keys = pairs;
            } else {
                assert_eq!(pairs.len(), 1, "later chunks carry only m=");
            }
            payload.push_str(data);
        }
        let compressed = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .unwrap();
        let mut rgb = Vec::new();
        flate2::read::ZlibDecoder::new(&compressed[..])
            .read_to_end(&mut rgb)
            .unwrap();
        (keys, rgb)
    }

    #[test]
    fn a_picture_goes_in_chunks_and_comes_back_whole() {
        // Noise does not compress: many chunks.
        let mut next = crate::render::grid::test_bytes(11);
        let (w, h) = (97, 61);
        let rgb: Vec<u8> = (0..w * h * 3).map(|_| next()).collect();
        let bytes = encode(&rgb, w, h);
        let (keys, back) = parse(&bytes);
        assert_eq!(back, rgb);
        let key = |k: &str| keys.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        for (k, v) in [("a", "T"), ("f", "24"), ("o", "z"), ("q", "2"), ("C", "1")] {
            assert_eq!(key(k).as_deref(), Some(v), "{k}");
        }
        assert_eq!(key("s"), Some(w.to_string()));
        assert_eq!(key("v"), Some(h.to_string()));
        assert!(bytes.len() > 4 * CHUNK, "several chunks");
        // A flat picture is one.
        let flat = encode(&vec![40; 64 * 32 * 3], 64, 32);
        assert_eq!(parse(&flat).1, vec![40; 64 * 32 * 3]);
        assert_eq!(flat.windows(3).filter(|w| w == b"\x1b_G").count(), 1);
        assert!(encode(&[], 0, 0).is_empty());
        assert!(encode(&[0; 5], 2, 2).is_empty());
    }
}
