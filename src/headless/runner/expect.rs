//! The expectations of a script: each waits, up to its `within`, for the meeting to show what
//! it expects, and says what it saw. Most read only the meeting state and are checked again
//! on each change of it; the audio check reads a counter that changes without waking anyone,
//! and audio kept outside the state, so it polls.

use std::time::Duration;

use tokio::time::Instant;

use crate::call::mesh::{Mesh, MeshState, PeerState};
use crate::headless::script::Step;
use crate::media::tone::{dominant_frequency, tone_is_dominant};

/// How often a check that reads more than the state is made again.
const POLL: Duration = Duration::from_millis(50);

/// What an expectation found: `Ok` with what was seen when it held, `Err` with what was seen
/// last when it did not.
pub(super) type Seen = Result<String, String>;

/// Waits until `check` holds for the meeting state, checking it again on each change, or
/// until `within` passes (then its last `Err`).
pub(super) async fn wait_for(
    mesh: &Mesh,
    within: Duration,
    check: impl Fn(&MeshState) -> Seen,
) -> Seen {
    let deadline = Instant::now() + within;
    let mut state = mesh.subscribe();
    loop {
        let result = check(&state.borrow_and_update());
        if result.is_ok() {
            return result;
        }
        match tokio::time::timeout_at(deadline, state.changed()).await {
            Ok(Ok(())) => {}
            // Time is up, or the meeting ended and its state can change no more.
            Ok(Err(_)) | Err(_) => return result,
        }
    }
}

