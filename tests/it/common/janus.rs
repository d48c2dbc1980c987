//! Janus (Debian's `janus`: the VideoRoom plugin and the WebSocket transport) started inside
//! a lab host: Janus gathers no loopback candidates, so it needs an address of its own. Its
//! configuration is written into the lab's directory; the lab stops it with everything else.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::netlab::Lab;

/// Whether `janus` is installed.
pub fn available() -> bool {
    Command::new("janus")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Starts Janus in `host`, its WebSocket API on `addr:8188`, as `label`; returns its URL
/// once it accepts connections.
pub fn start(lab: &mut Lab, host: &str, addr: &str, label: &str) -> String {
    let conf = lab.dir.join(format!("{label}-conf"));
    std::fs::create_dir_all(&conf).unwrap();
    let disabled_plugins = [
        "audiobridge",
        "duktape",
        "echotest",
        "lua",
        "nosip",
        "recordplay",
        "sip",
        "streaming",
        "textroom",
        "videocall",
        "voicemail",
    ]
    .map(|p| format!("libjanus_{p}.so"))
    .join(",");
    let core = format!(
        "general: {{\n  configs_folder = \"{conf}\"\n  log_to_stdout = true\n  debug_level = 4\n  \
         debug_timestamps = true\n  debug_colors = false\n  server_name = \"termmeet-test\"\n  \
         interface = \"{addr}\"\n  session_timeout = 60\n}}\n\
         media: {{\n  ipv6 = false\n}}\n\
         nat: {{\n  full_trickle = false\n  ice_lite = false\n  ice_tcp = false\n  ignore_mdns = true\n}}\n\
         plugins: {{\n  disable = \"{disabled_plugins}\"\n}}\n\
         transports: {{\n  disable = \"libjanus_http.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so\"\n}}\n\
         loggers: {{\n  disable = \"libjanus_jsonlog.so\"\n}}\n\
         events: {{\n  broadcast = false\n}}\n",
        conf = conf.display()
    );
    std::fs::write(conf.join("janus.jcfg"), core).unwrap();
    std::fs::write(
        conf.join("janus.transport.websockets.jcfg"),
        format!(
            "general: {{\n  json = \"compact\"\n  ws = true\n  ws_port = 8188\n  ws_ip = \"{addr}\"\n  wss = false\n}}\n\
             admin: {{\n  admin_ws = false\n  admin_wss = false\n}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("janus.plugin.videoroom.jcfg"),
        "general: {\n  string_ids = false\n  events = false\n}\n",
    )
    .unwrap();
    let conf_arg = conf.to_string_lossy().into_owned();
    let core_arg = conf.join("janus.jcfg").to_string_lossy().into_owned();
    lab.spawn(
        host,
        label,
        &["janus", "-F", &conf_arg, "-C", &core_arg, "-o"],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let probe = Command::new("ip")
            .args(["netns", "exec", host, "bash", "-c"])
            .arg(format!("exec 3<>/dev/tcp/{addr}/8188"))
            .stderr(Stdio::null())
            .status();
        if probe.is_ok_and(|s| s.success()) {
            return format!("ws://{addr}:8188");
        }
        assert!(
            Instant::now() < deadline,
            "Janus did not start:\n{}",
            lab.log(label)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
