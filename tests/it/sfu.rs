//! Rooms on the SFU: a real Janus (VideoRoom) in a lab host of its own beside the signaling
//! server, participants as `termmeet headless` processes on hosts routed through it. Janus
//! gathers no loopback candidates, hence the hosts.

use std::time::Duration;

use serde_json::Value;

use crate::common::janus;
use crate::common::netlab::{failed_steps, tail, End, Lab, SMALL_VIDEO};
use crate::common::turns::Slot;

/// A hub host (Janus and the signaling server) and one host per participant, each on its
/// own link to the hub, routed through it.
pub(crate) struct SfuLab {
    pub(crate) lab: Lab,
    /// Each participant's host.
    pub(crate) hosts: Vec<String>,
    /// Each participant's end of its link to the hub: its uplink.
    uplinks: Vec<End>,
    /// The signaling server's URL.
    pub(crate) url: String,
    /// The hub host and its address, where Janus runs.
    hub: String,
    pub(crate) hub_addr: String,
    _slot: Slot,
    /// The sound server's turn: Janus and several participants load the machine, so the
    /// sound tests' measurements do not run beside a room on the SFU. Both take the slots
    /// before the sound turn (see `quiet_sound_turn`), so neither waits on the other.
    _sound: std::sync::MutexGuard<'static, ()>,
}

pub(crate) fn sfu_lab(name: &str, participants: usize, server_flags: &[&str]) -> Option<SfuLab> {
    sfu_lab_weighted(name, participants, server_flags, 1)
}

/// [`sfu_lab`] holding `weight` of the two slots for network scenarios: 2 for a run whose
/// figures are the point, which then has the machine to itself among them.
fn sfu_lab_weighted(
    name: &str,
    participants: usize,
    server_flags: &[&str],
    weight: usize,
) -> Option<SfuLab> {
    if !Lab::available() || !janus::available() {
        eprintln!("skipped: needs root, ip, nft, tc and janus");
        return None;
    }
    let slot = Slot::take_weighted(weight);
    let sound = crate::common::turns::sound_turn();
    let mut lab = Lab::new(name);
    let hub = lab.host("j");
    lab.exec(&hub, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    let mut hosts = Vec::new();
    let mut uplinks = Vec::new();
    let mut hub_addr = String::new();
    for i in 0..participants {
        let host = lab.host(&format!("p{i}"));
        let (h, p) = lab.link(&hub, &host, &format!("10.81.{}", i + 1));
        lab.exec(&host, &["ip", "route", "add", "default", "via", &h.addr]);
        if i == 0 {
            hub_addr = h.addr.clone();
        }
        uplinks.push(p);
        hosts.push(host);
    }
    let janus_url = janus::start(&mut lab, &hub, &hub_addr, "janus");
    let mut flags = vec!["--sfu", janus_url.as_str()];
    flags.extend_from_slice(server_flags);
    let url = lab.server(&hub, &hub_addr, &flags);
    Some(SfuLab {
        lab,
        hosts,
        uplinks,
        url,
        hub,
        hub_addr,
        _slot: slot,
        _sound: sound,
    })
}

/// A participant who sends the test pattern and a tone and expects everyone's, then waits
/// `secs`; with more `phases`, expects everyone's again after each further wait.
fn script(me: &str, others: &[&str], tone: u32, phases: &[u64]) -> String {
    let mut s = format!(
        "join big as {me}\nvideo test-pattern\naudio tone:{tone}\nexpect peers {} within 60s\n",
        others.len()
    );
    for secs in phases {
        for o in others {
            s.push_str(&format!("expect video from {o} frames 30 within 60s\n"));
        }
        for o in others {
            s.push_str(&format!("expect audio from {o} within 30s\n"));
        }
        s.push_str(&format!("wait {secs}s\n"));
    }
    s.push_str("leave\n");
    s
}

impl SfuLab {
    /// Starts the named participants, each on its own host, with the waits of [`script`].
    fn start(&mut self, names: &[&str], phases: &[u64]) {
        for (i, me) in names.iter().enumerate() {
            let others: Vec<&str> = names.iter().filter(|n| *n != me).copied().collect();
            let host = self.hosts[i].clone();
            let url = self.url.clone();
            let tone = 440 + 110 * i as u32;
            self.lab.headless(
                &host,
                me,
                &url,
                &script(me, &others, tone, phases),
                SMALL_VIDEO,
            );
        }
    }

    /// Starts one participant on the `i`th host with its own script.
    pub(crate) fn start_one(&mut self, i: usize, me: &str, script: &str) {
        let (host, url) = (self.hosts[i].clone(), self.url.clone());
        self.lab.headless(&host, me, &url, script, SMALL_VIDEO);
    }

    /// Waits for every participant; their reports.
    pub(crate) fn finish(&mut self, names: &[&str], limit: Duration) -> Vec<Value> {
        let mut reports = Vec::new();
        for me in names {
            let code = self.lab.wait(me, limit);
            let report = self.lab.report(me);
            assert_eq!(
                code,
                Some(0),
                "{me} did not finish well: {:?}\n{}\nserver:\n{}",
                failed_steps(&report),
                tail(&self.lab.log(me)),
                tail(&self.lab.log("server"))
            );
            reports.push(report);
        }
        reports
    }
}

#[test]
fn three_headless_participants_meet_through_janus() {
    let Some(mut lab) = sfu_lab("sfu3", 3, &["--mesh-max", "2"]) else {
        return;
    };
    let names = ["ada", "bob", "cyd"];
    // The last wait keeps everyone in the room while the slowest still checks the others.
    lab.start(&names, &[15]);
    let reports = lab.finish(&names, Duration::from_secs(150));
    for (me, report) in names.iter().zip(&reports) {
        assert_eq!(report["media_mode"], "sfu", "{me}: {report:#}");
        for other in names.iter().filter(|n| *n != me) {
            let peer = &report["peers"][other];
            assert_eq!(peer["path"], "sfu", "{me} sees {other}: {peer:#}");
            assert!(
                peer["video_frames"].as_u64().unwrap_or(0) >= 30,
                "{me} from {other}: {peer:#}"
            );
            assert_eq!(peer["sas"], Value::Null, "no short code through an SFU");
        }
    }
}

/// Milliseconds since the Unix epoch, as the reports' `started_ms`.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The steps of `report` on the given script lines: (line, started_ms, ended_ms).
fn steps_on(report: &Value, lines: std::ops::RangeInclusive<u64>) -> Vec<(u64, u64, u64)> {
    report["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let line = s["line"].as_u64()?;
            let started = s["started_ms"].as_u64()?;
            Some((line, started, started + s["ms"].as_u64()?))
        })
        .filter(|(line, _, _)| lines.contains(line))
        .collect()
}

