"""Warm invocations side by side: AWS's Runtime Interface Emulator (RIE, the emulator SAM ships)
and `hearth serve`, the same static C runtime under each (scripts/bench/runtime-tcp.c, in its
connection-per-call and keep-alive builds), wrk with keep-alive clients against each in turn.

Driven by scripts/bench-warm-peers, which installs the tools and builds the binaries. Writes the
table into docs/benchmarks.md between the bench-warm-peers markers and prints it.
"""
import argparse, base64, io, json, os, platform, re, subprocess, sys, time, urllib.request, zipfile

p = argparse.ArgumentParser()
p.add_argument("--hearth", required=True)
p.add_argument("--rie", required=True)
p.add_argument("--runtime", action="append", required=True, help="STYLE=PATH of a runtime-tcp build")
p.add_argument("--clients", default="1,4,64")
p.add_argument("--seconds", type=int, default=10)
p.add_argument("--work", required=True)
p.add_argument("--doc")
p.add_argument("--json", help="also write the rows here")
p.add_argument("--command", default="scripts/bench-warm-peers")
p.add_argument("--memory", type=int, default=3538, help="Hearth function memory (3,538 MB: 2 vCPUs, no quota on this machine)")
args = p.parse_args()
os.makedirs(args.work, exist_ok=True)
runtimes = dict(r.split("=", 1) for r in args.runtime)
clients = [int(c) for c in args.clients.split(",")]
HEARTH_PORT, RIE_PORT, RIE_API = 19821, 19822, 19823
body = b'{"bench":true}'
lua = os.path.join(args.work, "post.lua")
with open(lua, "w") as f:
    f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' % json.dumps(body.decode()))


