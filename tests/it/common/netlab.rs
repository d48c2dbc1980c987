//! Hosts on one machine for network fault tests: network namespaces joined by veth pairs,
//! with nftables for random or total UDP loss and `tc tbf` for a capped uplink.
//!
//! Every address lives inside namespaces the lab made; dropping the lab kills what it started
//! and deletes its namespaces (which takes their links with them), also when a test fails.
//! Needs root (CI runs as root); `Lab::available` says whether this machine can.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Runs a command and fails the test with its output when it fails.
pub fn sh(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "{} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A set of namespaces (hosts) and the processes started in them.
pub struct Lab {
    tag: String,
    hosts: Vec<String>,
    children: Vec<(String, Child)>,
    /// Scratch directory for scripts, reports and logs.
    pub dir: PathBuf,
}

/// One end of a link: the host and the interface name inside it.
#[derive(Clone, Debug)]
pub struct End {
    pub host: String,
    pub dev: String,
    pub addr: String,
}

impl Lab {
    /// Whether namespaces, nftables and tc can be used here (root, and the tools installed).
    pub fn available() -> bool {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let tools = ["ip", "nft", "tc"].iter().all(|t| {
            Command::new(t)
                .arg("-V")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        });
        root && tools
    }

    /// A lab whose hosts are named after `name`.
    pub fn new(name: &str) -> Lab {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("tm{}{n}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("termmeet-lab-{name}-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Lab {
            tag,
            hosts: Vec::new(),
            children: Vec::new(),
            dir,
        }
    }

    /// Adds a host (a namespace with its loopback up); returns its namespace name.
    pub fn host(&mut self, name: &str) -> String {
        let ns = format!("{}{name}", self.tag);
        sh(&["ip", "netns", "add", &ns]);
        self.hosts.push(ns.clone());
        sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// Joins two hosts with a veth pair on `subnet` (three octets, e.g. "10.77.1"): the
    /// first host gets .1, the second .2, both /24.
    pub fn link(&mut self, a: &str, b: &str, subnet: &str) -> (End, End) {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let (da, db) = (format!("v{n}a{}", self.tag), format!("v{n}b{}", self.tag));
        // Interface names are at most 15 bytes.
        let (da, db) = (
            da.chars().take(15).collect::<String>(),
            db.chars().take(15).collect::<String>(),
        );
        sh(&[
            "ip", "link", "add", &da, "netns", a, "type", "veth", "peer", "name", &db, "netns", b,
        ]);
        let ends = [(a, &da, 1), (b, &db, 2)].map(|(host, dev, octet)| {
            let addr = format!("{subnet}.{octet}");
            sh(&[
                "ip",
                "-n",
                host,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                dev,
            ]);
            sh(&["ip", "-n", host, "link", "set", dev, "up"]);
            End {
                host: host.to_string(),
                dev: dev.to_string(),
                addr,
            }
        });
        let [ea, eb] = ends;
        (ea, eb)
    }

    /// Runs `args` inside `host` and waits for it.
    pub fn exec(&self, host: &str, args: &[&str]) -> Output {
        let mut all = vec!["ip", "netns", "exec", host];
        all.extend_from_slice(args);
        sh(&all)
    }

    /// Starts `args` inside `host`, its output going to `log` in the lab's directory.
    pub fn spawn(&mut self, host: &str, label: &str, args: &[&str]) {
        let log = std::fs::File::create(self.dir.join(format!("{label}.log"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", host])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        self.children.push((label.to_string(), child));
    }

    /// Waits for the process started as `label` to end, at most `limit`; its exit code.
    pub fn wait(&mut self, label: &str, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        let i = self.children.iter().position(|(l, _)| l == label)?;
        loop {
            if let Ok(Some(status)) = self.children[i].1.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.children[i].1.kill();
                let _ = self.children[i].1.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the process started as `label` (as a crash would: SIGKILL) and reaps it.
    pub fn stop(&mut self, label: &str) {
        if let Some(i) = self.children.iter().position(|(l, _)| l == label) {
            let (_, mut child) = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The log of the process started as `label`.
    pub fn log(&self, label: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{label}.log"))).unwrap_or_default()
    }

    /// Starts a signaling server in `host`, listening on `addr:port`, with extra flags.
    pub fn server(&mut self, host: &str, addr: &str, extra: &[&str]) -> String {
        let listen = format!("{addr}:8080");
        let binary = server_binary();
        let mut args = vec![binary.to_str().unwrap(), "--listen", &listen];
        args.extend_from_slice(extra);
        self.spawn(host, "server", &args);
        // Ready when it accepts a connection.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let probe = Command::new("ip")
                .args(["netns", "exec", host, "bash", "-c"])
                .arg(format!("exec 3<>/dev/tcp/{addr}/8080"))
                .stderr(Stdio::null())
                .status();
            if probe.is_ok_and(|s| s.success()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start: {}",
                self.log("server")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        format!("ws://{listen}/ws")
    }

    /// Starts `termmeet headless` in `host` with `script`; its report goes to `label.json`.
    pub fn headless(
        &mut self,
        host: &str,
        label: &str,
        server: &str,
        script: &str,
        extra: &[&str],
    ) {
        let script_path = self.dir.join(format!("{label}.tms"));
        std::fs::write(&script_path, script).unwrap();
        let report = self.report_path(label);
        let (script_path, report) = (
            script_path.to_string_lossy().into_owned(),
            report.to_string_lossy().into_owned(),
        );
        let mut args = vec![
            env!("CARGO_BIN_EXE_termmeet"),
            "headless",
            "--server",
            server,
            "--script",
            &script_path,
            "--report",
            &report,
            "--log",
            "info,termmeet=debug",
        ];
        args.extend_from_slice(extra);
        self.spawn(host, label, &args);
    }

    fn report_path(&self, label: &str) -> PathBuf {
        self.dir.join(format!("{label}.json"))
    }

    /// The report of the headless run `label`, after it ended.
    pub fn report(&self, label: &str) -> Value {
        let text = std::fs::read_to_string(self.report_path(label)).unwrap_or_else(|e| {
            panic!(
                "no report from {label} ({e}); its log:\n{}",
                tail(&self.log(label))
            )
        });
        serde_json::from_str(&text).unwrap()
    }

    /// Replaces the host's packet filter with `rules` (nft syntax inside `table inet fault`),
    /// or removes it with an empty string.
    pub fn filter(&self, host: &str, rules: &str) {
        let _ = Command::new("ip")
            .args([
                "netns", "exec", host, "nft", "delete", "table", "inet", "fault",
            ])
            .stderr(Stdio::null())
            .status();
        if rules.is_empty() {
            return;
        }
        let ruleset = format!("table inet fault {{\n{rules}\n}}\n");
        let path = self.dir.join(format!("{host}.nft"));
        std::fs::write(&path, ruleset).unwrap();
        self.exec(host, &["nft", "-f", &path.to_string_lossy()]);
    }

    /// Drops `percent` of the UDP packets that reach `host` over its links, at random (all of
    /// them at 100); loopback is spared. Dropped on arrival, as a lossy network would: a drop
    /// on the way out would be an error the sender sees. For loss both ways, call it for
    /// both hosts.
    pub fn drop_udp(&self, host: &str, percent: u32) {
        let matcher = if percent >= 100 {
            String::new()
        } else {
            format!("numgen random mod 100 < {percent} ")
        };
        self.filter(
            host,
            &format!(
                "chain in {{ type filter hook input priority 0; iif != lo meta l4proto udp {matcher}drop; }}"
            ),
        );
    }

    /// Caps what leaves `end`'s interface at `kbit` kbit/s (token bucket), or lifts the cap.
    pub fn cap(&self, end: &End, kbit: Option<u32>) {
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &end.host, "tc", "qdisc", "del", "dev", &end.dev, "root",
            ])
            .stderr(Stdio::null())
            .status();
        if let Some(kbit) = kbit {
            let rate = format!("{kbit}kbit");
            // A burst of about 20 ms at the rate (at least a few full packets) and a queue of
            // at most 200 ms, as a home router's uplink holds.
            let burst = format!("{}", (kbit * 1000 / 8 / 50).max(6000));
            self.exec(
                &end.host,
                &[
                    "tc", "qdisc", "add", "dev", &end.dev, "root", "tbf", "rate", &rate, "burst",
                    &burst, "latency", "200ms",
                ],
            );
        }
    }

    /// Packets sent and dropped by the cap on `end`'s interface so far (`tc -s`), if it has
    /// one.
    pub fn cap_counts(&self, end: &End) -> Option<(u64, u64)> {
        let out = self.exec(&end.host, &["tc", "-s", "qdisc", "show", "dev", &end.dev]);
        let text = String::from_utf8_lossy(&out.stdout);
        // " Sent 847360 bytes 2525 pkt (dropped 1788, overlimits ..."
        let line = text.lines().find(|l| l.trim_start().starts_with("Sent "))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let sent = words.get(3)?.parse().ok()?;
        let dropped = words.get(6)?.trim_end_matches(',').parse().ok()?;
        Some((sent, dropped))
    }

    /// A scratch path in the lab's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // `ip netns exec` children are gone; anything left inside dies with the namespace's
        // last reference. Deleting a namespace deletes its links too.
        for ns in &self.hosts {
            let pids = Command::new("ip").args(["netns", "pids", ns]).output();
            if let Ok(out) = pids {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        if !std::thread::panicking() && std::env::var_os("TERMMEET_KEEP_LAB").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The signaling server's binary, built beside the client's (`cargo test --workspace` and
/// `cargo build --workspace` build it).
pub fn server_binary() -> PathBuf {
    let path =
        std::path::Path::new(env!("CARGO_BIN_EXE_termmeet")).with_file_name("termmeet-signaling");
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

/// The last lines of a log, for failure messages.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A figure of one peer in a report: `report.peers[peer][field]` as a number.
pub fn figure(report: &Value, peer: &str, field: &str) -> f64 {
    report["peers"][peer][field].as_f64().unwrap_or(f64::NAN)
}

/// Whether every step of a report held; the failed steps otherwise.
pub fn failed_steps(report: &Value) -> Vec<String> {
    report["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .filter(|s| s["ok"] != Value::Bool(true))
                .map(|s| format!("line {}: {} ({})", s["line"], s["text"], s["detail"]))
                .collect()
        })
        .unwrap_or_default()
}

/// Records `seconds` of the PulseAudio source `device` (a sink's monitor, say) as 48 kHz mono
/// 16-bit with `parec`, run as `command` says (the program, and where: a namespace, a
/// `PULSE_SERVER`). At most 30 s are waited for.
pub fn parec(command: Command, device: &str, seconds: f64) -> Vec<i16> {
    parec_at(command, device, 48_000, seconds)
}

/// [`parec`] at `rate` Hz.
pub fn parec_at(mut command: Command, device: &str, rate: u32, seconds: f64) -> Vec<i16> {
    let mut child = command
        .args([
            &format!("--device={device}"),
            "--raw",
            "--format=s16le",
            &format!("--rate={rate}"),
            "--channels=1",
            "--latency-msec=20",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("parec (pulseaudio-utils) is installed by scripts/setup.sh");
    let mut out = child.stdout.take().expect("parec's output");
    let want = (f64::from(rate) * seconds) as usize * 2;
    let mut bytes = vec![0u8; want];
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while got < want && Instant::now() < deadline {
        match out.read(&mut bytes[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    bytes[..got]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Flags for headless participants that only need media to flow, not the default 640x480
/// at 30 fps.
pub const SMALL_VIDEO: &[&str] = &[
    "--video-size",
    "320x240",
    "--fps",
    "15",
    "--bitrate-kbps",
    "300",
];
