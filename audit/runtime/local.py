"""The `local` device: a host program run as the app, under the same proxy and the same Frida agent.

The program's environment points at the run's proxy and CA bundle (HTTP(S)_PROXY for programs that read it,
the CA bundle variables OpenSSL, curl, requests and Node read, SSLKEYLOGFILE). A JVM (`java ...`) additionally
gets JAVA_TOOL_OPTIONS with a PKCS#12 trust store holding the run's CA; its proxy system properties are set by
the agent inside the VM, as on a device. Whatever ignores proxy settings (Proxy.NO_PROXY, raw sockets) is
redirected by the agent's connect hook to the run's SOCKS5 listener. Only this process is redirected: another
program on the machine never enters the run.

The program is spawned suspended and the agent loaded; in a JVM the Java hooks install themselves when
JNI_CreateJavaVM returns, before the main class is loaded, so even main's first line is observed.
APPAUDIT_HOOKS_READY=<path> (a file that appears once the hooks are in) is kept for programs that wait for it.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .agent import HookedApi
from .frida_session import AgentSession, hook_summary
from .proxy import AuditProxy, ProxyEndpoint, java_truststore, record_spawned
from .runfolder import RunFolder

# Variables that name a CA bundle: all point at the run's bundle (system roots + the run CA).
CA_BUNDLE_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
                  "AWS_CA_BUNDLE", "HTTPLIB2_CA_CERTS", "GIT_SSL_CAINFO", "NIX_SSL_CERT_FILE",
                  "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "PIP_CERT")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")
NO_PROXY_VARS = ("NO_PROXY", "no_proxy")
MAIN_RETURN_GRACE_S = 0.3     # let in-flight proxy work finish after a JVM's main() returned
EXIT_WAIT_S = 5.0


@dataclass(frozen=True)
class LocalResult:
    pid: int
    exited: bool             # the program ended by itself before the duration ran out
    java: bool
    java_hooks: tuple[str, ...]   # ids of the Java hooks installed
    duration_s: float
    exit_status: int | None = None   # the status it passed to exit()/_exit(), as the agent saw it
    crashed: str | None = None       # why the program did not end normally (it died without exit())


def is_jvm(argv: list[str]) -> bool:
    program = shutil.which(argv[0]) or argv[0]
    return Path(program).name == "java" or Path(os.path.realpath(program)).name == "java"


# Interpreters that say where their real executable is, so that a version-manager shim (pyenv, asdf, nodenv:
# a shell script that execs the interpreter) can be looked through: Frida spawns executables, not scripts, and
# hooks in a shell that then execs would be lost with the exec.
_REAL_EXECUTABLE = (("python", ["-c", "import sys; print(sys.executable)"]),
                    ("node", ["-p", "process.execPath"]))


def resolve_program(argv: list[str]) -> list[str]:
    """argv with argv[0] as an executable Frida can spawn: a shim script is replaced by the interpreter it
    runs; any other script is an InputError saying what to run instead."""
    program = shutil.which(argv[0]) or argv[0]
    try:
        with open(program, "rb") as handle:
            head = handle.read(256)
    except OSError as exc:
        raise InputError(f"cannot read program {argv[0]}: {exc.strerror or exc}") from None
    if not head.startswith(b"#!"):
        return [program, *argv[1:]]
    name = Path(argv[0]).name
    for prefix, ask in _REAL_EXECUTABLE:
        if name.startswith(prefix):
            import subprocess
            try:
                done = subprocess.run([program, *ask], capture_output=True, text=True, timeout=30,
                                      stdin=subprocess.DEVNULL)
            except (OSError, subprocess.SubprocessError):
                break
            real = done.stdout.strip().splitlines()[-1:] if done.returncode == 0 else []
            if real and os.path.isfile(real[0]) and not _is_script(real[0]):
                return [real[0], *argv[1:]]
            break
    shebang = head.split(b"\n", 1)[0][2:].decode("utf-8", "replace").strip()
    raise InputError(f"{argv[0]} is a script ({program}, #!{shebang}), not an executable Frida can spawn: give "
                     f"its interpreter after `--`, e.g. -- {shebang} {program} ...")


def _is_script(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"#!"
    except OSError:
        return True


def child_env(endpoint: ProxyEndpoint, run: RunFolder, java: bool, ready_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    proxy_url = f"http://{endpoint.host}:{endpoint.port}"
    for name in PROXY_VARS:
        env[name] = proxy_url
    for name in NO_PROXY_VARS:      # the test servers are on 127.0.0.1: nothing bypasses the proxy
        env.pop(name, None)
    for name in CA_BUNDLE_VARS:
        env[name] = str(endpoint.ca_bundle)
    env.pop("SSL_CERT_DIR", None)   # or OpenSSL would also look there: harmless, but the bundle is complete
    env["SSLKEYLOGFILE"] = str(run.path / "sslkeylog.txt")
    env["APPAUDIT_HOOKS_READY"] = str(ready_file)
    if java:
        store = java_truststore(endpoint)
        options = [
            f"-Djavax.net.ssl.trustStore={store}", "-Djavax.net.ssl.trustStoreType=PKCS12",
            "-Djavax.net.ssl.trustStorePassword=appaudit",
        ]
        previous = env.get("JAVA_TOOL_OPTIONS", "")
        env["JAVA_TOOL_OPTIONS"] = " ".join(([previous] if previous else []) + options)
    return env


def capture_local(argv: list[str], run: RunFolder, apis: tuple[HookedApi, ...], duration: float,
                  stop, cwd: str | None = None, sinkhole: bool = False, unpin: bool = False,
                  unpin_fallback: bool = True) -> LocalResult:
    """Run argv under the proxy and Frida until it exits, the duration ends, or `stop` (an Event) is set."""
    import frida
    if not argv:
        raise InputError("--device local needs the program to run after `--`, e.g. -- python3 app.py")
    if shutil.which(argv[0]) is None and not Path(argv[0]).is_file():
        raise InputError(f"program not found: {argv[0]}")
    java = is_jvm(argv)
    exited, duration_s = False, 0.0
    ready_file = run.path / "logs" / "hooks-ready"
    started = time.monotonic()
    proxy = AuditProxy(run.path, sinkhole=sinkhole, client_gate=run.announced)
    session = None
    pid = None
    output = open(run.logs / "app-output.log", "ab")
    device = frida.get_local_device()

    def on_output(out_pid, fd, data) -> None:
        if out_pid == pid and data:
            output.write(data)
            output.flush()

    device.on("output", on_output)
    try:
        endpoint = proxy.start()
        run.log(f"proxy listening on {endpoint.host}:{endpoint.port}")
        env = child_env(endpoint, run, java, ready_file)
        spawned = resolve_program(argv)
        program = spawned[0]
        try:
            pid = device.spawn(spawned, envp=env, cwd=cwd or os.getcwd(), stdio="pipe")
        except frida.ExecutableNotFoundError:
            raise InputError(f"program not found: {argv[0]}") from None
        except frida.ExecutableNotSupportedError as exc:
            raise InputError(f"Frida cannot spawn {argv[0]} ({program}): {exc}; give the real executable "
                             "after `--`") from None
        except frida.NotSupportedError as exc:
            raise InputError(f"Frida cannot spawn {argv[0]}: {exc}") from None
        record_spawned(endpoint.confdir, pid)   # ended by the next capture's sweep if this one is SIGKILLed
        run.update(process={"pid": pid, "argv": [program, *argv[1:]], "jvm": java},
                   proxy={"host": endpoint.host, "port": endpoint.port, "socks_port": endpoint.socks_port})
        run.log(f"spawned pid {pid}: {' '.join(argv)}")
        session = AgentSession(device, pid, run.event, run.log, java=java)
        # unpin without CA injection: the run's trust store already holds the CA
        session.attach(apis, native=True, endpoint=endpoint, loopback=True, unpin=unpin,
                       unpin_fallback=unpin_fallback)
        device.resume(pid)
        if java:
            session.wait_java()
        ready_file.touch()
        run.update(hooks=hook_summary(session.final_status()), startup_s=round(time.monotonic() - started, 3))
        exited = _wait(session, stop, started, duration)
        duration_s = round(time.monotonic() - started, 3)
    finally:
        if session is not None:
            session.close()
            run.update(hooks=hook_summary(session.final_status()))
        if pid is not None:
            _end_process(device, pid, run, wait_s=EXIT_WAIT_S if exited else 0.5)
        proxy.stop()
        run.update(traffic=proxy.summary)
        device.off("output", on_output)
        output.close()
        keylog = run.path / "sslkeylog.txt"
        if keylog.exists() and keylog.stat().st_size == 0:
            keylog.unlink()
    crashed = None
    if exited and session.detached.is_set() and session.exit_status is None and not session.main_returned.is_set():
        crashed = f"the program ended without calling exit() (killed by a signal or crashed; {session.detach_reason})"
    installed = tuple(sorted(i for i, h in (session.final_status().get("java") or {}).items()
                             if h.get("status") == "installed"))
    return LocalResult(pid, exited, java, installed, duration_s, session.exit_status, crashed)


def _wait(session: AgentSession, stop, started: float, duration: float) -> bool:
    while not stop.is_set():
        if session.detached.is_set():
            return True
        if session.main_returned.is_set():
            if session.java_main_alive():      # some other JNI thread detached: keep going
                session.main_returned.clear()
                continue
            stop.wait(MAIN_RETURN_GRACE_S)
            return True
        if time.monotonic() - started >= duration:
            return False
        stop.wait(0.05)
    return False


def _end_process(device, pid: int, run: RunFolder, wait_s: float) -> None:
    """After the agent is gone: give the program a moment to exit by itself, then kill it."""
    import psutil
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        run.log(f"pid {pid} still running after the capture: killed")
        try:
            device.kill(pid)
        except Exception as exc:
            run.log(f"kill {pid}: {exc}")
    try:  # reap it if it is our child (Frida's helper usually has already)
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
