//! Photo processing, side by side with libvips in one run: a 12-megapixel JPEG →
//! verified, EXIF read, upright, stripped, thumbnail (320 px) + display size (1280 px),
//! against `vipsthumbnail` producing the same two sizes (stripped, same JPEG quality).
//!
//! `cargo bench -p server --bench photo` (needs Debian's `libvips-tools`). The input is
//! made with `vips` from fractal surfaces and noise (about 0.7 MB at quality 90: more
//! texture than a flat test card, less than a real phone photo). Prints figures; asserts nothing.
//! `TARMIM_PHOTO_BENCH_ROUNDS` sets the rounds (default 7; the median is reported).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use server::domain::photo::{PhotoFormat, PhotoSettings, Variant, process};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 4000 × 3000 photo-like JPEG (quality 90), made once per run.
fn make_input(dir: &Path) -> Vec<u8> {
    let v = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    for (band, dim) in [("r", "2.1"), ("g", "2.4"), ("b", "2.7")] {
        run(Command::new("vips").args([
            "fractsurf",
            &v(&format!("{band}f.v")),
            "4000",
            "3000",
            dim,
        ]));
        run(Command::new("vips").args([
            "gaussnoise",
            &v(&format!("{band}n.v")),
            "4000",
            "3000",
            "--sigma",
            "18",
            "--mean",
            "0",
        ]));
        run(Command::new("vips").args([
            "add",
            &v(&format!("{band}f.v")),
            &v(&format!("{band}n.v")),
            &v(&format!("{band}s.v")),
        ]));
        // fractsurf is about -3…3: spread it over the 8-bit range.
        run(Command::new("vips").args([
            "linear",
            &v(&format!("{band}s.v")),
            &v(&format!("{band}.v")),
            "40",
            "128",
            "--uchar",
        ]));
    }
    let bands = format!("{} {} {}", v("r.v"), v("g.v"), v("b.v"));
    run(Command::new("vips").args(["bandjoin", &bands, &v("rgb.v")]));
    let out = dir.join("input.jpg");
    run(Command::new("vips").args(["copy", &v("rgb.v"), &format!("{}[Q=90]", out.display())]));
    std::fs::read(out).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn vips_once(input: &Path, dir: &Path, threads: Option<&str>) -> Duration {
    let t = Instant::now();
    for (size, name) in [("1280", "display"), ("320", "thumb")] {
        let mut c = Command::new("vipsthumbnail");
        c.arg(input)
            .args(["-s", size, "-o"])
            .arg(format!("{}/vips-{name}.jpg[Q=82,strip]", dir.display()));
        if let Some(n) = threads {
            c.env("VIPS_CONCURRENCY", n);
        }
        run(&mut c);
    }
    t.elapsed()
}

fn main() {
    if Command::new("vipsthumbnail")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("vipsthumbnail is missing: apt-get install libvips-tools");
        std::process::exit(1);
    }
    let rounds: usize = std::env::var("TARMIM_PHOTO_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let dir = tempfile::tempdir().unwrap();
    let input = make_input(dir.path());
    let input_path = dir.path().join("input.jpg");
    let settings = PhotoSettings::from_config(&server::base::config::Config::default());
    println!(
        "photo bench: 4000 x 3000 JPEG, {} bytes, {rounds} rounds (median), one thread each",
        input.len()
    );

    // Warm-up (page cache, allocator, vips' libraries).
    let warm = process(&input, PhotoFormat::Jpeg, &settings).unwrap();
    vips_once(&input_path, dir.path(), Some("1"));
    let sizes: Vec<String> = warm
        .derivatives
        .iter()
        .map(|(v, b)| format!("{} {} bytes", v.as_str(), b.len()))
        .collect();

    let mut ours = Vec::new();
    let mut vips1 = Vec::new();
    let mut vips_all = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let p = process(&input, PhotoFormat::Jpeg, &settings).unwrap();
        ours.push(t.elapsed());
        assert!(p.derivatives.iter().any(|(v, _)| *v == Variant::Thumb));
        vips1.push(vips_once(&input_path, dir.path(), Some("1")));
        vips_all.push(vips_once(&input_path, dir.path(), None));
    }
    let (o, v1, va) = (median(ours), median(vips1), median(vips_all));
    println!(
        "  tarmim  photo::process (verify + EXIF + orient + both sizes): {:8.1} ms  ({:.1} photos/s/core)  [{}]",
        ms(o),
        1000.0 / ms(o),
        sizes.join(", ")
    );
    println!(
        "  vipsthumbnail x2 (1280 + 320, strip, Q=82), VIPS_CONCURRENCY=1: {:8.1} ms  ({:.1} photos/s/core)",
        ms(v1),
        1000.0 / ms(v1)
    );
    println!(
        "  vipsthumbnail x2, default threads:                          {:8.1} ms",
        ms(va)
    );
    println!(
        "  ratio tarmim / vipsthumbnail (1 thread): {:.2}x",
        ms(o) / ms(v1)
    );
    for (v, b) in &warm.derivatives {
        let vips = std::fs::metadata(dir.path().join(format!("vips-{}.jpg", v.as_str())))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "  {} size: tarmim {} bytes, vips {} bytes",
            v.as_str(),
            b.len(),
            vips
        );
    }
}
