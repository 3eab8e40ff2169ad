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
        self.java_ready = threading.Event()      # the agent's Java part is installed (event `java_ready`)
        self.crash: str | None = None
        self.exit_status: int | None = None      # what the process passed to exit()/_exit() (event `exit`)
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
        self.status = self.script.exports_sync.init(agent_config(apis, java=self.java, **options))
        self.log(f"agent loaded in pid {self.pid}: native hooks {', '.join(self.status.get('native', []))}"
                 + "".join(f"; {f['hook']} failed: {f['reason']}" for f in self.status.get("native_failed", [])))
        return self.status

    def wait_java(self, timeout: float = JAVA_WAIT_S) -> bool:
        """After resume: wait until the agent's Java part is in. It installs itself before the app's first line
        (java_at startup/application); a VM the agent could not catch at start is hooked now, from outside."""
        if not self.java or self.script is None:
            return False
        if self.status.get("java_at") is not None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not self.detached.is_set():
                if self.java_ready.wait(0.02):
                    return True
            self.log("the Java VM did not start within the wait; Java hooks not installed")
            return False
        return self.hook_java(timeout) is not None

    def hook_java(self, timeout: float = JAVA_WAIT_S) -> dict | None:
        """Wait for a Java VM in the process, then install the Java hooks. None when no VM appeared."""
        if not self.java or self.script is None:
            return None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.detached.is_set():
            try:
                if self.script.exports_sync.java_available():
                    result = self.script.exports_sync.hook_java()
                    self.java_ready.set()
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
                if payload.get("type") == "class_defined":
                    # A HotSpot thread waits in the agent until its new class is hooked: not from this thread
                    # (Frida's), which must stay free to deliver the answer.
                    threading.Thread(target=self._hook_defined, daemon=True, name="appaudit-class-hook").start()
                    return
                if payload.get("type") == "jvm_thread_detached":
                    self.main_returned.set()
                elif payload.get("type") == "exit":
                    if self.exit_status is None:
                        self.exit_status = payload.get("status")
                    script = self.script
                    if script is not None:
                        script.post({"type": "exit_ack"})
                elif payload.get("type") == "java_ready":
                    self.status = {**self.status, "java": payload.get("hooks") or {}, "java_ready": True}
                    self.java_ready.set()
                self.on_event(payload)
        elif message.get("type") == "error":
            self.log(f"agent error: {message.get('description')} {message.get('stack', '')[:500]}")
            self.on_event({"type": "error", "message": message.get("description"), "time": time.time()})

    def _hook_defined(self) -> None:
        script = self.script
        if script is None:
            return
        try:
            for seq in script.exports_sync.hook_defined():
                script.post({"type": f"class_hooked:{seq}"})
        except Exception as exc:   # the process went away meanwhile
            self.log(f"hooking a newly defined class: {exc}")

    def _on_detached(self, reason, crash=None) -> None:
        self.detach_reason = str(reason)
        if crash is not None:
            self.crash = str(getattr(crash, "summary", crash))
        self.detached.set()

    def final_status(self) -> dict:
        """The agent's last word on its hooks (installed / failed with reason / never loaded), or what it said
        at attach when the process is gone; `detached` tells whether this is the final state."""
        return {**self.status, "detached": self.detach_reason}

    def close(self) -> None:
        """Unload the agent and detach; safe to call twice and after the process died."""
        script, session = self.script, self.session
        self.script = self.session = None
        if script is not None and not self.detached.is_set():
            try:
                self.status = {**self.status, **script.exports_sync.status(), "final": True}
                script.exports_sync.dispose()
                script.unload()
            except Exception as exc:
                self.log(f"unload: {exc}")
        if session is not None and not self.detached.is_set():
            try:
                session.detach()
            except Exception as exc:
                self.log(f"detach: {exc}")


def hook_summary(status: dict) -> dict:
    """run.json `hooks`: native hooks (installed, failed with reason), where the Java part went in, and each Java
    hook's state: installed (with the classes, implementations of abstract targets included), failed (reason) or
    never_loaded (its class never appeared in any loader); counts of repeated and dropped events; what the
    search for an obfuscated OkHttp pinner looked at (classes, how many got past each step, matched)."""
    java = status.get("java") or {}
    counts: dict[str, int] = {}
    for state in java.values():
        counts[state.get("status", "?")] = counts.get(state.get("status", "?"), 0) + 1
    return {"native": list(status.get("native") or []), "native_failed": list(status.get("native_failed") or []),
            "java_at": status.get("java_at"), "java_ready": bool(status.get("java_ready")),
            "boot_image_deoptimized": bool(status.get("boot_image_deoptimized")),
            "java": {k: java[k] for k in sorted(java)}, "java_counts": dict(sorted(counts.items())),
            "unpinned": list(status.get("unpinned") or []),
            "pinner_search": dict(status.get("pinner_search") or {}), "repeats": dict(status.get("repeats") or {}),
            "dropped": dict(status.get("dropped") or {}), "final": bool(status.get("final")),
            "detached": status.get("detached")}
