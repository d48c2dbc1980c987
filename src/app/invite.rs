//! What others need to join a meeting this process serves. It lives with the app, which
//! shows it in the status bar and the help, and the session that serves the meeting fills it.

/// What others need to join a meeting this process serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// The `termmeet join …` command line for other terminals.
    pub command: String,
    /// The link for browsers.
    pub page: String,
}
