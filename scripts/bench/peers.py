#!/usr/bin/python3
"""The interleaved peer benchmark behind scripts/bench-peers.

Times "start a sandbox" → the first byte its static bootstrap sends on a Unix socket, for plain
posix_spawn, unshare, bwrap, crun, runc and Hearth, one start of each row per round (row order
shuffled per round), and writes the table into docs/benchmarks.md between the bench-peers
markers. Peers are started with os.posix_spawn and timed here; Hearth rows are timed inside a
`hearth bench cold-start --lockstep` process (sandbox start → the runtime's first /next), which
this driver steps one sample at a time so every row shares the same rounds.
"""
import argparse
import datetime
import json
import os
import random
import re
import select
import shutil
import socket
import subprocess
import sys
import time

MARK_BEGIN = "<!-- bench-peers:begin (written by scripts/bench-peers) -->"
MARK_END = "<!-- bench-peers:end -->"
SANDBOX_UID, SANDBOX_GID = 993, 990
MEMORY_BYTES = 128 << 20
PIDS_MAX = 1024


def seccomp_allow_list(repo):
    """Hearth's own allow-list (its seccomp policy file for this architecture, ADR 0006), so
    every peer that takes a seccomp filter gets the same syscalls."""
    arch = os.uname().machine
    names = set()
    for line in open(os.path.join(repo, "Sources/HearthSandbox/seccomp/%s.policy" % arch)):
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "allow":
            names.add(fields[1])
    # Hearth allows some with argument conditions; the peers get these three unconditionally.
    return sorted(names | {"clone", "socket", "personality"})


def write_bwrap_filter(names, path):
    import seccomp  # python3-seccomp (Debian)
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(1))
    for name in names:
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):
            pass  # unknown on this architecture
    with open(path, "wb") as out:
        f.export_bpf(out)


def own_cgroup():
    """The cgroup this script runs in: the v1 memory hierarchy's path, or the v2 path."""
    v2 = "/"
    for line in open("/proc/self/cgroup"):
        hid, controllers, path = line.rstrip("\n").split(":", 2)
        if "memory" in controllers.split(","):
            return "v1", path
        if hid == "0":
            v2 = path
    return "v2", v2


def oci_config(rootfs, sockdir, names, cgroups_path, arch):
    """An OCI config as `runc spec` makes it, made comparable to Hearth's sandbox: pid, net,
    ipc, uts, mount and cgroup namespaces; uid 993; no capabilities; no_new_privs; read-only
    root; memory (no swap) and pids limits; the same seccomp allow-list."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": SANDBOX_UID, "gid": SANDBOX_GID},
            "args": ["/bootstrap", "/sock/peer.sock"],
            "env": ["PATH=/usr/bin:/bin"],
            "cwd": "/",
            "capabilities": {k: [] for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": "peer",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
            {"destination": "/sock", "type": "bind", "source": sockdir, "options": ["rbind", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "cgroupsPath": cgroups_path,
            "resources": {
                "devices": [{"allow": False, "access": "rwm"}],
                "memory": {"limit": MEMORY_BYTES, "swap": MEMORY_BYTES},
                "pids": {"limit": PIDS_MAX},
            },
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": [arch],
                "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
            },
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                            "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


class Spawned:
    """A peer row: posix_spawn of a command line, timed until the bootstrap's byte arrives."""

    def __init__(self, name, argv_for, log, opens=()):
        self.name, self.argv_for, self.log, self.opens = name, argv_for, log, opens

    def sample(self, listener, i):
        argv = self.argv_for(i)
        fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
              (os.POSIX_SPAWN_OPEN, 1, self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600),
              (os.POSIX_SPAWN_DUP2, 1, 2)]
        fa += [(os.POSIX_SPAWN_OPEN, fd, path, os.O_RDONLY, 0) for fd, path in self.opens]
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}, file_actions=fa)
        ready, _, _ = select.select([listener], [], [], 20)
        if not ready:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise SystemExit(f"bench-peers: {self.name} sent nothing within 20 s: {tail(self.log)}")
        conn, _ = listener.accept()
        byte = conn.recv(1)
        t1 = time.perf_counter_ns()
        conn.close()
        _, status = os.waitpid(pid, 0)
        if byte != b"x" or status != 0:
            raise SystemExit(f"bench-peers: {self.name} run {i} failed (status {status}): {tail(self.log)}")
        return (t1 - t0) / 1e6


