//! What the UI benchmarks share: a meeting with four peers, each showing a 640x480 test
//! pattern.

use std::sync::Arc;

use termmeet::call::mesh::{MeshState, PeerState};
use termmeet::media::pattern::{PatternStyle, TestPattern};
use termmeet_signaling::protocol::{PeerInfo, You};

/// Four peers `p0`..`p3`; peer `i` shows frame `frames[i]` of its own colour scheme.
pub fn four_peers(frames: [u32; 4]) -> MeshState {
    let mut m = MeshState {
        me: Some(You {
            id: "me".into(),
            name: "me".into(),
        }),
        connected: true,
        mic: true,
        cam: true,
        chat_enabled: true,
        ..Default::default()
    };
    for (i, frame) in frames.into_iter().enumerate() {
        let id = format!("p{i}");
        let info = PeerInfo::new(id.clone(), format!("peer{i}"));
        let mut p = PeerState::new_for_tests(info);
        p.latest_video = Some(Arc::new(
            TestPattern::new(640, 480, PatternStyle::hue(i))
                .frame(frame, 0)
                .to_rgb(),
        ));
        m.peers.insert(id, p);
    }
    m
}
