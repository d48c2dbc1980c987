//! A TCP port inside a lab host, reachable from the test: a listener on this machine's
//! loopback whose every connection is carried to `127.0.0.1:PORT` inside the host's network
//! namespace. It is how the test drives a `chromedriver` that runs inside a lab host (so that
//! its Chromium's WebRTC sees only the lab's addresses), without any address outside the
//! namespaces the test made.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Connects to `127.0.0.1:port` inside the namespace `netns`: the socket is made by a thread
/// that moved into the namespace, and stays in it whichever thread uses it after.
pub fn connect_in(netns: &str, port: u16) -> std::io::Result<TcpStream> {
    let path = format!("/run/netns/{netns}");
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&path)?;
        rustix::thread::move_into_link_name_space(
            ns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )?;
        TcpStream::connect(("127.0.0.1", port))
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("the connecting thread panicked")))
}

/// A running forwarder; dropping it stops taking connections.
pub struct Forward {
    /// The local port that leads into the namespace.
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Forward {
    pub fn start(netns: &str, port: u16) -> Forward {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port for the forwarder");
        let local = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let (netns, flag) = (netns.to_string(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(outer) = conn else { continue };
                match connect_in(&netns, port) {
                    Ok(inner) => carry(outer, inner),
                    Err(_) => drop(outer),
                }
            }
        });
        Forward { port: local, stop }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies both ways between two connections until either ends.
fn carry(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    std::thread::spawn(move || pipe(a, b2));
    std::thread::spawn(move || pipe(b, a2));
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
