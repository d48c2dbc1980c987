//! Real Chromium, driven over WebDriver: `chromedriver` (Debian's `chromium-driver`, installed
//! by `scripts/setup.sh test`) started on a free port, one headless Chromium session per
//! participant with fake camera and microphone and its own profile directory.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::nsforward::{connect_in, Forward};

/// Browser tests share two cores: one test at a time.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn find(candidates: &[&'static str], package: &str) -> &'static str {
    candidates
        .iter()
        .copied()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!("{package} is missing: `scripts/setup.sh test` installs it (Debian package {package})")
        })
}

/// A running `chromedriver`; dropping it ends it and every browser it started.
pub struct Driver {
    child: tokio::process::Child,
    url: String,
    dir: PathBuf,
    /// The way in, when chromedriver runs inside a lab host.
    _forward: Option<Forward>,
}

/// The port chromedriver listens on inside a lab host (a fresh namespace has every port).
const PORT_IN_HOST: u16 = 9515;

impl Driver {
    pub async fn start(name: &str) -> Driver {
        Self::start_in(name, None).await
    }

    /// A chromedriver (and so its browsers) inside the lab host `netns`, or on this machine.
    pub async fn start_in(name: &str, netns: Option<&str>) -> Driver {
        let bin = find(
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
            "chromium-driver",
        );
        let dir = std::env::temp_dir().join(format!("termmeet-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = match netns {
            Some(_) => PORT_IN_HOST,
            None => {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            }
        };
        let mut command = match netns {
            Some(ns) => {
                let mut c = tokio::process::Command::new("ip");
                c.args(["netns", "exec", ns, bin]);
                c
            }
            None => tokio::process::Command::new(bin),
        };
        let child = command
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.join("chromedriver.log").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that the browsers it starts end with it.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let listening = || match netns {
            Some(ns) => connect_in(ns, port).is_ok(),
            None => std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !listening() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let forward = netns.map(|ns| Forward::start(ns, port));
        let local = forward.as_ref().map_or(port, |f| f.port);
        Driver {
            child,
            url: format!("http://127.0.0.1:{local}"),
            dir,
            _forward: forward,
        }
    }

    /// Opens a Chromium window on `url`.
    pub async fn open(&self, name: &str, url: &str, options: PageOptions) -> Page {
        let profile = self.dir.join(name);
        std::fs::create_dir_all(&profile).unwrap();
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-quic".into(),
            format!("--user-data-dir={}", profile.display()),
            "--use-fake-device-for-media-stream".into(),
            "--autoplay-policy=no-user-gesture-required".into(),
            // Everything here is on loopback: let WebRTC use it, with real addresses rather
            // than mDNS names.
            "--allow-loopback-in-peer-connection".into(),
            "--disable-features=WebRtcHideLocalIpsWithMdns".into(),
            "--window-size=1280,800".into(),
        ];
        if options.deny_camera {
            // No prompt answers for us: the camera is blocked by the profile's settings
            // below, as a user who clicked "Block" would have it.
            args.push("--deny-permission-prompts".into());
        } else {
            args.push("--use-fake-ui-for-media-stream".into());
        }
        args.extend(options.extra_args.iter().cloned());
        let mut prefs = serde_json::Map::new();
        if options.deny_camera {
            prefs.insert(
                "profile.default_content_setting_values.media_stream_camera".into(),
                json!(2),
            );
            prefs.insert(
                "profile.default_content_setting_values.media_stream_mic".into(),
                json!(1),
            );
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"], "chromium"),
                "args": args,
                "prefs": prefs,
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no Chromium session from chromedriver: {e}\n{}",
                    std::fs::read_to_string(self.dir.join("chromedriver.log")).unwrap_or_default()
                )
            });
        client.goto(url).await.expect("the page loads");
        Page {
            client,
            name: name.to_string(),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The whole group we created: chromedriver and every Chromium it started.
            if let Some(group) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Default, Clone)]
pub struct PageOptions {
    /// The camera is blocked for the page (the microphone stays allowed).
    pub deny_camera: bool,
    /// More Chromium flags.
    pub extra_args: Vec<String>,
}

/// One browser participant.
pub struct Page {
    pub client: Client,
    pub name: String,
}

impl Page {
    /// Runs `body` (a function body that may `return` a value) in the page.
    pub async fn js(&self, body: &str) -> Value {
        self.client
            .execute(body, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("{}: script failed: {e}\n{body}", self.name))
    }

    /// What the page shows, for failure messages: status line, peers, hands, chat and any
    /// uncaught script errors.
    pub async fn describe(&self) -> String {
        let v = self
            .js(
                "return JSON.stringify({status: document.getElementById('status').textContent, \
                 peers: document.getElementById('peers').innerText, \
                 hands: document.getElementById('hands').innerText, \
                 chat: document.getElementById('chat').innerText, \
                 stats: window.termmeet ? window.termmeet.stats() : null, \
                 errors: window.termmeet ? window.termmeet.errors : null}, null, 1)",
            )
            .await;
        format!("{}: {}", self.name, v.as_str().unwrap_or_default())
    }

    /// Waits until `expr` (a JavaScript expression) is truthy, and returns its value.
    pub async fn wait_for(&self, what: &str, expr: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let v = self.js(&format!("return ({expr}) || null;")).await;
            if !v.is_null() && v != json!(false) {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "waited {within:?} for {what}; the page shows:\n{}",
                    self.describe().await
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Clicks the element with this id, as a user would.
    pub async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("{}: no #{id}: {e}", self.name))
            .click()
            .await
            .unwrap_or_else(|e| panic!("{}: could not click #{id}: {e}", self.name));
    }

    /// Clicks the first element matching a CSS selector.
    pub async fn click_css(&self, selector: &str) {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{}: nothing matches {selector}: {e}", self.name))
            .click()
            .await
            .unwrap_or_else(|e| panic!("{}: could not click {selector}: {e}", self.name));
    }

    /// Types into the element with this id (`\u{E007}` is Enter).
    pub async fn type_into(&self, id: &str, text: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("{}: no #{id}: {e}", self.name))
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("{}: could not type into #{id}: {e}", self.name));
    }

    /// Sends a chat message from the page's chat box.
    pub async fn chat(&self, text: &str) {
        self.type_into("chatInput", &format!("{text}\u{E007}"))
            .await;
    }

    /// Decoded video frames from the peer called `name`, on its camera track.
    pub async fn frames_from(&self, name: &str) -> u64 {
        self.js(&format!(
            "const p = window.termmeet.stats().find((p) => p.name === {name:?}); \
             return p ? p.cameraFrames : 0;"
        ))
        .await
        .as_u64()
        .unwrap_or(0)
    }

    /// Uncaught errors the page's scripts raised.
    pub async fn errors(&self) -> Vec<String> {
        serde_json::from_value(self.js("return window.termmeet.errors;").await).unwrap_or_default()
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
