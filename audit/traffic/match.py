"""Finding known identifier values in decoded request bytes: one Aho-Corasick pass per request.

Every identifier value is expanded once into needles, one per encoding (`plain`, `url`, `base64`, `base64url`,
`hex`, `md5`, `sha1`, `sha256`, `md5-zero-stripped`) of the value and its normalised forms (lower/upper case,
MAC with and without separators, phone digits only). All needles go into ONE automaton keyed by their
ASCII-lower-cased bytes, run once over the ASCII-lower-cased bytes of all of a request's segments joined
together. Case-sensitive needles (base64) carry their exact text and are checked against the original bytes
at the hit, so one pass serves both the case-insensitive and the case-sensitive encodings.

base64 alignment: a value inside a longer base64 stream is encoded differently depending on its offset modulo
3, and the characters at its edges mix with its neighbours. We index, for each of the 3 offsets, the "stable
core": the base64 of the value's bytes from the first whole 3-byte group to the last one.

Locations are numbers, not strings: lat/lon pairs are found by a number regex over the same joined bytes and
compared with the known fix within a tolerance; the number of decimals sent decides precise (3+) or approximate.
"""
from __future__ import annotations

import base64
import bisect
import hashlib
import itertools
import operator
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Iterable
from urllib.parse import quote, quote_plus

import ahocorasick

from .decode import Segment

ENCODINGS = ("plain", "url", "base64", "base64url", "hex", "md5", "sha1", "sha256", "md5-zero-stripped")
MIN_PLAIN_LEN = 4          # shorter values would match everywhere
MIN_BASE64_CORE = 8        # characters of a base64 core (6 bytes); shorter cores are noise
LOCATION_MIN_TOLERANCE = 5e-4   # ~50 m: GPS jitter between the fix we know and the one sent
PRECISE_DECIMALS = 3
MAX_LOCATION_CANDIDATES = 256
_DATA = operator.itemgetter(1)   # Segment.data at C speed
CLEAN_MEMO_BYTES = 128     # segments up to this size are remembered when they hold no hit ...
CLEAN_MEMO_ENTRIES = 16_384   # ... at most this many per matcher (~2 MiB), then forgotten all at once
CLEAN_LONG_BYTES = 4096    # longer segments up to this size (a field list, a user agent) are remembered apart ...
CLEAN_LONG_TOTAL = 512 * 1024  # ... this many bytes of them per matcher, then forgotten all at once
SEPARATOR = b"\x00"        # between segments: no needle contains it, so no hit spans two segments


@dataclass(frozen=True)
class Identifier:
    data_type: str
    value: str


@dataclass(frozen=True)
class Location:
    data_type: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Hit:
    identifier: Identifier
    encoding: str
    where: str
    text: str                  # the bytes that matched, as latin-1 text (for redacting them in a URL)


@dataclass(frozen=True)
class LocationHit:
    location: Location
    data_type: str             # location.precise / location.approximate, from the decimals sent
    decimals: int
    where: str
    text: str


