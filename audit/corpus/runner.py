"""A corpus run: discover the apps, skip those already done (--resume), scan the rest locally or on Dask, and
write every result through the one writer as it arrives."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, TextIO

from ..errors import InputError
from .executors import DaskExecutor, LocalExecutor
from .isolate import IsolationSettings
from .progress import Progress
from .sources import discover
from ..outputs import refuse_inside_inputs
from .store import CorpusStore, check_db_path, check_parquet_path
from .worker import DEFAULT_SCANNER, unit_digest, unit_paths


@dataclass(frozen=True)
class RunSummary:
    discovered: int
    skipped: int
    scanned: int
    ok: int
    partial: int
    failed: int
    seconds: float
    worker_pids: tuple[int, ...] = field(default=(), compare=False)

    @property
    def apps_per_second(self) -> float:
        return self.scanned / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (f"corpus: {self.scanned} scanned ({self.ok} ok, {self.partial} partial, {self.failed} failed), "
                f"{self.skipped} skipped, {self.seconds:.1f}s, {self.apps_per_second:.2f} apps/s")


def _size(unit: str | list[str]) -> int:
    try:
        return sum(os.stat(path).st_size for path in unit_paths(unit))
    except OSError:
        return 0


def run_corpus(sources: Sequence[str], db: str | Path, *, jobs: int = 1, scheduler: str | None = None,
               resume: bool = False, parquet: str | Path | None = None, timeout: float = 300.0,
               memory_mb: int = 4096, max_tasks: int = 200, scanner: str = DEFAULT_SCANNER,
               progress_stream: TextIO | None = None, interactive: bool | None = None,
               batch_size: int = 16, scheduler_timeout: float = 15.0) -> RunSummary:
    if scheduler is None and jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    if timeout <= 0:
        raise InputError(f"--timeout must be positive, got {timeout:g}")
    check_db_path(db)
    refuse_inside_inputs(db, sources, "the database")
    if parquet is not None:
        check_parquet_path(parquet)
        refuse_inside_inputs(parquet, sources, "the Parquet export")
    paths = discover(sources)
    if not paths:
        raise InputError(f"no app files (.apk, .xapk, .apks, .apkm, .aab) in {', '.join(map(str, sources))}")
    settings = IsolationSettings(scanner=scanner, timeout=timeout, max_tasks=max_tasks, memory_mb=memory_mb)
    started = time.monotonic()
    counts = {"ok": 0, "partial": 0, "failed": 0}
    pids: tuple[int, ...] = ()
    with CorpusStore(db, batch_size=batch_size) as store:
        skipped = 0
        if resume:
            done = store.done()
            todo = []
            for path in paths:
                try:
                    sha, _ = unit_digest(path)
                except OSError:
                    sha = None  # unreadable: scan it, so that it is recorded as failed with the reason
                if sha is not None and sha in done:
                    skipped += 1
                else:
                    todo.append(path)
        else:
            todo = paths
        # Largest first: the big apps do not end up alone at the tail while the other workers idle.
        todo = sorted(todo, key=_size, reverse=True)
        progress = Progress(len(todo), progress_stream, interactive, skipped=skipped)
        progress.start()
        executor = (DaskExecutor(scheduler, settings, f"{scheduler_timeout:g}s") if scheduler
                    else LocalExecutor(jobs, settings))
        finished = False
        try:
            for result in executor.map_unordered(todo):
                store.add(result)
                status = result.get("status", "failed")
                counts[status] = counts.get(status, 0) + 1
                progress.update(result)
            finished = True
        finally:
            # Explicitly, not when the generator is collected: an interrupt may land outside it (in a write),
            # and a slot still waiting on a hanging app would then keep the process alive at exit.
            pids = tuple(executor.worker_pids)
            executor.close(abort=not finished)
        store.flush()
        if parquet:
            store.export_parquet(parquet)
    summary = RunSummary(discovered=len(paths), skipped=skipped, scanned=sum(counts.values()), ok=counts["ok"],
                         partial=counts["partial"], failed=counts["failed"],
                         seconds=time.monotonic() - started, worker_pids=pids)
    progress.finish(summary.line())
    return summary
