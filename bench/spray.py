#!/usr/bin/env python3
"""Address spray: memory and ingest speed of failure tracking.

Usage (from the repository root, after `cargo build --release`):

    python3 bench/spray.py [--f2b 100000] [--gaoler 1000000] [--capped 0]
                           [--maxtracked N] [--loglevel NOTICE] [--skip-expiry]

A private log receives one failure line per distinct address (FreeSWITCH's
`SIP auth failure ... from ip A` with the stock `freeswitch` filter,
maxretry so high that no address is banned) while the server runs on a
private configuration tree, socket, pid file and database in a temporary
directory, with no action at all (nothing touches a firewall). Addresses
are synthetic IPv4 (10.0.0.0/8, one in ten IPv6 from 2001:db8::/32); they
only ever exist as text in that log. For each run it prints:

- lines/s: from the first appended byte until the jail's "Total failed"
  equals the number of lines (wall clock, which includes the status polls
  of this script competing for the CPU), the server's CPU seconds per
  million lines, and the lines per CPU second of the jail's filter thread
  (source -> filter -> FailManager all run on that one thread: this is
  the one-core ingest rate);
- RSS before the spray, after it (all addresses tracked), the peak (VmHWM)
  and the tracking cost per address: (RSS after - RSS before) / tracked;
- unless --skip-expiry: RSS once findtime has passed and the jail counts
  no address any more ("memory returned").

Runs, in one invocation: Debian's fail2ban-server and gaoler on --f2b
addresses (the same log, the same configuration), gaoler alone on
--gaoler addresses, and with --capped N gaoler on N addresses with
`maxtracked = --maxtracked` (default 1,000,000), where every 1000th
address fails maxretry (5) times in a row: the run checks those are all
banned in spite of the spray and that "Currently failed" never exceeds the
cap (that run has findtime 1h and does not wait for the expiry). A size
of 0 skips a run.

Both servers log at NOTICE by default; --loglevel INFO (fail2ban's default)
adds one "Found" line per failure to the cost in both. SPRAY_PERF=FILE
records gaoler's ingest with `perf record -g` into FILE.
"""
import argparse, ipaddress, os, shutil, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
UPSTREAM = os.path.join(SHARED, "fail2ban-upstream", "config")
GAOLER = os.environ.get("GAOLER_BIN", os.path.join(ROOT, "target", "release", "gaoler"))
F2B_SERVER = "/usr/bin/fail2ban-server"
F2B_CLIENT = "/usr/bin/fail2ban-client"
F2B_PY = "/usr/bin/python3"


def addr(i):
    """The i-th synthetic address (distinct for i < 2**24 * 10 / 9)."""
    if i % 10 == 9:
        # canonical text, as the server prints and compares it
        return ipaddress.IPv6Address("2001:db8:%x:%x::%x" % ((i >> 24) & 0xffff, (i >> 12) & 0xfff,
                                                             i & 0xfff)).compressed
    j = i - i // 10
    return "10.%d.%d.%d" % ((j >> 16) & 255, (j >> 8) & 255, j & 255)


