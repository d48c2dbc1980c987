//! Subscribing to what is shown: each participant says whose cameras it draws (`view`), and
//! the other cameras' sections of its subscription are paused at Janus (`configure` with
//! `send: false`), without a renegotiation. Audio and screens are always sent. Janus asks
//! the publisher for a keyframe when a section is resumed. Also what a subscription lacks
//! and asks Janus for: a new feed whole, a feed's new sections alone.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use super::SfuRoom;
use crate::sfu::janus::JanusError;
use crate::sfu::sdp::Msid;

/// One section of a subscription: whose feed, which of the feed's sections, and whether it
/// is video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Section {
    pub(super) feed: u64,
    pub(super) feed_mid: String,
    pub(super) video: bool,
}

/// A paused section, named by its mid and what it carries: Janus may give a mid again to
/// another feed, which then starts unpaused.
type Paused = (String, u64, String);

/// A publisher as the view sees it: its id and its screen's stream id.
pub(super) struct Publisher<'a> {
    pub(super) id: &'a str,
    pub(super) screen: Option<&'a str>,
}

/// What a subscription lacks, as Janus's `subscribe` takes it: every stream of a feed it
/// does not take yet (the feeds returned too), and the streams a feed it takes has gained
/// since (a screen added). Asking Janus for a whole feed again would give its old streams a
/// second section each, under the same stream and track ids, which Chromium refuses
/// ("Duplicate a=msid lines").
pub(super) fn missing_streams(
    subscribed: &BTreeSet<u64>,
    streams: &HashMap<String, Section>,
    feed_ids: &HashMap<u64, HashMap<String, Msid>>,
    published: &BTreeSet<u64>,
) -> (Vec<u64>, Vec<Value>) {
    let mut new_feeds = Vec::new();
    let mut wanted = Vec::new();
    for &feed in published {
        if !subscribed.contains(&feed) {
            new_feeds.push(feed);
            wanted.push(json!({"feed": feed}));
            continue;
        }
        let taken: BTreeSet<&str> = streams
            .values()
            .filter(|s| s.feed == feed)
            .map(|s| s.feed_mid.as_str())
            .collect();
        let mut offered: Vec<&String> = feed_ids
            .get(&feed)
            .into_iter()
            .flat_map(|m| m.keys())
            .collect();
        offered.sort();
        for mid in offered.into_iter().filter(|m| !taken.contains(m.as_str())) {
            wanted.push(json!({"feed": feed, "mid": mid}));
        }
    }
    (new_feeds, wanted)
}

/// The sections to pause: the video of every camera whose publisher is not in `view`.
/// A section is a screen when its stream id is the one its publisher announced.
pub(super) fn to_pause<'a>(
    streams: &HashMap<String, Section>,
    view: Option<&BTreeSet<String>>,
    publisher: impl Fn(u64) -> Option<Publisher<'a>>,
    feed_ids: &HashMap<u64, HashMap<String, Msid>>,
) -> BTreeSet<Paused> {
    let Some(view) = view else {
        return BTreeSet::new();
    };
    streams
        .iter()
        .filter(|(_, s)| s.video)
        .filter(|(_, s)| {
            let Some(p) = publisher(s.feed) else {
                return false;
            };
            let stream = feed_ids
                .get(&s.feed)
                .and_then(|ids| ids.get(&s.feed_mid))
                .map(|(stream, _)| stream.as_str());
            let screen = stream.is_some() && stream == p.screen;
            !screen && !view.contains(p.id)
        })
        .map(|(mid, s)| (mid.clone(), s.feed, s.feed_mid.clone()))
        .collect()
}

impl SfuRoom {
    /// What `peer`'s subscription lacks (see [`missing_streams`]).
    pub(super) fn missing_streams(
        &self,
        peer: &str,
        published: &BTreeSet<u64>,
    ) -> (Vec<u64>, Vec<Value>) {
        match self.seats.get(peer) {
            Some(seat) => {
                missing_streams(&seat.subscribed, &seat.streams, &self.feed_ids, published)
            }
            None => (Vec::new(), Vec::new()),
        }
    }

