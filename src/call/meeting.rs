//! The meeting state's one writer. The driver owns a [`Meeting`]; every change goes through
//! it and wakes whoever subscribed (the terminal driver, the headless runner), and reads take
//! no copy and count no change.

use tokio::sync::watch;

use super::state::MeshState;

/// The writing end of the meeting state, owned by the driver.
pub struct Meeting {
    tx: watch::Sender<MeshState>,
}

impl Meeting {
    /// A meeting state starting as `initial`.
    pub fn new(initial: MeshState) -> Meeting {
        let (tx, _) = watch::channel(initial);
        Meeting { tx }
    }

    /// A subscription: `changed().await` wakes after each change people can see.
    pub fn subscribe(&self) -> watch::Receiver<MeshState> {
        self.tx.subscribe()
    }

    /// Reads the state without changing it.
    pub fn read<T>(&self, f: impl FnOnce(&MeshState) -> T) -> T {
        f(&self.tx.borrow())
    }

    /// Changes the state and tells the subscribers.
    pub fn update<T>(&self, f: impl FnOnce(&mut MeshState) -> T) -> T {
        let mut f = Some(f);
        let mut out = None;
        self.tx.send_modify(|s| {
            s.version += 1;
            out = f.take().map(|f| f(s));
        });
        // `send_modify` runs its closure exactly once.
        out.unwrap_or_else(|| unreachable!("send_modify ran no closure"))
    }

    /// Changes the state, telling the subscribers only when `f` says the change is one
    /// people can see (a counter that moved is not; someone starting to speak is).
    pub fn update_if(&self, f: impl FnOnce(&mut MeshState) -> bool) {
        self.tx.send_if_modified(|s| {
            let seen = f(s);
            if seen {
                s.version += 1;
            }
            seen
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_wake_for_changes_people_see_and_reads_count_none() {
        let meeting = Meeting::new(MeshState::default());
        let mut sub = meeting.subscribe();
        sub.borrow_and_update();
        let before = meeting.read(|s| s.version);
        meeting.read(|s| s.connected);
        assert!(!sub.has_changed().unwrap());
        meeting.update_if(|s| {
            s.signaling = "quiet".into();
            false
        });
        assert!(!sub.has_changed().unwrap());
        assert_eq!(meeting.read(|s| s.signaling.clone()), "quiet");
        meeting.update(|s| s.connected = true);
        assert!(sub.has_changed().unwrap());
        assert!(sub.borrow_and_update().connected);
        assert_eq!(meeting.read(|s| s.version), before + 1);
    }
}