def write_log(path, n, repeat_every=0, repeats=5):
    """n distinct addresses, dated now; with repeat_every, every
    repeat_every-th address fails `repeats` times in a row. Returns the
    number of lines and the repeated addresses."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    head = stamp + ".%06d [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) on sofia profile " \
                   "'internal' for [1001@192.0.2.1] from ip "
    lines = 0
    repeated = []
    with open(path, "w") as f:
        buf = []
        for i in range(n):
            a = addr(i)
            k = 1
            if repeat_every and i % repeat_every == repeat_every - 1:
                k = repeats
                repeated.append(a)
            for _ in range(k):
                buf.append(head % (lines % 1000000) + a + "\n")
                lines += 1
            if len(buf) >= 65536:
                f.write("".join(buf))
                buf = []
        f.write("".join(buf))
    return lines, repeated


def make_tree(d, findtime, maxretry, maxtracked, loglevel):
    conf = os.path.join(d, "conf")
    os.makedirs(os.path.join(conf, "filter.d"))
    os.makedirs(os.path.join(conf, "action.d"))
    for f in ("common.conf", "freeswitch.conf"):
        shutil.copy(os.path.join(UPSTREAM, "filter.d", f), os.path.join(conf, "filter.d", f))
    open(os.path.join(d, "spray.log"), "w").close()
    with open(os.path.join(conf, "fail2ban.conf"), "w") as f:
        f.write("[Definition]\nloglevel = %s\nlogtarget = %s/server.log\nsyslogsocket = auto\n"
                "socket = %s/s.sock\npidfile = %s/s.pid\ndbfile = %s/db.sqlite3\n"
                "dbpurgeage = 1d\ndbmaxmatches = 10\n" % (loglevel, d, d, d, d))
    with open(os.path.join(conf, "jail.conf"), "w") as f:
        f.write("[DEFAULT]\nbackend = auto\nignoreself = false\nusedns = no\n"
                "bantime = 1h\naction =\n"
                "[spray]\nenabled = true\nfilter = freeswitch\nlogpath = %s/spray.log\n"
                "maxretry = %d\nfindtime = %d\n" % (d, maxretry, findtime))
        if maxtracked is not None:
            f.write("maxtracked = %d\n" % maxtracked)
    return conf


class Server:
    def __init__(self, kind, d, conf):
        self.kind, self.d, self.conf = kind, d, conf
        self.sock = os.path.join(d, "s.sock")
        if kind == "gaoler":
            argv = [GAOLER, "server", "-c", conf]
            self.client = [GAOLER, "client", "-c", conf, "-s", self.sock]
        else:
            argv = [F2B_PY, F2B_SERVER, "-c", conf]
            self.client = [F2B_PY, F2B_CLIENT, "-c", conf, "-s", self.sock]
        argv += ["-f", "-x", "-s", self.sock, "-p", os.path.join(d, "s.pid")]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(d, "server.err"), "w"))
        deadline = time.time() + 60
        while self.call("ping").returncode != 0:
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit("%s did not start; see %s/server.err" % (kind, d))
            time.sleep(0.02)
        if kind == "fail2ban":
            # fail2ban-server waits for the client to send the configuration.
            r = self.call("reload")
            if r.returncode != 0:
                raise SystemExit("fail2ban reload failed: %s" % r.stderr)
        deadline = time.time() + 60
        while self.status() is None:
            if time.time() > deadline:
                raise SystemExit("jail never appeared; see %s" % d)
            time.sleep(0.05)

    def call(self, *args):
        return subprocess.run(self.client + list(args), capture_output=True, text=True)

    def status(self):
        r = self.call("status", "spray")
        if r.returncode != 0:
            return None
        out = {}
        for l in r.stdout.splitlines():
            for key in ("Currently failed", "Total failed", "Currently banned", "Total banned"):
                if key + ":" in l:
                    out[key] = int(l.split(":")[1])
        return out if len(out) == 4 else None

    def proc_status(self, key):
        for l in open("/proc/%d/status" % self.proc.pid):
            if l.startswith(key + ":"):
                return int(l.split()[1]) * 1024
        return 0

    def rss(self):
        return self.proc_status("VmRSS")

    def peak(self):
        return self.proc_status("VmHWM")

    def cpu(self, task=None):
        path = "/proc/%d/stat" % self.proc.pid if task is None else \
            "/proc/%d/task/%d/stat" % (self.proc.pid, task)
        f = open(path).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def filter_thread(self):
        """The jail's filter thread (named f2b/f.spray by both servers), if
        the kernel shows its name."""
        for t in os.listdir("/proc/%d/task" % self.proc.pid):
            try:
                if open("/proc/%d/task/%s/comm" % (self.proc.pid, t)).read().strip() == "f2b/f.spray":
                    return int(t)
            except OSError:
                pass
        return None

    def banned(self, ip):
        r = self.call("get", "spray", "banned", ip)
        return r.returncode == 0 and r.stdout.strip().endswith("1")

    def stop(self):
        self.call("stop")
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def mb(b):
    return "%.1f MB" % (b / 1e6)


def run(kind, n, args, capped=False):
    d = tempfile.mkdtemp(prefix="gaoler-spray-")
    try:
        maxretry = 5 if capped else 1000000
        log = os.path.join(d, "gen.log")
        lines, repeated = write_log(log, n, repeat_every=1000 if capped else 0)
        # findtime: long enough for the slowest ingest (and, for the capped
        # run, the generation of its log), short enough to wait for.
        findtime = args.findtime or (3600 if capped else 60 if kind == "gaoler" else max(60, n // 2000))
        conf = make_tree(d, findtime, maxretry, args.maxtracked if capped else None, args.loglevel)
        srv = Server(kind, d, conf)
        time.sleep(1)
        rss0 = srv.rss()
        cpu0 = srv.cpu()
        ft = srv.filter_thread()
        fcpu0 = srv.cpu(ft) if ft else 0
        perf = None
        if os.environ.get("SPRAY_PERF") and kind == "gaoler":
            # Profile the ingest only: SPRAY_PERF=out.data (perf record -g dwarf).
            perf = subprocess.Popen(["perf", "record", "-F", "2000", "--call-graph", "dwarf,8192",
                                     "-p", str(srv.proc.pid), "-o", os.environ["SPRAY_PERF"]],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        t0 = time.time()
        max_failed = 0
        with open(log, "rb") as inp, open(os.path.join(d, "spray.log"), "ab") as out:
            shutil.copyfileobj(inp, out, 1 << 20)
        st = srv.status()
        while st["Total failed"] < lines:
            if time.time() - t0 > args.timeout:
                print("  %s: timed out after %d s with %d of %d lines counted"
                      % (kind, args.timeout, st["Total failed"], lines))
                break
            time.sleep(0.05)
            st = srv.status() or st
            max_failed = max(max_failed, st["Currently failed"])
        dt = time.time() - t0
        if perf:
            perf.send_signal(2)
            perf.wait()
        cpu = srv.cpu() - cpu0
        fcpu = (srv.cpu(ft) - fcpu0) if ft else None
        time.sleep(0.5)
        rss1 = srv.rss()
        st = srv.status() or st
        max_failed = max(max_failed, st["Currently failed"])
        tracked = st["Currently failed"]
        print("%-8s %9d addresses (%d lines): %9.0f lines/s, %.2f CPU s per million lines%s"
              % (kind, n, lines, lines / dt, cpu / lines * 1e6,
                 (", filter thread %.0f lines per CPU second" % (lines / fcpu)) if fcpu else ""))
        print("         RSS before %s, with %d tracked %s, peak %s: %.0f bytes per tracked address"
              % (mb(rss0), tracked, mb(rss1), mb(srv.peak()), (rss1 - rss0) / max(tracked, 1)))
        if capped:
            sample = repeated[:: max(1, len(repeated) // 50)]
            missed = [a for a in sample if not srv.banned(a)]
            banned, checked = len(sample) - len(missed), len(sample)
            if missed:
                print("         not banned: %s" % " ".join(missed[:5]))
            print("         cap %d: at most %d tracked at any status poll; %d of %d addresses that reached "
                  "maxretry checked banned; total banned %d of %d expected"
                  % (args.maxtracked, max_failed, banned, checked, st["Total banned"], len(repeated)))
            warn = [l for l in open(os.path.join(d, "server.log"), errors="replace") if "maxtracked" in l]
            print("         %d WARNING lines about the cap%s" % (len(warn), (": " + warn[-1].strip()) if warn else ""))
        if not args.skip_expiry and not capped:
            # findtime after the lines' date, plus the cleanup interval.
            deadline = t0 + findtime + 60
            while time.time() < deadline:
                st = srv.status() or st
                if st["Currently failed"] == 0:
                    break
                time.sleep(1)
            time.sleep(2)
            print("         after findtime: %d tracked, RSS %s (%s above the start)"
                  % (st["Currently failed"], mb(srv.rss()), mb(srv.rss() - rss0)))
        srv.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--f2b", type=int, default=100000, help="addresses for the fail2ban/gaoler comparison")
    ap.add_argument("--gaoler", type=int, default=1000000, help="addresses for gaoler alone")
    ap.add_argument("--capped", type=int, default=0, help="addresses for the capped run (e.g. 10000000)")
    ap.add_argument("--maxtracked", type=int, default=1000000)
    ap.add_argument("--loglevel", default="NOTICE",
                    help="server log level (INFO logs a 'Found' line per failure in both servers)")
    ap.add_argument("--findtime", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--skip-expiry", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(GAOLER):
        raise SystemExit("build first: cargo build --release")
    if args.f2b:
        if os.path.exists(F2B_SERVER):
            run("fail2ban", args.f2b, args)
        else:
            print("fail2ban-server not installed: comparison skipped")
        run("gaoler", args.f2b, args)
    if args.gaoler:
        run("gaoler", args.gaoler, args)
    if args.capped:
        run("gaoler", args.capped, args, capped=True)


if __name__ == "__main__":
    main()