/// Like [`wait_for`], for a check that reads more than the published changes (the audio a
/// peer sent, counted silently and kept outside the state): made again every [`POLL`].
async fn poll_for(mesh: &Mesh, within: Duration, check: impl Fn(&MeshState) -> Seen) -> Seen {
    let deadline = Instant::now() + within;
    loop {
        let result = mesh.read(&check);
        if result.is_ok() || Instant::now() >= deadline {
            return result;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs an expectation line of the script. Other lines expect nothing and hold at once.
pub(super) async fn expect(mesh: &Mesh, step: &Step) -> Seen {
    match step {
        Step::ExpectPeers { count, within } => peers(mesh, *count, *within).await,
        Step::ExpectVideo {
            from,
            frames,
            within,
        } => frames_from(mesh, from, *frames, false, *within).await,
        Step::ExpectScreen {
            from,
            frames,
            within,
        } => frames_from(mesh, from, *frames, true, *within).await,
        Step::ExpectAudio { from, tone, within } => audio(mesh, from, *tone, *within).await,
        Step::ExpectNoVideo { from, duration } => no_video(mesh, from, *duration).await,
        Step::ExpectChat { from, text, within } => chat(mesh, from, text, *within).await,
        Step::ExpectTerminal { from, text, within } => terminal(mesh, from, text, *within).await,
        Step::ExpectHand {
            name,
            position,
            within,
        } => hand(mesh, name, *position, *within).await,
        Step::ExpectQuality {
            name,
            level,
            within,
        } => {
            wait_for(mesh, *within, |s| {
                let p = peer(s, name)?;
                let d = format!(
                    "{} (rtt {:.1} ms, loss {:.1}%)",
                    p.quality.as_str(),
                    p.rtt_ms,
                    p.loss_pct
                );
                if p.quality >= *level {
                    Ok(d)
                } else {
                    Err(d)
                }
            })
            .await
        }
        Step::ExpectLeft { name, within } => {
            wait_for(mesh, *within, |s| {
                if s.left.iter().any(|(_, n)| n == name) {
                    Ok("left".into())
                } else {
                    Err(format!("{name} is still here"))
                }
            })
            .await
        }
        _ => Ok(String::new()),
    }
}

/// The peer called `name`, or why there is none.
fn peer<'a>(s: &'a MeshState, name: &str) -> Result<&'a PeerState, String> {
    s.peers
        .values()
        .find(|p| p.info.name == name)
        .ok_or_else(|| format!("{name} is not in the room"))
}

/// `expect peers COUNT`.
async fn peers(mesh: &Mesh, count: usize, within: Duration) -> Seen {
    wait_for(mesh, within, |s| {
        let n = s.peers.len();
        if n == count {
            Ok(format!("{n} peers"))
        } else {
            Err(format!("{n} peers"))
        }
    })
    .await
}

/// `expect video` and `expect screen`: `frames` more pictures decoded from `from`'s camera
/// (or screen, when `screen`) than when the line began.
async fn frames_from(mesh: &Mesh, from: &str, frames: u64, screen: bool, within: Duration) -> Seen {
    let count = |s: &MeshState| {
        peer(s, from).map(|p| {
            if screen {
                p.screen_frames
            } else {
                p.video_frames
            }
        })
    };
    let base = mesh.read(|s| count(s).unwrap_or(0));
    wait_for(mesh, within, |s| {
        let got = count(s)?.saturating_sub(base);
        if got >= frames {
            Ok(format!("{got} frames"))
        } else {
            Err(format!("{got} of {frames} frames"))
        }
    })
    .await
}

/// `expect audio`: half a second more of `from`'s audio than when the line began, and, with a
/// `tone`, that frequency dominant in the last second of it. Both poll: the audio counter
/// moves without waking subscribers (a counter that moved is no change people see), and the
/// tone is read from the audio kept outside the state.
async fn audio(mesh: &Mesh, from: &str, tone: Option<f64>, within: Duration) -> Seen {
    let base = mesh.read(|s| peer(s, from).map(|p| p.audio_ms).unwrap_or(0));
    poll_for(mesh, within, |s| {
        let p = peer(s, from)?;
        let got = p.audio_ms.saturating_sub(base);
        if got < 500 {
            return Err(format!("{got} ms of audio"));
        }
        let Some(hz) = tone else {
            return Ok(format!("{got} ms of audio"));
        };
        let recent = mesh.recent_audio(&p.info.id);
        if tone_is_dominant(&recent, hz) {
            Ok(format!("{got} ms of audio, {hz} Hz dominant"))
        } else {
            let seen = dominant_frequency(&recent);
            Err(format!("{got} ms of audio, dominant {seen:?} Hz, not {hz}"))
        }
    })
    .await
}

/// `expect no video`: no picture from `from`'s camera for `duration`.
async fn no_video(mesh: &Mesh, from: &str, duration: Duration) -> Seen {
    // Frames already in flight when the camera went off may still land: settle first.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let base = mesh.read(|s| peer(s, from).map(|p| p.video_frames).unwrap_or(0));
    tokio::time::sleep(duration).await;
    let now = mesh.read(|s| peer(s, from).map(|p| p.video_frames));
    match now {
        Ok(n) if n == base => Ok(format!("no frames for {duration:?}")),
        Ok(n) => Err(format!("{} frames arrived", n - base)),
        Err(e) => Err(e),
    }
}

/// `expect chat`: a message `text` from `from`.
async fn chat(mesh: &Mesh, from: &str, text: &str, within: Duration) -> Seen {
    wait_for(mesh, within, |s| {
        let hit = s.chat.iter().any(|c| c.name == from && c.text == text);
        if hit {
            Ok("seen".into())
        } else {
            Err(format!("no such message among {}", s.chat.len()))
        }
    })
    .await
}

/// `expect terminal`: `text` on the screen of the terminal `from` shares.
async fn terminal(mesh: &Mesh, from: &str, text: &str, within: Duration) -> Seen {
    wait_for(mesh, within, |s| {
        let p = peer(s, from)?;
        match &p.terminal {
            Some(t) if t.screen.contains(text) => Ok(format!(
                "seen on {}x{} ({} updates, {} bytes)",
                t.screen.cols, t.screen.rows, p.terminal_updates, p.terminal_bytes
            )),
            Some(t) => Err(format!(
                "not on the {}x{} screen; its first lines: {:?}",
                t.screen.cols,
                t.screen.rows,
                t.screen.text().lines().take(3).collect::<Vec<_>>()
            )),
            None => Err(format!("{from} shares no terminal")),
        }
    })
    .await
}

/// `expect hand`: `name` in the hand queue, at `position` (from 1) when one is given.
async fn hand(mesh: &Mesh, name: &str, position: Option<usize>, within: Duration) -> Seen {
    wait_for(mesh, within, |s| {
        let queue: Vec<String> = s.hands.iter().map(|h| s.name_of(h)).collect();
        match (queue.iter().position(|n| n == name), position) {
            (Some(i), Some(k)) if i + 1 == k => Ok(format!("queue {queue:?}")),
            (Some(_), None) => Ok(format!("queue {queue:?}")),
            _ => Err(format!("queue {queue:?}")),
        }
    })
    .await
}