/// The longest time `me` went without `other`'s picture and without their sound, in
/// milliseconds (printed: the benchmark's figures).
fn longest_gaps(me: &str, other: &str, peer: &Value) -> (u64, u64) {
    let video = peer["longest_video_gap_ms"].as_u64().unwrap_or(u64::MAX);
    let sound = peer["longest_sound_gap_ms"].as_u64().unwrap_or(u64::MAX);
    println!("{me} from {other}: longest video gap {video} ms, sound gap {sound} ms");
    (video, sound)
}

#[test]
fn janus_killed_mid_meeting_the_room_falls_back_to_the_mesh_and_returns_when_it_is_back() {
    let Some(mut lab) = sfu_lab("sfuk", 3, &["--mesh-max", "2"]) else {
        return;
    };
    let names = ["ada", "bob", "cyd"];
    // Lines 5-9: through the SFU; 10-14: through the mesh while Janus is away (the test kills
    // it during line 9's wait); 15-19: through the SFU again (Janus is back during line 14's).
    // The last wait keeps everyone in the room while the slowest still checks the others:
    // on a loaded machine one participant's video came back seconds after the others', and
    // with 3 s they had left before it checked their sound.
    lab.start(&names, &[25, 45, 20]);
    // Three publishers and three subscribers up, as Janus tells it.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while lab
        .lab
        .log("janus")
        .matches("WebRTC media is now available")
        .count()
        < 6
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the SFU never carried all six connections:\n{}",
            tail(&lab.lab.log("janus"))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Well after the first expectations hold (a second or two once all six are up, more on
    // a loaded machine), well inside line 9's wait.
    std::thread::sleep(Duration::from_secs(10));
    lab.lab.stop("janus");
    let killed = now_ms();
    std::thread::sleep(Duration::from_secs(40));
    let (hub, addr) = (lab.hub.clone(), lab.hub_addr.clone());
    janus::start(&mut lab.lab, &hub, &addr, "janus2");
    let restarted = now_ms();
    let reports = lab.finish(&names, Duration::from_secs(240));
    for (me, report) in names.iter().zip(&reports) {
        // The mesh carried the meeting while Janus was away, and only then.
        for (line, started, ended) in steps_on(report, 10..=13) {
            assert!(
                started > killed && ended < restarted,
                "{me}: line {line} ran {started}..{ended}, Janus was away {killed}..{restarted}"
            );
        }
        let told = report["errors"].as_array().into_iter().flatten();
        assert!(
            told.filter_map(Value::as_str)
                .any(|e| e.contains("SFU stopped answering")),
            "{me} was not told the SFU went: {:#}",
            report["errors"]
        );
        assert_eq!(report["media_mode"], "sfu", "{me} is back on the SFU");
        for other in names.iter().filter(|n| *n != me) {
            let peer = &report["peers"][other];
            assert_eq!(peer["path"], "sfu", "{me} sees {other}");
            // Janus's end is a break with nothing made before it: the mesh is built once
            // the server has seen Janus go (its socket closes), half a second or so here.
            let (video, sound) = longest_gaps(me, other, peer);
            assert!(
                video <= 5000 && sound <= 5000,
                "{me} went without {other} for long when Janus went or came back: {peer:#}"
            );
        }
    }
}

#[test]
fn the_switch_to_the_sfu_and_back_leaves_no_tile_or_sound_missing_for_long() {
    let Some(mut lab) = sfu_lab("sfusw", 3, &["--mesh-max", "2", "--sfu-hold", "3s"]) else {
        return;
    };
    // Ada and Bob meet in a mesh; Cyd joins (the room moves to the SFU) and leaves after a
    // few seconds (3 s later it moves back). Ada and Bob see each other all along.
    for (i, (me, other, tone)) in [("ada", "bob", 440), ("bob", "ada", 550)]
        .iter()
        .enumerate()
    {
        let script = format!(
            "join big as {me}\nvideo test-pattern\naudio tone:{tone}\nexpect peers 1 within 60s\n\
             expect video from {other} frames 30 within 60s\nexpect audio from {other} within 30s\n\
             wait 40s\nexpect video from {other} frames 30 within 60s\n\
             expect audio from {other} within 30s\nwait 5s\nleave\n"
        );
        lab.start_one(i, me, &script);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ["ada", "bob"]
        .iter()
        .any(|me| lab.lab.log(me).matches("remote track").count() < 2)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "ada and bob never met"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    lab.start_one(2, "cyd", &script("cyd", &["ada", "bob"], 660, &[4]));
    let reports = lab.finish(&["ada", "bob", "cyd"], Duration::from_secs(180));
    let server = plain(&lab.lab.log("server"));
    assert!(
        server.contains("mode=Sfu") && server.contains("mode=Mesh"),
        "the room did not switch up and back:\n{}",
        tail(&server)
    );
    for (me, other, report) in [("ada", "bob", &reports[0]), ("bob", "ada", &reports[1])] {
        assert_eq!(report["media_mode"], "mesh", "{me} ends in the mesh");
        let peer = &report["peers"][other];
        let (video, sound) = longest_gaps(me, other, peer);
        assert!(
            video <= 1000 && sound <= 1000,
            "{me} went without {other} for too long at a switch: {peer:#}"
        );
    }
}

/// `log` without its colours.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

/// CPU time of this process's reaped children so far, seconds (`cutime` and `cstime` of
/// `/proc/self/stat`, in the kernel's 100 ticks a second).
fn children_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the command's name: state is field 3, cutime 16 and cstime 17.
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(16) + ticks(17)) / 100.0
}

