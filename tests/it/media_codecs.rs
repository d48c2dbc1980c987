//! H.264 and Opus round trips, and decoders fed garbage.

use termmeet::media::frame::{psnr, AudioFrame};
use termmeet::media::h264::{EncoderSettings, H264Decoder, H264Encoder};
use termmeet::media::opus_codec::{OpusDecoder, OpusEncoder};
use termmeet::media::pattern::{PatternStyle, Stamp, TestPattern};
use termmeet::media::tone::{tone_is_dominant, ToneSource};

fn pattern(w: usize, h: usize) -> TestPattern {
    TestPattern::new(w, h, PatternStyle::hue(0))
}

#[test]
fn h264_round_trip_keeps_the_picture_at_one_megabit() {
    let p = pattern(640, 480);
    let mut enc = H264Encoder::new(EncoderSettings {
        bitrate_bps: 1_000_000,
        fps: 30.0,
    })
    .unwrap();
    let mut dec = H264Decoder::new().unwrap();
    let mut scores = Vec::new();
    let mut keyframes = 0;
    for n in 0..60u32 {
        let src = p.frame(n, 1_000 + n as u64 * 33);
        let encoded = enc.encode(&src).unwrap();
        keyframes += encoded.keyframe as u32;
        if let Some(decoded) = dec.decode(&encoded.data).unwrap() {
            assert_eq!((decoded.rgb.width, decoded.rgb.height), (640, 480));
            scores.push(psnr(&src.to_rgb().data, &decoded.rgb.data));
        }
    }
    assert_eq!(keyframes, 1, "one keyframe at the start, no periodic ones");
    assert!(scores.len() >= 59, "decoded {} of 60", scores.len());
    // Judge the steady state, after the rate controller settles.
    let tail = &scores[20..];
    let mean = tail.iter().sum::<f64>() / tail.len() as f64;
    assert!(mean >= 30.0, "PSNR {mean:.1} dB");
    eprintln!("H.264 640x480 @ 1 Mbps: mean PSNR {mean:.1} dB");
}

#[test]
fn stamp_survives_h264_at_300_kbps() {
    for (w, h) in [(640, 480), (320, 240)] {
        let p = pattern(w, h);
        let mut enc = H264Encoder::new(EncoderSettings {
            bitrate_bps: 300_000,
            fps: 30.0,
        })
        .unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut read = 0;
        for n in 0..60u32 {
            let t = 1_764_000_000_000u64 + n as u64 * 33;
            let encoded = enc.encode(&p.frame(n, t)).unwrap();
            let decoded = dec
                .decode(&encoded.data)
                .unwrap()
                .expect("a picture per frame");
            let stamp = decoded
                .stamp
                .unwrap_or_else(|| panic!("{w}x{h}: no stamp in frame {n}"));
            assert_eq!(
                stamp,
                Stamp {
                    frame: n,
                    time_ms: t as u32
                }
            );
            read += 1;
        }
        assert_eq!(read, 60);
    }
}

#[test]
fn keyframes_on_request_and_bitrate_changes() {
    let p = pattern(320, 240);
    let mut enc = H264Encoder::new(EncoderSettings {
        bitrate_bps: 500_000,
        fps: 30.0,
    })
    .unwrap();
    let mut sizes = Vec::new();
    for n in 0..90u32 {
        if n == 30 {
            enc.force_keyframe();
        }
        if n == 45 {
            enc.set_bitrate(100_000);
            enc.set_frame_rate(15.0);
        }
        let e = enc.encode(&p.frame(n, 0)).unwrap();
        assert_eq!(e.keyframe, n == 0 || n == 30, "frame {n}");
        sizes.push(e.data.len());
    }
    let before: usize = sizes[31..45].iter().sum::<usize>() / 14;
    let after: usize = sizes[75..90].iter().sum::<usize>() / 15;
    assert!(
        after < before,
        "lower bitrate gives smaller frames: {before} -> {after}"
    );
    assert_eq!(enc.settings().bitrate_bps, 100_000);
}

#[test]
fn decoders_survive_garbage() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut h264 = H264Decoder::new().unwrap();
    let mut opus = OpusDecoder::new().unwrap();
    let mut tried = 0;
    for i in 0..3000 {
        let len = rng.random_range(0..2000);
        let mut data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if i % 3 == 0 && data.len() > 5 {
            // Start codes and plausible NAL headers reach deeper into the parser.
            data[..5].copy_from_slice(&[0, 0, 0, 1, [0x67, 0x68, 0x65, 0x41][i % 4]]);
        }
        let _ = h264.decode(&data);
        let _ = opus.decode(&data);
        tried += 1;
    }
    // The decoders still work after the garbage.
    let p = pattern(320, 240);
    let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
    let mut fresh = H264Decoder::new().unwrap();
    let e = enc.encode(&p.frame(0, 0)).unwrap();
    assert!(fresh.decode(&e.data).unwrap().is_some());
    let mut oe = OpusEncoder::new(32_000).unwrap();
    let packet = oe
        .encode(&ToneSource::new(440.0, false).generate())
        .unwrap();
    assert_eq!(opus.decode(&packet).unwrap().len(), 960);
    eprintln!("decoders fed {tried} random inputs without a panic");
}

fn tone_through_opus(hz: f64, lose_every: Option<usize>) -> Vec<i16> {
    let mut tone = ToneSource::new(hz, false);
    let mut enc = OpusEncoder::new(32_000).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let packets: Vec<Vec<u8>> = (0..50)
        .map(|_| enc.encode(&tone.generate()).unwrap())
        .collect();
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let lost = lose_every.is_some_and(|k| i % k == k - 1);
        if lost {
            let pcm = dec.conceal(packets.get(i + 1).map(|v| v.as_slice()));
            assert_eq!(pcm.len(), 960);
            out.extend(pcm);
        } else {
            out.extend(dec.decode(p).unwrap());
        }
    }
    out
}

#[test]
fn opus_carries_a_tone_and_conceals_losses() {
    let clean = tone_through_opus(440.0, None);
    assert_eq!(clean.len(), 50 * 960);
    // Skip the codec's start-up.
    assert!(tone_is_dominant(&clean[4800..], 440.0));
    assert!(!tone_is_dominant(&clean[4800..], 1000.0));
    let lossy = tone_through_opus(1000.0, Some(5));
    assert!(
        tone_is_dominant(&lossy[4800..], 1000.0),
        "20% loss, concealed, still carries the tone"
    );
    // Frames of the wrong length are refused, not padded silently.
    let mut enc = OpusEncoder::new(32_000).unwrap();
    assert!(enc
        .encode(&AudioFrame {
            samples: vec![0; 100]
        })
        .is_err());
}
