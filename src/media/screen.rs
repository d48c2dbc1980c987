//! X11 screen capture with x11rb: MIT-SHM when the server has it, GetImage otherwise.
//! Captures the whole root window, scaled down to fit a maximum size.

// MIT-SHM needs a System V shared memory segment mapped into this process, which only
// unsafe calls can make; the workspace denies unsafe everywhere else.
#![allow(unsafe_code)]

use x11rb::connection::Connection;
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, Window};
use x11rb::rust_connection::RustConnection;

use super::frame::{now_ms, I420Frame, RgbFrame, VideoFrame};
use super::{MediaError, Pacer, VideoSource};

/// A System V shared memory segment attached to us and to the X server.
struct ShmSegment {
    seg: shm::Seg,
    addr: *mut u8,
    size: usize,
}

// SAFETY: the mapping is owned by this struct alone and only read through `&self`.
unsafe impl Send for ShmSegment {}

impl ShmSegment {
    fn new(conn: &RustConnection, size: usize) -> Option<ShmSegment> {
        // SAFETY: plain System V calls; every result is checked before use, and the segment
        // is marked for removal at once so it never outlives the process.
        unsafe {
            let id = libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | 0o600);
            if id < 0 {
                return None;
            }
            let addr = libc::shmat(id, std::ptr::null(), 0);
            if addr as isize == -1 {
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
                return None;
            }
            let seg = conn.generate_id().ok()?;
            let attached = conn
                .shm_attach(seg, id as u32, false)
                .ok()
                .and_then(|c| c.check().ok())
                .is_some();
            libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
            if !attached {
                libc::shmdt(addr);
                return None;
            }
            Some(ShmSegment {
                seg,
                addr: addr.cast(),
                size,
            })
        }
    }

    fn bytes(&self, len: usize) -> &[u8] {
        // SAFETY: `addr` maps `size` bytes for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.addr, len.min(self.size)) }
    }
}

impl Drop for ShmSegment {
    fn drop(&mut self) {
        // SAFETY: detaching the mapping this struct made.
        unsafe {
            libc::shmdt(self.addr.cast());
        }
    }
}

/// The largest screen picture sent by default; bigger screens are scaled down to fit.
pub const DEFAULT_MAX_SIZE: (usize, usize) = (1280, 720);

/// Captures an X11 screen.
pub struct ScreenSource {
    conn: RustConnection,
    root: Window,
    display: String,
    width: u16,
    height: u16,
    /// Largest picture sent; bigger screens are scaled down to fit.
    max_size: (usize, usize),
    shm: Option<ShmSegment>,
    /// Byte order of a pixel: offsets of red, green and blue in each 4-byte pixel.
    offsets: (usize, usize, usize),
    pacer: Option<Pacer>,
}

impl ScreenSource {
    /// Connects to `display` (or `$DISPLAY`) and captures its first screen at `fps`,
    /// scaled to fit `max_size`.
    pub fn open(
        display: Option<&str>,
        fps: f64,
        max_size: (usize, usize),
        paced: bool,
    ) -> Result<ScreenSource, MediaError> {
        let name = display
            .map(str::to_string)
            .or_else(|| std::env::var("DISPLAY").ok())
            .unwrap_or_default();
        if name.is_empty() {
            return Err(MediaError::Device(
                "no X display to capture: DISPLAY is not set; share a screen from a graphical session or name one with --screen :0".into(),
            ));
        }
        let (conn, screen_num) = x11rb::connect(Some(&name)).map_err(|e| {
            MediaError::Device(format!("cannot connect to X display {name:?}: {e}"))
        })?;
        let screen = &conn.setup().roots[screen_num];
        let (root, width, height, depth) = (
            screen.root,
            screen.width_in_pixels,
            screen.height_in_pixels,
            screen.root_depth,
        );
        if depth != 24 && depth != 32 {
            return Err(MediaError::Device(format!(
                "X display {name:?} has depth {depth}; only 24 and 32 bits are captured"
            )));
        }
        let visual = screen
            .allowed_depths
            .iter()
            .flat_map(|d| d.visuals.iter())
            .find(|v| v.visual_id == screen.root_visual);
        let offsets = match visual.map(|v| (v.red_mask, v.green_mask, v.blue_mask)) {
            Some((0xff, 0xff00, 0xff0000)) => (0, 1, 2),
            _ => (2, 1, 0),
        };
        let size = width as usize * height as usize * 4;
        let shm_ok = conn
            .shm_query_version()
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some();
        let shm = if shm_ok {
            ShmSegment::new(&conn, size)
        } else {
            None
        };
        if shm.is_none() {
            tracing::info!(display = %name, "MIT-SHM unavailable; capturing with GetImage");
        }
        Ok(ScreenSource {
            conn,
            root,
            display: name,
            width,
            height,
            max_size,
            shm,
            offsets,
            pacer: paced.then(|| Pacer::new(fps)),
        })
    }

