"""The adb commands a capture issues on a device, in order, each checked; and the undo that always runs to the end.

Every command goes through `Adb`, which records what was issued (for run.json and the tests, which run these
sequences against a real adb server with no device attached). Set-up steps raise on failure; undo steps are
all attempted even when one fails (each failure is recorded), so one broken adb call never leaves the device
with our forwards or leaves the run without its files.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import InputError

ADB_TIMEOUT_S = 30
INSTALL_TIMEOUT_S = 300
LOW_TARGET_BLOCK_API = 34          # Android 14 refuses targetSdk < 23 unless told otherwise
LOW_TARGET_SDK = 23


@dataclass
class Adb:
    """adb for one serial. `issued` lists every argv after `adb -s SERIAL`, in order."""

    binary: str
    serial: str
    log: Callable[[str], None] = lambda message: None
    issued: list[list[str]] = field(default_factory=list)
    env: dict | None = None

    def run(self, *args: str, timeout: float = ADB_TIMEOUT_S, check: bool = True) -> str:
        argv = [self.binary, "-s", self.serial, *args]
        self.issued.append(list(args))
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=self.env)
        except subprocess.TimeoutExpired:
            message = f"adb {' '.join(args)}: no answer after {timeout:.0f} s"
            self.log(message)
            if check:
                raise InputError(message) from None
            return ""
        output = (result.stdout + result.stderr).strip()
        self.log(f"adb {' '.join(args)} -> {result.returncode}: {output[:300]}")
        # `adb shell` passes the command's status through; install prints Failure [...] with status 0 on old adb.
        if check and (result.returncode != 0 or output.startswith("Failure") or "\nFailure" in output):
            raise InputError(f"adb {' '.join(args[:2])} failed: {output[:200] or f'exit {result.returncode}'}")
        return result.stdout.strip()


# -- install ---------------------------------------------------------------------------------------------------
def install_commands(apks: list[Path], package: str, api: int, target_sdk: int | None, keep_data: bool,
                     obb: list[tuple[Path, str]] = ()) -> list[tuple[list[str], bool]]:
    """(argv, must succeed) in order: uninstall first for a first-run state unless --keep-data, install with
    runtime permissions granted, the low-target flag where Android 14+ needs it, OBB files pushed."""
    # get-state first: without a device `adb uninstall` waits for one forever (checked with adb 1.0.41).
    steps: list[tuple[list[str], bool]] = [(["get-state"], True)]
    if not keep_data:
        steps.append((["uninstall", package], False))        # not installed yet is fine
    install = ["install-multiple" if len(apks) > 1 else "install", "-g"]
    if keep_data:
        install.append("-r")
    if api >= LOW_TARGET_BLOCK_API and target_sdk is not None and target_sdk < LOW_TARGET_SDK:
        install.append("--bypass-low-target-sdk-block")
    steps.append((install + [str(p) for p in apks], True))
    for local, remote in obb:
        folder = "/sdcard/" + remote.rsplit("/", 1)[0]
        steps.append((["shell", f"mkdir -p '{folder}'"], True))
        steps.append((["push", str(local), "/sdcard/" + remote], True))
    steps.append((["shell", f"pm path {package}"], True))     # read back: installed
    return steps


def run_install(adb: Adb, steps: list[tuple[list[str], bool]]) -> None:
    for argv, required in steps:
        slow = argv[0] in ("install", "install-multiple", "push")
        output = adb.run(*argv, timeout=INSTALL_TIMEOUT_S if slow else ADB_TIMEOUT_S, check=required)
        if argv[:1] == ["shell"] and argv[1].startswith("pm path") and "package:" not in output:
            raise InputError(f"the app is not installed after install ({argv[1]} printed {output[:100]!r})")


# -- the run's forwards ------------------------------------------------------------------------------------------
@dataclass
class DeviceSetup:
    """What a capture changes on the device, and its undo. Nothing device-wide: the app's processes are pointed
    at the proxy by the agent; the device only gets `adb reverse` forwards to the host's loopback listeners."""

    adb: Adb
    package: str
    ports: tuple[int, ...]
    undo_steps: list[list[str]] = field(default_factory=list)
    undo_failures: list[str] = field(default_factory=list)

    def apply(self) -> None:
        self.adb.run("get-state")
        for port in self.ports:
            self.undo_steps.append(["reverse", "--remove", f"tcp:{port}"])
            self.adb.run("reverse", f"tcp:{port}", f"tcp:{port}")
        listed = self.adb.run("reverse", "--list")
        missing = [p for p in self.ports if f"tcp:{p} tcp:{p}" not in listed]
        if missing:
            raise InputError(f"adb reverse did not take for port(s) {', '.join(map(str, missing))}: {listed[:200]}")

    def undo(self) -> list[str]:
        """Every undo step, newest first; a failing one is recorded and the rest still run."""
        steps = [["shell", f"am force-stop {self.package}"]] + list(reversed(self.undo_steps))
        for argv in steps:
            try:
                self.adb.run(*argv, check=True)
            except (InputError, OSError) as exc:
                self.undo_failures.append(str(exc))
        self.undo_steps.clear()
        return self.undo_failures


def leftover_proxy(settings: dict[str, str]) -> list[str]:
    """Device-wide proxy settings another tool left behind (they would send every app's traffic elsewhere)."""
    return [f"{k}={v}" for k, v in sorted(settings.items())
            if v not in ("", "null", ":0") and k in ("http_proxy", "global_http_proxy_host",
                                                    "global_http_proxy_port", "global_proxy_pac_url")]
