//! The HTML report: one self-contained page (inline CSS, inline SVG, a
//! few lines of script), viewable offline and safe to mail around.
//!
//! Design decisions:
//! - **Charts are drawn here, as SVG.** No chart library, no network: the
//!   page must open on an air-gapped admin box. Each chart is an `<svg>`
//!   with `data-chart`, and each of its series a `<g class="series">` with
//!   `data-series`, so tests (and users' scripts) can find them.
//! - **Every text from the log is escaped.** Log lines are attacker
//!   controlled; the page's only script is ours and reads no log text.
//! - The script adds sorting to the tables and marks the page ready
//!   (`data-ready` on `<html>`); the report is complete without it.

use std::fmt::Write as _;

use super::report::{duration, when, Report};

/// HTML-escape text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#1d2430;background:#fbfbfd;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde1ea;padding-bottom:4px}
.sub{color:#5b6475;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{background:#fff;border:1px solid #dde1ea;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}.card span{color:#5b6475;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1ea;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #eef0f5;text-align:left;vertical-align:top}
th{background:#f1f3f8;cursor:pointer;user-select:none;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;word-break:break-all}
svg{background:#fff;border:1px solid #dde1ea;border-radius:8px;display:block;margin:6px 0}
svg text{font:11px system-ui,sans-serif;fill:#5b6475}
.legend{font-size:12px;color:#5b6475}.sw{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;border-radius:2px}
.spared{color:#7a5d00}.note{color:#5b6475;font-size:12px}
"#;

const SCRIPT: &str = r#"
(function(){
  document.querySelectorAll("table.sortable").forEach(function(t){
    t.querySelectorAll("th").forEach(function(th,i){
      th.addEventListener("click",function(){
        var rows=Array.prototype.slice.call(t.tBodies[0].rows);
        var num=th.classList.contains("n"), asc=th.dataset.dir!=="asc";
        rows.sort(function(a,b){
          var x=a.cells[i].dataset.v||a.cells[i].textContent, y=b.cells[i].dataset.v||b.cells[i].textContent;
          var r=num?(parseFloat(x)-parseFloat(y)):x.localeCompare(y);
          return asc?r:-r;
        });
        th.dataset.dir=asc?"asc":"desc";
        rows.forEach(function(r){t.tBodies[0].appendChild(r);});
      });
    });
  });
  document.documentElement.dataset.ready="1";
})();
"#;

const FAIL_COLOR: &str = "#d9534f";
const BAN_COLOR: &str = "#2b6cb0";

/// The page for `r`, listing the `top` busiest addresses and networks.
pub fn render(r: &Report, top: usize) -> String {
    let mut h = String::with_capacity(64 << 10);
    let s = &r.settings;
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>gaoler explain: {jail}</title><style>{STYLE}</style></head><body>\n\
         <h1>Jail <code>{jail}</code>: what it would have done</h1>\n\
         <p class=\"sub\">filter <code>{filter}</code> · maxretry {mr} · findtime {ft} · bantime {bt}{inc} · \
         ignoreip {ign} · ignoreself {is}</p>\n",
        jail = esc(&r.jail),
        filter = esc(&s.filter),
        mr = s.maxretry,
        ft = esc(&duration(s.findtime)),
        bt = esc(&duration(s.bantime)),
        inc = if s.bantime_increment {
            " (bantime.increment)"
        } else {
            ""
        },
        ign = if s.ignoreip.is_empty() {
            "(none)".to_string()
        } else {
            esc(&s.ignoreip.join(" "))
        },
        is = s.ignoreself,
    );
    for l in &r.logs {
        let _ = writeln!(
            h,
            "<p class=\"sub\">log <code>{}</code>: {} lines, {} matched, {} ignored, {} missed</p>",
            esc(&l.path),
            l.lines.read,
            l.lines.matched,
            l.lines.ignored,
            l.lines.missed
        );
    }
    if let Some((a, b)) = r.span {
        let _ = writeln!(
            h,
            "<p class=\"sub\">from {} to {}</p>",
            esc(&when(a)),
            esc(&when(b))
        );
    }
    let t = &r.totals;
    h.push_str("<div class=\"cards\">");
    for (v, label) in [
        (t.failures, "failures"),
        (t.addresses, "addresses"),
        (t.bans, "bans"),
        (t.banned_addresses, "addresses banned"),
        (t.active_bans, "still banned at the end"),
        (t.spared_addresses, "spared by ignoreip"),
        (r.hints.count, "lines that look like failures, unmatched"),
    ] {
        let _ = write!(
            h,
            "<div class=\"card\"><b>{v}</b><span>{label}</span></div>"
        );
    }
    h.push_str("</div>\n");

    h.push_str("<h2>Failures and bans over time</h2>\n");
    h.push_str(&legend());
    h.push_str(&timeline_chart(r));

    h.push_str("<h2>Top addresses</h2>\n");
    h.push_str(&legend());
    h.push_str(&top_chart(r, top));
    address_table(&mut h, r, top);

    h.push_str("<h2>Failregex hits</h2>\n");
    h.push_str(&regex_chart(r));
    regex_table(&mut h, r);

    if !r.networks.is_empty() {
        h.push_str("<h2>Busiest networks</h2>\n<table class=\"sortable\"><thead><tr><th>network</th><th class=\"n\">failures</th><th class=\"n\">addresses</th><th class=\"n\">bans</th></tr></thead><tbody>\n");
        for n in r.networks.iter().take(top) {
            let _ = writeln!(
                h,
                "<tr><td class=\"mono\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&n.network),
                n.failures,
                n.addresses,
                n.bans
            );
        }
        h.push_str("</tbody></table>\n");
    }

    h.push_str("<h2>Bursts</h2>\n");
    if r.bursts.is_empty() {
        h.push_str("<p class=\"note\">None: failures arrive at a steady rate.</p>\n");
    } else {
        h.push_str("<table class=\"sortable\"><thead><tr><th>from</th><th>to</th><th class=\"n\">failures</th><th class=\"n\">peak per minute</th><th class=\"n\">bans</th></tr></thead><tbody>\n");
        for b in r.bursts.iter().take(top) {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&when(b.start)),
                esc(&when(b.end)),
                b.failures,
                b.peak_per_minute,
                b.bans
            );
        }
        h.push_str("</tbody></table>\n");
    }

    if r.hints.count > 0 {
        let _ = writeln!(
            h,
            "<h2>Look like failures, matched no failregex</h2>\n<p class=\"note\">{} lines carry an address and a failure word but matched no failregex: the filter may miss a message. Examples:</p><table><tbody>",
            r.hints.count
        );
        for l in &r.hints.samples {
            let _ = writeln!(
                h,
                "<tr><td class=\"mono\">{}:{}</td><td class=\"mono\">{}</td></tr>",
                esc(&l.log),
                l.line,
                esc(&l.text)
            );
        }
        h.push_str("</tbody></table>\n");
    }
    let _ = write!(
        h,
        "<p class=\"note\">Made by gaoler explain: the jail's configuration replayed in the log's time. \
         Nothing was executed.</p>\n<script>{SCRIPT}</script>\n</body></html>\n"
    );
    h
}

fn legend() -> String {
    format!(
        "<div class=\"legend\"><span class=\"sw\" style=\"background:{FAIL_COLOR}\"></span>failures\
         <span class=\"sw\" style=\"background:{BAN_COLOR}\"></span>bans</div>\n"
    )
}

/// A round axis maximum at or above `v` (1, 2, 5 × 10^k).
fn nice_max(v: f64) -> f64 {
    if v <= 1.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

fn timeline_chart(r: &Report) -> String {
    let (w, hgt) = (1060.0, 260.0);
    let (l, rt, top, bot) = (56.0, 56.0, 14.0, 40.0);
    let pw = w - l - rt;
    let ph = hgt - top - bot;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg data-chart=\"timeline\" width=\"{w}\" height=\"{hgt}\" viewBox=\"0 0 {w} {hgt}\" role=\"img\" aria-label=\"failures and bans over time\">"
    );
    let n = r.timeline.len().max(1) as f64;
    let fmax = nice_max(r.timeline.iter().map(|b| b.failures).max().unwrap_or(0) as f64);
    let bmax = nice_max(r.timeline.iter().map(|b| b.bans).max().unwrap_or(0) as f64);
    // grid and axes
    for i in 0..=4 {
        let y = top + ph - ph * f64::from(i) / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{l}\" x2=\"{x2}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eef0f5\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{fv}</text>\
             <text x=\"{rx}\" y=\"{ty:.1}\">{bv}</text>",
            x2 = l + pw,
            tx = l - 6.0,
            rx = l + pw + 6.0,
            ty = y + 4.0,
            fv = (fmax * f64::from(i) / 4.0).round(),
            bv = (bmax * f64::from(i) / 4.0).round(),
        );
    }
    let bw = pw / n;
    s.push_str(&format!(
        "<g class=\"series\" data-series=\"failures\" fill=\"{FAIL_COLOR}\" fill-opacity=\"0.75\">"
    ));
    for (i, b) in r.timeline.iter().enumerate() {
        let bh = ph * b.failures as f64 / fmax;
        let x = l + bw * i as f64;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{ww:.1}\" height=\"{bh:.1}\"><title>{t}: {f} failures</title></rect>",
            y = top + ph - bh,
            ww = (bw - 1.0).max(0.5),
            t = esc(&when(b.start)),
            f = b.failures
        );
    }
    s.push_str("</g>");
    let pts: Vec<String> = r
        .timeline
        .iter()
        .enumerate()
        .map(|(i, b)| {
            format!(
                "{:.1},{:.1}",
                l + bw * (i as f64 + 0.5),
                top + ph - ph * b.bans as f64 / bmax
            )
        })
        .collect();
    let _ = write!(
        s,
        "<g class=\"series\" data-series=\"bans\"><polyline fill=\"none\" stroke=\"{BAN_COLOR}\" stroke-width=\"2\" points=\"{}\"/>",
        pts.join(" ")
    );
    for (i, b) in r.timeline.iter().enumerate().filter(|(_, b)| b.bans > 0) {
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{BAN_COLOR}\"><title>{}: {} bans</title></circle>",
            l + bw * (i as f64 + 0.5),
            top + ph - ph * b.bans as f64 / bmax,
            esc(&when(b.start)),
            b.bans
        );
    }
    s.push_str("</g>");
    // time labels: first, middle, last bucket
    if let (Some(first), Some(last)) = (r.timeline.first(), r.timeline.last()) {
        let mid = &r.timeline[r.timeline.len() / 2];
        for (x, b, anchor) in [
            (l, first, "start"),
            (l + pw / 2.0, mid, "middle"),
            (l + pw, last, "end"),
        ] {
            let _ = write!(
                s,
                "<text x=\"{x:.1}\" y=\"{y}\" text-anchor=\"{anchor}\">{}</text>",
                esc(&when(b.start)),
                y = hgt - 14.0
            );
        }
    }
    let _ = writeln!(
        s,
        "<text x=\"{l}\" y=\"{y}\">one bar = {}</text></svg>",
        esc(&duration(r.bucket_seconds)),
        y = hgt - 2.0
    );
    s
}

