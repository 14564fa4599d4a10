#!/usr/bin/env python3
"""A fleet bans together: how fast bans decided on one host reach the others.

Usage (as root, from the repository root; builds the release binary first
unless --no-build):

    python3 bench/fleet.py [-n 1000] [--rate 100] [--no-build]

A throw-away PostgreSQL cluster (Debian's postgresql 15, run as the
`postgres` user under a temporary directory, Unix socket only, default
durability settings) and three `gaoler server`s ("a", "b", "c"), each in a
private network namespace with nftables, sharing it (`fleetdb`). Each runs
one jail on gaoler's shipped tree: a one-line filter (`ban <HOST>`,
maxretry 1), `nftables-multiport`, `fleet = both`. The addresses are
TEST-NET IPv6 (2001:db8::/32) and only ever exist as firewall entries in
those namespaces.

1. Latency: N bans, one log line each, written to a's log at --rate lines
   per second. For each address, the time from a's `Ban` line to b's and
   c's `Ban ... (from fleet host a, ...)` lines (the daemons' own log
   timestamps, millisecond resolution; the firewall command follows that
   line within the same round), as median, p99 and max; then the check
   that all N are in b's and c's nftables sets.
2. Throughput: N more addresses written to a's log at once; the time until
   each host's set holds them all, and the bans applied per second by the
   whole fleet (3 x N over the time until the last host has them all).

FLEET_KEEP=1 keeps the directories (configurations, logs).
"""
import argparse, datetime, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GAOLER = os.environ.get("GAOLER_BIN", os.path.join(ROOT, "target", "release", "gaoler"))
PG_BIN = "/usr/lib/postgresql/15/bin"
JAIL = "bench"
HOSTS = ("a", "b", "c")


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)


