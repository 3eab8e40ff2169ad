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
import tempfile
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import unquote

from . import percent
from .errors import InputError


def _state_dir() -> Path:
    base = os.environ.get("APPAUDIT_HOME")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "appaudit"


KEY_FILE = "redaction.key"
KEY_BYTES = 32


def _check_key(path: Path, text: str) -> bytes:
    """The key a file holds, or a one-line InputError naming the file: a key that is empty (a disk that was
    full when it was written), short or not hex would make every fingerprint computable by anyone."""
    text = text.strip()
    if not text:
        problem = "empty"
    elif len(text) != 2 * KEY_BYTES:
        problem = f"{len(text)} characters long, expected {2 * KEY_BYTES} hex digits"
    elif not re.fullmatch(r"[0-9a-fA-F]+", text):
        problem = "not hex"
    else:
        return bytes.fromhex(text)
    raise InputError(f"{path}: the redaction key is {problem}; remove the file to create a new key "
                     "(fingerprints in earlier reports will then differ)")


@functools.lru_cache(maxsize=1)
def _key() -> bytes:
    path = _state_dir() / KEY_FILE
    try:
        return _check_key(path, path.read_text(encoding="ascii", errors="replace"))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise InputError(f"{path}: cannot read the redaction key ({exc.strerror or exc})") from None
    key = secrets.token_bytes(KEY_BYTES)
    try:
        _write_new_key(path, key)
    except FileExistsError:      # another run created it first: use theirs
        return _check_key(path, path.read_text(encoding="ascii", errors="replace"))
    except OSError:
        pass  # a read-only or full home still gets redaction, stable for this process only
    return key


