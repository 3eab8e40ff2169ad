"""Where a capture runs: one Device protocol, one class per backend (the host itself, an adb device).

`capture` (runtime/command.py) checks the options against the backend, opens the run folder and hands it over;
the backend installs or spawns, hooks, records into the run folder and says why the run is incomplete, if it
is. A new backend is one class here and one line in `device_for`.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Protocol

from ..errors import InputError
from .agent import HookedApi
from .runfolder import RunFolder


class Device(Protocol):
    kind: str

    def check(self, app: str | None, cmd: list[str], exercise: str) -> tuple[str | None, list[Path]]:
        """Refuse options this backend cannot honour; (the package the run stands for, the app files)."""

    def describe(self) -> dict:
        """What run.json records of the device."""

    def capture(self, run: RunFolder, apis: tuple[HookedApi, ...], apps: list[Path], cmd: list[str], stop,
                options: dict) -> str | None:
        """Run the capture; why it is incomplete (the program died), or None."""


class LocalHost:
    """The host itself: a program given after `--` runs under Frida and the run's proxy."""

    kind = "host"

    def check(self, app, cmd, exercise):
        if exercise == "monkey":
            raise InputError("--exercise monkey needs an Android device; with --device local the program "
                             "exercises itself")
        if not cmd:
            raise InputError("--device local needs the program to run after `--`, e.g. -- python3 app.py")
        if shutil.which(cmd[0]) is None and not Path(cmd[0]).is_file():
            raise InputError(f"program not found: {cmd[0]}")
        if app and not Path(app).is_file():
            return app, []      # the package the host program stands for: its classes are first party
        return None, app_files(app)

    def describe(self):
        return {"serial": "local", "kind": self.kind, "platform": sys.platform}

    def capture(self, run, apis, apps, cmd, stop, options):
        from .local import capture_local
        result = capture_local(cmd, run, apis, options["duration"], stop, sinkhole=options["sinkhole"])
        run.update(result={"pid": result.pid, "exited": result.exited, "jvm": result.java,
                           "java_hooks": list(result.java_hooks), "duration_s": result.duration_s,
                           "exit_status": result.exit_status})
        return result.crashed


class AdbDevice:
    """An Android device or emulator reached by adb: the app is installed, hooked and exercised there."""

    kind = "android"

    def __init__(self, serial: str):
        self.serial = serial

    def check(self, app, cmd, exercise):
        if cmd:
            raise InputError("a program after `--` is only for --device local")
        if not app:
            raise InputError("capture on an Android device needs the APP (APK or bundle) to install")
        return None, app_files(app)

    def describe(self):
        return {}       # capture_android records what it reads from the device

    def capture(self, run, apis, apps, cmd, stop, options):
        from .devices import capture_android
        return capture_android(self.serial, apps, run, apis, options["duration"], options["exercise"],
                               options["seed"], stop, sinkhole=options["sinkhole"], keep_data=options["keep_data"])


def device_for(name: str) -> Device:
    return LocalHost() if name == "local" else AdbDevice(name)


def app_files(app: str | None) -> list[Path]:
    if app is None:
        return []
    path = Path(app)
    if not path.is_file():
        raise InputError(f"app not found: {app}")
    return [path]