    /// Whether captures go through shared memory.
    pub fn uses_shm(&self) -> bool {
        self.shm.is_some()
    }

    /// Captures one picture at full size.
    pub fn capture_rgb(&mut self) -> Result<RgbFrame, MediaError> {
        let (w, h) = (self.width as usize, self.height as usize);
        let failed = |e: &dyn std::fmt::Display| {
            MediaError::Stopped(format!("screen capture of {:?} failed: {e}", self.display))
        };
        let mut rgb = vec![0u8; w * h * 3];
        let (ro, go, bo) = self.offsets;
        let convert = |src: &[u8], rgb: &mut [u8]| {
            for (px, out) in src.chunks_exact(4).zip(rgb.chunks_exact_mut(3)) {
                out[0] = px[ro];
                out[1] = px[go];
                out[2] = px[bo];
            }
        };
        if let Some(shm) = &self.shm {
            let reply = self
                .conn
                .shm_get_image(
                    self.root,
                    0,
                    0,
                    self.width,
                    self.height,
                    !0,
                    ImageFormat::Z_PIXMAP.into(),
                    shm.seg,
                    0,
                )
                .map_err(|e| failed(&e))
                .and_then(|c| c.reply().map_err(|e| failed(&e)));
            match reply {
                Ok(reply) => {
                    let len = (reply.size as usize).min(w * h * 4);
                    convert(shm.bytes(len), &mut rgb);
                    return Ok(RgbFrame {
                        width: w,
                        height: h,
                        data: rgb,
                    });
                }
                Err(e) => {
                    // Some servers (remote, or with restrictive security) refuse SHM images.
                    tracing::info!("MIT-SHM capture failed ({e}); falling back to GetImage");
                    self.shm = None;
                }
            }
        }
        let reply = self
            .conn
            .get_image(
                ImageFormat::Z_PIXMAP,
                self.root,
                0,
                0,
                self.width,
                self.height,
                !0,
            )
            .map_err(|e| failed(&e))?
            .reply()
            .map_err(|e| failed(&e))?;
        convert(&reply.data, &mut rgb);
        Ok(RgbFrame {
            width: w,
            height: h,
            data: rgb,
        })
    }

    /// Stops using shared memory (for testing the GetImage path).
    pub fn disable_shm(&mut self) {
        self.shm = None;
    }
}

impl VideoSource for ScreenSource {
    fn next_frame(&mut self) -> Result<VideoFrame, MediaError> {
        if let Some(p) = &mut self.pacer {
            p.wait();
        }
        let rgb = self.capture_rgb()?;
        let picture = I420Frame::from_rgb(&rgb).fit_within(self.max_size.0, self.max_size.1);
        Ok(VideoFrame {
            picture,
            captured_ms: now_ms(),
        })
    }

    fn describe(&self) -> String {
        format!("screen {} ({}x{})", self.display, self.width, self.height)
    }
}

/// The X displays that can be captured: `$DISPLAY` when it answers.
pub fn list_screens() -> Vec<String> {
    let Ok(display) = std::env::var("DISPLAY") else {
        return Vec::new();
    };
    match x11rb::connect(Some(&display)) {
        Ok((conn, _)) => conn
            .setup()
            .roots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "{display}.{i} ({}x{})",
                    s.width_in_pixels, s.height_in_pixels
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}
