"""Fast paths of the traffic stage against the general paths they stand for (each must give the same, exactly)."""
from __future__ import annotations

import random
import re
from urllib.parse import unquote

from audit import percent
from audit.traffic import match
from audit.traffic.captures import Request
from audit.traffic.decode import Segment, _HEADER_PLACES, _looks_like_form, decode_request


def test_percent_unquote_is_urllib_unquote():
    """percent.unquote (binascii where every % starts an escape) equals urllib.parse.unquote, over texts mixing
    escapes, broken escapes, `=`, `+`, line ends, NUL, invalid UTF-8 escapes and non-ASCII."""
    pieces = ["%", "=", "a", "B", "3", "f", "%2", "%3D", "%41", "%c3", "%C3%A9", "%e9", "%ff", "_", "+", " ", "\t",
              "%%", "%zz", "é", "\n", "\r", "=41", "=\r", "%0a", "%0D%0A", "%20", "%3d%3D", "=\n", "%00", "\x00",
              "%80%80", "\udc80", "%F0%9F%98%80"]
    rng = random.Random(3)
    fast = 0
    for _ in range(50_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        assert percent.unquote(text) == unquote(text), repr(text)
        fast += text.isascii() and "%" in text and not percent.NOT_AN_ESCAPE.search(text) \
            and "\n" not in text and "\r" not in text
    assert fast > 1000   # the binascii path was taken, not only urllib's


def _looks_like_form_plainly(text: str) -> bool:
    """What decode._looks_like_form said before its C-speed form."""
    if "=" not in text or re.search(r"\s", text[:65536]):
        return False
    pieces = [p for p in text.split("&") if p]
    return bool(pieces) and all("=" in p and not p.startswith("=") for p in pieces)


def test_looks_like_form_is_the_piece_by_piece_check():
    rng = random.Random(7)
    pieces = ["a", "=", "&", "b=1", "&=", "==", "x", " ", "%3D", "&&", "=&", "c"]
    for _ in range(50_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        assert _looks_like_form(text) == _looks_like_form_plainly(text), repr(text)


def test_header_places_remembered_by_name_are_those_of_the_lowered_name():
    """A header name seen before takes its remembered place: the same segments as a first sight, in any case,
    and the headers kept apart (content-type, cookie, host ...) never take one."""
    headers = (("User-Agent", "ua/1.0 long enough"), ("X-Device-ID", "abcdef123456"), ("Content-Type", "text/plain"),
               ("Cookie", "uid=1234567; b=2"), ("HOST", "example.org"), ("x-device-id", "second value"),
               ("Content-Length", "4"), ("X-DEVICE-ID", "third value"))
    request = Request(None, "POST", "https", "example.org", 443, "/p", headers, b"body", "cap")
    _HEADER_PLACES.clear()
    first = decode_request(request).segments
    assert set(_HEADER_PLACES) == {"User-Agent", "X-Device-ID", "x-device-id", "X-DEVICE-ID"}
    again = decode_request(request).segments
    assert first == again
    wheres = [s.where for s in first]
    assert wheres.count("header:x-device-id") == 3 and "header:content-type" in wheres
    assert "cookie:uid" in wheres and not any(w in ("header:host", "header:cookie", "header:content-length")
                                               for w in wheres)


def _hits_with_uncut_keys(matcher_of, segments):
    """The matcher's hits with keys cut as _key_of alone cuts them (no _rare_cuts): the reference."""
    saved = match.RARE_FIRST
    match.RARE_FIRST = ""
    try:
        return matcher_of().find(segments)
    finally:
        match.RARE_FIRST = saved


def test_keys_cut_at_rare_characters_find_the_same_hits_in_the_same_order():
    """Keys cut again at rare characters (_rare_cuts) find what the keys _key_of cuts find, in the same order, also
    where the needles of two values end at one place (one value a suffix of the other: hits at one end)."""
    rng = random.Random(11)
    alphabet = "0123456789abcdefXYZ-:%+/=_"
    same_end = 0
    for _ in range(400):
        values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(6, 24))) for _ in range(rng.randint(1, 3))]
        values.append(values[0][rng.randint(1, 5):])         # a suffix of another value ...
        values.append(rng.choice("xyz%7") + values[0])       # ... and one it is a suffix of
        identifiers = [match.Identifier(f"type{i}", value) for i, value in enumerate(values)]
        texts = [needle for value in values for needle, _, _ in match.needles(value)] + list(alphabet)
        segments = [Segment(f"w{k}", "".join(rng.choice(texts) for _ in range(rng.randint(1, 10)))
                            .encode("latin-1", "replace")) for k in range(4)]
        found = match.Matcher(identifiers).find(segments)
        assert found == _hits_with_uncut_keys(lambda: match.Matcher(identifiers), segments)
        hits = found[0]
        same_end += sum(1 for a, b in zip(hits, hits[1:])
                        if a.where == b.where and (a.text.endswith(b.text) or b.text.endswith(a.text)))
    assert same_end > 50   # hits ending at one place were compared, not only lone hits


def test_rare_cuts_keep_keys_distinct_and_long_enough():
    rng = random.Random(2)
    for _ in range(2000):
        keys = {"".join(rng.choice("0123456789abcdef-") for _ in range(rng.randint(1, 16))) for _ in range(8)}
        keys |= {key[rng.randint(0, len(key)):] for key in list(keys)}
        keys.discard("")
        cuts = match._rare_cuts(keys)
        cut_keys = [key[cut:] for key, cut in cuts.items()]
        assert len(set(cut_keys)) == len(keys)
        assert all(cut == 0 or len(key) - cut >= match.MIN_KEY_LEN for key, cut in cuts.items())


def test_has_space_is_the_whitespace_pattern():
    """decode._has_space (str.split) finds what `\\s` finds: the same characters count as white space."""
    import re
    from audit.traffic.decode import _has_space
    space = re.compile(r"\s")
    assert [ch for ch in map(chr, range(0x3001)) if _has_space(ch)] == \
        [ch for ch in map(chr, range(0x3001)) if space.search(ch)]
    rng = random.Random(5)
    pieces = ["a", "=", "&", "%20", " ", "\t", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\x0b", "é", "\n"]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert _has_space(text) == bool(space.search(text)), repr(text)
