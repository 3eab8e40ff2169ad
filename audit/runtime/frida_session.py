"""One Frida session on one process: load the agent, feed it the hook list, stream events, unload and detach.

Used the same way for the local device (host programs, HotSpot JVMs) and for Android (frida-server over USB).
Unload-and-detach is not optional: a JVM does not exit while the Java bridge stays attached.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from ..errors import InputError
from .agent import HookedApi, agent_config, agent_source

JAVA_WAIT_S = 20.0


class AgentSession:
    def __init__(self, device, pid: int, on_event: Callable[[dict], None], log: Callable[[str], None],
                 java: bool):
        self.device = device
        self.pid = pid
        self.on_event = on_event
        self.log = log
        self.java = java
        self.session = None
        self.script = None
        self.detached = threading.Event()
        self.detach_reason: str | None = None
        self.main_returned = threading.Event()   # HotSpot: the launcher's main thread is done
        self.status: dict = {}

    def attach(self, apis: tuple[HookedApi, ...], **options) -> dict:
        import frida
        try:
            self.session = self.device.attach(self.pid)
        except frida.PermissionDeniedError as exc:
            raise InputError(f"Frida may not attach to pid {self.pid} ({exc}); allow ptrace "
                             "(kernel.yama.ptrace_scope=0) or run as the same user") from None
        except frida.ProcessNotFoundError:
            raise InputError(f"process {self.pid} exited before Frida could attach") from None
        self.session.on("detached", self._on_detached)
        self.script = self.session.create_script(agent_source(self.java), name="appaudit-agent")
        self.script.on("message", self._on_message)
        self.script.load()
        self.status = self.script.exports_sync.init(agent_config(apis, **options))
        self.log(f"agent loaded in pid {self.pid}: native hooks {', '.join(self.status.get('native', []))}")
        return self.status

    def hook_java(self, timeout: float = JAVA_WAIT_S) -> dict | None:
        """Wait for a Java VM in the process, then install the Java hooks. None when no VM appeared."""
        if not self.java or self.script is None:
            return None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.detached.is_set():
            try:
                if self.script.exports_sync.java_available():
                    result = self.script.exports_sync.hook_java()
                    self.log(f"Java hooks: {len(result['hooked'])} installed, pending {result['pending']}")
                    return result
            except Exception as exc:  # the VM may be half up; ask again
                self.log(f"waiting for the Java VM: {exc}")
            time.sleep(0.02)
        self.log("no Java VM appeared in the process; Java hooks not installed")
        return None

    def java_main_alive(self) -> bool:
        """After jvm_thread_detached: is the JVM's main thread still running (another thread detached)?"""
        try:
            return bool(self.script.exports_sync.java_main_alive()) if self.script is not None else False
        except Exception as exc:
            self.log(f"checking the JVM main thread: {exc}")
            return False

    def _on_message(self, message: dict, data) -> None:
        if message.get("type") == "send":
            payload = message.get("payload")
            if isinstance(payload, dict):
                if payload.get("type") == "jvm_thread_detached":
                    self.main_returned.set()
                self.on_event(payload)
        elif message.get("type") == "error":
            self.log(f"agent error: {message.get('description')} {message.get('stack', '')[:500]}")
            self.on_event({"type": "error", "message": message.get("description"), "time": time.time()})

    def _on_detached(self, reason, crash=None) -> None:
        self.detach_reason = str(reason)
        self.detached.set()

    def close(self) -> None:
        """Unload the agent and detach; safe to call twice and after the process died."""
        script, session = self.script, self.session
        self.script = self.session = None
        if script is not None and not self.detached.is_set():
            try:
                self.status = script.exports_sync.status()
                script.exports_sync.dispose()
                script.unload()
            except Exception as exc:
                self.log(f"unload: {exc}")
        if session is not None and not self.detached.is_set():
            try:
                session.detach()
            except Exception as exc:
                self.log(f"detach: {exc}")
