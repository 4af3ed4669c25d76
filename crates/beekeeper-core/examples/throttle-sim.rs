//! Runs the throttle simulation's scenarios, prints a table per scenario and
//! writes one chart each (admit rate, capacity and median probe latency per
//! minute) to the directory given as argument (default docs/throttle).
//!
//! cargo run -p beekeeper-core --example throttle-sim -- docs/throttle

use std::fmt::Write as _;

use beekeeper_core::throttle::sim::{run, scenarios, Minute};

fn chart(name: &str, limit: u32, minutes: &[Minute]) -> String {
    let (w, h, pad) = (720.0, 300.0, 40.0);
    let n = minutes.len().max(2) as f64 - 1.0;
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / n;
    let top = f64::from(limit) * 1.6;
    let y = |v: f64| h - pad - (h - 2.0 * pad) * (v / top).min(1.0);
    let max_ms = minutes
        .iter()
        .filter_map(|m| m.median_ms)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let ly = |ms: f64| h - pad - (h - 2.0 * pad) * (ms / max_ms);
    let line = |pts: Vec<(f64, f64)>, color: &str, dash: &str| {
        let p: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        format!(
            r##"<polyline fill="none" stroke="{color}" stroke-width="2" {dash} points="{}"/>"##,
            p.join(" ")
        )
    };
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{pad}" y="20" font-weight="bold">{name}</text>
<text x="{}" y="20" fill="#c77d00">admit rate</text><text x="{}" y="20" fill="#777">capacity</text><text x="{}" y="20" fill="#2a6fdb">median latency</text>
<line x1="{pad}" y1="{}" x2="{}" y2="{}" stroke="#ccc"/>
<text x="4" y="{}">{limit}</text><text x="4" y="{}">0</text>
"##,
        w - 330.0,
        w - 250.0,
        w - 180.0,
        y(f64::from(limit)),
        w - pad,
        y(f64::from(limit)),
        y(f64::from(limit)) + 4.0,
        h - pad + 4.0,
    );
    svg += &line(
        minutes
            .iter()
            .enumerate()
            .map(|(i, m)| (x(i), y(m.capacity)))
            .collect(),
        "#777",
        r##"stroke-dasharray="4 3""##,
    );
    svg += &line(
        minutes
            .iter()
            .enumerate()
            .map(|(i, m)| (x(i), y(f64::from(m.rate))))
            .collect(),
        "#c77d00",
        "",
    );
    svg += &line(
        minutes
            .iter()
            .enumerate()
            .map(|(i, m)| (x(i), ly(m.median_ms.map_or(max_ms, f64::from))))
            .collect(),
        "#2a6fdb",
        r##"stroke-opacity="0.6""##,
    );
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" fill="#2a6fdb" text-anchor="end">latency scale: top = {max_ms} ms</text><text x="{}" y="{}">minutes</text></svg>"##,
        w - pad,
        h - 8.0,
        w / 2.0,
        h - 8.0
    );
    svg
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/throttle".into());
    std::fs::create_dir_all(&dir)?;
    for sc in scenarios() {
        let minutes = run(&sc);
        println!("{}", sc.name);
        let rates: Vec<String> = minutes.iter().map(|m| m.rate.to_string()).collect();
        println!("  rate per minute: {}", rates.join(" "));
        std::fs::write(
            format!("{dir}/{}.svg", sc.name),
            chart(sc.name, sc.limit, &minutes),
        )?;
    }
    Ok(())
}
