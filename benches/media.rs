//! Media hot paths: H.264 encode and decode per frame, the render of a 720p frame (half, quadrant and sextant cells),
//! Opus per 20 ms frame, the microphone's audio processing per 20 ms. `cargo bench --bench
//! media`; results in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use termmeet::media::h264::{EncoderSettings, H264Decoder, H264Encoder};
use termmeet::media::opus_codec::{OpusDecoder, OpusEncoder};
use termmeet::media::pattern::{PatternStyle, TestPattern};
use termmeet::media::tone::ToneSource;
use termmeet::render::{CellKind, ColorMode, HalfBlockRenderer};

fn h264(c: &mut Criterion) {
    for (w, h, bps) in [(640, 480, 1_000_000), (1280, 720, 2_500_000)] {
        let p = TestPattern::new(w, h, PatternStyle::hue(0));
        let frames: Vec<_> = (0..60).map(|n| p.frame(n, n as u64 * 33)).collect();
        let mut enc = H264Encoder::new(EncoderSettings {
            bitrate_bps: bps,
            fps: 30.0,
        })
        .unwrap();
        let mut i = 0;
        c.bench_function(&format!("h264 encode {w}x{h}"), |b| {
            b.iter(|| {
                i = (i + 1) % frames.len();
                enc.encode(&frames[i]).unwrap()
            })
        });
        // Decode a steady-state stream: one keyframe, then P frames, looped on a fresh
        // decoder each pass of the clip.
        let mut enc = H264Encoder::new(EncoderSettings {
            bitrate_bps: bps,
            fps: 30.0,
        })
        .unwrap();
        let encoded: Vec<Vec<u8>> = frames.iter().map(|f| enc.encode(f).unwrap().data).collect();
        let mut dec = H264Decoder::new().unwrap();
        let mut j = 0;
        c.bench_function(&format!("h264 decode {w}x{h} (to RGB)"), |b| {
            b.iter(|| {
                if j == 0 {
                    dec = H264Decoder::new().unwrap();
                }
                let out = dec.decode(&encoded[j]).unwrap();
                j = (j + 1) % encoded.len();
                out
            })
        });
    }
}

/// The microphone's audio processing per 20 ms, everything on and a far end playing: times
/// 50 is the CPU it takes per second of audio.
fn processing(c: &mut Criterion) {
    use std::sync::Arc;
    use std::time::Duration;
    use termmeet::media::frame::AudioFrame;
    use termmeet::media::processing::{
        FarEnd, Features, Processing, Processor, Suppressor, VoiceDetector,
    };
    let mut mic = ToneSource::new(523.0, false);
    for (name, suppressor) in [
        ("echo, noise (both suppressors), gain", Suppressor::Both),
        ("echo, noise (WebRTC's alone), gain", Suppressor::Webrtc),
    ] {
        let shared = Processing::new(Features {
            suppressor,
            ..Features::default()
        });
        let far = FarEnd::new(40);
        shared.set_far_end(Some(Arc::clone(&far)));
        let mut processor = Processor::new(Arc::clone(&shared));
        let mut voice = ToneSource::new(440.0, false);
        c.bench_function(&format!("audio processing 20 ms ({name})"), |b| {
            b.iter(|| {
                let played = voice.generate();
                let floats: Vec<f32> = played
                    .samples
                    .iter()
                    .map(|&s| f32::from(s) / 32768.0)
                    .collect();
                far.push(&floats[..480]);
                far.push(&floats[480..]);
                let mut frame: AudioFrame = mic.generate();
                processor.process(&mut frame, Duration::ZERO);
                frame
            })
        });
    }
    let mut detector = VoiceDetector::new();
    c.bench_function("voice detector 20 ms (per remote peer)", |b| {
        b.iter(|| detector.hears_i16(&mic.generate().samples))
    });
}

fn render(c: &mut Criterion) {
    let frame = TestPattern::new(1280, 720, PatternStyle::hue(0))
        .frame(7, 0)
        .to_rgb();
    let area = Rect::new(0, 0, 160, 45);
    let mut buf = Buffer::empty(area);
    for mode in [ColorMode::TrueColor, ColorMode::Ansi256] {
        let mut r = HalfBlockRenderer::new(mode, 0);
        c.bench_function(
            &format!("render 1280x720 into 160x45 cells, {mode:?}"),
            |b| b.iter(|| r.render(&frame, area, &mut buf)),
        );
    }
    for cells in [CellKind::Quadrant, CellKind::Sextant] {
        let mut r = HalfBlockRenderer::new(ColorMode::TrueColor, 0).with_cells(cells);
        c.bench_function(
            &format!("render 1280x720 into 160x45 cells, TrueColor, {cells} cells"),
            |b| b.iter(|| r.render(&frame, area, &mut buf)),
        );
    }
}

fn opus(c: &mut Criterion) {
    let mut tone = ToneSource::new(440.0, false);
    let frame = tone.generate();
    let mut enc = OpusEncoder::new(32_000).unwrap();
    let packet = enc.encode(&frame).unwrap();
    c.bench_function("opus encode 20 ms", |b| {
        b.iter(|| enc.encode(&frame).unwrap())
    });
    let mut dec = OpusDecoder::new().unwrap();
    c.bench_function("opus decode 20 ms", |b| {
        b.iter(|| dec.decode(&packet).unwrap())
    });
}

/// One second of microphone audio resampled to 48 kHz, in the 10 ms chunks a device hands
/// over: the CPU a second of sound costs.
fn resample(c: &mut Criterion) {
    for from in [44_100u32, 16_000] {
        let second: Vec<f32> = (0..from)
            .map(|i| {
                (f64::from(i) * 5_000.0 * std::f64::consts::TAU / f64::from(from)).sin() as f32
            })
            .collect();
        let mut r = termmeet::media::resample::Resampler::new(from, 48_000);
        let mut out = Vec::with_capacity(50_000);
        c.bench_function(&format!("resample 1 s from {from} Hz to 48 kHz"), |b| {
            b.iter(|| {
                out.clear();
                for chunk in second.chunks(from as usize / 100) {
                    r.process(chunk, &mut out);
                }
                out.len()
            })
        });
    }
}

criterion_group!(benches, h264, render, opus, resample, processing);
criterion_main!(benches);
