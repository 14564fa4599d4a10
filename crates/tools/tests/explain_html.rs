//! The HTML report of `gaoler explain` in a real browser: Debian's
//! Chromium, headless. The page must load without a console message, its
//! script must run, and its charts must be drawn: each chart with the
//! expected number of non-empty series, and both series colours on the
//! screenshot. (CI installs chromium; without it this test fails.)

use std::path::{Path, PathBuf};
use std::process::Command;

use gaoler_tools::explain_run;

fn chromium() -> PathBuf {
    let p = PathBuf::from("/usr/bin/chromium");
    assert!(
        p.exists(),
        "Debian's chromium is needed (apt-get install chromium)"
    );
    p
}

/// Chromium headless on `page` with `extra` arguments: (stdout, the
/// console messages it logged).
fn headless(page: &Path, extra: &[&str]) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

/// The `<svg data-chart=NAME ...>...</svg>` element of the DOM.
fn chart<'a>(dom: &'a str, name: &str) -> &'a str {
    let start = dom
        .find(&format!("<svg data-chart=\"{name}\""))
        .unwrap_or_else(|| panic!("no chart {name}"));
    let end = dom[start..].find("</svg>").expect("svg end") + start;
    &dom[start..end]
}

/// The series of a chart: (name, number of drawn marks).
fn series(svg: &str) -> Vec<(String, usize)> {
    svg.split("<g class=\"series\"")
        .skip(1)
        .map(|g| {
            let g = &g[..g.find("</g>").unwrap_or(g.len())];
            let name = g
                .split("data-series=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_string();
            let marks = g.matches("<rect").count()
                + g.matches("<circle").count()
                + g.matches("<polyline").count();
            (name, marks)
        })
        .collect()
}

fn count_color(png: &Path, rgb: (u8, u8, u8), tol: i32) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let ch = info.color_type.samples();
    let close = |a: u8, b: u8| (i32::from(a) - i32::from(b)).abs() <= tol;
    buf[..info.buffer_size()]
        .chunks(ch)
        .filter(|p| p.len() >= 3 && close(p[0], rgb.0) && close(p[1], rgb.1) && close(p[2], rgb.2))
        .count()
}

#[test]
fn report_opens_in_chromium_with_its_charts_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fs.log");
    let gen = Command::new("python3")
        .arg(gaoler_testkit::shared().join("bench/genlog.py"))
        .args(["freeswitch", "400000", "--ips", "300"])
        .output()
        .expect("genlog");
    assert!(gen.status.success());
    std::fs::write(&log, gen.stdout).unwrap();
    let page = dir.path().join("report.html");
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut out = Vec::new();
    explain_run(
        [
            "-c".to_string(),
            cfg.display().to_string(),
            "--html".into(),
            page.display().to_string(),
            "freeswitch".into(),
            log.display().to_string(),
        ],
        &mut out,
    )
    .expect("explain");

    let (dom, console) = headless(&page, &["--dump-dom"]);
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page's script did not run"
    );
    for (name, want) in [
        ("timeline", vec!["failures", "bans"]),
        ("top-addresses", vec!["failures", "bans"]),
        ("failregex", vec!["hits"]),
    ] {
        let s = series(chart(&dom, name));
        let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, want, "series of {name}");
        for (n, marks) in &s {
            assert!(*marks > 0, "{name}/{n} is empty");
        }
    }
    // 400,000 lines at 1 ms are 7 minutes: one bar per minute
    assert_eq!(series(chart(&dom, "timeline"))[0].1, 7);
    assert_eq!(series(chart(&dom, "top-addresses"))[0].1, 10);
    assert_eq!(series(chart(&dom, "failregex"))[0].1, 2);

    let shot = dir.path().join("shot.png");
    let (_, console) = headless(
        &page,
        &[
            "--window-size=1200,1600",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(console.is_empty(), "console messages: {console:#?}");
    // the failures' red (bars at 75% over white, and solid) and the bans'
    // blue are on the picture in quantity
    let red =
        count_color(&shot, (0xd9, 0x53, 0x4f), 12) + count_color(&shot, (0xe3, 0x7e, 0x7b), 12);
    let blue = count_color(&shot, (0x2b, 0x6c, 0xb0), 12);
    assert!(red > 5_000, "failure bars drawn: {red} red pixels");
    assert!(blue > 1_000, "ban series drawn: {blue} blue pixels");
}

#[test]
fn the_console_check_sees_errors() {
    // The check above must be able to fail: a page that throws is seen.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(&page, "<html><body><script>nope();</script></body></html>").unwrap();
    let (_, console) = headless(&page, &["--dump-dom"]);
    assert!(
        console.iter().any(|l| l.contains("nope is not defined")),
        "{console:#?}"
    );
}
