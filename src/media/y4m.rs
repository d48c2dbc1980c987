//! Y4M (YUV4MPEG2) video files, 4:2:0 only, looped or played once.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::frame::{now_ms, I420Frame, VideoFrame};
use super::{MediaError, Pacer, VideoSource};

/// The header of a Y4M file.
#[derive(Clone, Debug, PartialEq)]
pub struct Y4mHeader {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Frames a second.
    pub fps: f64,
}

/// Reads frames from a Y4M file.
pub struct Y4mReader {
    path: PathBuf,
    reader: BufReader<File>,
    /// The header's fields.
    pub header: Y4mHeader,
    /// Byte offset of the first `FRAME`.
    first_frame: u64,
    /// Frames read so far (from the start of the file).
    pub frames_read: u64,
}

fn bad(path: &Path, reason: impl Into<String>) -> MediaError {
    MediaError::File {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Reads one `\n`-terminated line of at most 1024 bytes.
fn read_line(reader: &mut impl BufRead, path: &Path) -> Result<Option<String>, MediaError> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(1024)
        .read_until(b'\n', &mut line)
        .map_err(|e| bad(path, e.to_string()))?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(bad(
            path,
            "a header line is not terminated (truncated file?)",
        ));
    }
    line.pop();
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| bad(path, "a header line is not text"))
}

impl Y4mReader {
    /// Opens a file and reads its header. Only 4:2:0 colour spaces are accepted.
    pub fn open(path: &Path) -> Result<Y4mReader, MediaError> {
        let file = File::open(path).map_err(|e| bad(path, format!("cannot open: {e}")))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let line = read_line(&mut reader, path)?.ok_or_else(|| bad(path, "the file is empty"))?;
        let header = parse_header(&line).map_err(|e| bad(path, e))?;
        let first_frame = reader
            .stream_position()
            .map_err(|e| bad(path, e.to_string()))?;
        let mut y4m = Y4mReader {
            path: path.to_path_buf(),
            reader,
            header,
            first_frame,
            frames_read: 0,
        };
        // A file with no whole frame is an error now rather than a silent blank later.
        if y4m.read_frame()?.is_none() {
            return Err(bad(path, "the file holds no complete frame"));
        }
        y4m.rewind()?;
        Ok(y4m)
    }

    /// Goes back to the first frame.
    pub fn rewind(&mut self) -> Result<(), MediaError> {
        self.reader
            .seek(SeekFrom::Start(self.first_frame))
            .map_err(|e| bad(&self.path, e.to_string()))?;
        Ok(())
    }

