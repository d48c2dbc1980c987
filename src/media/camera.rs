//! Cameras through nokhwa (V4L2 on Linux), converted to I420.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use nokhwa::Camera;

use super::frame::{now_ms, I420Frame, RgbFrame, VideoFrame};
use super::{MediaError, VideoSource};

/// A camera as found on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraDevice {
    /// Position in the list, as `--camera` takes it.
    pub index: u32,
    /// The name people know it by.
    pub name: String,
    /// More detail from the driver.
    pub description: String,
}

/// Cameras found on this machine (an empty list, not an error, when there are none).
pub fn list_cameras() -> Vec<CameraDevice> {
    match nokhwa::query(ApiBackend::Auto) {
        Ok(list) => list
            .into_iter()
            .enumerate()
            .map(|(i, info)| CameraDevice {
                index: match info.index() {
                    CameraIndex::Index(n) => *n,
                    CameraIndex::String(_) => i as u32,
                },
                name: info.human_name(),
                description: info.description().to_string(),
            })
            .collect(),
        Err(e) => {
            tracing::debug!("camera query failed: {e}");
            Vec::new()
        }
    }
}

/// Which camera to open: `None` is the first one; a number is an index; anything else is
/// matched against names (case-insensitive substring).
pub fn choose_camera(
    wanted: Option<&str>,
    found: &[CameraDevice],
) -> Result<CameraDevice, MediaError> {
    let names = || {
        found
            .iter()
            .map(|c| format!("{} ({})", c.name, c.index))
            .collect()
    };
    let hit = match wanted {
        None => found.first(),
        Some(w) => match w.parse::<u32>() {
            Ok(n) => found.iter().find(|c| c.index == n),
            Err(_) => {
                let w = w.to_lowercase();
                found.iter().find(|c| c.name.to_lowercase().contains(&w))
            }
        },
    };
    hit.cloned().ok_or_else(|| MediaError::NoCamera {
        wanted: match wanted {
            None => "at all".to_string(),
            Some(w) => format!("matching {w:?}"),
        },
        found: names(),
    })
}

/// A camera delivering frames from its own capture thread.
pub struct CameraSource {
    name: String,
    frames: mpsc::Receiver<Result<VideoFrame, MediaError>>,
    /// Dropped to stop the capture thread.
    _stop: mpsc::Sender<()>,
}

impl CameraSource {
    /// Opens a camera (see [`choose_camera`]) asking for the format closest to
    /// `width` x `height` at `fps`.
    pub fn open(
        wanted: Option<&str>,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<CameraSource, MediaError> {
        let device = choose_camera(wanted, &list_cameras())?;
        let (tx, rx) = mpsc::sync_channel(2);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let name = device.name.clone();
        thread::Builder::new()
            .name("camera".into())
            .spawn(move || {
                let format = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(
                    CameraFormat::new(Resolution::new(width, height), FrameFormat::MJPEG, fps),
                ));
                let mut camera = match Camera::new(CameraIndex::Index(device.index), format)
                    .and_then(|mut c| c.open_stream().map(|_| c))
                {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(MediaError::Device(format!(
                            "cannot open camera {:?}: {e}; is another program using it?",
                            device.name
                        ))));
                        return;
                    }
                };
                loop {
                    if !matches!(stop_rx.try_recv(), Err(mpsc::TryRecvError::Empty)) {
                        break;
                    }
                    let frame = camera
                        .frame()
                        .and_then(|buffer| buffer.decode_image::<RgbFormat>())
                        .map(|image| {
                            let (w, h) = (image.width() as usize, image.height() as usize);
                            let rgb = RgbFrame {
                                width: w,
                                height: h,
                                data: image.into_raw(),
                            };
                            VideoFrame {
                                picture: I420Frame::from_rgb(&rgb),
                                captured_ms: now_ms(),
                            }
                        })
                        .map_err(|e| {
                            MediaError::Stopped(format!(
                                "camera {:?} stopped delivering frames: {e}",
                                device.name
                            ))
                        });
                    let failed = frame.is_err();
                    if tx.send(frame).is_err() || failed {
                        break;
                    }
                }
                let _ = camera.stop_stream();
            })
            .map_err(|e| MediaError::Device(format!("cannot start the camera thread: {e}")))?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(CameraSource {
                name,
                frames: rx,
                _stop: stop_tx,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(MediaError::Device(format!(
                "camera {name:?} did not start within 10 s"
            ))),
        }
    }
}

impl VideoSource for CameraSource {
    fn next_frame(&mut self) -> Result<VideoFrame, MediaError> {
        match self.frames.recv_timeout(Duration::from_secs(5)) {
            Ok(frame) => frame,
            Err(_) => Err(MediaError::Stopped(format!(
                "camera {:?} stopped delivering frames (unplugged?)",
                self.name
            ))),
        }
    }

    fn describe(&self) -> String {
        format!("camera {}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(index: u32, name: &str) -> CameraDevice {
        CameraDevice {
            index,
            name: name.into(),
            description: String::new(),
        }
    }

    #[test]
    fn choosing() {
        let found = [cam(0, "Integrated Webcam"), cam(2, "Logitech C920")];
        assert_eq!(choose_camera(None, &found).unwrap().index, 0);
        assert_eq!(
            choose_camera(Some("2"), &found).unwrap().name,
            "Logitech C920"
        );
        assert_eq!(choose_camera(Some("logitech"), &found).unwrap().index, 2);
        let e = choose_camera(Some("nikon"), &found)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"nikon\"") && e.contains("Logitech C920 (2)"),
            "{e}"
        );
    }

    #[test]
    fn no_camera_on_this_machine_is_a_clear_error() {
        // The test machines have no camera: opening one must say so, not panic or hang.
        if !list_cameras().is_empty() {
            return;
        }
        let e = CameraSource::open(None, 640, 480, 30)
            .err()
            .expect("no camera here")
            .to_string();
        assert!(
            e.contains("no camera at all") && e.contains("none was found"),
            "{e}"
        );
        assert!(e.contains("termmeet devices"), "{e}");
    }
}
