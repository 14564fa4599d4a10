#!/usr/bin/env python3
"""Bans at scale: N addresses banned through one `set JAIL banip ...` call
(one per 20,000 addresses beyond that).

Usage (as root, from the repository root, after `cargo build --release`):

    python3 bench/bans.py [-n 2000] [--banaction nftables-multiport] [--f2b/--no-f2b]

Each server (Debian's fail2ban-server, then gaoler) runs inside a private
network namespace made for it, on a temporary copy of upstream's
configuration with one jail (`banaction`, port 5060, empty log) and a
private socket, pid file and database. The host's firewall is never
touched: every firewall command the servers run happens inside their
namespace, and the addresses (TEST-NET 198.51.100.0/24 and up through
10.0.0.0/8 for large N) only ever exist as firewall entries there.

It prints, per server, the time from sending the command until a packet
from the last address is refused (and the firewall holds all N addresses), the server's RSS after, and the ratio.
With --restore each server is then started again on its database, and the
time from its start until the firewall holds all N addresses again is
printed, with the slowest `ping` answered meanwhile. With --attack, N
addresses fail MAXRETRY (3) times each in a FreeSWITCH log written at once,
and the time from the write until the firewall holds all N is printed.
BANS_KEEP=1 keeps each run's directory (configuration, server log).
"""
import argparse, os, shutil, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSTREAM = os.path.join(os.path.dirname(ROOT), "shared", "fail2ban-upstream", "config")
GAOLER = os.environ.get("GAOLER_BIN", os.path.join(ROOT, "target", "release", "gaoler"))
F2B = ["/usr/bin/python3", "/usr/bin/fail2ban-server"]
F2B_CLIENT = ["/usr/bin/python3", "/usr/bin/fail2ban-client"]
JAIL = "bench"
MAXRETRY = 3


