"""A scanner child process per worker slot, so that a hang, a crash or a memory blow-up costs one app only.

`IsolatedScanner.scan(path)` sends the path to a long-lived `python -m audit.corpus.worker` child and waits at
most `timeout` seconds for its result line. On a timeout the child is killed (by its pid: it is ours) and a
fresh one started for the next app; if the child dies (segfault, OOM killer, os._exit) the app is recorded as
failed with the signal and the child's last stderr line. Children are recycled after `max_tasks` apps so that
memory fragmentation from big APKs does not accumulate (the role of multiprocessing's maxtasksperchild).

Plain subprocesses rather than multiprocessing: Dask worker processes are daemonic and may not fork
multiprocessing children, but they can run subprocesses, so the same isolation works locally and on a cluster.
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from .worker import DEFAULT_SCANNER, failed_result, one_line

STARTUP_TIMEOUT = 180.0


class WorkerStartError(RuntimeError):
    """The scanner child could not start at all (e.g. the scanner cannot be imported): no app can be scanned."""


@dataclass(frozen=True)
class IsolationSettings:
    scanner: str = DEFAULT_SCANNER
    timeout: float = 300.0       # seconds per app
    max_tasks: int = 200         # apps per child before it is replaced
    memory_mb: int = 4096        # address-space limit of a child (0: none); a zip bomb gets MemoryError


class IsolatedScanner:
    def __init__(self, settings: IsolationSettings = IsolationSettings()):
        self.settings = settings
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._buffer = b""
        self._eof = False
        self._tasks = 0
        self._stopped = False
        self.pids: list[int] = []   # every child started, for the benchmark's memory figures

    # -- child lifecycle -------------------------------------------------------------------------------
    def _start(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "audit.corpus.worker", "--scanner", self.settings.scanner,
             "--memory-mb", str(self.settings.memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env, close_fds=True)
        self._buffer = b""
        self._eof = False
        self._tasks = 0
        self.pids.append(self._proc.pid)
        hello = self._read_line(time.monotonic() + STARTUP_TIMEOUT)
        if hello is None:
            reason = self._death_reason()
            self.close()
            raise WorkerStartError(f"scanner worker did not start: {reason}")
        message = json.loads(hello)
        if not message.get("ready"):
            self.close()
            raise WorkerStartError(message.get("error", "scanner worker did not start"))

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self.close()

    def __enter__(self) -> "IsolatedScanner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one app ---------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Kill the child for good: a scan under way ends at once, and no new child is started after this.

        May be called from another thread than the one scanning: only the signal is sent here. The pipes are left
        to the scanning thread (which sees end of file) and to close(); closing a pipe another thread is polling
        would leave that thread waiting for the whole per-app timeout."""
        self._stopped = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def scan(self, path: str) -> dict[str, Any]:
        if self._stopped:
            return failed_result(path, "corpus run stopped before this app was scanned", "crash")
        if self._proc is None or self._tasks >= self.settings.max_tasks or self._proc.poll() is not None:
            self.close()
            self._start()
            if self._stopped:  # stopped while this child was starting
                self.kill()  # (this thread owns the scanner: closing the pipes here is safe)
                return failed_result(path, "corpus run stopped before this app was scanned", "crash")
        assert self._proc is not None and self._proc.stdin is not None
        started = time.monotonic()
        self._tasks += 1
        try:
            self._proc.stdin.write((json.dumps({"path": path}) + "\n").encode("utf-8"))
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the child is gone: reading below reports why
        line = self._read_line(started + self.settings.timeout)
        elapsed = time.monotonic() - started
        if line is not None:
            return json.loads(line)
        if not self._eof and self._proc.poll() is None:
            self.kill()
            return failed_result(path, f"timed out after {self.settings.timeout:g}s (worker killed)",
                                 "timeout", seconds=elapsed)
        reason = self._death_reason()
        self.close()
        return failed_result(path, f"worker process died while scanning: {reason}", "crash", seconds=elapsed)

    def _read_line(self, deadline: float) -> str | None:
        """The next protocol line, or None on timeout or end of file."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    return None
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    self._eof = True
                    return None
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8")

    def _death_reason(self) -> str:
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        if code < 0:
            try:
                what = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                what = f"killed by signal {-code}"
        else:
            what = f"exit code {code}"
        tail = self._stderr_tail()
        return f"{what}" + (f" ({tail})" if tail else "")

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - 4096))
            lines = [ln for ln in self._stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return one_line(lines[-1], 200) if lines else ""