/// A run of `n` participants, each with a 1 Mbit/s uplink, 320x240 at 15 fps, for 15 s
/// after everyone sees everyone: their reports, and the CPU each used, percent of a core.
fn on_capped_uplinks(name: &str, n: usize, mesh_max: usize) -> Option<(Vec<Value>, f64)> {
    let mesh_max = mesh_max.to_string();
    // Many processes on 2 cores: the figures hold only with the machine to itself.
    let mut lab = sfu_lab_weighted(name, n, &["--mesh-max", &mesh_max], 2)?;
    for end in lab.uplinks.clone() {
        lab.lab.cap(&end, Some(1000));
    }
    let names: Vec<String> = (1..=n).map(|i| format!("p{i}")).collect();
    let started = (std::time::Instant::now(), children_cpu_seconds());
    for (i, me) in names.iter().enumerate() {
        let mut script = format!(
            "join big as {me}\nvideo test-pattern\naudio tone:{}\nexpect peers {} within 90s\n",
            300 + 50 * i,
            n - 1
        );
        for other in names.iter().filter(|o| *o != me) {
            script.push_str(&format!("expect video from {other} frames 15 within 90s\n"));
        }
        script.push_str("wait 15s\nleave\n");
        lab.start_one(i, me, &script);
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let reports = lab.finish(&names, Duration::from_secs(300));
    let cpu = children_cpu_seconds() - started.1;
    let wall = started.0.elapsed().as_secs_f64();
    Some((reports, cpu / wall / n as f64 * 100.0))
}

/// A feed's figures as a receiver saw them: frames decoded, of those sent between the first
/// and the last decoded, and the picture's size.
fn feed(peer: &Value) -> (u64, u64, Value) {
    let decoded = peer["video_frames"].as_u64().unwrap_or(0);
    let sent = peer["video_frames_sent"].as_u64().unwrap_or(u64::MAX / 100);
    (decoded, sent, peer["video_size"].clone())
}

/// Upload per participant (mean and most, kbit/s) and the worst feed's share of frames
/// decoded.
fn figures(reports: &[Value]) -> (f64, f64, f64) {
    let uploads: Vec<f64> = reports
        .iter()
        .map(|r| r["upload_kbps"].as_f64().unwrap_or(0.0))
        .collect();
    let mean = uploads.iter().sum::<f64>() / uploads.len().max(1) as f64;
    let most = uploads.iter().cloned().fold(0.0, f64::max);
    let worst = reports
        .iter()
        .flat_map(|r| r["peers"].as_object().into_iter().flat_map(|p| p.values()))
        .map(|p| {
            let (decoded, sent, _) = feed(p);
            decoded as f64 / sent.max(1) as f64
        })
        .fold(f64::INFINITY, f64::min);
    (mean, most, worst * 100.0)
}

/// Every receiver decoded at least 95% of the frames of every feed, at full size.
fn assert_every_feed_whole(reports: &[Value], mode: &str) {
    for report in reports {
        let me = report["name"].as_str().unwrap_or("?");
        assert_eq!(report["media_mode"], mode, "{me}");
        for (other, peer) in report["peers"].as_object().into_iter().flatten() {
            let (decoded, sent, size) = feed(peer);
            assert!(
                decoded * 100 >= sent * 95,
                "{me} decoded {decoded} of {sent} frames from {other}: {peer:#}"
            );
            assert_eq!(
                size,
                serde_json::json!([320, 240]),
                "{me} from {other} at full size"
            );
        }
    }
}

#[test]
fn eight_participants_on_1_mbit_uplinks_through_the_sfu_and_in_a_mesh() {
    let Some((sfu, sfu_cpu)) = on_capped_uplinks("sfu8", 8, 2) else {
        return;
    };
    assert_every_feed_whole(&sfu, "sfu");
    let (mesh, mesh_cpu) = on_capped_uplinks("mesh8", 8, 8).expect("the lab worked once");
    for (mode, reports, cpu) in [("sfu", &sfu, sfu_cpu), ("mesh", &mesh, mesh_cpu)] {
        let (mean, most, worst) = figures(reports);
        println!(
            "8 participants, {mode}: upload {mean:.0} kbit/s (most {most:.0}), worst feed \
             {worst:.1}% of frames decoded, CPU {cpu:.0}% of a core each"
        );
    }
}

/// The figures of BENCHMARKS.md: 2 to 12 participants, mesh against SFU, on 1 Mbit/s
/// uplinks. `cargo test --test it sfu::mesh_against_sfu -- --ignored --nocapture`
#[test]
#[ignore = "a benchmark: several minutes; run by hand for BENCHMARKS.md"]
fn mesh_against_sfu_from_2_to_12_participants() {
    println!("| participants | mode | upload kbit/s (mean, most) | x one stream | worst feed decoded | CPU per participant |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut single = None;
    for n in [2, 4, 8, 12] {
        for (mode, mesh_max) in [("mesh", n), ("sfu", 1)] {
            let Some((reports, cpu)) = on_capped_uplinks(&format!("b{mode}{n}"), n, mesh_max)
            else {
                return;
            };
            let (mean, most, worst) = figures(&reports);
            let one = *single.get_or_insert(mean);
            println!(
                "| {n} | {mode} | {mean:.0}, {most:.0} | {:.2} | {worst:.1}% | {cpu:.0}% |",
                mean / one
            );
        }
    }
}

/// The start of participant `i`'s script in a room of four in `big`: each sends a test
/// pattern and a tone of its own (440, 550, 660, 770 Hz) and sees the other three. The others'
/// names, and the script so far.
fn four_who_see_each_other<'n>(names: &[&'n str; 4], i: usize) -> (Vec<&'n str>, String) {
    let me = names[i];
    let others: Vec<&str> = names.iter().filter(|n| **n != me).copied().collect();
    let mut script = format!(
        "join big as {me}\nvideo test-pattern\naudio tone:{}\nexpect peers 3 within 60s\n",
        440 + 110 * i
    );
    for o in &others {
        script.push_str(&format!("expect video from {o} frames 30 within 60s\n"));
    }
    (others, script)
}

