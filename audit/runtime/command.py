"""`appaudit capture` and `appaudit device doctor`."""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager

from ..errors import InputError
from ..escape import terminal_line
from .agent import apis_path, load_apis
from .backends import device_for
from .runfolder import RunFolder, sha256_file


class StopRequest:
    """Set by SIGINT/SIGTERM (or a caller); the capture loop polls it and ends the run cleanly."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout: float) -> bool:
        return self.event.wait(timeout)

    def set(self, name: str = "stop") -> None:
        self.signal_name = self.signal_name or name
        self.event.set()


@contextmanager
def stop_on_signals(stop: StopRequest):
    """SIGINT and SIGTERM end the run through the normal teardown (proxy settings undone, folder finalised)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, frame):
        stop.set(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def capture(args) -> int:
    cmd = list(args.cmd or [])
    if args.duration is None or not (0 < args.duration <= 24 * 3600):
        raise InputError("--duration must be between 0 and 86400 seconds")
    device = device_for(args.device)
    package, apps = device.check(args.app, cmd, args.exercise)
    apis = load_apis()
    stop = StopRequest()
    run = RunFolder.create(args.output)
    options = {"device": args.device, "duration": args.duration, "exercise": args.exercise, "seed": args.seed,
               "sinkhole": args.sinkhole, "keep_data": args.keep_data, "cmd": cmd, "apis": str(apis_path())}
    with stop_on_signals(stop):
        run.start(options=options,
                  app={"package": package, "files": [{"path": str(p), "sha256": sha256_file(p), "size": p.stat().st_size}
                                 for p in apps]})
        complete, reason = False, None
        try:
            if described := device.describe():
                run.update(device=described)
            crashed = device.capture(run, apis, apps, cmd, stop, options)
            complete = not stop.is_set() and crashed is None
            reason = None if complete else crashed or f"stopped by {stop.signal_name}"
        except InputError as exc:
            reason = str(exc)
            raise
        except BaseException as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            run.finish(complete, reason)
    if not complete:
        print(terminal_line(f"appaudit: capture stopped ({reason}); partial run in {run.path} (complete: false)"),
              file=sys.stderr)
        return 130 if stop.signal_name == "SIGINT" else 143 if stop.signal_name == "SIGTERM" else 2
    print(terminal_line(f"run folder: {run.path}"), file=sys.stderr)
    return 0


def doctor(args) -> int:
    from .devices import run_doctor
    return run_doctor(args.serial, getattr(args, "fix", None))
