"""Redaction of captured identifiers: they are personal data, also inside the audit's own reports.

A redacted value keeps its first and last characters (so a reader can tell an IMEI from a UUID) and a keyed
hash, stable for one user across reports so equal values stay recognisable, but not a plain digest that a
reader could brute-force back to a 15-digit IMEI.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
from pathlib import Path


def _state_dir() -> Path:
    base = os.environ.get("APPAUDIT_HOME")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "appaudit"


@functools.lru_cache(maxsize=1)
def _key() -> bytes:
    path = _state_dir() / "redaction.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    key = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key.hex())
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    except OSError:
        pass  # a read-only home still gets redaction, stable for this process only
    return key


def fingerprint(value: str) -> str:
    return hmac.new(_key(), value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:8]


def redact(value: object) -> str:
    text = str(value)
    if len(text) <= 4:
        return f"…#{fingerprint(text)}"
    return f"{text[0]}…{text[-1]}#{fingerprint(text)}"


def redact_in(text: str, secrets_: list[str]) -> str:
    """Replace every occurrence of each secret in text (longest first, so substrings do not win)."""
    for secret in sorted({s for s in secrets_ if s and len(s) >= 3}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, redact(secret))
    return text
