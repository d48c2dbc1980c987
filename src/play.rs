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
use crate::render::{kitty, sixel};
use crate::render::{CellKind, ColorMode, HalfBlockRenderer};
use crate::term::{CountingWriter, LeanBackend};
pub use crate::termcaps::Graphics;
use crate::termcaps::{self, Questions};

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
    /// Draw real pixels by a graphics protocol instead of cells (`Auto`: when the terminal
    /// says it can).
    pub graphics: Graphics,
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
    /// Where the picture was on the screen in pixels (width, height, x, y), when the cell
    /// size in pixels was known.
    pub picture: Option<[usize; 4]>,
    /// Pixels instead of cells, and why.
    pub graphics: Graphics,
    /// Why the picture went as `graphics` says.
    pub graphics_why: String,
}

impl std::fmt::Display for PlayStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "frames drawn:        {}", self.frames)?;
        let drawn = match self.graphics {
            Graphics::Sixel => "sixel".to_string(),
            Graphics::Kitty => "kitty graphics".to_string(),
            Graphics::Off | Graphics::Auto => {
                format!("{:?}", self.mode.unwrap_or(ColorMode::TrueColor))
            }
        };
        writeln!(
            f,
            "tile:                {}x{} cells, {drawn}",
            self.size.0, self.size.1,
        )?;
        writeln!(f, "graphics:            {}", self.graphics_why)?;
        if let Some([w, h, x, y]) = self.picture {
            writeln!(f, "picture:             {w}x{h} pixels at {x},{y}")?;
        }
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
    if interactive {
        crossterm::terminal::enable_raw_mode().context("cannot put the terminal in raw mode")?;
        crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::EnterAlternateScreen,
            crossterm::cursor::Hide
        )?;
    }
    let (graphics, graphics_why, answered_cell) = settle_graphics(options.graphics, interactive);
    let run = Run {
        options,
        mode,
        count: &count,
        interactive,
        graphics,
        graphics_why,
        answered_cell,
    };
    let result = play_to(writer, &mut reader, &run);
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

/// What every part of one playback reads.
struct Run<'a> {
    options: &'a PlayOptions,
    /// Colour depth for cells.
    mode: ColorMode,
    /// Bytes written so far.
    count: &'a AtomicU64,
    /// Whether the output is the person's terminal (keys stop it).
    interactive: bool,
    /// Pixels or cells, `Auto` settled.
    graphics: Graphics,
    /// Why.
    graphics_why: String,
    /// The cell size the terminal answered, where the window size does not say.
    answered_cell: Option<(usize, usize)>,
}

/// What `--graphics` comes to, why, and the cell size the terminal answered: `auto` asks the
/// terminal (the caller has put it in raw mode) and draws cells when the output is not one.
fn settle_graphics(
    graphics: Graphics,
    interactive: bool,
) -> (Graphics, String, Option<(usize, usize)>) {
    match graphics {
        Graphics::Auto if interactive => {
            let tmux = termcaps::in_tmux();
            let questions = Questions {
                graphics: true,
                tmux,
                ..Questions::default()
            };
            let answers = termcaps::ask(&questions, termcaps::ANSWER_WAIT);
            let (graphics, why) = answers.choose(tmux);
            (graphics, why, answers.cell_pixels())
        }
        Graphics::Auto => (
            Graphics::Off,
            "cells: the output is not a terminal to ask".into(),
            None,
        ),
        Graphics::Off => (Graphics::Off, "cells: --graphics off".into(), None),
        given => (given, format!("{given}: --graphics {given}"), None),
    }
}

fn play_to<W: Write>(
    writer: CountingWriter<W>,
    reader: &mut Y4mReader,
    run: &Run<'_>,
) -> anyhow::Result<PlayStats> {
    let (options, interactive) = (run.options, run.interactive);
    let cell = interactive
        .then(termcaps::window_cell_pixels)
        .flatten()
        .or(run.answered_cell);
    let size = match options.size {
        Some(size) => size,
        None if interactive => crossterm::terminal::size()?,
        None => (80, 24),
    };
    if run.graphics != Graphics::Off {
        // Without the terminal's word, a common cell of 10x20 pixels.
        let cell = cell.unwrap_or((10, 20));
        return play_pixels(writer, reader, run, (size, cell));
    }
    let mut terminal = if interactive {
        Terminal::new(LeanBackend::new(writer))?
    } else {
        Terminal::with_options(
            LeanBackend::new(writer),
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, size.0, size.1)),
            },
        )?
    };
    let mut stats = play_frames(&mut terminal, reader, run)?;
    if let Some((cw, ch)) = cell {
        let (fw, fh) = (reader.header.width, reader.header.height);
        let p = crate::render::grid::place(fw, fh, stats.size.0.into(), stats.size.1.into());
        stats.picture = Some([p.width * cw, p.height / 2 * ch, p.x * cw, p.y / 2 * ch]);
    }
    stats.graphics = Graphics::Off;
    stats.graphics_why = run.graphics_why.clone();
    Ok(stats)
}

