//! A terminal shared in a room on the SFU: Janus relays no `term` channel of ours, so the
//! share goes through the signaling server (`term` messages, protocol 1.3). Three headless
//! participants on hosts of their own, a real Janus, a room past `--mesh-max 1` from its
//! second participant on, so no mesh link ever carries it.

use std::time::Duration;

use crate::sfu::sfu_lab;
use crate::terminal_share::PROGRAM;

#[test]
fn a_shared_terminal_reaches_viewers_through_the_server_and_takes_keys_only_from_its_holder() {
    let Some(mut lab) = sfu_lab("sfut", 3, &["--mesh-max", "1"]) else {
        return;
    };
    let alice = format!(
        "join pair as alice\n\
         video none\n\
         audio silence\n\
         {PROGRAM}\n\
         expect peers 1 within 60s\n\
         expect chat from bob \"tried\" within 60s\n\
         terminal-control bob\n\
         chat yours\n\
         expect chat from bob \"typed\" within 60s\n\
         terminal-control off\n\
         chat revoked\n\
         expect chat from bob \"late sent\" within 60s\n\
         wait 1s\n\
         terminal-keys mine\\r\n\
         expect chat from carol \"seen\" within 120s\n\
         terminal-size 60x12\n\
         terminal-keys size\\r\n\
         expect chat from carol \"resized\" within 60s\n\
         expect chat from bob \"bye\" within 60s\n\
         leave\n"
    );
    let bob = "join pair as bob\n\
         video none\n\
         audio silence\n\
         expect terminal from alice \"hello again\" within 60s\n\
         terminal-keys to alice sneaky\\r\n\
         wait 1s\n\
         chat tried\n\
         expect chat from alice \"yours\" within 60s\n\
         terminal-keys to alice allowed\\r\n\
         expect terminal from alice \"line1:allowed\" within 20s\n\
         chat typed\n\
         expect chat from alice \"revoked\" within 60s\n\
         terminal-keys to alice late\\r\n\
         wait 1s\n\
         chat late sent\n\
         expect terminal from alice \"line2:mine\" within 20s\n\
         expect terminal from alice \"12 60\" within 60s\n\
         wait 500ms\n\
         chat bye\n\
         expect left alice within 60s\n\
         leave\n";
    // Carol comes late: the screen is already there, and she gets a new stream of it.
    let carol = "join pair as carol\n\
         video none\n\
         audio silence\n\
         expect terminal from alice \"line2:mine\" within 120s\n\
         chat seen\n\
         expect terminal from alice \"12 60\" within 60s\n\
         chat resized\n\
         wait 1s\n\
         leave\n";
    lab.start_one(0, "alice", &alice);
    lab.start_one(1, "bob", bob);
    // Carol comes some seconds later, whenever that falls in the others' script: nothing
    // she expects depends on when.
    std::thread::sleep(Duration::from_secs(10));
    lab.start_one(2, "carol", carol);
    let reports = lab.finish(&["alice", "bob", "carol"], Duration::from_secs(240));
    for (me, report) in ["alice", "bob", "carol"].iter().zip(&reports) {
        assert_eq!(report["media_mode"], "sfu", "{me}: {report:#}");
    }
    let seen_by_bob = &reports[1]["peers"]["alice"];
    assert!(
        seen_by_bob["terminal_updates"].as_u64().unwrap_or(0) >= 5,
        "{seen_by_bob:#}"
    );
    let errors = reports[1]["errors"].to_string();
    assert!(!errors.contains("cannot be shown"), "{errors}");
}