    /// The next frame, or `None` at the end. A truncated last frame counts as the end.
    pub fn read_frame(&mut self) -> Result<Option<I420Frame>, MediaError> {
        let Some(line) = read_line(&mut self.reader, &self.path)? else {
            return Ok(None);
        };
        if !line.starts_with("FRAME") {
            return Err(bad(
                &self.path,
                format!(
                    "expected FRAME after frame {}, found {:?}",
                    self.frames_read,
                    truncate(&line)
                ),
            ));
        }
        let (w, h) = (self.header.width, self.header.height);
        let mut f = I420Frame::zeroed(w, h);
        for plane in [&mut f.y, &mut f.u, &mut f.v] {
            if let Err(e) = self.reader.read_exact(plane) {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    tracing::warn!(path = %self.path.display(), frame = self.frames_read, "truncated last frame skipped");
                    return Ok(None);
                }
                return Err(bad(&self.path, e.to_string()));
            }
        }
        self.frames_read += 1;
        Ok(Some(f))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Parses `YUV4MPEG2 W.. H.. F..:.. C..`.
pub fn parse_header(line: &str) -> Result<Y4mHeader, String> {
    let mut parts = line.split(' ');
    if parts.next() != Some("YUV4MPEG2") {
        return Err("not a Y4M file (it must start with YUV4MPEG2)".into());
    }
    let (mut width, mut height, mut fps) = (None, None, 30.0);
    for part in parts.filter(|p| !p.is_empty()) {
        let (tag, value) = part.split_at(1);
        match tag {
            "W" => width = value.parse::<usize>().ok(),
            "H" => height = value.parse::<usize>().ok(),
            "F" => {
                let (n, d) = value
                    .split_once(':')
                    .ok_or(format!("bad frame rate {value:?}"))?;
                let (n, d): (f64, f64) = (
                    n.parse().map_err(|_| format!("bad frame rate {value:?}"))?,
                    d.parse().map_err(|_| format!("bad frame rate {value:?}"))?,
                );
                if n <= 0.0 || d <= 0.0 || n / d > 240.0 {
                    return Err(format!("frame rate {value:?} is out of range"));
                }
                fps = n / d;
            }
            "C" => {
                if !value.starts_with("420") {
                    return Err(format!(
                        "colour space C{value} is not supported; convert to 4:2:0, e.g. ffmpeg -i in.y4m -pix_fmt yuv420p out.y4m"
                    ));
                }
                if value.contains("p10") || value.contains("p12") || value.contains("p16") {
                    return Err(format!(
                        "colour space C{value} is not 8-bit; convert to yuv420p"
                    ));
                }
            }
            _ => {}
        }
    }
    let (Some(width), Some(height)) = (width, height) else {
        return Err("the header has no width (W) or height (H)".into());
    };
    if width == 0 || height == 0 || width > 8192 || height > 8192 {
        return Err(format!("picture size {width}x{height} is out of range"));
    }
    Ok(Y4mHeader { width, height, fps })
}

/// A Y4M file as a video source: paced at the file's frame rate, looped.
pub struct Y4mSource {
    reader: Y4mReader,
    pacer: Option<Pacer>,
}

impl Y4mSource {
    /// Opens `path`; `paced` makes `next_frame` wait for each frame's time.
    pub fn open(path: &Path, paced: bool) -> Result<Y4mSource, MediaError> {
        let reader = Y4mReader::open(path)?;
        let fps = reader.header.fps;
        Ok(Y4mSource {
            reader,
            pacer: paced.then(|| Pacer::new(fps)),
        })
    }
}

impl VideoSource for Y4mSource {
    fn next_frame(&mut self) -> Result<VideoFrame, MediaError> {
        if let Some(p) = &mut self.pacer {
            p.wait();
        }
        let picture = match self.reader.read_frame()? {
            Some(f) => f,
            None => {
                self.reader.rewind()?;
                self.reader
                    .read_frame()?
                    .ok_or_else(|| bad(&self.reader.path, "no frames"))?
            }
        };
        Ok(VideoFrame {
            picture,
            captured_ms: now_ms(),
        })
    }

    fn describe(&self) -> String {
        format!("file {}", self.reader.path.display())
    }
}

/// Writes frames as a Y4M file (for tests and tools).
pub fn write_y4m(path: &Path, frames: &[I420Frame], fps: u32) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(File::create(path)?);
    let (w, h) = frames
        .first()
        .map(|f| (f.width, f.height))
        .unwrap_or((2, 2));
    writeln!(out, "YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg")?;
    for f in frames {
        out.write_all(b"FRAME\n")?;
        out.write_all(&f.y)?;
        out.write_all(&f.u)?;
        out.write_all(&f.v)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let h = parse_header("YUV4MPEG2 W640 H480 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG")
            .unwrap();
        assert_eq!((h.width, h.height), (640, 480));
        assert!((h.fps - 29.97).abs() < 0.01);
        assert!(parse_header("YUV4MPEG2 W640 H480 C444")
            .unwrap_err()
            .contains("C444"));
        assert!(parse_header("YUV4MPEG2 W640 H480 C420p10").is_err());
        assert!(parse_header("YUV4MPEG2 H480").is_err());
        assert!(parse_header("RIFF").is_err());
        assert!(parse_header("YUV4MPEG2 W0 H480").is_err());
        assert!(parse_header("YUV4MPEG2 W64 H48 F1:0").is_err());
    }
}
