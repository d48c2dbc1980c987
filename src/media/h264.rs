//! H.264 with OpenH264: constrained baseline (`42e01f`), I420 in, Annex B out, and back.

// OpenH264's wrapper has no safe way to change the bitrate or frame rate of an encoder
// that has started (only the raw SetOption call), and a fresh encoder would cost a
// keyframe; the workspace denies unsafe everywhere else.
#![allow(unsafe_code)]

use openh264::decoder::{Decoder, DecoderConfig, Flush};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Level,
    Profile, RateControlMode, UsageType,
};
use openh264::formats::{YUVSlices, YUVSource};
use openh264::OpenH264API;

use super::frame::{I420Frame, RgbFrame};
use super::pattern::{read_stamp, Stamp};
use super::MediaError;

/// What the encoder starts with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EncoderSettings {
    /// Target bitrate, bits a second.
    pub bitrate_bps: u32,
    /// Frames a second the source delivers.
    pub fps: f32,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        EncoderSettings {
            bitrate_bps: 1_000_000,
            fps: 30.0,
        }
    }
}

/// One encoded picture.
#[derive(Clone, Debug)]
pub struct EncodedFrame {
    /// Annex B NAL units (start codes included); empty when the encoder skipped the frame.
    pub data: Vec<u8>,
    /// Whether this is an IDR frame a decoder can start from.
    pub keyframe: bool,
}

/// An H.264 encoder whose bitrate and frame rate can change while it runs.
pub struct H264Encoder {
    inner: Encoder,
    settings: EncoderSettings,
    /// Frames encoded so far.
    pub frames: u64,
    /// Whether the encoder has been initialised by a first frame (options apply after).
    started: bool,
}

fn codec_error(what: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::Codec(format!("{what}: {e}"))
}

impl H264Encoder {
    /// A constrained-baseline encoder for real-time video.
    pub fn new(settings: EncoderSettings) -> Result<H264Encoder, MediaError> {
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(settings.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(settings.fps))
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .profile(Profile::Baseline)
            .level(Level::Level_3_1)
            .complexity(Complexity::Low)
            // Keyframes come on request (PLI/FIR) and at the start, not on a timer.
            .intra_frame_period(IntraFramePeriod::from_num_frames(0))
            // As in libwebrtc: the rate controller may skip a frame to hold the bitrate (it
            // cannot hold it otherwise, and says so on stderr).
            .skip_frames(true)
            // A keyframe on every "scene change" is a burst a slow path cannot take, and noise
            // or fast motion looks like one picture after picture (two keyframes a second on
            // the busy pattern). Receivers ask for keyframes when they need them.
            .scene_change_detect(false)
            .num_threads(1);
        let inner = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| codec_error("cannot start the H.264 encoder", e))?;
        Ok(H264Encoder {
            inner,
            settings,
            frames: 0,
            started: false,
        })
    }

    /// The current settings.
    pub fn settings(&self) -> EncoderSettings {
        self.settings
    }

    /// Encodes one picture. Odd sizes are cropped to even ones.
    pub fn encode(&mut self, frame: &I420Frame) -> Result<EncodedFrame, MediaError> {
        let even;
        let frame = if frame.width % 2 == 1 || frame.height % 2 == 1 {
            even = crop_even(frame);
            &even
        } else {
            frame
        };
        if frame.width < 16 || frame.height < 16 {
            return Err(MediaError::Codec(format!(
                "a {}x{} picture is too small for H.264 (16x16 at least)",
                frame.width, frame.height
            )));
        }
        let cw = frame.chroma_width();
        let source = YUVSlices::new(
            (&frame.y, &frame.u, &frame.v),
            (frame.width, frame.height),
            (frame.width, cw, cw),
        );
        let stream = self
            .inner
            .encode(&source)
            .map_err(|e| codec_error("H.264 encoding failed", e))?;
        let keyframe = matches!(stream.frame_type(), FrameType::IDR | FrameType::I);
        let data = stream.to_vec();
        self.frames += 1;
        self.started = true;
        Ok(EncodedFrame { data, keyframe })
    }

    /// Makes the next frame a keyframe (on PLI or FIR from a receiver).
    pub fn force_keyframe(&mut self) {
        if self.started {
            self.inner.force_intra_frame();
        }
    }

    /// Before the first frame the encoder is not initialised and takes no options: it is
    /// rebuilt with the current settings instead. Returns whether that happened.
    fn rebuild_if_not_started(&mut self) -> bool {
        if self.started {
            return false;
        }
        if let Ok(e) = H264Encoder::new(self.settings) {
            *self = e;
        }
        true
    }

    /// Changes the target bitrate; takes effect from the next frame.
    pub fn set_bitrate(&mut self, bps: u32) {
        let bps = bps.max(30_000);
        if bps == self.settings.bitrate_bps {
            return;
        }
        self.settings.bitrate_bps = bps;
        if self.rebuild_if_not_started() {
            return;
        }
        let mut info = openh264_sys2::SBitrateInfo {
            iLayer: openh264_sys2::SPATIAL_LAYER_ALL,
            iBitrate: bps as i32,
        };
        // SAFETY: the encoder is initialised (a frame was encoded) and `info` lives for the
        // call; SetOption copies what it reads.
        unsafe {
            let api = self.inner.raw_api();
            api.set_option(
                openh264_sys2::ENCODER_OPTION_BITRATE,
                (&mut info as *mut openh264_sys2::SBitrateInfo).cast(),
            );
        }
    }

    /// Changes the frame rate the rate controller plans for.
    pub fn set_frame_rate(&mut self, fps: f32) {
        let fps = fps.clamp(1.0, 60.0);
        if fps == self.settings.fps {
            return;
        }
        self.settings.fps = fps;
        if self.rebuild_if_not_started() {
            return;
        }
        let mut value = fps;
        // SAFETY: as in `set_bitrate`; the option is a float.
        unsafe {
            let api = self.inner.raw_api();
            api.set_option(
                openh264_sys2::ENCODER_OPTION_FRAME_RATE,
                (&mut value as *mut f32).cast(),
            );
        }
    }
}

