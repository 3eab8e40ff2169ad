"""One watchdog, time and memory, around `scan`, `audit` and `traffic` (corpus workers have their own, per app:
audit/corpus/isolate.py and worker.py).

Time: an interval timer raises TimeLimit (a BoundExceeded, so an InputError) in the main thread when the limit
is reached. A stage that can stop early catches it once and keeps what it found, marking the report partial
(the static scan does so for its call-site search); anywhere else it ends the command as a one-line error.
If the command is still running after a grace period, WatchdogExpired (a BaseException that no `except
InputError` swallows) ends it. Either way the CLI exits 2 with one `appaudit: error:` line, after the partial
report when one was written.

Memory: the address-space limit (RLIMIT_AS, soft) is set to what the process uses at the start plus the
allowance, so an allocation past it raises MemoryError, which the CLI reports as one line, instead of the
kernel's OOM killer ending the run without a word. Both are restored on exit (the CLI also runs in-process,
from tests and from Python callers).
"""
from __future__ import annotations

import os
import resource
import signal
import threading
import time

from .errors import TimeLimit, WatchdogExpired

DEFAULT_SECONDS = 900.0
DEFAULT_MEMORY_MB = 4096
MiB = 1024 * 1024


def _address_space() -> int:
    """Bytes of address space this process uses now (VmSize), 0 where /proc is not available."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Watchdog:
    def __init__(self, seconds: float | None = DEFAULT_SECONDS, memory_mb: int | None = DEFAULT_MEMORY_MB):
        self.seconds = seconds if seconds and seconds > 0 else None
        self.memory_mb = memory_mb if memory_mb and memory_mb > 0 else None
        self.fired = False
        self._previous_handler = None
        self._previous_limit = None
        self._armed = False
        self._previous_timer = 0.0
        self._started = 0.0

    @property
    def grace(self) -> float:
        return max(5.0, 0.1 * (self.seconds or 0))

    def _on_alarm(self, _signum, _frame) -> None:
        if not self.fired:
            self.fired = True
            signal.setitimer(signal.ITIMER_REAL, self.grace)
            raise TimeLimit(f"time limit of {self.seconds:g} s reached (--time-limit)")
        raise WatchdogExpired(f"time limit of {self.seconds:g} s reached and the {self.grace:g} s to end "
                              "cleanly ran out too (--time-limit)")

    def __enter__(self) -> "Watchdog":
        if self.seconds and threading.current_thread() is threading.main_thread():
            # an interval timer someone else set (pytest-timeout, a caller's own alarm) is put back on exit
            self._previous_timer = signal.getitimer(signal.ITIMER_REAL)[0]
            self._started = time.monotonic()
            self._previous_handler = signal.signal(signal.SIGALRM, self._on_alarm)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
            self._armed = True
        if self.memory_mb:
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            wanted = _address_space() + self.memory_mb * MiB
            if hard != resource.RLIM_INFINITY:
                wanted = min(wanted, hard)
            if soft == resource.RLIM_INFINITY or wanted < soft:
                resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
                self._previous_limit = (soft, hard)
        return self

    def __exit__(self, *exc) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous_handler or signal.SIG_DFL)
            if self._previous_timer:
                left = self._previous_timer - (time.monotonic() - self._started)
                signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))
            self._armed = False
        if self._previous_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, self._previous_limit)
            self._previous_limit = None
