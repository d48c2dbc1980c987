//! The SFU's bitrate cap: Janus tells each publisher the room's cap (REMB, every 5 s; the
//! server's `--sfu-kbps`), and termmeet's encoders keep under it. Two participants meet
//! through a real Janus capped at 300 kbit/s, sending a picture that wants far more (the
//! busy test pattern, 640x480); beside them, in a second room kept a mesh by one who keeps
//! media end to end, two more send the same with no cap, for comparison.

use std::time::Duration;

use crate::sfu::sfu_lab;

/// The server's cap, kbit/s.
const CAP_KBPS: f64 = 300.0;

fn script(room: &str, me: &str, other: &str) -> String {
    format!(
        "join {room} as {me}\nvideo test-pattern:busy\naudio tone:440\nexpect peers 1 within 60s\n\
         expect video from {other} frames 30 within 60s\nwait 20s\nchat {me} done\n\
         expect chat from {other} \"{other} done\" within 60s\nwait 2s\nleave\n"
    )
}

#[test]
fn the_sfus_bitrate_cap_keeps_each_publisher_under_it() {
    let cap = format!("{CAP_KBPS}");
    let Some(mut lab) = sfu_lab("sfuremb", 4, &["--mesh-max", "1", "--sfu-kbps", &cap]) else {
        return;
    };
    let video = [
        "--video-size",
        "640x480",
        "--fps",
        "15",
        "--bitrate-kbps",
        "1000",
    ];
    let end_to_end: Vec<&str> = video.iter().copied().chain(["--end-to-end"]).collect();
    let runs = [
        ("ada", "bob", "capped", &video[..]),
        ("bob", "ada", "capped", &video[..]),
        ("cyd", "dan", "open", &end_to_end[..]),
        ("dan", "cyd", "open", &video[..]),
    ];
    for (i, (me, other, room, flags)) in runs.iter().enumerate() {
        let (host, url) = (lab.hosts[i].clone(), lab.url.clone());
        lab.lab
            .headless(&host, me, &url, &script(room, me, other), flags);
    }
    let reports = lab.finish(&["ada", "bob", "cyd", "dan"], Duration::from_secs(180));
    let upload = |i: usize| reports[i]["upload_kbps"].as_f64().unwrap_or(0.0);
    eprintln!(
        "upload, kbit/s: through the SFU capped at {CAP_KBPS}: {:.0}, {:.0}; a mesh with no cap: {:.0}, {:.0}",
        upload(0),
        upload(1),
        upload(2),
        upload(3)
    );
    for (i, me) in ["ada", "bob"].iter().enumerate() {
        assert_eq!(reports[i]["media_mode"], "sfu", "{me}: {:#}", reports[i]);
        // The cap is for everything sent, sound and packet headers too: a little over it
        // is what the encoder's own swing around its target comes to.
        assert!(
            upload(i) <= CAP_KBPS * 1.25,
            "{me} sent {:.0} kbit/s through an SFU capped at {CAP_KBPS}: {:#}",
            upload(i),
            reports[i]
        );
    }
    for (i, me) in [(2, "cyd"), (3, "dan")] {
        assert_eq!(reports[i]["media_mode"], "mesh", "{me}: {:#}", reports[i]);
        assert!(
            upload(i) >= CAP_KBPS * 2.0,
            "{me}'s picture, with no cap, should want more than the cap: {:.0} kbit/s",
            upload(i)
        );
    }
}
