"""Building the one Frida agent: hooks/agent.js, the Java bridge from the frida-tools wheel, and the hook list.

The hook list is data: rules/apis.yaml (owned by the static engine; schema in docs/runtime.md). The agent gets
it at load through rpc `init`, so adding an API to the rules adds a runtime hook with no JavaScript change.
No network is used: the bridge ships inside the installed frida-tools package.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..rulesdata import Validator, data_dir, load_yaml, rules_dir, validate

HOOKS_DIR = data_dir("hooks")
AGENT_SOURCE = HOOKS_DIR / "agent.js"
SAMPLE_APIS = HOOKS_DIR / "apis.sample.yaml"
NETWORK_HOOKS = HOOKS_DIR / "network.yaml"


@dataclass(frozen=True)
class HookedApi:
    """One runtime hook: a method entry of rules/apis.yaml (field reads cannot be hooked and are left out, and so
    are `static_only` entries: a reflective lookup, whose target is hooked itself)."""

    id: str
    java_class: str
    method: str
    data_type: str
    returns: str = "none"
    signature: str | None = None
    args_any: tuple[str, ...] = ()

    def to_agent(self) -> dict:
        # Frida names constructors `$init`.
        method = "$init" if self.method == "<init>" else self.method
        return {"id": self.id, "class": self.java_class, "method": method, "data_type": self.data_type,
                "returns": self.returns, "signature": self.signature, "args_any": list(self.args_any)}


def apis_path() -> Path:
    """rules/apis.yaml (the static engine's list, shared with us); the bundled sample if it is missing."""
    path = rules_dir() / "apis.yaml"
    return path if path.is_file() else SAMPLE_APIS


@functools.lru_cache(maxsize=4)
def _load_apis(path: str) -> tuple[HookedApi, ...]:
    from ..static.apis import parse_apis   # one schema, one validator, for static and runtime
    rules = parse_apis(load_yaml(path, "API list"), Path(path))
    return tuple(HookedApi(id=r.id, java_class=r.class_name, method=r.method, data_type=r.data_type,
                           returns=r.returns, signature=r.signature, args_any=r.args_any)
                 for r in rules if r.method is not None and r.method != "<clinit>" and not r.static_only)


def load_apis(path: str | Path | None = None) -> tuple[HookedApi, ...]:
    return _load_apis(str(path or apis_path()))


@dataclass(frozen=True)
class RequestHook:
    """A Java call that starts an HTTP request (hooks/network.yaml): reported with its URL and stack."""

    id: str
    java_class: str
    method: str
    url: str
    signature: str | None = None

    def to_agent(self) -> dict:
        return {"id": self.id, "class": self.java_class, "method": self.method, "url": self.url,
                "signature": self.signature}


@functools.lru_cache(maxsize=2)
def load_request_hooks(path: str = str(NETWORK_HOOKS)) -> tuple[RequestHook, ...]:
    raw = load_yaml(path, "network hook list")
    validate(raw, "network", path, "network hook list")
    Validator(path).unique(raw["network"], "id", "id")
    return tuple(RequestHook(entry["id"], entry["class"], entry["method"], entry["url"], entry.get("signature"))
                 for entry in raw["network"])


def java_bridge_source() -> str:
    import frida_tools
    bridge = Path(frida_tools.__file__).resolve().parent / "bridges" / "java.js"
    if not bridge.is_file():
        raise InputError(f"the Frida Java bridge is missing from frida-tools ({bridge}); reinstall frida-tools")
    return bridge.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=2)
def agent_source(java: bool) -> str:
    """The agent as loaded: with the Java bridge prepended (as the global `Java`) when the target may run Java."""
    try:
        agent = AGENT_SOURCE.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the Frida agent {AGENT_SOURCE}: {exc.strerror}") from None
    if not java:
        return agent
    # java.js defines `var bridge = (function () {...})()`; Frida 17 no longer exposes it as a global itself.
    return java_bridge_source() + "\nglobalThis.Java = bridge;\n" + agent


MAX_EVENTS_PER_API = 200      # distinct (value, stack) events per hooked API; more are counted, not written


def agent_config(apis: tuple[HookedApi, ...], *, native: bool = True, java: bool = False, block_quic: bool = False,
                 unpin: bool = False, unpin_fallback: bool = True, ca_pem: str | None = None, endpoint=None,
                 loopback: bool = True) -> dict:
    """What rpc `init` gets. With an `endpoint` (audit.runtime.proxy.ProxyEndpoint) the app's own processes are
    pointed at the run's proxy: Java proxy settings inside the VM, every other TCP connection redirected to the
    SOCKS5 listener (`loopback`: also connections to 127.0.0.1, as on the host; a device keeps its loopback).
    `unpin` patches known pinning code, by name and (obfuscated OkHttp) by signature; `unpin_fallback` also patches
    whatever app method throws a certificate exception (off only to prove the other paths alone)."""
    redirect = java_proxy = None
    if endpoint is not None:
        redirect = {"port": endpoint.socks_port, "token": endpoint.token, "loopback": loopback,
                    "exclude": [endpoint.port, endpoint.socks_port]}
        java_proxy = {"host": endpoint.host, "port": endpoint.port,
                      # the JDK sends loopback DIRECT unless the list is explicitly empty (checked on JDK 17)
                      "nonProxyHosts": "" if loopback else "localhost|127.*|[::1]"}
    return {"apis": [a.to_agent() for a in apis], "network": [n.to_agent() for n in load_request_hooks()],
            "native": native, "java": java, "blockQuic": block_quic, "unpin": unpin, "unpinFallback": unpin_fallback,
            "caPem": ca_pem, "redirect": redirect, "javaProxy": java_proxy, "maxEventsPerApi": MAX_EVENTS_PER_API}