/// Crops a picture to even width and height.
fn crop_even(frame: &I420Frame) -> I420Frame {
    let (w, h) = (frame.width & !1, frame.height & !1);
    let (cw, ch) = (w / 2, h / 2);
    let fcw = frame.chroma_width();
    let mut out = I420Frame::black(w.max(2), h.max(2));
    for y in 0..h {
        out.y[y * w..(y + 1) * w].copy_from_slice(&frame.y[y * frame.width..y * frame.width + w]);
    }
    for y in 0..ch {
        out.u[y * cw..(y + 1) * cw].copy_from_slice(&frame.u[y * fcw..y * fcw + cw]);
        out.v[y * cw..(y + 1) * cw].copy_from_slice(&frame.v[y * fcw..y * fcw + cw]);
    }
    out
}

/// One decoded picture.
#[derive(Clone, Debug)]
pub struct DecodedFrame {
    /// The picture in RGB, for the renderer.
    pub rgb: RgbFrame,
    /// The test pattern's stamp, when the picture carries one.
    pub stamp: Option<Stamp>,
}

/// An H.264 decoder from Annex B to RGB.
pub struct H264Decoder {
    inner: Decoder,
    /// Pictures decoded.
    pub frames: u64,
    /// Access units that failed to decode.
    pub errors: u64,
}

impl H264Decoder {
    /// A new decoder.
    pub fn new() -> Result<H264Decoder, MediaError> {
        let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        let inner = Decoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| codec_error("cannot start the H.264 decoder", e))?;
        Ok(H264Decoder {
            inner,
            frames: 0,
            errors: 0,
        })
    }

    /// Decodes one access unit (Annex B). `Ok(None)` when it completed no picture;
    /// an error for data the decoder could not use (the caller should ask for a keyframe).
    pub fn decode(&mut self, annex_b: &[u8]) -> Result<Option<DecodedFrame>, MediaError> {
        let decoded = match self.inner.decode(annex_b) {
            Ok(Some(yuv)) => yuv,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.errors += 1;
                return Err(codec_error("H.264 decoding failed", e));
            }
        };
        let (w, h) = decoded.dimensions();
        if w == 0 || h == 0 || w > 8192 || h > 8192 {
            self.errors += 1;
            return Err(MediaError::Codec(format!(
                "decoded picture has a bad size {w}x{h}"
            )));
        }
        let (ys, _, _) = decoded.strides();
        let stamp = read_stamp(decoded.y(), ys, w, h);
        let mut data = vec![0u8; w * h * 3];
        decoded.write_rgb8(&mut data);
        self.frames += 1;
        Ok(Some(DecodedFrame {
            rgb: RgbFrame {
                width: w,
                height: h,
                data,
            },
            stamp,
        }))
    }
}

/// Splits an Annex B stream into NAL units (without start codes).
pub fn split_nal_units(annex_b: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut i = 0;
    let mut start = None;
    while i + 3 <= annex_b.len() {
        let three = annex_b[i] == 0 && annex_b[i + 1] == 0 && annex_b[i + 2] == 1;
        if three {
            if let Some(s) = start {
                let mut end = i;
                while end > s && annex_b[end - 1] == 0 {
                    end -= 1;
                }
                units.push(&annex_b[s..end]);
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        if s < annex_b.len() {
            units.push(&annex_b[s..]);
        }
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nal_splitting() {
        let stream = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5,
        ];
        let units = split_nal_units(&stream);
        assert_eq!(
            units,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]
        );
        assert!(split_nal_units(&[]).is_empty());
        assert!(split_nal_units(&[1, 2, 3]).is_empty());
    }
}