/// Plays the clip as pictures by sixel or kitty's protocol, fitted to `size` cells of
/// `cell` pixels, each drawn at the cursor from the picture's top left cell. One cell row is
/// kept free below, so that the terminal does not scroll when a picture ends on the last row.
fn play_pixels<W: Write>(
    mut out: CountingWriter<W>,
    reader: &mut Y4mReader,
    run: &Run<'_>,
    ((cols, rows), (cw, ch)): ((u16, u16), (usize, usize)),
) -> anyhow::Result<PlayStats> {
    let (tw, th) = (
        usize::from(cols) * cw,
        usize::from(rows).saturating_sub(1) * ch,
    );
    let (fw, fh) = (reader.header.width, reader.header.height);
    let p = crate::render::grid::fit_pixels((fw, fh), (tw, th));
    let x_cells = tw.saturating_sub(p.width) / 2 / cw.max(1);
    let y_cells = th.saturating_sub(p.height) / 2 / ch.max(1);
    let mut m = Measures::default();
    let sixels = run.graphics == Graphics::Sixel;
    if sixels {
        out.write_all(sixel::PRIVATE_REGISTERS)?;
    }
    each_frame(reader, run, &mut m, |rgb| {
        let pixels: Vec<u8> = crate::render::grid::average(rgb, &p, 1, 2)
            .into_iter()
            .flatten()
            .collect();
        write!(out, "\x1b[{};{}H", y_cells + 1, x_cells + 1)?;
        out.write_all(&if sixels {
            sixel::encode(&pixels, p.width, p.height)
        } else {
            kitty::encode(&pixels, p.width, p.height)
        })?;
        out.flush()?;
        // Kitty's pictures arrive as sent; sixel's in its palette.
        Ok(Box::new(move || {
            let shown: Vec<u8> = pixels
                .chunks_exact(3)
                .flat_map(|c| {
                    let px = [c[0], c[1], c[2]];
                    if sixels {
                        sixel::shown(px)
                    } else {
                        px
                    }
                })
                .collect();
            psnr(&pixels, &shown)
        }))
    })?;
    let mut stats = m.stats();
    stats.size = (cols, rows);
    stats.graphics = run.graphics;
    stats.graphics_why = run.graphics_why.clone();
    stats.picture = Some([p.width, p.height, x_cells * cw, y_cells * ch]);
    Ok(stats)
}

/// What each frame measured.
#[derive(Default)]
struct Measures {
    times: Vec<f64>,
    bytes: Vec<f64>,
    psnrs: Vec<f64>,
}

impl Measures {
    fn stats(mut self) -> PlayStats {
        self.times.sort_by(f64::total_cmp);
        let mean_bytes = self.bytes.iter().sum::<f64>() / self.bytes.len().max(1) as f64;
        self.bytes.sort_by(f64::total_cmp);
        PlayStats {
            frames: self.times.len(),
            render_ms: (percentile(&self.times, 0.5), percentile(&self.times, 0.95)),
            bytes_per_frame: (percentile(&self.bytes, 0.5), mean_bytes),
            psnr_db: self.psnrs.iter().sum::<f64>() / self.psnrs.len().max(1) as f64,
            ..PlayStats::default()
        }
    }
}

/// What a drawn frame's PSNR is, worked out after its time is taken.
type Score = Box<dyn FnOnce() -> f64>;

/// Calls `draw` on each frame of the clip, `options.repeat` times over, at the clip's rate
/// unless `options.fast`, until a key says stop; measures each draw's time and bytes, and
/// the PSNR it gives back, into `m`.
fn each_frame(
    reader: &mut Y4mReader,
    run: &Run<'_>,
    m: &mut Measures,
    mut draw: impl FnMut(&crate::media::RgbFrame) -> anyhow::Result<Score>,
) -> anyhow::Result<()> {
    let (options, count) = (run.options, run.count);
    let mut pacer = Pacer::new(reader.header.fps);
    for _ in 0..options.repeat.max(1) {
        reader.rewind()?;
        while let Some(frame) = reader.read_frame()? {
            if run.interactive && quit_requested()? {
                return Ok(());
            }
            if !options.fast {
                pacer.wait();
            }
            let rgb = frame.to_rgb();
            let before = count.load(Ordering::Relaxed);
            let start = Instant::now();
            let score = draw(&rgb)?;
            m.times.push(start.elapsed().as_secs_f64() * 1000.0);
            m.bytes
                .push((count.load(Ordering::Relaxed) - before) as f64);
            m.psnrs.push(score());
        }
    }
    Ok(())
}

fn play_frames<W: Write>(
    terminal: &mut Terminal<LeanBackend<CountingWriter<W>>>,
    reader: &mut Y4mReader,
    run: &Run<'_>,
) -> anyhow::Result<PlayStats> {
    let (options, mode) = (run.options, run.mode);
    let mut renderer = HalfBlockRenderer::new(mode, options.tolerance).with_cells(options.cells);
    let mut m = Measures::default();
    let mut size = (0, 0);
    each_frame(reader, run, &mut m, |rgb| {
        let mut area = Rect::default();
        terminal.draw(|f| {
            area = f.area();
            renderer.render(rgb, area, f.buffer_mut());
        })?;
        size = (area.width, area.height);
        let shown = renderer.last_cells().cloned();
        let rgb = rgb.clone();
        Ok(Box::new(move || {
            shown.map_or(0.0, |shown| shown_psnr(&rgb, &shown, mode))
        }))
    })?;
    Ok(PlayStats {
        mode: Some(mode),
        size,
        ..m.stats()
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
