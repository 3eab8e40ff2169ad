"""One app, scanned in a process of its own: the unit of work of a corpus run.

`scan_file` turns one app (a file, or the APK files of one split set: a list of paths, base first, as
audit/corpus/sources.py groups them) into a JSON-ready *result* (never raises): its sha256 and size, the status
(ok | partial | failed), the one-line error and its kind, the `appaudit.scan/1` document, the time taken and
the worker's peak memory. Results are plain dicts so that they cross process and Dask boundaries unchanged.

Run as `python -m audit.corpus.worker --scanner MODULE:FUNC` this module is the *isolated scanner*: it reads one
JSON request per line on stdin and answers one JSON result per line on stdout. The parent (see isolate.py) kills
it when an app takes too long and restarts it when it dies, so one hostile APK never stops a corpus run.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import resource
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable

from ..errors import InputError

DEFAULT_SCANNER = "audit.static.scan:scan_app"
RESULT_SCHEMA = "appaudit.corpus-result/1"
HASH_CHUNK = 1 << 20


def file_digest(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def unit_paths(unit: str | list[str]) -> list[str]:
    """The files of one unit of work: a path, or the paths of one split set (base first)."""
    return [unit] if isinstance(unit, str) else [str(p) for p in unit]


def unit_digest(unit: str | list[str]) -> tuple[str, int]:
    """sha256 and size of a file; for a split set, the sha256 of its members' sha256s (in order) and the total
    size, so that --resume recognises the same set of files."""
    paths = unit_paths(unit)
    if len(paths) == 1:
        return file_digest(paths[0])
    digests = [file_digest(p) for p in paths]
    return (hashlib.sha256("\n".join(d for d, _ in digests).encode("ascii")).hexdigest(),
            sum(size for _, size in digests))


def one_line(text: str, limit: int = 500) -> str:
    """Errors go into one table cell and one log line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def peak_rss_mb() -> float:
    """The high-water mark of this worker's resident memory over its life, in MiB.

    VmHWM belongs to this process image; ru_maxrss is not used where VmHWM exists because Linux carries it
    over from the parent across fork+exec (a worker started by a 170 MB parent would report 170 MB)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def failed_result(path: str | list[str], error: str, kind: str, sha256: str | None = None,
                  size: int | None = None, seconds: float = 0.0, rss: float | None = None) -> dict[str, Any]:
    if sha256 is None:
        try:
            sha256, size = unit_digest(path)
        except OSError:
            pass
    return {"schema": RESULT_SCHEMA, "path": unit_paths(path)[0], "sha256": sha256, "size": size, "status": "failed",
            "error": one_line(error), "error_kind": kind, "scan": None, "seconds": round(seconds, 3),
            "peak_rss_mb": rss, "worker_pid": os.getpid() if rss is not None else None, "scanned_at": _now()}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_scanner(spec: str) -> Callable[[list[str]], Any]:
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"scanner must be MODULE:FUNCTION, got {spec!r}")
    return getattr(importlib.import_module(module), name)


def scan_file(path: str | list[str], scanner: Callable[[list[str]], Any]) -> dict[str, Any]:
    """Scan one app (a file or a split set); every failure becomes a failed result with its one-line reason."""
    started = time.monotonic()
    try:
        sha256, size = unit_digest(path)
    except OSError as exc:
        return failed_result(path, f"cannot read {exc.filename or path}: {exc.strerror or exc}", "input",
                             seconds=0.0, rss=peak_rss_mb())
    try:
        report = scanner(unit_paths(path))
        scan = report.to_json() if hasattr(report, "to_json") else report
        if not isinstance(scan, dict) or "app" not in scan:
            raise TypeError(f"scanner returned {type(scan).__name__}, not an appaudit.scan/1 document")
    except InputError as exc:
        return failed_result(path, str(exc), "input", sha256, size, time.monotonic() - started, peak_rss_mb())
    except MemoryError:
        return failed_result(path, "out of memory (worker memory limit reached)", "memory", sha256, size,
                             time.monotonic() - started, peak_rss_mb())
    except RecursionError:
        return failed_result(path, "input too deeply nested (recursion limit)", "input", sha256, size,
                             time.monotonic() - started, peak_rss_mb())
    except Exception as exc:  # a scanner bug on one app must not end the run: record it and go on
        return failed_result(path, f"{type(exc).__name__}: {exc}", "error", sha256, size,
                             time.monotonic() - started, peak_rss_mb())
    return {"schema": RESULT_SCHEMA, "path": unit_paths(path)[0], "sha256": sha256, "size": size,
            "status": "partial" if scan.get("partial") else "ok", "error": None, "error_kind": None,
            "scan": scan, "seconds": round(time.monotonic() - started, 3), "peak_rss_mb": peak_rss_mb(),
            "worker_pid": os.getpid(), "scanned_at": _now()}


def _quiet_libraries() -> None:
    # androguard logs every class it parses through loguru: megabytes of stderr per app.
    try:
        from loguru import logger
        logger.remove()
    except ImportError:
        pass
    import logging
    logging.disable(logging.WARNING)


def _limit_memory(megabytes: int) -> None:
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ValueError, OSError):
            pass


def _exit_with_parent(interval: float = 1.0) -> None:
    """If the corpus run is killed (SIGKILL, SIGTERM), its workers must not scan on, or hang on, as orphans."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(scanner_spec: str, memory_mb: int) -> int:
    """The isolated scanner's loop: one JSON request line in, one JSON result line out."""
    # Keep the protocol channel for ourselves; anything a library prints goes to stderr instead.
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _quiet_libraries()
    try:
        scanner = load_scanner(scanner_spec)
    except Exception as exc:
        protocol.write(json.dumps({"ready": False, "error": one_line(f"cannot load scanner {scanner_spec}: "
                                                                      f"{type(exc).__name__}: {exc}")}) + "\n")
        return 1
    _limit_memory(memory_mb)
    _exit_with_parent()
    protocol.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        result = scan_file(request["path"], scanner)
        protocol.write(json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="audit.corpus.worker")
    parser.add_argument("--scanner", default=DEFAULT_SCANNER)
    parser.add_argument("--memory-mb", type=int, default=0)
    args = parser.parse_args(argv)
    return serve(args.scanner, args.memory_mb)


if __name__ == "__main__":
    sys.exit(main())
