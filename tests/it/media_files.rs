//! Y4M and WAV files, good and bad: bad ones give a clear error or a skipped frame.

use std::io::Write;
use std::path::PathBuf;

use termmeet::media::frame::I420Frame;
use termmeet::media::pattern::{read_stamp, PatternStyle, TestPattern};
use termmeet::media::tone::{tone_is_dominant, ToneSource};
use termmeet::media::wav::{load_wav, write_wav, WavSource};
use termmeet::media::y4m::{write_y4m, Y4mReader, Y4mSource};
use termmeet::media::{AudioSource, VideoSource};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("termmeet-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn clip(frames: u32) -> Vec<I420Frame> {
    let p = TestPattern::new(320, 240, PatternStyle::hue(1));
    (0..frames).map(|n| p.frame(n, 5_000 + n as u64)).collect()
}

#[test]
fn y4m_plays_and_loops() {
    let path = temp("loop.y4m");
    write_y4m(&path, &clip(3), 30).unwrap();
    let mut src = Y4mSource::open(&path, false).unwrap();
    let mut numbers = Vec::new();
    for _ in 0..7 {
        let f = src.next_frame().unwrap();
        assert_eq!((f.picture.width, f.picture.height), (320, 240));
        numbers.push(read_stamp(&f.picture.y, 320, 320, 240).unwrap().frame);
    }
    assert_eq!(numbers, [0, 1, 2, 0, 1, 2, 0]);
    assert!(src.describe().contains("loop.y4m"));
}

#[test]
fn y4m_bad_input() {
    let cases: &[(&str, &[u8], &str)] = &[
        ("empty.y4m", b"", "empty"),
        ("notyuv.y4m", b"RIFF....WAVEfmt \n", "YUV4MPEG2"),
        ("c444.y4m", b"YUV4MPEG2 W4 H4 F30:1 C444\nFRAME\n", "C444"),
        ("nosize.y4m", b"YUV4MPEG2 F30:1\n", "width"),
        (
            "noframe.y4m",
            b"YUV4MPEG2 W4 H4 F30:1\n",
            "no complete frame",
        ),
        ("badframe.y4m", b"YUV4MPEG2 W4 H4 F30:1\nFROG\n", "FRAME"),
        (
            "short.y4m",
            b"YUV4MPEG2 W4 H4 F30:1\nFRAME\n\x10\x10",
            "no complete frame",
        ),
        ("noline.y4m", b"YUV4MPEG2 W4 H4", "truncated"),
    ];
    for (name, bytes, expect) in cases {
        let path = temp(name);
        std::fs::write(&path, bytes).unwrap();
        let e = Y4mReader::open(&path)
            .err()
            .unwrap_or_else(|| panic!("{name} opened"))
            .to_string();
        assert!(e.contains(expect) && e.contains(name), "{name}: {e}");
    }
    let missing = Y4mReader::open(&temp("missing.y4m"))
        .err()
        .unwrap()
        .to_string();
    assert!(missing.contains("cannot open"), "{missing}");

    // A truncated last frame is skipped; the whole frames before it play.
    let path = temp("truncated.y4m");
    write_y4m(&path, &clip(2), 30).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"FRAME\n").unwrap();
    f.write_all(&[16; 1000]).unwrap();
    drop(f);
    let mut src = Y4mSource::open(&path, false).unwrap();
    let frames: Vec<u32> = (0..4)
        .map(|_| {
            let p = src.next_frame().unwrap().picture;
            read_stamp(&p.y, 320, 320, 240).unwrap().frame
        })
        .collect();
    assert_eq!(frames, [0, 1, 0, 1]);
}

#[test]
fn wav_any_format_becomes_48k_mono() {
    // 44.1 kHz stereo 16-bit, 440 Hz.
    let samples: Vec<i16> = (0..44_100)
        .flat_map(|i| {
            let s = ((i as f64 * 440.0 * std::f64::consts::TAU / 44_100.0).sin() * 10_000.0) as i16;
            [s, s]
        })
        .collect();
    let path = temp("stereo44.wav");
    write_wav(&path, &samples, 44_100, 2).unwrap();
    let mono = load_wav(&path).unwrap();
    assert!((mono.len() as i64 - 48_000).abs() < 10, "{}", mono.len());
    assert!(tone_is_dominant(&mono, 440.0));
    // Looped in 20 ms frames.
    let mut src = WavSource::open(&path, false).unwrap();
    for _ in 0..60 {
        assert_eq!(src.next_frame().unwrap().samples.len(), 960);
    }
}

#[test]
fn wav_bad_input() {
    let garbage = temp("garbage.wav");
    std::fs::write(&garbage, b"RIFF\x10\x00\x00\x00WAVEjunkjunk").unwrap();
    let e = load_wav(&garbage).err().unwrap().to_string();
    assert!(e.contains("garbage.wav") && e.contains("WAV"), "{e}");
    let empty = temp("empty.wav");
    write_wav(&empty, &[], 48_000, 1).unwrap();
    assert!(load_wav(&empty)
        .err()
        .unwrap()
        .to_string()
        .contains("no audio"));
    // Cut short in the middle of the data: what was read is kept.
    let cut = temp("cut.wav");
    let samples: Vec<i16> = ToneSource::new(300.0, false).generate().samples.repeat(10);
    write_wav(&cut, &samples, 48_000, 1).unwrap();
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 1]).unwrap();
    let got = load_wav(&cut).unwrap();
    assert!(
        got.len() > 3000 && got.len() < samples.len(),
        "{}",
        got.len()
    );
}
