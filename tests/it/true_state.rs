//! What the terminal shows is true: nobody who left during our outage stays as a ghost
//! after we resume, and a peer without a camera shows their name, not "waiting for video".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{assert_held, participant, ran, TestServer};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use termmeet::app::{Action, App};
use termmeet::call::mesh::Mesh;
use termmeet::headless::runner::{run_script, HeadlessOptions};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};

/// A TCP relay in front of the server that the test can cut: while cut it refuses new
/// connections and ends the ones it carries, as a network outage on one side would.
struct Cuttable {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl Cuttable {
    async fn start(to: std::net::SocketAddr) -> Cuttable {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let (c, g) = (Arc::clone(&cut), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let mut ended = g.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(to).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = ended.changed() => {}
                    }
                });
            }
        });
        Cuttable {
            addr,
            cut,
            generation,
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_who_left_during_our_outage_is_gone_after_the_resume() {
    let server = TestServer::start().await;
    let relay = Cuttable::start(server.addr).await;
    let options = |url: String| HeadlessOptions {
        server: url,
        video_size: (160, 120),
        fps: 10.0,
        bitrate: 150_000,
        ..HeadlessOptions::default()
    };
    let via_relay = options(format!("ws://{}/ws", relay.addr));
    let direct = options(server.url());
    let alice = tokio::spawn(async move {
        run_script(
            "join ghosts as alice\n\
             expect peers 2 within 60s\n\
             expect chat from bob \"carol left\" within 90s\n\
             expect peers 1 within 30s\n\
             expect left carol within 5s\n\
             chat no ghosts here\n\
             leave\n",
            &via_relay,
        )
        .await
    });
    let d = direct.clone();
    let carol = tokio::spawn(async move {
        run_script(
            "join ghosts as carol\n\
             expect peers 2 within 60s\n\
             expect chat from bob \"go\" within 90s\n\
             leave\n",
            &d,
        )
        .await
    });
    // Bob runs the outage: once all three are in, alice's link to the server is cut, carol
    // leaves while alice is away, and alice comes back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while server.handle.counts().1 < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "alice and carol never joined"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bob_script = "join ghosts as bob\n\
         expect peers 2 within 60s\n\
         wait 2s\n\
         chat cut\n\
         wait 2s\n\
         chat go\n\
         expect left carol within 30s\n\
         chat carol left\n\
         expect chat from alice \"no ghosts here\" within 90s\n\
         leave\n";
    let d = direct.clone();
    let bob = tokio::spawn(async move { run_script(bob_script, &d).await });
    // "cut" is said once everyone is in; the relay is cut right away, and restored once
    // carol has gone (bob says so).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while server
        .handle
        .room("ghosts")
        .is_none_or(|r| r.chat_messages < 1)
    {
        assert!(tokio::time::Instant::now() < deadline, "bob never said cut");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.cut();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while server
        .handle
        .room("ghosts")
        .is_none_or(|r| r.chat_messages < 3)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob never saw carol leave"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.restore();
    let (alice, bob, carol) = (
        ran(alice.await.unwrap()),
        ran(bob.await.unwrap()),
        ran(carol.await.unwrap()),
    );
    assert_held("carol", &carol);
    assert_held("bob", &bob);
    assert_held("alice", &alice);
    assert!(
        server.resumes() >= 1,
        "alice resumed rather than joined again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_a_camera_shows_their_name_not_waiting_for_video() {
    let server = TestServer::start().await;
    let (mesh, task) = Mesh::start(participant(
        &server.url(),
        "nocam",
        "alice",
        Some((160, 120)),
    ));
    let bob = HeadlessOptions {
        server: server.url(),
        ..HeadlessOptions::default()
    };
    let bob = tokio::spawn(async move {
        run_script(
            "join nocam as bob\n\
             video none\n\
             expect peers 1 within 60s\n\
             expect video from alice frames 5 within 30s\n\
             wait 3s\n\
             leave\n",
            &bob,
        )
        .await
    });
    // Alice is connected to bob and knows his camera is off.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ready = mesh.read(|s| {
            s.peers.values().any(|p| {
                p.info.name == "bob"
                    && p.connection == termmeet::call::peer::LinkState::Connected
                    && !p.info.cam
            })
        });
        if ready {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob never connected with his camera off"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut app = App::new("nocam");
    app.update(Action::Meeting(Box::new(mesh.read(Clone::clone))));
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut videos = termmeet::ui::VideoCache::new(termmeet::render::ColorMode::TrueColor, 0);
    terminal
        .draw(|f| termmeet::ui::draw(f, &app, &mut videos))
        .unwrap();
    let screen = format!("{}", terminal.backend());
    assert!(!screen.contains("waiting for video"), "{screen}");
    let big = termmeet::render::bigtext::render("bob").expect("the big font has bob");
    assert!(
        screen.contains(big[0].trim_end()),
        "no big name in:\n{screen}"
    );
    assert!(screen.contains("cam off"), "{screen}");
    assert_held("bob", &ran(bob.await.unwrap()));
    mesh.command(termmeet::call::mesh::MeshCommand::Leave);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}
