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
import re
import secrets
from pathlib import Path
from urllib.parse import unquote


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


# -- credentials seen in traffic -----------------------------------------------------------------------------
# Access tokens, session cookies and keys are not what an audit reports on, and whoever reads the report must
# not be able to replay them: they are masked in every report, also under --reveal (which shows identifier
# values, the subject of the audit). Masked like identifiers, so equal tokens stay recognisable.

SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token",
    "x-access-token", "x-csrf-token", "x-xsrf-token", "x-amz-security-token", "x-goog-api-key",
    "x-firebase-appcheck", "x-refresh-token", "x-session-token"})

# Parameter names whose value is a credential: `access_token`, `api_key`, `client_secret`, `X-Amz-Signature`...
_SECRET_NAME = re.compile(
    r"(?i)^(?:[\w.-]*(?:token|secret|passw(?:or)?d|signature|api[-_]?key|apikey|private[-_]?key|credential|"
    r"session[-_]?id|sessionid|auth)[\w.-]*|key|sig|sid|pwd|pass|code|jwt|x-amz-[\w-]+|x-goog-[\w-]+)$")
_JWT = re.compile(r"\bey[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_SCHEME_TOKEN = re.compile(r"(?i)\b(Bearer|Basic|Digest|Token|Negotiate|OAuth)(\s+)([A-Za-z0-9._~+/=:-]{6,})")
_PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
                          re.S)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/@\s:]*:)([^/@\s]+)@")
# name=value in a query string, a form body or free text (also `&amp;`-escaped inside HTML: `;` separates)
_PAIR = re.compile(r"(?P<head>(?:^|(?<=[?&;\s\"'(,]))(?P<name>[^=&?#;\s\"'<>(),]{1,64})=)(?P<value>[^&#;\s\"'<>]*)")


def is_secret_name(name: str) -> bool:
    """A header, parameter or field name whose value is a credential (see SECRET_HEADERS, _SECRET_NAME)."""
    return _is_secret_name(str(name))


@functools.lru_cache(maxsize=4096)   # a query string repeats few names many times
def _is_secret_name(name: str) -> bool:
    name = unquote(name).strip().lower()
    return name in SECRET_HEADERS or bool(_SECRET_NAME.match(name))


def _masked(value: str) -> str:
    return redact(value) if value else value


MASK_LIMIT = 64 * 1024


def mask_credentials(text: str, limit: int | None = MASK_LIMIT) -> str:
    """Mask every credential in `text` (a URL, a header value, a line of a report): JWTs, `Bearer x` / `Basic x`
    values, the password of `scheme://user:pass@`, PEM private keys (removed whole) and the value of each
    `name=value` pair whose name is credential-like. Identifier values are left to redact_in. Text longer
    than `limit` characters is cut there first: ~1 us per character of work at most, whatever the input."""
    if not text or not isinstance(text, str):
        return text
    if limit is not None and len(text) > limit:   # a report has no use for megabytes of one URL; cutting is safe
        text = f"{text[:limit]}…[{len(text) - limit} characters cut]"
    text = _PEM_PRIVATE.sub("[private key removed]", text)
    text = _JWT.sub(lambda m: _masked(m.group(0)), text)
    text = _SCHEME_TOKEN.sub(lambda m: m.group(1) + m.group(2) + _masked(m.group(3)), text)
    text = _USERINFO.sub(lambda m: m.group(1) + _masked(m.group(2)) + "@", text)
    if "=" in text:
        text = _PAIR.sub(lambda m: m.group("head") + (_masked(m.group("value")) if is_secret_name(m.group("name"))
                                                       else m.group("value")), text)
    return text


def mask_header(name: str, value: str) -> str:
    """A header's value as it may appear in a report: credentials masked whole, anything else scanned."""
    if str(name).lower() in SECRET_HEADERS:
        return _masked(str(value))
    return mask_credentials(str(value))
