//! The little SDP the SFU's driver reads and writes: the stream and track ids (`a=msid`) of
//! each media section of a publisher's offer, and the same ids put into Janus's offers to
//! subscribers, so every participant sees a publisher's tracks under the ids it gave them
//! (its camera stream, its screen stream), as in the mesh. Janus would otherwise name them
//! after its own numbers.

use std::collections::HashMap;

/// A stream id and a track id.
pub type Msid = (String, String);

/// The sections of an SDP: the session part, then each `m=` section with its lines.
fn sections(sdp: &str) -> Vec<Vec<&str>> {
    let mut out = vec![Vec::new()];
    for line in sdp.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("m=") {
            out.push(Vec::new());
        }
        if let Some(last) = out.last_mut() {
            last.push(line);
        }
    }
    out
}

/// The `a=mid:` of a section.
fn mid_of<'a>(section: &[&'a str]) -> Option<&'a str> {
    section.iter().find_map(|l| l.strip_prefix("a=mid:"))
}

/// Each section's mid and its `a=msid` (stream and track), where it has one; a section
/// with only `a=ssrc:N msid:` lines gives those.
pub fn msids(sdp: &str) -> HashMap<String, Msid> {
    let mut out = HashMap::new();
    for section in sections(sdp).iter().skip(1) {
        let Some(mid) = mid_of(section) else {
            continue;
        };
        let msid = section.iter().find_map(|l| {
            l.strip_prefix("a=msid:").or_else(|| {
                l.strip_prefix("a=ssrc:")
                    .and_then(|rest| rest.split_once(" msid:").map(|(_, m)| m))
            })
        });
        if let Some((stream, track)) = msid.and_then(|m| m.trim().split_once(' ')) {
            out.insert(mid.to_string(), (stream.to_string(), track.to_string()));
        }
    }
    out
}

/// `sdp` with the sections named in `ids` (by mid) given those stream and track ids: their
/// own `a=msid` and `a=ssrc:N msid:` lines go, one `a=msid` goes after the `a=mid`. The
/// track id is prefixed with the stream id: two publishers may both call their camera
/// `camera`, and a peer connection tells its receivers apart by track id.
pub fn with_msids(sdp: &str, ids: &HashMap<String, Msid>) -> String {
    let mut out = String::with_capacity(sdp.len() + 64 * ids.len());
    for section in sections(sdp) {
        let id = mid_of(&section).and_then(|mid| ids.get(mid));
        for line in section {
            if id.is_some() && (line.starts_with("a=msid:") || is_ssrc_msid(line)) {
                continue;
            }
            out.push_str(line);
            out.push_str("\r\n");
            if let (Some((stream, track)), true) = (id, line.starts_with("a=mid:")) {
                out.push_str(&format!("a=msid:{stream} {stream}-{track}\r\n"));
            }
        }
    }
    out
}

fn is_ssrc_msid(line: &str) -> bool {
    line.starts_with("a=ssrc:") && line.contains(" msid:")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=msid:cam-ab12 mic\r\na=ssrc:11 cname:x\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:1\r\na=ssrc:22 cname:x\r\na=ssrc:22 msid:cam-ab12 camera\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n";

    #[test]
    fn reads_the_ids_of_each_section() {
        let ids = msids(OFFER);
        assert_eq!(ids["0"], ("cam-ab12".to_string(), "mic".to_string()));
        assert_eq!(ids["1"], ("cam-ab12".to_string(), "camera".to_string()));
        assert!(!ids.contains_key("2"));
    }

    #[test]
    fn writes_ids_into_the_named_sections_only() {
        let janus = "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:3\r\na=msid:janus janus3\r\n\
            a=ssrc:9 msid:janus janus3\r\na=ssrc:9 cname:janus\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:4\r\n";
        let ids = HashMap::from([("3".to_string(), ("screen-1".to_string(), "s".to_string()))]);
        let out = with_msids(janus, &ids);
        assert!(
            out.contains("a=mid:3\r\na=msid:screen-1 screen-1-s\r\n"),
            "{out}"
        );
        assert!(!out.contains("janus janus3"), "{out}");
        assert!(out.contains("a=ssrc:9 cname:janus"));
        assert!(out.contains("a=mid:4\r\n"));
        assert_eq!(msids(&out)["3"].0, "screen-1");
    }
}