class Postgres:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gaoler-fleet-pg-")
        self.sock = os.path.join(self.dir, "sock")
        self.data = os.path.join(self.dir, "data")
        os.mkdir(self.sock)
        sh("chown", "-R", "postgres:", self.dir)
        sh("runuser", "-u", "postgres", "--", PG_BIN + "/initdb", "-D", self.data, "-A", "trust",
           "-U", "postgres")
        sh("runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", self.data, "-l",
           os.path.join(self.dir, "pg.log"), "-o", "-k %s -c listen_addresses=''" % self.sock,
           "-w", "start")

    def conninfo(self):
        return "host=%s user=postgres dbname=postgres" % self.sock

    def close(self):
        sh("runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", self.data, "-m", "fast",
           "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class Host:
    def __init__(self, name, pg):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="gaoler-fleet-%s-" % name)
        self.ns = "gaoler-fleet-%d-%s" % (os.getpid(), name)
        self.sock = os.path.join(self.dir, "s.sock")
        self.log = os.path.join(self.dir, "bench.log")
        self.proc = None
        d = self.dir
        conf = os.path.join(d, "conf")
        shutil.copytree(os.path.join(ROOT, "config"), conf)
        open(self.log, "w").close()
        with open(os.path.join(conf, "filter.d", "bench.conf"), "w") as f:
            f.write("[Definition]\nfailregex = ^ban <HOST>$\ndatepattern = {NONE}\n")
        with open(os.path.join(conf, "fail2ban.local"), "w") as f:
            f.write("[Definition]\nloglevel = NOTICE\nlogtarget = %s/gaoler.log\n"
                    "dbfile = %s/db.sqlite3\nfleetdb = %s\nfleethost = %s\nfleetretry = 1\n"
                    % (d, d, pg.conninfo(), name))
        with open(os.path.join(conf, "jail.local"), "w") as f:
            f.write("[%s]\nenabled = true\nfilter = bench\nbackend = auto\nlogpath = %s\n"
                    "maxretry = 1\nfindtime = 600\nbantime = 1h\nport = 5060\nignoreself = false\n"
                    "banaction = nftables-multiport\nfleet = both\n" % (JAIL, self.log))
        self.conf = conf
        sh("ip", "netns", "add", self.ns)

    def client(self, *args):
        return sh(GAOLER, "client", "-s", self.sock, *args, check=False)

    def start(self):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, GAOLER, "server", "-f", "-x", "-c", self.conf, "-s",
             self.sock, "-p", os.path.join(self.dir, "s.pid")],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "err"), "a"))
        deadline = time.time() + 60
        while self.client("status", JAIL).returncode != 0:
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit("host %s did not start; see %s" % (self.name, self.dir))
            time.sleep(0.05)

    def set_size(self):
        out = sh("ip", "netns", "exec", self.ns, "nft", "list", "set", "inet", "f2b-table",
                 "addr6-set-" + JAIL, check=False).stdout
        body = out.split("elements = {", 1)[1].split("}", 1)[0] if "elements = {" in out else ""
        return len([e for e in body.split(",") if e.strip()])

    def ban_times(self, fleet):
        """address -> time of its `Ban` line (from the fleet or not)."""
        out = {}
        try:
            lines = open(os.path.join(self.dir, "gaoler.log")).read().splitlines()
        except OSError:
            return out
        for l in lines:
            if "[%s] Ban " % JAIL not in l:
                continue
            from_fleet = "(from fleet host" in l
            if from_fleet != fleet:
                continue
            stamp = datetime.datetime.strptime(l[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            addr = l.split("] Ban ", 1)[1].split()[0]
            out.setdefault(addr, stamp)
        return out

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.client("stop")
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        sh("ip", "netns", "del", self.ns, check=False)
        if os.environ.get("FLEET_KEEP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def addrs(prefix, n):
    return ["2001:db8:%x::%x" % (prefix, i + 1) for i in range(n)]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def wait_sizes(hosts, want, what, t0=None, timeout=300):
    """Polls the sets until each host's holds `want`; the time each got there."""
    t0 = t0 or time.time()
    done = {}
    deadline = time.time() + timeout
    while len(done) < len(hosts):
        for h in hosts:
            if h.name not in done and h.set_size() >= want:
                done[h.name] = time.time() - t0
        if time.time() > deadline:
            raise SystemExit("%s: timed out (%s)" % (what, {h.name: h.set_size() for h in hosts}))
        time.sleep(0.02)
    return done


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=100.0, help="bans per second in phase 1")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces, the postgres user)")
    if not os.path.isfile(PG_BIN + "/initdb"):
        sys.exit("needs Debian's postgresql package (%s)" % PG_BIN)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "gaoler"], cwd=ROOT, check=True)
    if not os.path.isfile(GAOLER):
        sys.exit("no binary at %s" % GAOLER)
    n = args.n
    pg = Postgres()
    hosts = []
    try:
        hosts = [Host(name, pg) for name in HOSTS]
        for h in hosts:
            h.start()
        # Each host has connected once the shared schema exists and its
        # worker read it; a short settle covers the listeners.
        time.sleep(1.0)
        a = hosts[0]

        # 1. Latency, paced.
        first = addrs(1, n)
        with open(a.log, "a") as f:
            t_start = time.time()
            for i, ip in enumerate(first):
                f.write("ban %s\n" % ip)
                f.flush()
                pause = t_start + (i + 1) / args.rate - time.time()
                if pause > 0:
                    time.sleep(pause)
        wait_sizes(hosts, n, "phase 1")
        at_a = a.ban_times(False)
        print("fleet of 3 hosts, one PostgreSQL 15; %d bans on a at %.0f/s:" % (n, args.rate))
        for h in hosts[1:]:
            at = h.ban_times(True)
            lat = [(at[ip] - at_a[ip]) * 1e3 for ip in first if ip in at and ip in at_a]
            if len(lat) != n:
                raise SystemExit("host %s: %d of %d bans found in the logs" % (h.name, len(lat), n))
            print("  a -> %s: median %.0f ms, p99 %.0f ms, max %.0f ms (log line to log line)"
                  % (h.name, statistics.median(lat), pct(lat, 99), max(lat)))

        # 2. Throughput, all at once.
        second = addrs(2, n)
        with open(a.log, "a") as f:
            f.write("".join("ban %s\n" % ip for ip in second))
        t0 = time.time()
        done = wait_sizes(hosts, 2 * n, "phase 2", t0)
        last = max(done.values())
        print("%d bans written to a's log at once: in the firewall of a %.2f s, b %.2f s, c %.2f s "
              "after the write" % (n, done["a"], done["b"], done["c"]))
        print("  fleet-wide: %.0f bans/s applied (3 x %d in %.2f s); b and c: %.0f bans/s each"
              % (3 * n / last, n, last, n / max(done["b"], done["c"])))
        at_a = a.ban_times(False)
        for h in hosts[1:]:
            at = h.ban_times(True)
            lat = [(at[ip] - at_a[ip]) * 1e3 for ip in second if ip in at and ip in at_a]
            print("  a -> %s in the burst: median %.0f ms, p99 %.0f ms" %
                  (h.name, statistics.median(lat), pct(lat, 99)))
    finally:
        for h in hosts:
            h.close()
        pg.close()


if __name__ == "__main__":
    main()