    /// Pauses and resumes `peer`'s subscription's sections to match its view. Nothing is
    /// done while an offer of ours waits for its answer: the answer applies it.
    pub(super) async fn apply_view(&mut self, peer: &str) -> Result<(), JanusError> {
        let Some(seat) = self.seats.get(peer) else {
            return Ok(());
        };
        let Some(handle) = seat.subscriber.filter(|_| !seat.awaiting_answer) else {
            return Ok(());
        };
        let publisher = |feed: u64| {
            self.seats
                .iter()
                .find(|(_, s)| s.feed == feed)
                .map(|(id, s)| Publisher {
                    id: id.as_str(),
                    screen: s.screen.as_deref(),
                })
        };
        let wanted = to_pause(&seat.streams, seat.view.as_ref(), publisher, &self.feed_ids);
        let current: BTreeSet<Paused> = seat
            .paused
            .iter()
            .filter(|(mid, feed, feed_mid)| {
                seat.streams
                    .get(mid)
                    .is_some_and(|s| s.feed == *feed && s.feed_mid == *feed_mid)
            })
            .cloned()
            .collect();
        let changes: Vec<Value> = wanted
            .difference(&current)
            .map(|(mid, ..)| json!({"mid": mid, "send": false}))
            .chain(
                current
                    .difference(&wanted)
                    .map(|(mid, ..)| json!({"mid": mid, "send": true})),
            )
            .collect();
        if changes.is_empty() {
            if let Some(seat) = self.seats.get_mut(peer) {
                seat.paused = wanted;
            }
            return Ok(());
        }
        tracing::debug!(room = %self.name, %peer, ?changes, "SFU: view");
        let request = json!({"request": "configure", "streams": changes});
        self.janus
            .message(handle, "following the view", request, None)
            .await?;
        if let Some(seat) = self.seats.get_mut(peer) {
            seat.paused = wanted;
        }
        Ok(())
    }

    /// Every participant's view again (a screen started or stopped, a feed left).
    pub(super) async fn apply_views(&mut self) -> Result<(), JanusError> {
        let peers: Vec<String> = self.seats.keys().cloned().collect();
        for peer in peers {
            self.apply_view(&peer).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(feed: u64, feed_mid: &str, video: bool) -> Section {
        Section {
            feed,
            feed_mid: feed_mid.into(),
            video,
        }
    }

    fn ids(entries: &[(u64, &str, &str)]) -> HashMap<u64, HashMap<String, Msid>> {
        let mut out: HashMap<u64, HashMap<String, Msid>> = HashMap::new();
        for (feed, mid, stream) in entries {
            out.entry(*feed)
                .or_default()
                .insert(mid.to_string(), (stream.to_string(), "t".into()));
        }
        out
    }

    #[test]
    fn only_cameras_outside_the_view_are_paused() {
        // Feed 1 is alice (camera and screen), feed 2 bob (camera), both with audio.
        let streams: HashMap<String, Section> = [
            ("0", section(1, "0", false)),
            ("1", section(1, "1", true)),
            ("2", section(1, "2", true)),
            ("3", section(2, "0", false)),
            ("4", section(2, "1", true)),
        ]
        .into_iter()
        .map(|(m, s)| (m.to_string(), s))
        .collect();
        let feed_ids = ids(&[
            (1, "0", "cam-alice"),
            (1, "1", "cam-alice"),
            (1, "2", "screen-alice"),
            (2, "0", "cam-bob"),
            (2, "1", "cam-bob"),
        ]);
        let publisher = |feed: u64| match feed {
            1 => Some(Publisher {
                id: "alice",
                screen: Some("screen-alice"),
            }),
            2 => Some(Publisher {
                id: "bob",
                screen: None,
            }),
            _ => None,
        };
        assert!(to_pause(&streams, None, publisher, &feed_ids).is_empty());
        let view: BTreeSet<String> = ["bob".to_string()].into();
        let paused = to_pause(&streams, Some(&view), publisher, &feed_ids);
        assert_eq!(paused, [("1".to_string(), 1, "1".to_string())].into());
        let nobody = BTreeSet::new();
        let paused = to_pause(&streams, Some(&nobody), publisher, &feed_ids);
        let mids: Vec<&str> = paused.iter().map(|(m, ..)| m.as_str()).collect();
        assert_eq!(mids, ["1", "4"]);
    }

    #[test]
    fn a_subscription_takes_new_feeds_whole_and_only_the_new_sections_of_others() {
        let msid = |s: &str| (s.to_string(), "t".to_string());
        let feed_ids = HashMap::from([
            (
                1,
                HashMap::from([
                    ("0".into(), msid("cam-a")),
                    ("1".into(), msid("cam-a")),
                    ("2".into(), msid("screen-a")),
                ]),
            ),
            (2, HashMap::from([("0".into(), msid("cam-b"))])),
        ]);
        let streams = HashMap::from([
            ("0".to_string(), section(1, "0", false)),
            ("1".to_string(), section(1, "1", true)),
        ]);
        let subscribed = BTreeSet::from([1]);
        let (new, wanted) =
            missing_streams(&subscribed, &streams, &feed_ids, &BTreeSet::from([1, 2]));
        assert_eq!(new, vec![2]);
        assert_eq!(
            wanted,
            vec![json!({"feed": 1, "mid": "2"}), json!({"feed": 2})]
        );
        // Nothing new: nothing asked.
        let streams = HashMap::from([
            ("0".to_string(), section(1, "0", false)),
            ("1".to_string(), section(1, "1", true)),
            ("5".to_string(), section(1, "2", true)),
        ]);
        let (new, wanted) = missing_streams(&subscribed, &streams, &feed_ids, &BTreeSet::from([1]));
        assert!(new.is_empty() && wanted.is_empty(), "{wanted:?}");
    }
}