#[test]
fn one_who_keeps_media_end_to_end_keeps_the_room_a_mesh_until_they_leave() {
    let Some(mut lab) = sfu_lab("sfue2e", 4, &["--mesh-max", "2"]) else {
        return;
    };
    let names = ["ada", "bob", "cyd", "dan"];
    for (i, me) in names.iter().enumerate() {
        let (others, mut script) = four_who_see_each_other(&names, i);
        if *me == "cyd" {
            script.push_str("wait 3s\nleave\n");
        } else {
            script.push_str("expect left cyd within 60s\n");
            for o in others.iter().filter(|o| **o != "cyd") {
                script.push_str(&format!("expect video from {o} frames 30 within 60s\n"));
            }
            script.push_str("wait 8s\nleave\n");
        }
        let mut flags = SMALL_VIDEO.to_vec();
        if *me == "cyd" {
            flags.push("--end-to-end");
        }
        let (host, url) = (lab.hosts[i].clone(), lab.url.clone());
        lab.lab.headless(&host, me, &url, &script, &flags);
    }
    let reports = lab.finish(&names, Duration::from_secs(180));
    // Cyd's media stayed end to end: every link its own, with a short code to compare.
    let cyd = &reports[2];
    assert_eq!(cyd["media_mode"], "mesh", "{cyd:#}");
    for other in ["ada", "bob", "dan"] {
        let peer = &cyd["peers"][other];
        assert_ne!(peer["path"], "sfu", "cyd sees {other}: {peer:#}");
        assert!(
            peer["sas"].is_string(),
            "cyd has a short code with {other}: {peer:#}"
        );
    }
    // Once Cyd left, the room of three moved to the SFU.
    for (me, report) in names.iter().zip(&reports).filter(|(n, _)| **n != "cyd") {
        assert_eq!(report["media_mode"], "sfu", "{me}: {report:#}");
        for other in ["ada", "bob", "dan"].iter().filter(|o| *o != me) {
            assert_eq!(report["peers"][other]["path"], "sfu", "{me} sees {other}");
        }
    }
}

