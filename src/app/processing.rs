//! The microphone's audio processing as the app shows it, and `a`, which turns it all off
//! and back to what it was.

use super::{App, Effect};
use crate::call::mesh::MeshCommand;
use crate::media::processing::{Feature, Features, ProcessingFigures};

/// What the echo line and the notice say when the echo still goes out.
pub const NOT_CONVERGED: &str = "echo: not converged — headphones?";

/// The microphone's audio processing as the UI shows it: what is on, and the echo
/// canceller's figures rounded to what is drawn (so a change is worth a redraw).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessingView {
    /// The features on.
    pub features: Features,
    /// Whether a live microphone is processed (a tone or a file is not).
    pub active: bool,
    /// Echo return loss enhancement, whole dB.
    pub erle_db: Option<i32>,
    /// The echo's delay, ms.
    pub delay_ms: Option<i32>,
    /// How much lower the echo goes out than the microphone hears it, whole dB.
    pub taken_out_db: Option<i32>,
    /// The echo still goes out after 10 s of far-end sound.
    pub not_converged: bool,
}

impl ProcessingView {
    /// The view of what the mesh reports.
    pub fn of(features: Features, figures: &ProcessingFigures) -> ProcessingView {
        ProcessingView {
            features,
            active: figures.active,
            erle_db: figures.erle_db.map(|e| e.round() as i32),
            delay_ms: figures.delay_ms,
            taken_out_db: figures.echo_taken_out_db.map(|e| e.round() as i32),
            not_converged: figures.echo_not_converged,
        }
    }

    /// What is on, for people: "sound: echo noise gain", or how to turn it on.
    pub fn describe(&self) -> String {
        if !self.features.any() {
            "sound processing off (a: on)".into()
        } else if !self.active {
            format!("sound: {} (idle)", self.features.describe())
        } else {
            format!("sound: {}", self.features.describe())
        }
    }

    /// What the echo canceller achieves, while it runs: "echo -24 dB, 64 ms", the echo as
    /// it goes out against the microphone where the speaker is heard (else the canceller's
    /// own figure), or that it has not converged.
    pub fn figures(&self) -> Option<String> {
        if !(self.active && self.features.echo) {
            return None;
        }
        if self.not_converged {
            return Some(NOT_CONVERGED.into());
        }
        let (erle, delay) = (self.taken_out_db.or(self.erle_db)?, self.delay_ms?);
        Some(format!("echo -{erle} dB, {delay} ms"))
    }
}

impl App {
    /// `a`: every audio processing feature off, or back to what was on before (all of them
    /// when nothing was).
    pub(super) fn toggle_processing(&mut self) -> Vec<Effect> {
        let now = self.processing.map(|p| p.features).unwrap_or_default();
        let next = if now.any() {
            self.processing_before = Some(now);
            Features {
                echo: false,
                noise: false,
                gain: false,
                suppressor: now.suppressor,
            }
        } else {
            self.processing_before.take().unwrap_or_default()
        };
        if let Some(view) = &mut self.processing {
            view.features = next;
        }
        Feature::ALL
            .iter()
            .map(|f| Effect::Mesh(MeshCommand::AudioProcessing(*f, next.get(*f))))
            .collect()
    }
}