_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-]?)(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$")


def normal_forms(value: str) -> list[str]:
    """The value and the spellings an SDK may send it in before encoding it."""
    forms = [value, value.lower(), value.upper()]
    if _MAC.match(value):
        bare = re.sub(r"[:-]", "", value)
        for sep in (":", "-", ""):
            joined = sep.join(bare[i:i + 2] for i in range(0, 12, 2))
            forms += [joined.lower(), joined.upper()]
    if re.fullmatch(r"\+?[\d ()./-]{6,}", value):
        digits = re.sub(r"\D", "", value)
        forms.append(digits)
        if value.startswith("+"):
            forms.append("+" + digits)
    if re.fullmatch(r"[0-9a-fA-F-]{36}", value):  # a UUID also travels without dashes
        forms += [value.replace("-", "").lower(), value.replace("-", "").upper()]
    seen, out = set(), []
    for form in forms:
        if form and form not in seen:
            seen.add(form)
            out.append(form)
    return out


def base64_cores(raw: bytes) -> list[str]:
    """The base64 text of `raw` that is the same wherever it sits in a longer base64 stream (3 alignments)."""
    cores = []
    for skip in range(3):
        body = raw[skip:]
        body = body[: len(body) - len(body) % 3]
        if len(body) >= 6:
            cores.append(base64.b64encode(body).decode("ascii"))
    # a value sent alone is padded: index that exact form too (it is longer, hence more specific)
    whole = base64.b64encode(raw).decode("ascii")
    if len(raw) % 3 and len(whole) >= MIN_BASE64_CORE:
        cores.append(whole.rstrip("="))
    return [c for c in cores if len(c) >= MIN_BASE64_CORE]


def needles(value: str) -> list[tuple[str, str, bool]]:
    """(needle text, encoding, case_sensitive) for one identifier value, every encoding, every form."""
    out: list[tuple[str, str, bool]] = []
    for form in normal_forms(value):
        raw = form.encode("utf-8")
        if len(raw) >= MIN_PLAIN_LEN:
            out.append((raw.decode("latin-1"), "plain", False))
        for quoted in (quote(form, safe=""), quote_plus(form, safe=""), quote(form, safe="/:@")):
            if quoted != form:
                out.append((quoted, "url", False))
        out.append((raw.hex(), "hex", False))
        digest = hashlib.md5(raw).digest()
        out.append((digest.hex(), "md5", False))
        stripped = "".join(f"{byte:x}" for byte in digest)
        if stripped != digest.hex():
            out.append((stripped, "md5-zero-stripped", False))
        out.append((hashlib.sha1(raw).hexdigest(), "sha1", False))
        out.append((hashlib.sha256(raw).hexdigest(), "sha256", False))
        for core in base64_cores(raw):
            out.append((core, "base64", True))
            urlsafe = core.translate(str.maketrans("+/", "-_"))
            if urlsafe != core:
                out.append((urlsafe, "base64url", True))
    return out


# The automaton's root has one child per distinct first character of the keys, and every haystack character is
# looked up there: fewer distinct first characters make the one pass faster (measured 52 -> 70 MB/s). So a key
# starts at the needle's first hex-alphabet character (most needles are hex already); the part cut off is
# checked at each hit, so what matches is exactly the needle.
KEY_ANCHORS = frozenset("0123456789abcdef")
MIN_KEY_LEN = 6


def _key_of(lowered: str) -> tuple[str, str]:
    """(prefix checked at a hit, key in the automaton)."""
    for cut, ch in enumerate(lowered):
        if ch in KEY_ANCHORS:
            if len(lowered) - cut >= MIN_KEY_LEN:
                return lowered[:cut], lowered[cut:]
            break
    return "", lowered


# Then, per identifier set, each key is cut once more: at the first character, in this order, that leaves at least
# MIN_KEY_LEN characters. The hex characters rarest in the lower-cased decoded requests of ../shared/corpus/traffic
# come first: few distinct first characters that the haystack seldom holds make the root's scans short and its
# exits rare (matching: -11 % instructions with the 2 golden identifiers, -2 % with 12). Cutting changes nothing
# found: a key is still a suffix of its needles, what is cut off is checked at each hit as before.
RARE_FIRST = "874f956b30cd1a2e"


def _rare_cuts(keys: Iterable[str]) -> dict[str, int]:
    """Where each key (cut by _key_of) is cut again: 0 keeps it whole. Two keys never share a cut key (one automaton
    entry per key keeps its needles' order: _key_of's keys are distinct): keys that would are kept whole.

    Hits come in the order of `find` with uncut keys too. They come by their end, and at one end longest key
    first. Two hits at one end are of keys one a suffix of the other, KB of KA. Each key is cut at the first
    place, in its range (all but its last MIN_KEY_LEN - 1 characters), of the rarest character the range holds; KB's
    range is the end of KA's. If KA's cut falls in KB's range, its character is one KB's range holds, and the
    rarest there (KA would have taken a rarer one), first there too: KB is cut at the same place, the two would
    share a key, and both are kept whole. Otherwise KA's cut is before KB's start: KA stays the longer."""
    cuts = {}
    for key in keys:
        last = len(key) - MIN_KEY_LEN   # the last cut that leaves MIN_KEY_LEN characters
        cut = 0
        if last > 0:
            for ch in RARE_FIRST:
                found = key.find(ch, 0, last + 1)
                if found >= 0:
                    cut = found
                    break
        cuts[key] = cut
    while True:   # each round keeps at least one more key whole: it ends
        owners: dict[str, list[str]] = {}
        for key, cut in cuts.items():
            owners.setdefault(key[cut:], []).append(key)
        clashing = [key for same in owners.values() if len(same) > 1 for key in same if cuts[key]]
        if not clashing:
            return cuts
        for key in clashing:
            cuts[key] = 0


class Matcher:
    """The automaton for one identifier set; build once, then `find` per request."""

    def __init__(self, identifiers: Iterable[Identifier], locations: Iterable[Location] = ()):
        self.identifiers = list(dict.fromkeys(identifiers))
        self.locations = list(dict.fromkeys(locations))
        self.automaton = ahocorasick.Automaton()
        payloads: dict[str, list[tuple[int, str, str | None, str]]] = {}
        seen: set[tuple[int, str, str]] = set()
        # Plain first: when two encodings give the same text (a hex digit string is its own plain form), the
        # simplest explanation wins.
        for index, ident in enumerate(self.identifiers):
            for text, encoding, case_sensitive in needles(ident.value):
                lowered = text.encode("latin-1", "replace").lower().decode("latin-1")
                if (index, lowered, "*") in seen or (index, lowered, encoding) in seen:
                    continue
                seen.add((index, lowered, "*" if not case_sensitive else encoding))
                prefix, key = _key_of(lowered)
                payloads.setdefault(key, []).append((index, encoding, text if case_sensitive else None, prefix))
        # each key cut once more, at a character rare in traffic (_rare_cuts): the part cut off joins the prefix
        for key, cut in _rare_cuts(payloads).items():
            entries = payloads[key]
            if cut:
                head = key[:cut]
                entries = [(index, encoding, exact, prefix + head) for index, encoding, exact, prefix in entries]
            self.automaton.add_word(key[cut:], (len(key) - cut, tuple(entries)))
        self.needle_count = sum(len(e) for e in payloads.values())
        if payloads:
            self.automaton.make_automaton()
        # Segment bytes known to hold no hit: the same device model, event name, flag or field list in every request.
        # A segment's hits depend on its bytes alone (no needle holds the separator, and the checks at a hit read
        # only its own bytes), so these are left out of the searched text. Not with locations: they pair numbers
        # by their distance in the text of all segments.
        self._clean: dict[bytes, None] | None = {} if self.needle_count and not self.locations else None
        self._clean_long: dict[bytes, None] = {}
        self._clean_long_bytes = 0

    def find(self, segments: list[Segment]) -> tuple[list[Hit], list[LocationHit]]:
        if not segments:
            return [], []
        clean = self._clean   # (None with locations)
        if clean is not None and (clean or self._clean_long):
            known_long = self._clean_long
            segments = [seg for seg in segments if seg[1] not in clean and seg[1] not in known_long]
            if not segments:
                return [], []
        datas = list(map(_DATA, segments))
        joined = SEPARATOR.join(datas)
        starts = _Starts(segments, datas)   # where each segment starts in `joined`: counted only once a hit needs it
        original = None  # decoded only when something matched: most requests carry nothing
        hits: list[Hit] = []
        if self.needle_count:
            lowered = joined.lower().decode("latin-1")
            for end, (length, entries) in self.automaton.iter(lowered):
                for index, encoding, exact, prefix in entries:
                    start = end - length + 1 - len(prefix)
                    if start < 0 or (prefix and lowered[start:start + len(prefix)] != prefix):
                        continue
                    if original is None:
                        original = joined.decode("latin-1")
                    if exact is not None:
                        if original[start:end + 1] != exact:
                            continue
                        encoding = _base64_alphabet(original, start, end, encoding)
                    where = starts.where(start)
                    hits.append(Hit(self.identifiers[index], encoding, where, original[start:end + 1]))
            if clean is not None:
                self._learn_clean(datas, starts)
        location_hits = []
        if self.locations:
            location_hits = self._locations(original if original is not None else joined.decode("latin-1"),
                                            segments, starts)
        return hits, location_hits

    def _learn_clean(self, datas: list[bytes], starts: _Starts) -> None:
        """Remember the segment bytes of this request that held no hit, short ones by number and longer ones by
        their bytes in all (each bounded: forgotten all at once)."""
        clean = self._clean
        with_hits = starts.hit_segments
        for position, data in enumerate(datas):
            size = len(data)
            if size <= CLEAN_MEMO_BYTES:
                if position not in with_hits:
                    if len(clean) >= CLEAN_MEMO_ENTRIES:
                        clean.clear()
                    clean[data] = None
            elif size <= CLEAN_LONG_BYTES and position not in with_hits:
                if self._clean_long_bytes + size > CLEAN_LONG_TOTAL:
                    self._clean_long.clear()
                    self._clean_long_bytes = 0
                self._clean_long[data] = None
                self._clean_long_bytes += size

    # -- locations ------------------------------------------------------------------------------------------
    _NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}\.(\d{1,17})(?![\d.])")

    def _locations(self, text: str, segments: list[Segment], starts: _Starts) -> list[LocationHit]:
        numbers = []
        for match in self._NUMBER.finditer(text):
            try:
                numbers.append((match.start(), Decimal(match.group(0)), len(match.group(1)), match.group(0)))
            except InvalidOperation:
                continue
        out = []
        for loc in self.locations:
            # bounded: a hostile body full of near-matching numbers must not make this quadratic
            lats = [n for n in numbers if _close(n[1], n[2], loc.lat)][:MAX_LOCATION_CANDIDATES]
            lons = [n for n in numbers if _close(n[1], n[2], loc.lon)][:MAX_LOCATION_CANDIDATES]
            if not lats or not lons:
                continue
            # Best pair: the most decimals (what was really sent), then the two numbers nearest each other.
            best = max(((la, lo) for la in lats for lo in lons if la[0] != lo[0]),
                       key=lambda pair: (min(pair[0][2], pair[1][2]), -abs(pair[0][0] - pair[1][0])),
                       default=None)
            if best is None:
                continue
            decimals = min(best[0][2], best[1][2])
            data_type = "location.precise" if decimals >= PRECISE_DECIMALS else "location.approximate"
            where = starts.where(best[0][0])
            out.append(LocationHit(loc, data_type, decimals, where, f"{best[0][3]},{best[1][3]}"))
        return out


