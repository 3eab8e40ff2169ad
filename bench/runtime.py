"""Runtime capture figures: capture start-up time and the per-request cost of the audit proxy.

    .venv/bin/python bench/runtime.py [--requests N]

Start-up: wall time of `appaudit capture --device local` from the call to the program running with its hooks
in (run.json `startup_s`), for a Python program (native hooks) and, when a JDK is present, the JVM stand-in
(native + Java hooks, including the wait for the VM). Per-request: N sequential POSTs to a local HTTP server,
direct and through the in-process mitmproxy with our flow recorder (each flow written to flows.mitm and
flushed), new connection per request and keep-alive; the difference is the proxy's overhead.
"""
from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from audit.cli import main as appaudit  # noqa: E402
from audit.runtime.proxy import AuditProxy  # noqa: E402
from test_runtime_helpers import Backend, compile_jvm  # noqa: E402


def _post(conn_factory, path: str, body: bytes) -> None:
    conn = conn_factory()
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    conn.getresponse().read()
    conn.close()


def per_request(n: int, work: Path) -> dict:
    backend = Backend()
    port = backend.server.server_address[1]
    body = json.dumps({"adid": "38400000-8cf0-11bd-b23e-10b96e40000d", "pad": "x" * 512}).encode()
    out = {}
    with AuditProxy(work) as proxy:
        ep = proxy.endpoint
        modes = {
            "direct, new connection": (lambda: http.client.HTTPConnection("127.0.0.1", port), "/b"),
            "proxied, new connection": (lambda: http.client.HTTPConnection(ep.host, ep.port),
                                        f"http://127.0.0.1:{port}/b"),
        }
        for name, (factory, path) in modes.items():
            for _ in range(5):
                _post(factory, path, body)          # warm-up
            times = []
            for _ in range(n):
                start = time.perf_counter()
                _post(factory, path, body)
                times.append(time.perf_counter() - start)
            out[name] = times
        for name, (host, port_, path) in {"direct, keep-alive": ("127.0.0.1", port, "/b"),
                                          "proxied, keep-alive": (ep.host, ep.port,
                                                                  f"http://127.0.0.1:{port}/b")}.items():
            conn = http.client.HTTPConnection(host, port_)
            times = []
            for i in range(n + 5):
                start = time.perf_counter()
                conn.request("POST", path, body=body)
                conn.getresponse().read()
                if i >= 5:
                    times.append(time.perf_counter() - start)
            conn.close()
            out[name] = times
        recorded = proxy.flow_count
    backend.close()
    return {"times": out, "recorded": recorded}


def startup(work: Path) -> dict:
    results = {}
    backend = Backend()
    program = f"import urllib.request; urllib.request.urlopen({backend.url('/s')!r}, timeout=10).read()"
    for label, argv in [("python (native hooks)", [sys.executable, "-c", program])]:
        run = work / f"run-{len(results)}"
        start = time.perf_counter()
        code = appaudit(["capture", "--device", "local", "--duration", "60", "-o", str(run), "--", *argv])
        total = time.perf_counter() - start
        meta = json.loads((run / "run.json").read_text())
        results[label] = {"exit": code, "startup_s": meta.get("startup_s"), "whole_run_s": round(total, 3)}
    classes = None
    try:
        classes = compile_jvm(work / "classes")
    except Exception:
        classes = None
    if classes:
        run = work / "run-jvm"
        start = time.perf_counter()
        code = appaudit(["capture", "com.example.standin", "--device", "local", "--duration", "60", "-o",
                         str(run), "--", "java", "-cp", str(classes), "com.example.standin.Main",
                         backend.url("/a"), backend.url("/b")])
        total = time.perf_counter() - start
        meta = json.loads((run / "run.json").read_text())
        results["jvm stand-in (native + Java hooks)"] = {"exit": code, "startup_s": meta.get("startup_s"),
                                                         "whole_run_s": round(total, 3)}
        results.update(first_line(classes, work, backend))
    backend.close()
    return results


def first_line(classes: Path, work: Path, backend) -> dict:
    """The Startup stand-in reads the IMEI on main's first line: how long before it the Java hooks were in
    (`java_ready` event to the first `api` event; positive = hooks first), over five runs."""
    import shutil
    app, plugin = work / "fl-app", work / "fl-plugin"
    if not app.exists():
        shutil.copytree(classes, app)
        package = Path("com/google/android/gms/ads/identifier")
        (plugin / package).parent.mkdir(parents=True)
        shutil.move(str(app / package), str(plugin / package))
    host, port = backend.server.server_address
    leads, seen = [], 0
    for i in range(5):
        run = work / f"run-first-line-{i}"
        appaudit(["capture", "com.example.standin", "--device", "local", "--duration", "60", "-o", str(run), "--",
                  "java", "-cp", str(app), "com.example.standin.Startup", str(plugin), host, str(port)])
        events = [json.loads(line) for line in (run / "frida-events.jsonl").read_text().splitlines()]
        ready = next(e["time"] for e in events if e["type"] == "java_ready")
        first = [e for e in events if e["type"] == "api" and e["api"] == "telephony.get_device_id"]
        if first:
            seen += 1
            leads.append(first[0]["time"] - ready)
    return {"jvm first line observed": {"runs": 5, "observed": seen,
                                         "hooks_lead_ms_min": round(min(leads) * 1000, 1) if leads else None,
                                         "hooks_lead_ms_median": round(statistics.median(leads) * 1000, 1)
                                         if leads else None}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="appaudit-bench-") as tmp:
        work = Path(tmp)
        print("capture start-up (spawn -> hooks in -> resumed):")
        for label, r in startup(work).items():
            if "observed" in r:
                print(f"  {label:38s} {r['observed']}/{r['runs']} runs; hooks in before it by "
                      f"{r['hooks_lead_ms_min']} ms (min), {r['hooks_lead_ms_median']} ms (median)")
                continue
            print(f"  {label:38s} startup {r['startup_s']:.3f} s   whole run {r['whole_run_s']:.3f} s   "
                  f"exit {r['exit']}")
        measured = per_request(args.requests, work)
        print(f"per-request latency, {args.requests} sequential POSTs (median / p95, ms):")
        medians = {}
        for name, times in measured["times"].items():
            ms = sorted(t * 1000 for t in times)
            medians[name] = statistics.median(ms)
            print(f"  {name:26s} {medians[name]:7.2f} / {ms[int(len(ms) * 0.95) - 1]:7.2f}")
        for kind in ("new connection", "keep-alive"):
            print(f"  proxy overhead ({kind}): {medians['proxied, ' + kind] - medians['direct, ' + kind]:.2f} ms"
                  " per request")
        print(f"  flows recorded by the addon: {measured['recorded']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