def tail(path, lines=5):
    """The end of a peer's log, for an error message (the work folder is removed on exit)."""
    try:
        return " | ".join(open(path, errors="replace").read().splitlines()[-lines:])
    except OSError:
        return "(no log)"


class HearthRow:
    """A Hearth row: one step of the lockstep `hearth bench` process (it times itself)."""

    def __init__(self, name, command, proc):
        self.name, self.command, self.proc = name, command, proc

    def sample(self, listener, i):
        self.proc.stdin.write(self.command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"bench-peers: hearth bench --lockstep ended (step {self.command})")
        return float(line)


def percentile(samples, p):
    s = sorted(samples)
    rank = max(1, -(-int(p * len(s) * 1000) // 1000))  # nearest rank, ceil(p * n)
    return s[min(rank, len(s)) - 1]


def machine_facts():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
    version, _ = own_cgroup()
    return {"kernel": os.uname().release, "cpu": cpu, "cpus": os.cpu_count(), "cgroup": version,
            "os": next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
                        if l.startswith("PRETTY_NAME=")), "linux")}


def tool_version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--work", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--hearth", required=True)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--command", default="scripts/bench-peers")
    ap.add_argument("--rows", default="")
    args = ap.parse_args()

    work = args.work
    sockdir, rootfs, fn = (os.path.join(work, d) for d in ("sock", "rootfs", "function"))
    for d in (sockdir, rootfs, fn):
        os.makedirs(d)
    for d in ("proc", "dev", "tmp", "sock", "sys"):
        os.makedirs(os.path.join(rootfs, d))
    for target in (os.path.join(rootfs, "bootstrap"), os.path.join(fn, "bootstrap")):
        shutil.copy(args.bootstrap, target)
        os.chmod(target, 0o755)
    os.chmod(work, 0o755)
    os.chmod(sockdir, 0o755)
    sock_path = os.path.join(sockdir, "peer.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    os.chmod(sock_path, 0o777)
    listener.listen(64)

    names = seccomp_allow_list(args.repo)
    bpf = os.path.join(work, "seccomp.bpf")
    write_bwrap_filter(names, bpf)
    version, base = own_cgroup()
    arch = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}[os.uname().machine]
    log = os.path.join(work, "peers.log")
    boot = os.path.join(rootfs, "bootstrap")
    cgroup_paths = []

    def oci(tool):
        bundle = os.path.join(work, "bundle-" + tool)
        state = os.path.join(work, "state-" + tool)
        os.makedirs(bundle)
        os.makedirs(state)

        def argv(i):
            cid = f"hearth-peer-{tool}-{os.getpid()}-{i}"
            # Relative: crun and runc put it under their own cgroup in each hierarchy.
            cg = cid
            cgroup_paths.append(cg)
            with open(os.path.join(bundle, "config.json"), "w") as f:
                json.dump(oci_config(rootfs, sockdir, names, cg, arch), f)
            return [shutil.which(tool), "--root", state, "run", "--bundle", bundle, cid]
        return argv

    bwrap_fd = 10  # opened on the compiled filter in the child, afresh for each start
    rows = [
        Spawned("posix_spawn (no isolation)", lambda i: [boot, sock_path], log),
        Spawned("unshare (user, mount, pid, net, ipc, uts)",
                lambda i: [shutil.which("unshare"), "--user", "--map-root-user", "--mount", "--pid", "--fork", "--net",
                           "--ipc", "--uts", "--", boot, sock_path], log),
        Spawned("bwrap --unshare-all (+ seccomp)",
                lambda i: [shutil.which("bwrap"), "--unshare-all", "--die-with-parent", "--ro-bind", rootfs, "/",
                           "--bind", sockdir, "/sock", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                           "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--cap-drop", "ALL",
                           "--seccomp", str(bwrap_fd), "--", "/bootstrap", "/sock/peer.sock"], log,
                opens=[(bwrap_fd, bpf)]),
        Spawned("crun run", oci("crun"), log),
        Spawned("runc run", oci("runc"), log),
    ]
    hearth = subprocess.Popen(
        [args.hearth, "bench", "cold-start", "--lockstep", "--function", fn, "--state-dir", os.path.join(work, "hearth-state")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(os.path.join(work, "hearth.log"), "w"), text=True)
    ready = hearth.stdout.readline().strip()
    if not ready.startswith("ready"):
        raise SystemExit(f"bench-peers: hearth bench --lockstep did not start (see {work}/hearth.log)")
    steps = ready.split()[1:]
    rows += [HearthRow("Hearth cold (full isolation)", "cold", hearth)]
    if "prefork" in steps:
        rows += [HearthRow("Hearth pre-forked shell", "prefork", hearth)]
    rows += [HearthRow("Hearth warm (invoke → response)", "warm", hearth)]
    if args.rows:
        keep = args.rows.split(",")
        rows = [r for r in rows if any(k in r.name for k in keep)]

    samples = {r.name: [] for r in rows}
    rng = random.Random(5)
    try:
        for i in range(args.runs):
            order = rows[:]
            rng.shuffle(order)
            for row in order:
                samples[row.name].append(row.sample(listener, i))
            sys.stderr.write(f"\rround {i + 1}/{args.runs}")
            sys.stderr.flush()
        sys.stderr.write("\n")
    finally:
        hearth.stdin.close()
        hearth.wait(timeout=60)
        listener.close()
        leftovers = cleanup_cgroups(version, cgroup_paths)
        if leftovers:
            sys.stderr.write("bench-peers: removed cgroups the peers left: " + ", ".join(leftovers) + "\n")

    facts = machine_facts()
    crun = samples.get("crun run")
    table = ["| row | n | p50 | p90 | p99 | max | p50 vs crun |", "|---|---|---|---|---|---|---|"]
    result = {}
    for row in rows:
        s = samples[row.name]
        p = {k: percentile(s, q) for k, q in (("p50", .5), ("p90", .9), ("p99", .99))}
        p["max"] = max(s)
        result[row.name] = p
        ratio = f"{percentile(crun, .5) / p['p50']:.1f}× faster" if crun and p["p50"] <= percentile(crun, .5) else \
            (f"{p['p50'] / percentile(crun, .5):.1f}× slower" if crun else "")
        if row.name == "crun run":
            ratio = "1.0 (reference)"
        table.append(f"| {row.name} | {len(s)} | {p['p50']:.2f} ms | {p['p90']:.2f} ms | {p['p99']:.2f} ms "
                     f"| {p['max']:.2f} ms | {ratio} |")
    versions = {t: tool_version(v) for t, v in (("crun", ["crun", "--version"]), ("runc", ["runc", "--version"]),
                                                  ("bwrap", ["bwrap", "--version"]), ("unshare", ["unshare", "--version"]))}
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join([
        MARK_BEGIN,
        f"Written by `{args.command}` on {now}.",
        "",
        f"- Machine: {facts['os']}, kernel {facts['kernel']}, {facts['cpus']} CPUs ({facts['cpu']}), "
        f"cgroup {facts['cgroup']} (peers' cgroups made by crun/runc under the script's own cgroup, "
        f"`{base}` in the memory hierarchy).",
        f"- Tools: {versions['crun']}; {versions['runc']}; {versions['bwrap']}; {versions['unshare']}.",
        f"- {args.runs} rounds; each round starts every row once, in a shuffled order.",
        "",
    ] + table + ["", MARK_END])
    print(section)
    with open(os.path.join(work, "result.json"), "w") as f:
        json.dump({"machine": facts, "rows": result, "date": now}, f, indent=1)
    doc = open(args.doc).read() if os.path.exists(args.doc) else "# Benchmarks\n"
    if MARK_BEGIN in doc and MARK_END in doc:
        doc = doc[:doc.index(MARK_BEGIN)] + section + doc[doc.index(MARK_END) + len(MARK_END):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + section + "\n"
    with open(args.doc, "w") as f:
        f.write(doc)


def cleanup_cgroups(version, names):
    """Removes any of the peers' cgroups a runtime left behind (it should remove them itself):
    they are directly under this process's own cgroup in each hierarchy."""
    roots = []
    for line in open("/proc/self/cgroup"):
        hid, controllers, path = line.rstrip("\n").split(":", 2)
        if version == "v2" and hid == "0":
            roots.append("/sys/fs/cgroup" + path)
        elif version == "v1" and controllers:
            mount = "/sys/fs/cgroup/" + controllers.replace("name=", "")
            roots.append(mount.rstrip("/") + path)
    left = []
    for name in names:
        for root in roots:
            d = os.path.join(root, name)
            if os.path.isdir(d):
                try:
                    os.rmdir(d)
                    left.append(d)
                except OSError as e:
                    left.append(f"{d} (not removed: {e.strerror})")
    return left


if __name__ == "__main__":
    main()