fn top_chart(r: &Report, top: usize) -> String {
    let rows: Vec<_> = r.addresses.iter().take(top).collect();
    let row_h = 22.0;
    let (w, l, rt) = (1060.0, 300.0, 60.0);
    let hgt = 16.0 + row_h * rows.len().max(1) as f64;
    let pw = w - l - rt;
    let fmax = nice_max(rows.first().map_or(0, |a| a.failures) as f64);
    let bmax = nice_max(rows.iter().map(|a| a.bans.len()).max().unwrap_or(0) as f64);
    let mut s = format!(
        "<svg data-chart=\"top-addresses\" width=\"{w}\" height=\"{hgt}\" viewBox=\"0 0 {w} {hgt}\" role=\"img\" aria-label=\"top addresses\">"
    );
    for (i, a) in rows.iter().enumerate() {
        let y = 8.0 + row_h * i as f64;
        let _ = write!(
            s,
            "<text x=\"{x}\" y=\"{ty:.1}\" text-anchor=\"end\">{}</text>",
            esc(&a.address),
            x = l - 8.0,
            ty = y + 14.0
        );
    }
    s.push_str(&format!(
        "<g class=\"series\" data-series=\"failures\" fill=\"{FAIL_COLOR}\">"
    ));
    for (i, a) in rows.iter().enumerate() {
        let y = 8.0 + row_h * i as f64;
        let _ = write!(
            s,
            "<rect x=\"{l}\" y=\"{y:.1}\" width=\"{ww:.1}\" height=\"9\"><title>{}: {} failures</title></rect>",
            esc(&a.address),
            a.failures,
            ww = (pw * f64::from(a.failures) / fmax).max(1.0)
        );
    }
    s.push_str(&format!(
        "</g><g class=\"series\" data-series=\"bans\" fill=\"{BAN_COLOR}\">"
    ));
    for (i, a) in rows.iter().enumerate() {
        let y = 8.0 + row_h * i as f64 + 10.0;
        let _ = write!(
            s,
            "<rect x=\"{l}\" y=\"{y:.1}\" width=\"{ww:.1}\" height=\"7\"><title>{}: {} bans</title></rect>",
            esc(&a.address),
            a.bans.len(),
            ww = pw * a.bans.len() as f64 / bmax
        );
    }
    s.push_str("</g></svg>\n");
    s
}

