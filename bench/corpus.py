"""Corpus scan throughput and worker memory on ../shared/corpus/apks.

    .venv/bin/python bench/corpus.py [--jobs 1 2] [--repeat 1] [--dask] [--apks DIR]

For each --jobs value: a fresh DuckDB in a temporary folder, a full `run_corpus` with the real static scanner,
and the figures: apps, wall time, APKs/s (wall clock, including worker start-up and the DuckDB writes), the sum
of per-app scan times, and the peak RSS of each worker process (ru_maxrss reported by the worker itself).
With --dask the same on a LocalCluster of 2 worker processes x 1 thread. Target: >= 5 APKs/s on 2 cores.
Prints one line per configuration and a JSON summary last (for bench/run.py to collect).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from audit.corpus.runner import run_corpus  # noqa: E402

DEFAULT_APKS = REPO.parent / "shared" / "corpus" / "apks"
TARGET_APKS_PER_SECOND = 5.0


def one_run(apks: Path, jobs: int, scheduler: str | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="appaudit-bench-") as tmp:
        db = Path(tmp) / "bench.duckdb"
        with open(os.devnull, "w") as quiet:
            started = time.monotonic()
            summary = run_corpus([str(apks)], db, jobs=jobs, scheduler=scheduler, progress_stream=quiet,
                                 interactive=False)
            wall = time.monotonic() - started
        con = duckdb.connect(str(db), read_only=True)
        per_worker = con.execute("SELECT worker_pid, max(worker_peak_rss_mb), count(*) FROM apps "
                                 "WHERE worker_pid IS NOT NULL GROUP BY worker_pid ORDER BY 1").fetchall()
        scan_sum, slowest = con.execute("SELECT sum(scan_seconds), max(scan_seconds) FROM apps").fetchone()
        con.close()
    return {"jobs": jobs, "dask": bool(scheduler), "apps": summary.scanned, "failed": summary.failed,
            "wall_s": round(wall, 2), "apks_per_s": round(summary.scanned / wall, 2),
            "scan_cpu_s": round(scan_sum or 0.0, 2), "slowest_app_s": round(slowest or 0.0, 2),
            "worker_peak_rss_mb": [round(r[1], 1) for r in per_worker],
            "apps_per_worker": [r[2] for r in per_worker]}


def show(result: dict) -> None:
    where = "dask 2x1" if result["dask"] else f"jobs={result['jobs']}"
    print(f"corpus {where:9s}: {result['apps']} apps ({result['failed']} failed) in {result['wall_s']:.2f}s "
          f"= {result['apks_per_s']:.2f} APKs/s; per-app scan time sum {result['scan_cpu_s']:.2f}s, slowest "
          f"{result['slowest_app_s']:.2f}s; peak RSS per worker (MB) {result['worker_peak_rss_mb']} "
          f"(apps {result['apps_per_worker']})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apks", type=Path, default=DEFAULT_APKS)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; the best is kept")
    parser.add_argument("--dask", action="store_true", help="also run on a LocalCluster (2 workers x 1 thread)")
    args = parser.parse_args()
    if not args.apks.is_dir():
        print(f"bench/corpus.py: no APK folder at {args.apks}", file=sys.stderr)
        return 2
    print(f"corpus bench on {args.apks} ({os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
    results = []
    for jobs in args.jobs:
        best = max((one_run(args.apks, jobs) for _ in range(args.repeat)), key=lambda r: r["apks_per_s"])
        show(best)
        results.append(best)
    if args.dask:
        from distributed import LocalCluster
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cluster:
            best = max((one_run(args.apks, 2, cluster.scheduler_address) for _ in range(args.repeat)),
                       key=lambda r: r["apks_per_s"])
        show(best)
        results.append(best)
    top = max(r["apks_per_s"] for r in results)
    print(f"target >= {TARGET_APKS_PER_SECOND} APKs/s on 2 cores: best {top:.2f} "
          f"({'met' if top >= TARGET_APKS_PER_SECOND else 'NOT met'})")
    print(json.dumps({"corpus": results}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
