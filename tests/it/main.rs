//! The client's integration tests, one module per area, in one binary so the crate and its
//! dependencies are linked once rather than once per file.

mod common;

mod architecture;
mod audio_processing;
mod browser;
mod call_churn;
mod call_link;
mod cluster_media;
mod device_switch;
mod devices;
mod echo_matrix;
mod headless_bad_peers;
mod headless_mesh;
mod headless_outage;
mod install;
mod kitty_terminal;
mod media_codecs;
mod media_files;
mod network;
mod pipewire;
mod play_cli;
mod secure;
mod sfu;
mod sfu_browser;
mod sfu_remb;
mod sfu_terminal;
mod signaling_client;
mod sixel_xterm;
mod slow_terminal;
mod ssh;
mod terminal_share;
mod true_state;
mod tui_tmux;
mod ui_snapshots;
