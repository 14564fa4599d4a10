#!/usr/bin/env python3
"""Daemon benchmarks: ban latency, sustained throughput, idle memory, start-up.

Usage (as root, from the repository root, after `cargo build --release`):

    python3 bench/daemon.py [--bans 200] [--lines 1000000] [--no-fail2ban]

- Ban latency: `gaoler server` runs in a private network namespace with the
  iptables-multiport action; the action writes a timestamp right after
  `iptables -I` returned. Latency = that stamp - the time the failure line
  was written (inotify backend). Prints median and p99.
- Throughput: genlog.py's FreeSWITCH log appended to the watched file as fast
  as possible; lines/s until the server has counted every failure, and the
  server's CPU seconds per million lines.
- Idle memory (VmRSS) and start-up time (spawn -> ping answered) with the
  FreeSWITCH and sshd jails, for gaoler and, unless --no-fail2ban, for
  Debian's fail2ban-server on the same configuration.
Everything uses TEST-NET addresses inside namespaces this script creates.
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
UPSTREAM = os.path.join(SHARED, "fail2ban-upstream", "config")
GENLOG = os.path.join(SHARED, "bench", "genlog.py")
GAOLER = os.environ.get("GAOLER_BIN", os.path.join(ROOT, "target", "release", "gaoler"))
NS = "gaoler-bench-%d" % os.getpid()


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)


def fs_line(ip):
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + ".%06d" % int((now % 1) * 1e6)
    return ("%s [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) on sofia profile "
            "'internal' for [1001@192.0.2.1] from ip %s\n" % (stamp, ip))


def make_tree(d, stamps, maxretry):
    conf = os.path.join(d, "conf")
    shutil.copytree(UPSTREAM, conf)
    for f in ("freeswitch.log", "auth.log", "gaoler.log"):
        open(os.path.join(d, f), "w").close()
    with open(os.path.join(conf, "fail2ban.local"), "w") as f:
        f.write("[Definition]\nlogtarget = %s/gaoler.log\ndbfile = %s/db.sqlite3\nloglevel = NOTICE\n" % (d, d))
    with open(os.path.join(conf, "action.d", "stamp.conf"), "w") as f:
        f.write("[INCLUDES]\nbefore = iptables.conf\n[Definition]\n"
                "actionban = <iptables> -I f2b-<name> 1 -s <ip> -j <blocktype>\n"
                "            date +%%%%s.%%%%N >> %s\n" % stamps)
    with open(os.path.join(conf, "jail.d", "bench.local") if os.path.isdir(os.path.join(conf, "jail.d"))
              else os.path.join(conf, "jail.local"), "w") as f:
        f.write("[DEFAULT]\nbackend = auto\n"
                "[freeswitch]\nenabled = true\nlogpath = %s/freeswitch.log\nmaxretry = %d\nfindtime = 1h\n"
                "bantime = 1h\nport = 5060\naction = stamp[name=freeswitch, port=5060, protocol=udp]\n"
                "[sshd]\nenabled = true\nbackend = polling\nlogpath = %s/auth.log\n" % (d, maxretry, d))
    return conf


class Server:
    def __init__(self, argv, d, ns=None):
        self.sock = os.path.join(d, "s.sock")
        full = (["ip", "netns", "exec", ns] if ns else []) + argv + [
            "-f", "-x", "-s", self.sock, "-p", os.path.join(d, "s.pid")]
        self.t0 = time.time()
        self.proc = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "server.err"), "w"))
        self.client = [GAOLER, "client"] if "gaoler" in argv[0] else ["fail2ban-client"]
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.call("ping").returncode == 0:
                self.startup = time.time() - self.t0
                return
            time.sleep(0.005)
        raise SystemExit("server did not start; see %s/server.err" % d)

    def call(self, *args):
        return subprocess.run(self.client + ["-s", self.sock] + list(args), capture_output=True, text=True)

    def pid(self):
        # The daemon itself (ip netns exec execs it in place).
        return self.proc.pid

    def rss_kb(self):
        pids = [self.pid()] + [int(p) for p in sh("pgrep", "-P", str(self.pid()), check=False).stdout.split()]
        total = 0
        for p in pids:
            try:
                for l in open("/proc/%d/status" % p):
                    if l.startswith("VmRSS:"):
                        total += int(l.split()[1])
            except OSError:
                pass
        return total

    def cpu_seconds(self):
        f = open("/proc/%d/stat" % self.pid()).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def wait_jail(self, jail):
        # ping answers while the configuration thread is still creating jails.
        deadline = time.time() + 60
        while self.call("status", jail).returncode != 0:
            if time.time() > deadline:
                raise SystemExit("jail %s never appeared" % jail)
            time.sleep(0.01)

    def total_failed(self, jail):
        for l in self.call("status", jail).stdout.splitlines():
            if "Total failed:" in l:
                return int(l.split(":")[1])
        return -1

    def stop(self):
        self.call("stop")
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def latency(n):
    d = tempfile.mkdtemp(prefix="gaoler-bench-")
    stamps = os.path.join(d, "stamps")
    make_tree(d, stamps, 1)
    sh("ip", "netns", "add", NS)
    try:
        srv = Server([GAOLER, "server", "-c", os.path.join(d, "conf")], d, ns=NS)
        srv.wait_jail("freeswitch")
        log = open(os.path.join(d, "freeswitch.log"), "a", buffering=1)
        lat = []
        for i in range(n):
            ip = "198.51.%d.%d" % (100 + i // 250, 1 + i % 250)
            before = sum(1 for _ in open(stamps)) if os.path.exists(stamps) else 0
            t0 = time.time()
            log.write(fs_line(ip))
            log.flush()
            deadline = t0 + 5
            while time.time() < deadline:
                if os.path.exists(stamps):
                    lines = open(stamps).read().split()
                    if len(lines) > before:
                        lat.append(float(lines[-1]) - t0)
                        break
                time.sleep(0.0005)
            else:
                print("  ban %d timed out" % i)
        srv.stop()
    finally:
        sh("ip", "netns", "del", NS, check=False)
    lat.sort()
    if lat:
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print("ban latency (line written -> iptables rule present), %d bans: median %.1f ms, p99 %.1f ms, max %.1f ms"
              % (len(lat), statistics.median(lat) * 1e3, p99 * 1e3, lat[-1] * 1e3))
    shutil.rmtree(d, ignore_errors=True)


def throughput(lines):
    d = tempfile.mkdtemp(prefix="gaoler-bench-")
    make_tree(d, os.path.join(d, "stamps"), 10 ** 9)
    src = os.path.join(d, "gen.log")
    with open(src, "w") as f:
        subprocess.run([sys.executable, GENLOG, "freeswitch", str(lines)], stdout=f, check=True)
    # The log's own dates are in 2026-01-01; the server treats them as
    # "now" once in operation mode, so every failure counts.
    # The jail runs the filter in its default jail mode (normal).
    expect = int(subprocess.run([GAOLER, "regex", "-c", UPSTREAM, src, "freeswitch[mode=normal]"],
                                capture_output=True, text=True).stdout.split(" matched")[0].split(",")[-1])
    srv = Server([GAOLER, "server", "-c", os.path.join(d, "conf")], d)
    srv.wait_jail("freeswitch")
    # The jail is listed as soon as it is added, before its filter thread
    # has read the (empty) log once. Lines appended before that first read
    # are backlog, judged by their own 2026-01-01 dates and dropped as
    # older than findtime. One failure dated now, counted, shows the first
    # read is done; the measured lines come after it.
    probe = time.strftime("%Y-%m-%d %H:%M:%S.000000") + (
        " [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) on sofia profile "
        "'internal' for [1@10.0.0.5] from ip 198.51.100.77\n")
    with open(os.path.join(d, "freeswitch.log"), "a") as out:
        out.write(probe)
    deadline = time.time() + 60
    while srv.total_failed("freeswitch") < 1 and time.time() < deadline:
        time.sleep(0.01)
    expect += 1
    cpu0 = srv.cpu_seconds()
    t0 = time.time()
    with open(src, "rb") as inp, open(os.path.join(d, "freeswitch.log"), "ab") as out:
        shutil.copyfileobj(inp, out, 1 << 20)
    wrote = time.time() - t0
    while srv.total_failed("freeswitch") < expect and time.time() - t0 < 600:
        time.sleep(0.05)
    dt = time.time() - t0
    cpu = srv.cpu_seconds() - cpu0
    got = srv.total_failed("freeswitch")
    srv.stop()
    print("throughput: %d lines appended in %.2f s, all %d failures counted after %.2f s: %.0f lines/s sustained, "
          "%.2f CPU s per million lines (counted %d)" % (lines, wrote, expect, dt, lines / dt, cpu / lines * 1e6, got))
    shutil.rmtree(d, ignore_errors=True)


def idle(with_fail2ban):
    for name, argv in [("gaoler", [GAOLER, "server"]), ("fail2ban", ["fail2ban-server"])]:
        if name == "fail2ban" and not with_fail2ban:
            continue
        d = tempfile.mkdtemp(prefix="gaoler-bench-")
        conf = make_tree(d, os.path.join(d, "stamps"), 5)
        srv = Server(argv + ["-c", conf], d)
        if name == "gaoler":
            srv.wait_jail("sshd")
            srv.startup = time.time() - srv.t0
        if name == "fail2ban":
            # fail2ban-server needs the client to stream the configuration.
            t0 = time.time()
            subprocess.run(["fail2ban-client", "-c", conf, "-s", srv.sock, "reload"], capture_output=True)
            srv.startup += time.time() - t0
        time.sleep(2)
        print("%-8s idle RSS with freeswitch+sshd jails: %6.1f MB, start-up to ping: %6.1f ms"
              % (name, srv.rss_kb() / 1024, srv.startup * 1e3))
        srv.stop()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bans", type=int, default=200)
    ap.add_argument("--lines", type=int, default=1000000)
    ap.add_argument("--no-fail2ban", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (network namespaces, iptables)")
    if not os.path.exists(GAOLER):
        raise SystemExit("build first: cargo build --release")
    latency(a.bans)
    throughput(a.lines)
    idle(not a.no_fail2ban)


if __name__ == "__main__":
    main()