class _Starts:
    """The offsets of the segments in their joined text (one separator byte between two), made on first use: most
    requests match nothing and never need them."""

    def __init__(self, segments: list[Segment], datas: list[bytes]) -> None:
        self.segments = segments
        self.datas = datas          # the segments' bytes, in order
        self.offsets: list[int] | None = None
        self.hit_segments: set[int] = set()   # the positions of the segments `where` was asked about

    def where(self, position: int) -> str:
        """The place of the segment that holds `position` of the joined text."""
        if self.offsets is None:
            # segment k starts after the bytes of the k before it and k separators (all at C speed)
            self.offsets = list(map(operator.add, itertools.accumulate(map(len, self.datas), initial=0),
                                    itertools.count()))
        segment = bisect.bisect_right(self.offsets, position) - 1
        self.hit_segments.add(segment)
        return self.segments[segment].where


_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")


def _base64_alphabet(text: str, start: int, end: int, encoding: str) -> str:
    """A core without +/-_ fits both alphabets: the rest of the base64 token around it says which one it is."""
    if encoding not in ("base64", "base64url"):
        return encoding
    left = start
    while left > 0 and start - left < 4096 and text[left - 1] in _BASE64_CHARS:
        left -= 1
    right = end + 1
    while right < len(text) and right - end < 4096 and text[right] in _BASE64_CHARS:
        right += 1
    token = text[left:right]
    if "-" in token or "_" in token:
        return "base64url"
    if "+" in token or "/" in token:
        return "base64"
    return encoding


def _close(number: Decimal, decimals: int, truth: float) -> bool:
    tolerance = max(10.0 ** -decimals, LOCATION_MIN_TOLERANCE)
    return abs(float(number) - truth) <= tolerance