def cpu_seconds(pid):
    """User + system CPU of one process (not its children), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url, c, seconds):
    out = subprocess.run(["wrk", "-t%d" % min(c, 2), "-c%d" % c, "-d%ds" % seconds, "--timeout", "5s", "-s", lua, "--latency", url],
                         capture_output=True, text=True).stdout
    r = {"raw": out, "rps": 0.0, "requests": 0, "errors": ""}
    for line in out.splitlines():
        s = line.strip()
        m = re.match(r"(50|90|99)%\s+([\d.]+)(us|ms|s)$", s)
        if m:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(3)]
            r["p%s" % m.group(1)] = float(m.group(2)) * scale
        if s.startswith("Requests/sec:"):
            r["rps"] = float(s.split()[1])
        m = re.match(r"(\d+) requests in", s)
        if m:
            r["requests"] = int(m.group(1))
        if s.startswith("Socket errors:") or s.startswith("Non-2xx"):
            r["errors"] = (r["errors"] + "; " if r["errors"] else "") + s
    return r


def wait_port(port, log):
    for _ in range(200):
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit("nothing listens on %d; see %s" % (port, log))


# Hearth: one serve, one function per runtime style.
state = os.path.join(args.work, "state")
serve_log = open(os.path.join(args.work, "serve.log"), "w")
serve = subprocess.Popen([args.hearth, "serve", "--listen", "127.0.0.1:%d" % HEARTH_PORT, "--state-dir", state, "--auth", "none"],
                         stdout=serve_log, stderr=serve_log)
results = []
try:
    wait_port(HEARTH_PORT, serve_log.name)
    for style, path in runtimes.items():
        z = io.BytesIO()
        with zipfile.ZipFile(z, "w") as zf:
            info = zipfile.ZipInfo("bootstrap")
            info.external_attr = 0o755 << 16
            zf.writestr(info, open(path, "rb").read())
        req = urllib.request.Request("http://127.0.0.1:%d/2015-03-31/functions" % HEARTH_PORT, method="POST", data=json.dumps({
            "FunctionName": "warm-" + style, "Runtime": "provided.al2023", "MemorySize": args.memory, "Handler": "x",
            "Role": "arn:aws:iam::000000000000:role/x", "Code": {"ZipFile": base64.b64encode(z.getvalue()).decode()}}).encode())
        urllib.request.urlopen(req).read()

    def start_rie(style, path, c):
        log = open(os.path.join(args.work, "rie-%s-%d.log" % (style, c)), "w")
        proc = subprocess.Popen([args.rie, "--runtime-interface-emulator-address", "127.0.0.1:%d" % RIE_PORT,
                                 "--runtime-api-address", "127.0.0.1:%d" % RIE_API, "--log-level", "error", path],
                                stdout=log, stderr=log)
        wait_port(RIE_PORT, log.name)
        return proc, log

    for style, path in runtimes.items():
        for c in clients:
            # A fresh RIE for every row: one that failed under load does not spoil the next.
            rie, rie_log = start_rie(style, path, c)
            peers = [("RIE", rie, "http://127.0.0.1:%d/2015-03-31/functions/function/invocations" % RIE_PORT),
                     ("Hearth", serve, "http://127.0.0.1:%d/2015-03-31/functions/warm-%s/invocations" % (HEARTH_PORT, style))]
            try:
                for name, proc, url in peers:
                    wrk(url, c, 2)  # warm-up: Hearth starts its c instances, RIE its one
                    r = {"requests": 0}
                    if proc.poll() is None:
                        before = cpu_seconds(proc.pid)
                        r = wrk(url, c, args.seconds)
                        if proc.poll() is None and r["requests"]:
                            r["server_cpu_us"] = (cpu_seconds(proc.pid) - before) / r["requests"] * 1e6
                    else:
                        r = {"rps": 0.0, "requests": 0, "errors": "", "raw": ""}
                    if proc.poll() is not None:
                        r["errors"] = (r["errors"] + "; " if r["errors"] else "") + "%s exited (status %s)" % (name, proc.returncode)
                        if name == "RIE":
                            with open(rie_log.name) as f:
                                m = re.search(r"panic: (.*)", f.read())
                            if m:
                                r["errors"] += ": Go panic, " + m.group(1)
                    if r["rps"] == 0 and not r["errors"]:
                        r["errors"] = "no responses"
                    r.update(peer=name, style=style, clients=c)
                    results.append(r)
                    print("%-6s %-10s c=%-3d %9.0f req/s  p50 %s  p99 %s  %s" % (
                        name, style, c, r["rps"], r.get("p50"), r.get("p99"), r["errors"]), file=sys.stderr, flush=True)
            finally:
                if rie.poll() is None:
                    rie.terminate()
                rie.wait()
                rie_log.close()
finally:
    serve.terminate()
    serve.wait()
    serve_log.close()


def ms(v):
    return "%.2f ms" % v if v is not None else "n/a"


styles = {"percall": "connection per call", "keepalive": "keep-alive"}
lines = ["Written by `%s` on %s UTC." % (args.command, time.strftime("%Y-%m-%d %H:%M", time.gmtime())), ""]
with open("/etc/os-release") as f:
    osname = dict(l.strip().split("=", 1) for l in f if "=" in l).get("PRETTY_NAME", "").strip('"')
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
lines.append("- Machine: %s, kernel %s, %d CPUs (%s), load average %s at the end." % (
    osname, platform.release(), os.cpu_count(), cpu, " ".join(open("/proc/loadavg").read().split()[:3])))
rie_version = subprocess.run(["sh", "-c", "ls %s/../../../ 2>/dev/null | grep -i '^aws_sam_cli-.*dist-info'" % os.path.dirname(args.rie)],
                             capture_output=True, text=True).stdout.strip().replace(".dist-info", "").replace("_", "-")
lines.append("- RIE: `aws-lambda-rie` from PyPI's %s; Hearth: `hearth serve --auth none`, the function at %d MB (no CPU quota here)." % (
    rie_version or "aws-sam-cli", args.memory))
lines.append("- wrk, keep-alive clients, %d s per row after a 2 s warm-up, rows alternating RIE and Hearth. "
             "Server CPU: user + system time of the RIE or supervisor process alone per invocation (runtime and wrk excluded)." % args.seconds)
lines.append("")
lines.append("| runtime | clients | peer | invocations/s | p50 | p90 | p99 | server CPU / inv. | errors | Hearth vs RIE |")
lines.append("|---|---|---|---|---|---|---|---|---|---|")
for r in results:
    ratio = ""
    if r["peer"] == "Hearth":
        rie = next(x for x in results if x["peer"] == "RIE" and x["style"] == r["style"] and x["clients"] == r["clients"])
        if rie["rps"] > 0 and not rie["errors"]:
            ratio = "%.2f× throughput, %.2f× p50" % (r["rps"] / rie["rps"], r["p50"] / rie["p50"])
        else:
            ratio = "RIE failed"
    lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        styles.get(r["style"], r["style"]), r["clients"], r["peer"], "{:,.0f}".format(r["rps"]), ms(r.get("p50")), ms(r.get("p90")),
        ms(r.get("p99")), "%.0f µs" % r["server_cpu_us"] if r.get("server_cpu_us") is not None else "n/a",
        r["errors"] or "none", ratio))
table = "\n".join(lines) + "\n"
print(table)
if args.json:
    with open(args.json, "w") as f:
        json.dump([{k: v for k, v in r.items() if k != "raw"} for r in results], f, indent=1)
if args.doc:
    doc = open(args.doc).read()
    begin, end = "<!-- bench-warm-peers:begin (written by scripts/bench-warm-peers) -->", "<!-- bench-warm-peers:end -->"
    if begin in doc:
        doc = doc[:doc.index(begin) + len(begin)] + "\n" + table + doc[doc.index(end):]
        open(args.doc, "w").write(doc)
