//! Turning decoded frames into terminal cells. Pure: nothing here awaits or does I/O.

pub mod bigtext;
pub mod color;
pub mod halfblock;

pub use color::ColorMode;
pub use halfblock::{CellColors, CellGrid, HalfBlockRenderer};
