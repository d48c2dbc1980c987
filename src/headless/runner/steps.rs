//! The lines of a script after its `join`, one at a time: a command goes to the mesh at once,
//! a `wait` sleeps, an expectation waits for what it expects.

use super::expect::{expect, Seen};
use crate::call::mesh::{Mesh, MeshCommand};
use crate::headless::script::Step;

/// Runs one line: whether it held, and what was seen.
pub(super) async fn run_step(mesh: &Mesh, step: &Step) -> (bool, String) {
    let outcome: Seen = match step {
        Step::Wait(d) => {
            tokio::time::sleep(*d).await;
            Ok(String::new())
        }
        Step::Join { .. } => Ok(String::new()),
        _ => match commands_for(mesh, step) {
            Ok(Some(commands)) => {
                for c in commands {
                    mesh.command(c);
                }
                Ok(String::new())
            }
            Ok(None) => expect(mesh, step).await,
            Err(e) => Err(e),
        },
    };
    match outcome {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    }
}

/// The commands a command line sends, `None` for a line that is no command, or why it
/// cannot be sent (it names someone who is not in the room).
fn commands_for(mesh: &Mesh, step: &Step) -> Result<Option<Vec<MeshCommand>>, String> {
    let id_of = |name: &str| {
        mesh.read(|s| s.id_of(name))
            .ok_or_else(|| format!("{name} is not in the room"))
    };
    let commands = match step {
        Step::Command(c) => vec![c.clone()],
        Step::Video(spec) => vec![MeshCommand::UseCamera(spec.clone())],
        Step::Audio(spec) => vec![MeshCommand::UseMicrophone(spec.clone())],
        Step::ScreenSource(spec) => vec![MeshCommand::UseScreen(spec.clone())],
        Step::HandLowerFor(name) => vec![MeshCommand::HandLower(Some(id_of(name)?))],
        Step::Show(names) => {
            let ids = names
                .as_ref()
                .map(|n| {
                    n.iter()
                        .map(|name| id_of(name))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?;
            vec![MeshCommand::View(ids)]
        }
        Step::TerminalKeys { to, bytes } => vec![MeshCommand::TerminalKeys {
            to: to.as_deref().map(id_of).transpose()?,
            bytes: bytes.clone(),
        }],
        Step::AudioProcessing { features, on } => features
            .iter()
            .map(|f| MeshCommand::AudioProcessing(*f, *on))
            .collect(),
        Step::TerminalControl(name) => vec![MeshCommand::TerminalControl(
            name.as_deref().map(id_of).transpose()?,
        )],
        _ => return Ok(None),
    };
    Ok(Some(commands))
}
