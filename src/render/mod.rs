//! Turning decoded frames into terminal cells. Pure: nothing here awaits or does I/O.

pub mod bigtext;
pub mod cells;
pub mod color;
pub mod grid;
pub mod halfblock;
pub mod kitty;
pub mod sextant;
pub mod sixel;

pub use cells::CellKind;
pub use color::ColorMode;
pub use grid::{CellColors, CellGrid};
pub use halfblock::HalfBlockRenderer;
