//! Print what the detector finds in each line of stdin, one JSON-ish record
//! per line: `start end time template-name` (for differential checks).
//!
//! Usage: `detect [DATEPATTERN-FILE] [NOW] [POSIX-TZ] [LOGTIMEZONE]` — the datepattern file
//! holds the (possibly multi-line) value; `-` or absent means defaults.

use std::io::BufRead;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pattern = match args.get(1).map(String::as_str) {
        None | Some("-") => None,
        Some(f) => Some(std::fs::read_to_string(f).expect("read datepattern file")),
    };
    let now: f64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1124013600.0);
    let mut dd = match gaoler_datedetector::DateDetector::new(pattern.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            println!("ERROR {e}");
            return;
        }
    };
    if let Some(tz) = args.get(3).filter(|s| !s.is_empty()) {
        dd.set_local_timezone(tz).expect("time zone");
    }
    if let Some(ltz) = args.get(4).filter(|s| !s.is_empty()) {
        if let Err(e) = dd.set_timezone(Some(ltz)) {
            println!("ERROR {e}");
            return;
        }
    }
    dd.set_reference_year(Some(2026));
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.expect("utf-8 input");
        match dd.find(&line, now) {
            None => println!("-"),
            Some(h) => {
                let name = &dd.templates()[h.template].name;
                let t = h.time.map_or("None".to_string(), |t| format!("{t:.6}"));
                println!("{} {} {} {}", h.start, h.end, t, name);
            }
        }
    }
}