def attack_lines(a):
    """MAXRETRY FreeSWITCH auth failures per address, dated now."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    head = stamp + ".%06d [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) on sofia " \
                   "profile 'internal' for [1001@192.0.2.1] from ip "
    out = []
    for k in range(MAXRETRY):
        for i, ip in enumerate(a):
            out.append(head % ((k * len(a) + i) % 1000000) + ip + "\n")
    return "".join(out)


def addrs(n):
    if n <= 250:
        return ["198.51.100.%d" % (i + 1) for i in range(n)]
    return ["10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, (i & 255)) for i in range(1, n + 1)]


def tree(d, banaction, attack):
    conf = os.path.join(d, "conf")
    shutil.copytree(UPSTREAM, conf)
    open(os.path.join(d, "empty.log"), "w").close()
    with open(os.path.join(conf, "fail2ban.local"), "w") as f:
        f.write("[Definition]\nloglevel = NOTICE\nlogtarget = %s/server.log\n"
                "socket = %s/s.sock\npidfile = %s/s.pid\ndbfile = %s/db.sqlite3\n" % (d, d, d, d))
    with open(os.path.join(conf, "jail.local"), "w") as f:
        if attack:
            # FreeSWITCH's filter on a log the attack is appended to; the
            # servers' default backend (inotify where they have it).
            f.write("[DEFAULT]\nbackend = auto\nignoreself = false\nbantime = 1h\n"
                    "[%s]\nenabled = true\nfilter = freeswitch\nport = 5060\n"
                    "logpath = %s/empty.log\nmaxretry = %d\nfindtime = 600\nbanaction = %s\n"
                    % (JAIL, d, MAXRETRY, banaction))
        else:
            f.write("[DEFAULT]\nbackend = polling\nignoreself = false\nbantime = 1h\n"
                    "[%s]\nenabled = true\nfilter = sshd\nport = 5060\nlogpath = %s/empty.log\n"
                    "banaction = %s\n" % (JAIL, d, banaction))
    return conf


def count_in_firewall(ns, banaction):
    if banaction.startswith("nftables"):
        out = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "set", "inet", "f2b-table",
                              "addr-set-" + JAIL], capture_output=True, text=True).stdout
        body = out.split("elements = {", 1)[1].split("}", 1)[0] if "elements = {" in out else ""
        return len([e for e in body.split(",") if e.strip()])
    out = subprocess.run(["ip", "netns", "exec", ns, "iptables", "-S", "f2b-" + JAIL],
                         capture_output=True, text=True).stdout
    return sum(1 for l in out.splitlines() if " -s " in l)


# A peer namespace, joined to the server's by a veth pair, sends TCP
# connects to port 5060 from one of the banned addresses: "in the firewall"
# means a packet from that address is refused. (Listing the set to find it
# costs 0.5 s of CPU per look at 100,000 elements, which the servers would
# have to share the 2 cores with.)
SERVER_ADDR = "192.0.2.1"
LISTENER = ("import socket\n"
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "s.bind(('%s', 5060)); s.listen(128)\n"
            "while True:\n    s.accept()[0].close()\n" % SERVER_ADDR)
PROBER = ("import socket, sys\n"
          "for _ in sys.stdin:\n"
          "    c = socket.socket(); c.settimeout(0.5)\n"
          "    try:\n        c.connect(('%s', 5060)); r = 'open'\n"
          "    except OSError:\n        r = 'refused'\n"
          "    c.close(); print(r, flush=True)\n" % SERVER_ADDR)


class Probe:
    """Whether a connect from `addr` to the server's port 5060 gets through."""

    def __init__(self, ns, addr):
        self.peer = ns + "-p"
        subprocess.run(["ip", "netns", "add", self.peer], check=True)
        for cmd in (["ip", "link", "add", "vb", "netns", ns, "type", "veth", "peer", "name", "vp",
                     "netns", self.peer],
                    ["ip", "-n", ns, "addr", "add", SERVER_ADDR + "/32", "dev", "vb"],
                    ["ip", "-n", self.peer, "addr", "add", addr + "/32", "dev", "vp"],
                    ["ip", "-n", ns, "link", "set", "vb", "up"],
                    ["ip", "-n", self.peer, "link", "set", "vp", "up"],
                    ["ip", "-n", ns, "route", "add", addr + "/32", "dev", "vb"],
                    ["ip", "-n", self.peer, "route", "add", SERVER_ADDR + "/32", "dev", "vp"]):
            subprocess.run(cmd, check=True)
        self.listener = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c",
                                          LISTENER])
        self.prober = subprocess.Popen(["ip", "netns", "exec", self.peer, "/usr/bin/python3",
                                        "-c", PROBER], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        self.wait_open()

    def refused(self):
        self.prober.stdin.write("\n")
        self.prober.stdin.flush()
        return self.prober.stdout.readline().strip() == "refused"

    def wait_open(self):
        """Until a connect gets through (nothing banned, listener up)."""
        deadline = time.time() + 30
        while self.refused():
            if time.time() > deadline:
                raise SystemExit("the probe's connects never got through")
            time.sleep(0.05)

    def close(self):
        for p in (self.prober, self.listener):
            p.kill()
            p.wait()
        subprocess.run(["ip", "netns", "del", self.peer])


def rss_of(proc):
    for l in open("/proc/%d/status" % proc.pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) * 1024
    return 0


def run(kind, n, banaction, restore, attack=False):
    d = tempfile.mkdtemp(prefix="gaoler-bans-")
    ns = "gaoler-bans-%d-%s" % (os.getpid(), kind[0])
    subprocess.run(["ip", "netns", "add", ns], check=True)
    proc = probe = None
    try:
        conf = tree(d, banaction, attack)
        sock = os.path.join(d, "s.sock")
        if kind == "gaoler":
            server, client = [GAOLER, "server"], [GAOLER, "client"]
        else:
            server, client = F2B, F2B_CLIENT
        client = client + ["-c", conf, "-s", sock]

        def start():
            p = subprocess.Popen(["ip", "netns", "exec", ns] + server +
                                 ["-c", conf, "-f", "-x", "-s", sock, "-p", os.path.join(d, "s.pid")],
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "err"), "a"))
            deadline = time.time() + 60
            while subprocess.run(client + ["ping"], capture_output=True).returncode != 0:
                if time.time() > deadline or p.poll() is not None:
                    raise SystemExit("%s did not start; see %s" % (kind, d))
                time.sleep(0.05)
            if kind == "fail2ban":
                subprocess.run(client + ["reload"], capture_output=True, check=True)
            return p

        # The greatest address as text: bans are restored in that order
        # (and banned in rounds, each one firewall transaction), so once it
        # is refused, the last round is in; the full count is checked after.
        probe = Probe(ns, max(addrs(n)))

        def wait_all(t0):
            pings = []
            deadline = time.time() + 3600
            took = None
            while True:
                if probe.refused():
                    # (the full count is checked after the clock stopped)
                    took = time.time() - t0
                    if count_in_firewall(ns, banaction) >= n:
                        break
                if time.time() > deadline:
                    raise SystemExit("%s: never got all bans in" % kind)
                p0 = time.time()
                subprocess.run(client + ["ping"], capture_output=True)
                pings.append(time.time() - p0)
                # (polls leave the server the CPU: 2 cores are all CI has)
                time.sleep(0.05)
            return took, max(pings, default=0.0)

        proc = start()
        while subprocess.run(client + ["status", JAIL], capture_output=True).returncode != 0:
            time.sleep(0.05)
        a = addrs(n)
        if attack:
            text = attack_lines(a)
            with open(os.path.join(d, "empty.log"), "a") as f:
                f.write(text)
            t0 = time.time()
            took, _ = wait_all(t0)
            rss = rss_of(proc)
            print("%-8s %d attackers x %d failures in the log: all in the firewall %.2f s after "
                  "the last line, RSS %.1f MB" % (kind, n, MAXRETRY, took, rss / 1e6), flush=True)
            subprocess.run(client + ["stop"], capture_output=True)
            proc.wait(600)
            return took
        t0 = time.time()
        # One call up to 20,000 addresses (the control socket takes requests
        # up to 1 MiB), one call per 20,000 beyond.
        for i in range(0, n, 20000):
            r = subprocess.run(client + ["set", JAIL, "banip"] + a[i:i + 20000],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit("%s banip failed: %s" % (kind, r.stderr))
        took, _ = wait_all(t0)
        rss = rss_of(proc)
        subprocess.run(client + ["stop"], capture_output=True)
        proc.wait(120)
        left = count_in_firewall(ns, banaction)
        print("%-8s %d bans with %s: %.2f s (%.0f bans/s), RSS %.1f MB, %d left after stop"
              % (kind, n, banaction, took, n / took, rss / 1e6, left), flush=True)
        if restore:
            # Start again on the same database: the bans come back.
            probe.wait_open()
            t0 = time.time()
            proc = start()
            back, ping = wait_all(t0)
            print("%-8s %d bans restored at start: %.2f s from start to all in the firewall, "
                  "slowest ping meanwhile %.3f s" % (kind, n, back, ping), flush=True)
            subprocess.run(client + ["stop"], capture_output=True)
            proc.wait(300)
        return took
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        if probe:
            probe.close()
        subprocess.run(["ip", "netns", "del", ns])
        if not os.environ.get("BANS_KEEP"):
            shutil.rmtree(d, ignore_errors=True)
        else:
            print("kept", d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--banaction", default="nftables-multiport")
    ap.add_argument("--f2b", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--attack", action="store_true",
                    help="instead of banip: N attackers reach maxretry in a log at once")
    ap.add_argument("--restore", action="store_true",
                    help="then restart each server on its database and time the restore")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    f = run("fail2ban", args.n, args.banaction, args.restore, args.attack) if args.f2b else None
    g = run("gaoler", args.n, args.banaction, args.restore, args.attack)
    if f:
        print("ratio: gaoler %.1fx faster than fail2ban" % (f / g))


if __name__ == "__main__":
    main()