fn regex_chart(r: &Report) -> String {
    let row_h = 20.0;
    let (w, l, rt) = (1060.0, 60.0, 80.0);
    let hgt = 12.0 + row_h * r.failregex.len().max(1) as f64;
    let pw = w - l - rt;
    let max = nice_max(r.failregex.iter().map(|x| x.hits).max().unwrap_or(0) as f64);
    let mut s = format!(
        "<svg data-chart=\"failregex\" width=\"{w}\" height=\"{hgt}\" viewBox=\"0 0 {w} {hgt}\" role=\"img\" aria-label=\"failregex hits\"><g class=\"series\" data-series=\"hits\" fill=\"{FAIL_COLOR}\">"
    );
    for (i, x) in r.failregex.iter().enumerate() {
        let y = 6.0 + row_h * i as f64;
        let ww = pw * x.hits as f64 / max;
        let _ = write!(
            s,
            "<text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">#{n}</text>\
             <rect x=\"{l}\" y=\"{y:.1}\" width=\"{ww:.1}\" height=\"12\"><title>#{n}: {h} lines</title></rect>\
             <text x=\"{hx:.1}\" y=\"{ty:.1}\">{h}</text>",
            tx = l - 8.0,
            ty = y + 10.0,
            n = x.number,
            h = x.hits,
            hx = l + ww + 6.0
        );
    }
    s.push_str("</g></svg>\n");
    s
}

