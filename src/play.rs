//! `termmeet play FILE.y4m`: plays a clip through the same renderer and ratatui terminal the
//! meeting uses, so a person can check their terminal and a benchmark can measure the bytes
//! written per frame.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use crate::media::frame::psnr;
use crate::media::y4m::Y4mReader;
use crate::media::Pacer;
use crate::render::cells::source_raster;
use crate::render::{CellKind, ColorMode, HalfBlockRenderer};
use crate::term::{CountingWriter, LeanBackend};

/// How to play.
#[derive(Clone, Debug)]
pub struct PlayOptions {
    /// The Y4M clip.
    pub file: PathBuf,
    /// Tile size in cells; required when the output is not a terminal.
    pub size: Option<(u16, u16)>,
    /// Colour depth (default: from the environment).
    pub colors: Option<ColorMode>,
    /// Colour tolerance (largest per-channel change that leaves a cell as it was).
    pub tolerance: u8,
    /// Play the clip this many times.
    pub repeat: u32,
    /// Draw as fast as possible instead of at the clip's frame rate.
    pub fast: bool,
    /// The characters drawn with.
    pub cells: CellKind,
}

/// What a playback measured.
#[derive(Clone, Debug, Default)]
pub struct PlayStats {
    /// Frames drawn.
    pub frames: usize,
    /// Time to render and write one frame, milliseconds: p50, p95.
    pub render_ms: (f64, f64),
    /// Bytes written to the terminal per frame: p50, mean.
    pub bytes_per_frame: (f64, f64),
    /// Mean PSNR of what the terminal shows against the frame scaled to the same pixels, dB.
    pub psnr_db: f64,
    /// The colour mode drawn in.
    pub mode: Option<ColorMode>,
    /// The tile size, cells.
    pub size: (u16, u16),
}

impl std::fmt::Display for PlayStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "frames drawn:        {}", self.frames)?;
        writeln!(
            f,
            "tile:                {}x{} cells, {:?}",
            self.size.0,
            self.size.1,
            self.mode.unwrap_or(ColorMode::TrueColor)
        )?;
        writeln!(
            f,
            "render time/frame:   p50 {:.3} ms, p95 {:.3} ms",
            self.render_ms.0, self.render_ms.1
        )?;
        writeln!(
            f,
            "bytes/frame:         p50 {:.0}, mean {:.0}",
            self.bytes_per_frame.0, self.bytes_per_frame.1
        )?;
        write!(f, "PSNR vs scaled frame: {:.1} dB", self.psnr_db)
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Plays the clip; returns what was measured.
pub fn run(options: &PlayOptions) -> anyhow::Result<PlayStats> {
    let mut reader = Y4mReader::open(&options.file)?;
    let interactive = std::io::stdout().is_terminal() && options.size.is_none();
    let mode = options.colors.unwrap_or_else(ColorMode::from_env);
    let (writer, count) = CountingWriter::new(std::io::stdout());
    let mut terminal = if interactive {
        crossterm::terminal::enable_raw_mode().context("cannot put the terminal in raw mode")?;
        crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::EnterAlternateScreen,
            crossterm::cursor::Hide
        )?;
        Terminal::new(LeanBackend::new(writer))?
    } else {
        let (w, h) = options.size.unwrap_or((80, 24));
        Terminal::with_options(
            LeanBackend::new(writer),
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
            },
        )?
    };
    let result = play_frames(
        &mut terminal,
        &mut reader,
        options,
        mode,
        &count,
        interactive,
    );
    if interactive {
        let _ = crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::LeaveAlternateScreen,
            crossterm::cursor::Show
        );
        let _ = crossterm::terminal::disable_raw_mode();
    }
    result
}

fn play_frames<W: Write>(
    terminal: &mut Terminal<LeanBackend<CountingWriter<W>>>,
    reader: &mut Y4mReader,
    options: &PlayOptions,
    mode: ColorMode,
    count: &AtomicU64,
    interactive: bool,
) -> anyhow::Result<PlayStats> {
    let mut renderer = HalfBlockRenderer::new(mode, options.tolerance).with_cells(options.cells);
    let mut pacer = Pacer::new(reader.header.fps);
    let (mut times, mut bytes, mut psnrs) = (Vec::new(), Vec::new(), Vec::new());
    let mut size = (0, 0);
    'outer: for _ in 0..options.repeat.max(1) {
        reader.rewind()?;
        while let Some(frame) = reader.read_frame()? {
            if interactive && quit_requested()? {
                break 'outer;
            }
            if !options.fast {
                pacer.wait();
            }
            let rgb = frame.to_rgb();
            let before = count.load(Ordering::Relaxed);
            let start = Instant::now();
            let mut area = Rect::default();
            terminal.draw(|f| {
                area = f.area();
                renderer.render(&rgb, area, f.buffer_mut());
            })?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            bytes.push((count.load(Ordering::Relaxed) - before) as f64);
            size = (area.width, area.height);
            if let Some(shown) = renderer.last_cells() {
                psnrs.push(shown_psnr(&rgb, shown, mode));
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let mean_bytes = bytes.iter().sum::<f64>() / bytes.len().max(1) as f64;
    bytes.sort_by(f64::total_cmp);
    Ok(PlayStats {
        frames: times.len(),
        render_ms: (percentile(&times, 0.5), percentile(&times, 0.95)),
        bytes_per_frame: (percentile(&bytes, 0.5), mean_bytes),
        psnr_db: psnrs.iter().sum::<f64>() / psnrs.len().max(1) as f64,
        mode: Some(mode),
        size,
    })
}

/// PSNR of the colours the terminal shows against the picture area-averaged to two by six
/// pixels a cell (where every kind of cell is exact), over the cells of picture.
fn shown_psnr(
    rgb: &crate::media::RgbFrame,
    shown: &crate::render::CellGrid,
    mode: ColorMode,
) -> f64 {
    let exact = source_raster(rgb, shown.cols, shown.rows);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (e, s) in exact.iter().zip(&shown.cells) {
        if let (Some(e), Some(s)) = (e, s) {
            for (i, px) in e.iter().enumerate() {
                a.extend(px);
                b.extend(mode.shown(s.at(i % 2, i / 2)));
            }
        }
    }
    psnr(&a, &b)
}

fn quit_requested() -> anyhow::Result<bool> {
    while event::poll(Duration::ZERO)? {
        if let Event::Key(key) = event::read()? {
            let ctrl_c =
                key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
            if key.kind == KeyEventKind::Press
                && (matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c)
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Parses `COLSxROWS`.
pub fn parse_size(text: &str) -> Result<(u16, u16), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{text:?} is not a size; write it like 80x24"))?;
    let (w, h): (u16, u16) = (
        w.trim()
            .parse()
            .map_err(|_| format!("{text:?}: bad width"))?,
        h.trim()
            .parse()
            .map_err(|_| format!("{text:?}: bad height"))?,
    );
    if w == 0 || h == 0 || w > 1000 || h > 1000 {
        return Err(format!("{text:?} is out of range (1x1 to 1000x1000)"));
    }
    Ok((w, h))
}