#[test]
fn a_participant_who_shows_one_camera_is_sent_only_that_one() {
    let Some(mut lab) = sfu_lab("sfuview", 4, &["--mesh-max", "2"]) else {
        return;
    };
    let names = ["ada", "bob", "cyd", "dan"];
    for (i, me) in names.iter().enumerate() {
        let (_, mut script) = four_who_see_each_other(&names, i);
        if *me == "dan" {
            // Only Ada's camera is drawn: Bob's and Cyd's stop coming, their sound does not.
            script.push_str("show ada\n");
            script.push_str("expect no video from bob for 4s\nexpect no video from cyd for 4s\n");
            script.push_str("expect video from ada frames 30 within 30s\n");
            script.push_str("expect audio from bob tone 550 within 30s\n");
            script.push_str("expect audio from cyd tone 660 within 30s\n");
            // Everyone again: the paused cameras come back.
            script.push_str("show everyone\n");
            script.push_str("expect video from bob frames 30 within 30s\n");
            script.push_str("expect video from cyd frames 30 within 30s\n");
            script.push_str("leave\n");
        } else {
            script.push_str("expect left dan within 120s\nleave\n");
        }
        let (host, url) = (lab.hosts[i].clone(), lab.url.clone());
        lab.lab.headless(&host, me, &url, &script, SMALL_VIDEO);
    }
    let reports = lab.finish(&names, Duration::from_secs(180));
    assert_eq!(reports[3]["media_mode"], "sfu", "{:#}", reports[3]);
}
