#!/usr/bin/env python3
"""Make the README's `gaoler explain` example: a FreeSWITCH log with a steady
background of SIP scans, one attack burst and a LAN phone with a wrong
password, explained with the FreeSWITCH guide's jail settings; prints the
text report and writes the HTML report and its screenshot.

    contrib/explain-example.py [OUTDIR]   (default: docs/)

Needs a release build (target/release/gaoler), ../shared/bench/genlog.py and
Debian's chromium for the screenshot.
"""
import datetime, os, pathlib, subprocess, sys, tempfile

here = pathlib.Path(__file__).resolve().parent.parent
out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else here / "docs")
genlog = here.parent / "shared" / "bench" / "genlog.py"
gaoler = here / "target" / "release" / "gaoler"

def gen(lines, *extra):
    r = subprocess.run([sys.executable, str(genlog), "freeswitch", str(lines), *extra],
                       check=True, capture_output=True, text=True)
    return r.stdout.splitlines()

def shift(lines, seconds):
    res = []
    for l in lines:
        t = datetime.datetime.strptime(l[:26], "%Y-%m-%d %H:%M:%S.%f")
        res.append(((t + datetime.timedelta(seconds=seconds)), l[26:]))
    return res

events = shift(gen(1_800_000, "--fail-ratio", "0.01", "--ips", "3000"), 0)
events += shift(gen(90_000, "--fail-ratio", "0.15", "--ips", "25", "--seed", "7"), 11 * 60)
t0 = events[0][0]
for i in range(40):  # a LAN phone with a stale password, every 30 s
    events.append((t0 + datetime.timedelta(seconds=30 * i + 3),
                   " [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) on sofia profile "
                   "'internal' for [1004@pbx.example] from ip 10.0.0.23"))
events.sort(key=lambda e: e[0])

with tempfile.TemporaryDirectory() as d:
    d = pathlib.Path(d)
    log = d / "freeswitch.log"
    log.write_text("".join(t.strftime("%Y-%m-%d %H:%M:%S.%f") + m + "\n" for t, m in events))
    conf = d / "conf"
    subprocess.run(["cp", "-r", str(here / "config"), str(conf)], check=True)
    (conf / "jail.d").mkdir(exist_ok=True)
    (conf / "jail.d" / "freeswitch.local").write_text(
        "[freeswitch]\nenabled = true\nignoreip = 127.0.0.0/8 10.0.0.0/8\n"
        "maxretry = 4\nfindtime = 3600\nbantime = 1200\nbantime.increment = true\n")
    html = out / "explain-report.html"
    out.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([str(gaoler), "explain", "-c", str(conf), "--html", str(html),
                        "--top", "8", "freeswitch", "freeswitch.log"], check=True,
                       capture_output=True, text=True, cwd=d)
    print(r.stdout)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={profile}",
                        "--window-size=1140,1250", f"--screenshot={out / 'explain-report.png'}",
                        f"file://{html}"], check=True, capture_output=True)
    html.unlink()