fn regex_table(h: &mut String, r: &Report) {
    h.push_str("<table><thead><tr><th class=\"n\">#</th><th class=\"n\">lines</th><th>failregex</th></tr></thead><tbody>\n");
    for x in &r.failregex {
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"mono\">{}</td></tr>",
            x.number,
            x.hits,
            esc(&x.regex)
        );
    }
    for x in &r.ignoreregex {
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">ignore #{}</td><td class=\"n\">{}</td><td class=\"mono\">{}</td></tr>",
            x.number,
            x.hits,
            esc(&x.regex)
        );
    }
    h.push_str("</tbody></table>\n");
}

fn address_table(h: &mut String, r: &Report, top: usize) {
    h.push_str("<table class=\"sortable\" data-table=\"addresses\"><thead><tr><th>address</th><th class=\"n\">failures</th><th class=\"n\">bans</th><th>first seen</th><th>last seen</th><th>what the jail did</th></tr></thead><tbody>\n");
    for a in r.addresses.iter().take(top) {
        let did = match &a.spared_by {
            Some(why) => format!("<span class=\"spared\">spared by {}</span>", esc(why)),
            None if a.bans.is_empty() => "not banned".to_string(),
            None => a
                .bans
                .iter()
                .map(|b| {
                    format!(
                        "banned {} for {} ({} failures, line {}){}",
                        esc(&when(b.time)),
                        esc(&duration(b.bantime)),
                        b.failures,
                        b.line,
                        if b.increased { ", increased" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>"),
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"mono\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td data-v=\"{}\">{}</td><td data-v=\"{}\">{}</td><td>{did}</td></tr>",
            esc(&a.address),
            a.failures,
            a.bans.len(),
            a.first_seen,
            esc(&when(a.first_seen)),
            a.last_seen,
            esc(&when(a.last_seen)),
        );
    }
    h.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn nice_axis_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(120.0), 200.0);
        assert_eq!(nice_max(3000.0), 5000.0);
    }
}