def _write_new_key(path: Path, key: bytes) -> None:
    """Write the key whole or not at all: into a private temporary file, synced, then linked into place (a
    link never replaces a key another run wrote meanwhile, and never exposes a half-written one)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{KEY_FILE}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key.hex())
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@functools.lru_cache(maxsize=65536)   # a report names the same few values many times
def fingerprint(value: str) -> str:
    return hmac.new(_key(), value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:8]


def redact(value: object) -> str:
    text = str(value)
    if len(text) <= 4:
        return f"…#{fingerprint(text)}"
    return f"{text[0]}…{text[-1]}#{fingerprint(text)}"


FEW_SECRETS = 8     # below this, replacing each in turn is cheaper than building an automaton


def redact_in(text: str, secrets_: Iterable[str]) -> str:
    """Replace every occurrence of each secret in `text`: the exact texts given (a few matched substrings of
    one URL) in turn, longest first; many, or with their encodings, in one pass (see Redactor)."""
    secrets_ = sorted({s for s in secrets_ if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
    if not text or not secrets_:
        return text
    if len(secrets_) > FEW_SECRETS:
        return Redactor(secrets_).text(text)
    for secret in secrets_:
        if secret in text:
            text = text.replace(secret, redact(secret))
    return text


def redact_report(report: Any, values: Iterable[str], matcher: Any = None) -> Any:
    """The report (dicts, lists, strings) with every identifier value redacted wherever it appears."""
    return report_redactor(values, matcher).report(report)


def report_redactor(values: Iterable[str], matcher: Any = None) -> "Redactor":
    """One redactor of every identifier value. With the traffic stage's Matcher (audit/traffic/match.py), its
    automaton of the same values and encodings is reused instead of building a second one (20 000 values:
    seconds); values it does not hold (what the tracker adapters read) get their own, applied after it."""
    values = list(values)
    if matcher is None:
        return Redactor(values)
    known = {ident.value for ident in matcher.identifiers}
    extra = [v for v in values if v not in known]
    return Redactor.of_matcher(matcher, Redactor(extra) if extra else None)


# -- one pass over a finished report ---------------------------------------------------------------------
MAX_REMEMBERED = 500_000              # distinct strings whose redaction is remembered (the report holds them anyway)
CHECK_KEYS = 2_000                  # keys of may_change's own automaton: ~16 us each to build, so at most ~30 ms
MIN_SECRET = 3                      # shorter values would match everywhere (and say nothing)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


class Redactor:
    """Every identifier value, in every encoding the traffic matcher finds it in (case forms, URL, hex,
    base64, hashes: audit/traffic/match.py `needles`), in ONE Aho-Corasick automaton. `report()` walks a
    finished report once, `text()` redacts one string in one automaton pass: work linear in the report's
    size whatever the number of values (the pass per value it replaces took 19 s for 200 findings and
    20 000 values). Matching is ASCII-case-insensitive (hostnames and hex digits are), and a string holding
    percent escapes is matched on its decoded form with each match mapped back to the escaped text, so a
    value percent-encoded in a path, wholly or in part, is found too. Each stretch of text covered by a match
    becomes redact(value): equal values stay recognisable across places and encodings."""

    def __init__(self, values: Iterable[Any]):
        import ahocorasick
        self.values: list[str] = []
        self.automaton = ahocorasick.Automaton()
        keys: dict[str, tuple[int, int]] = {}
        for value in sorted({str(v) for v in values if v is not None and not isinstance(v, bool)}):
            if len(value) < MIN_SECRET:
                continue
            index = len(self.values)
            self.values.append(value)
            for needle in _encodings(value):
                key = needle.translate(_ASCII_LOWER)
                if len(key) >= MIN_SECRET and key not in keys:
                    keys[key] = (len(key), index)
        for key, payload in keys.items():
            self.automaton.add_word(key, payload)
        self.active = self._own_active = bool(keys)
        self._matcher_keys = False
        self._then: Redactor | None = None
        self._done: dict[str, str] = {}
        self._ascii: bool | None = None
        self._check: Any = False             # may_change's automaton: False until made (see _checker)
        if self.active:
            self.automaton.make_automaton()

    @classmethod
    def of_matcher(cls, matcher: Any, then: "Redactor | None" = None) -> "Redactor":
        """A Redactor on the traffic Matcher's automaton: keys are ASCII-lower-cased needles cut to start at
        their first hex character, the cut prefix checked at each hit (see match.py _key_of). `then`: a
        redactor of further values, applied to what this one leaves."""
        redactor = cls(())
        redactor.values = [ident.value for ident in matcher.identifiers]
        redactor.automaton = matcher.automaton
        redactor.active = redactor._own_active = bool(matcher.needle_count)
        redactor._matcher_keys = True
        if then is not None and then.active:
            redactor._then = then
            redactor.active = True
        return redactor

    def _hits(self, lowered: str):
        """(start, end inclusive, value index) of every needle in the lower-cased text."""
        if not self._matcher_keys:
            for end, (length, index) in self.automaton.iter(lowered):
                yield end - length + 1, end, index
            return
        for end, (length, entries) in self.automaton.iter(lowered):
            for index, _encoding, _exact, prefix in entries:   # case-sensitive needles: redacted in any case
                start = end - length + 1 - len(prefix)
                if start >= 0 and (not prefix or lowered[start:start + len(prefix)] == prefix):
                    yield start, end, index
                    break

    def text(self, text: str) -> str:
        if not self.active or not text or not isinstance(text, str):
            return text
        # A report repeats its strings (keys, hosts, data types, paths): each distinct one is searched once.
        done = self._done.get(text)
        if done is None:
            done = self._search(text)
            if len(self._done) < MAX_REMEMBERED:
                self._done[text] = done
        return done

    def may_change(self, text: str) -> bool:
        """False when `text()` certainly changes no string whose text is a stretch of `text`. For many strings
        at once (the JSON lines of a report's requests, one automaton pass each): a needle across two of them
        makes a false True, never a false False. A string written with JSON escapes is not such a stretch:
        callers check those apart. Searched percent-decoded only: a string without a `%` is its own decoded
        form, one with is searched only so by `text()`, and decoding a stretch does not depend on its context
        (an escape holds no character that delimits a string)."""
        if not self.active or not text:
            return False
        checker = self._checker()
        if checker is not None and checker[1] or checker is None and self._ascii_needles():
            # a non-ASCII character is in no needle: made `?` (a false hit at worst, never a lost one), the
            # rest is lowered and decoded by C code; a `%` starting no escape stays itself, as `_PERCENT` leaves it
            data = text.encode("ascii", "replace").lower()
            if b"%" in data:
                data = percent.decoded_bytes(percent.NOT_AN_ESCAPE_BYTES.sub(b"%25", data)).lower()
            searched = data.decode("latin-1")
        else:
            searched = text.lower() if text.isascii() else text.translate(_ASCII_LOWER)
            if "%" in text:
                searched = _percent_lowered(searched)
        if checker is not None:
            return next(checker[0].iter(searched), None) is not None
        for redactor in (self, self._then):
            if redactor is not None and redactor._own_active and next(redactor._hits(searched), None) is not None:
                return True
        return False

    def _checker(self) -> tuple[Any, bool] | None:
        """For may_change: one automaton of the keys of this redactor and the next, each cut to start at its first
        hex character (match.py's keys are: a pass is faster, and a needle holds its key), and whether every key
        is ASCII. One pass instead of two, hits not checked further; None when the keys are too many to build it
        in a moment (`_hits` of each automaton then)."""
        if self._check is False:
            import ahocorasick
            from .traffic.match import _key_of
            automata = [r.automaton for r in (self, self._then) if r is not None and r._own_active]
            self._check = None
            if sum(len(automaton) for automaton in automata) <= CHECK_KEYS:
                checker, ascii_keys = ahocorasick.Automaton(), True
                for automaton in automata:
                    for key in automaton.keys():
                        checker.add_word(_key_of(key)[1], 0)
                        ascii_keys = ascii_keys and key.isascii()
                checker.make_automaton()
                self._check = (checker, ascii_keys)
        return self._check

    def _ascii_needles(self) -> bool:
        """Whether every needle is ASCII: every value is (each encoding of an ASCII value is ASCII)."""
        if self._ascii is None:
            self._ascii = all(isinstance(value, str) and value.isascii() for value in self.values) and (
                self._then is None or self._then._ascii_needles())
        return self._ascii

    def _search(self, text: str) -> str:
        text = self._own(text) if self._own_active else text
        return self._then.text(text) if self._then is not None else text

    def _own(self, text: str) -> str:
        spans = None
        lowered = text.lower() if text.isascii() else text.translate(_ASCII_LOWER)   # the same for ASCII text
        if "%" in text:
            # searched decoded; the map back to the escaped text is built only when something matched
            if next(self._hits(_percent_lowered(lowered)), None) is None:
                return text
            searched, spans = _percent_decoded(text)
            lowered = searched.translate(_ASCII_LOWER)
        found = []
        for start, end, index in self._hits(lowered):
            if spans is not None:
                start, end = spans[start][0], spans[end][1] - 1
            found.append((start, end + 1, index))
        if not found:
            return text
        found.sort()
        out, pos = [], 0
        current = None
        for start, stop, index in found:
            if current is not None and start < current[1]:   # overlapping matches: redact their union,
                longer = index if stop - start > current[1] - current[0] else current[2]   # named by the longer
                current = (current[0], max(stop, current[1]), longer)
                continue
            if current is not None:
                out.append(text[pos:current[0]])
                out.append(redact(self.values[current[2]]))
                pos = current[1]
            current = (start, stop, index)
        out.append(text[pos:current[0]])
        out.append(redact(self.values[current[2]]))
        out.append(text[current[1]:])
        return "".join(out)

    def report(self, report: Any) -> Any:
        if not self.active:
            return report
        remembered, search = self._done, self.text

        def walk(value: Any) -> Any:   # exact types first: a report is millions of small strings and dicts
            kind = type(value)
            if kind is str:
                done = remembered.get(value)
                return done if done is not None else search(value)
            if kind is dict:
                return {walk(k) if type(k) is str else k: walk(v) for k, v in value.items()}
            if kind is list or kind is tuple:
                return [walk(v) for v in value]
            if isinstance(value, str):
                return search(value)
            if isinstance(value, dict):
                return {walk(k) if isinstance(k, str) else k: walk(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [walk(v) for v in value]
            return value

        return walk(report)


def _encodings(value: str) -> set[str]:
    from .traffic.match import needles, normal_forms
    out = set(normal_forms(value))
    out.update(text for text, _encoding, _case in needles(value))
    return out


def _percent_char(match: re.Match) -> str:
    return chr(int(match.group(0)[1:], 16)).translate(_ASCII_LOWER)


def _percent_lowered(lowered: str) -> str:
    """ASCII-lower-cased text with each %XX read as the (ASCII-lower-cased) Latin-1 character it encodes. A URL
    per request goes through here: ASCII text whose every `%` starts an escape is decoded at C speed
    (audit/percent.py), any other by the pattern."""
    if lowered.isascii() and not percent.NOT_AN_ESCAPE.search(lowered):
        return percent.decoded_bytes(lowered.encode("ascii")).decode("latin-1").translate(_ASCII_LOWER)
    return _PERCENT.sub(_percent_char, lowered)


def _percent_decoded(text: str) -> tuple[str, list[tuple[int, int]]]:
    """`text` with each %XX read as the character it encodes (as Latin-1, the way the matcher reads bytes),
    and for each decoded character the span of `text` it came from."""
    chars, spans, pos = [], [], 0
    for match in _PERCENT.finditer(text):
        start = match.start()
        chars.append(text[pos:start])   # a literal run: one span per character, made at C speed
        spans.extend(zip(range(pos, start), range(pos + 1, start + 1)))
        chars.append(chr(int(match.group(0)[1:], 16)))
        pos = match.end()
        spans.append((start, pos))
    chars.append(text[pos:])
    spans.extend(zip(range(pos, len(text)), range(pos + 1, len(text) + 1)))
    return "".join(chars), spans


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


# Every name is_secret_name accepts contains one of these (the keywords of _SECRET_NAME, the SECRET_HEADERS):
# a text without any holds no credential-like name=value pair.
_SECRET_HINT = re.compile("|".join(["token", "secret", "passw", "signature", "key", "credential", "session",
                                             "auth", "sig", "sid", "pwd", "pass", "code", "jwt", "x-amz-", "x-goog-",
                                             *map(re.escape, sorted(SECRET_HEADERS))]))


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
    # each pattern only where its fixed part is present: a URL per request goes through here
    if "-----BEGIN" in text:
        text = _PEM_PRIVATE.sub("[private key removed]", text)
    if "ey" in text:
        text = _JWT.sub(lambda m: _masked(m.group(0)), text)
    if not text.isprintable() or " " in text:   # the scheme and its token are separated by white space
        text = _SCHEME_TOKEN.sub(lambda m: m.group(1) + m.group(2) + _masked(m.group(3)), text)
    if "@" in text:
        text = _USERINFO.sub(lambda m: m.group(1) + _masked(m.group(2)) + "@", text)
    if "=" in text and _SECRET_HINT.search(percent.unquote(text).lower()):
        text = _masked_pairs(text)
    return text


def _masked_pairs(text: str) -> str:
    """`text` with the value of each name=value pair (_PAIR) whose name is credential-like masked: the matches
    `_PAIR.sub` makes, only those masked spliced (a substitution called back for every pair, most of them
    kept as they are)."""
    out, position = [], 0
    for pair in _PAIR.finditer(text):
        if _is_secret_name(pair.group(2)):
            start, end = pair.span(3)
            out += (text[position:start], _masked(text[start:end]))
            position = end
    if not out:
        return text
    out.append(text[position:])
    return "".join(out)


def mask_header(name: str, value: str) -> str:
    """A header's value as it may appear in a report: credentials masked whole, anything else scanned."""
    if str(name).lower() in SECRET_HEADERS:
        return _masked(str(value))
    return mask_credentials(str(value))
