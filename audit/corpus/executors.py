"""Where the apps are scanned: local worker processes (`--jobs N`) or a Dask cluster (`--scheduler`).

Both yield JSON-ready results in completion order to the one writer, the parent; neither writes anything itself.
Each concurrent slot owns one isolated scanner child (isolate.py), so a crash or hang costs one app.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from typing import Any, Iterable, Iterator

from ..errors import InputError
from .isolate import IsolatedScanner, IsolationSettings, WorkerStartError
from .worker import failed_result


class LocalExecutor:
    """`jobs` scanner children on this machine, fed by as many parent threads that only wait on pipes."""

    def __init__(self, jobs: int, settings: IsolationSettings):
        if jobs < 1:
            raise InputError(f"--jobs must be at least 1, got {jobs}")
        self.jobs = jobs
        self.settings = settings
        self._scanners: list[IsolatedScanner] = []
        self._lock = threading.Lock()
        self._aborted = False

    @property
    def worker_pids(self) -> list[int]:
        return [pid for scanner in self._scanners for pid in scanner.pids]

    def map_unordered(self, paths: Iterable[str]) -> Iterator[dict[str, Any]]:
        local = threading.local()

        def scan(path: str) -> dict[str, Any]:
            scanner = getattr(local, "scanner", None)
            if scanner is None:
                scanner = local.scanner = IsolatedScanner(self.settings)
                with self._lock:
                    self._scanners.append(scanner)
                    if self._aborted:
                        scanner.stop()
            return scanner.scan(path)

        self._pool = pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="corpus-slot")
        futures = [pool.submit(scan, path) for path in paths]
        for future in as_completed(futures):
            yield future.result()

    def close(self, abort: bool = False) -> None:
        """Stop the workers. On abort (Ctrl-C, SIGTERM, an error) apps in progress are abandoned: their children
        are killed, so no slot thread stays blocked on a hanging app and the interpreter can exit at once."""
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._aborted = abort
            scanners = list(self._scanners)
        if abort:
            for scanner in scanners:
                scanner.stop()
        if pool is not None:
            pool.shutdown(wait=True)   # slot threads return promptly: their children are done or killed
        for scanner in scanners:
            scanner.close()


_dask_slot = threading.local()


def dask_scan(path: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The Dask task: runs on a worker thread, scans in that thread's own isolated child process."""
    wanted = IsolationSettings(**settings)
    scanner = getattr(_dask_slot, "scanner", None)
    if scanner is None or scanner.settings != wanted:
        if scanner is not None:
            scanner.close()
        scanner = _dask_slot.scanner = IsolatedScanner(wanted)
    return scanner.scan(path)


class DaskExecutor:
    """The same work on a Dask distributed cluster. APK paths must be readable from every worker."""

    def __init__(self, address: str, settings: IsolationSettings, connect_timeout: str = "15s"):
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - dask[distributed] is a dependency
            raise InputError("--scheduler needs dask[distributed] installed") from None
        self.settings = settings
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot connect to Dask scheduler {address}: {str(exc).splitlines()[0]}") from None
        self.worker_pids: list[int] = []

    def map_unordered(self, paths: Iterable[str]) -> Iterator[dict[str, Any]]:
        from distributed import as_completed as dask_as_completed

        paths = list(paths)
        if not paths:
            return
        settings = asdict(self.settings)
        self._futures = futures = self.client.map(dask_scan, paths, settings=settings, pure=False, retries=0)
        by_key = {future.key: path for future, path in zip(futures, paths)}
        for future in dask_as_completed(futures, loop=self.client.loop):
            try:
                result = future.result()
            except WorkerStartError:
                raise
            except Exception as exc:  # the Dask worker itself was lost (KilledWorker) or the task failed
                result = failed_result(by_key[future.key], f"Dask task failed: {type(exc).__name__}: {exc}",
                                       "crash")
            future.release()
            yield result

    def close(self, abort: bool = False) -> None:
        futures = getattr(self, "_futures", None)
        try:
            if abort and futures:
                self.client.cancel(futures)
        finally:
            self.client.close()
