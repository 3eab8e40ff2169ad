"""Writing the traffic report: the fast paths (request lines rendered when appended, one redaction check per
block of lines, templates for transmissions) give the text of the exact path (each element made a dict,
redacted string by string, encoded), and the check they rest on (Redactor.may_change) never misses what
Redactor.text would change."""
from __future__ import annotations

import json
import random
import sys
from urllib.parse import quote, unquote

import pytest

from audit.escape import _BEYOND_ASCII, _is_invisible, _json_escape, json_text
from audit.model import Actor, ActorKind
from audit.redact import Redactor, mask_credentials, redact, report_redactor
from audit.traffic import analyse
from audit.traffic.analyse import RequestIds, RequestInfo, RequestLog, _transmission_json, json_pieces
from audit.traffic.attribution import Recipient
from audit.traffic.jsonout import _encode, iter_lines, scalar
from audit.traffic.match import needles
from trackhar_support import SHARED

analyse_module = sys.modules["audit.traffic.analyse"]
redact_module = sys.modules["audit.redact"]
ANDROID_HAR = SHARED / "corpus" / "traffic" / "tweasel-reporthar" / "android_second-run.har"
AAID = "1209d0b9-b959-42e6-b921-aa5d9d08c1af"
VALUES = [AAID, "358240051111110", "a1b2c3d4e5f60718", 'id"\\7', "Pixel-7_Ä"]   # (a JSON line escapes `"` and `\\`)


def _fragments(values):
    """Texts that hold a value (or part of one) in the encodings redaction knows, and texts near them."""
    out = ["", "x", "%", "%4", "%zz", "=", "\\", '"', "\n", "\u2026", "\u202e", "é", "?a=", "&b=c", " ", "%0A"]
    for value in values:
        for text, _encoding, _case in needles(value):
            out += [text, text.upper(), text[1:], text[:-1], "".join(f"%{ord(c):02X}" for c in text[:4]) + text[4:]]
        out.append(quote(value, safe=""))
    return out


def _strings(rng, fragments, count):
    return ["".join(rng.choice(fragments) for _ in range(rng.randint(0, 4))) for _ in range(count)]


@pytest.mark.parametrize("one_automaton", [True, False])
@pytest.mark.parametrize("values", [VALUES[:4], VALUES])   # ASCII values only, and one that is not
def test_may_change_is_true_wherever_text_changes_something(monkeypatch, one_automaton, values):
    if not one_automaton:
        monkeypatch.setattr(redact_module, "CHECK_KEYS", 0)
    # the traffic stage's redactor: the matcher's automaton, then one of the values it does not hold
    report = analyse([ANDROID_HAR], {"device_ids.advertising_id": AAID}) if ANDROID_HAR.exists() else None
    redactors = [Redactor(values)]
    if report is not None:
        redactors.append(report_redactor([*report.identifier_values, *values], report.matcher))
    rng = random.Random(12)
    fragments = _fragments(values)
    changed = unchanged = 0
    for redactor in redactors:
        for _ in range(600):
            strings = _strings(rng, fragments, rng.randint(1, 4))
            changes = [redactor.text(s) != s for s in strings]
            if any(changes):
                changed += 1
                assert redactor.may_change("\n".join(strings)), strings
            else:
                unchanged += 1
            for text, change in zip(strings, changes):
                if change:
                    assert redactor.may_change(text), text
    assert changed > 100 and unchanged > 100, (changed, unchanged)   # both cases were exercised


def test_may_change_says_no_for_text_without_values():
    redactor = Redactor(VALUES)
    assert not redactor.may_change('{"host": "example.org", "url": "https://example.org/a?b=%41%zz\u2026"}')
    assert redactor.may_change("https://example.org/?id=" + quote(AAID.upper(), safe=""))
    assert redactor.may_change("https://example.org/?id=" + "".join(f"%{ord(c):02x}" for c in AAID))
    assert not Redactor([]).may_change(AAID)


def _info(number, url, secrets=(), note=None, actor=None, time=1700000000.25, host="api.example.org"):
    recipient = Recipient("org:example.org", "Example", "third")
    return RequestInfo(f"r{number}", time, "GET", "https", host, url, "/captures/a.har", recipient, actor, secrets,
                       note)


def _infos():
    sdk = Actor(ActorKind.SDK, "facebook")
    return [
        _info(1, f"https://api.example.org/v1?aaid={AAID}&x=1", (AAID,)),
        _info(2, "https://api.example.org/v1?access_token=abc%7Cdef&fields=a", note="websocket message"),
        _info(3, 'https://api.example.org/q?s="quoted"\\back\u2026\u202e', actor=sdk, time=None),
        _info(4, "https://api.example.org/plain", time=17),
        _info(5, "https://api.example.org/x?id=" + quote("358240051111110"), host="358240051111110.example.org"),
        _info(6, "https://api.example.org/" + "long" * 400, actor=Actor(ActorKind.UNKNOWN)),
        _info(7, "https://api.example.org/é?device=a1b2c3d4e5f60718", time=float("nan")),
        _info(8, "https://api.example.org/x?id=%33%35%38%32%34%30%30%35%31%31%31%31%31%31%30"),
        _info(9, 'https://api.example.org/x?q=id"\\7', note='a note: id"\\7'),
    ]


@pytest.mark.parametrize("block", [1 << 16, 64, 1])
@pytest.mark.parametrize("reveal", [False, True])
def test_request_lines_are_those_of_the_exact_path(monkeypatch, block, reveal):
    monkeypatch.setattr(analyse_module, "LINES_BLOCK", block)   # blocks cut inside and between long lines
    infos = _infos() * 3
    log = RequestLog({})
    log._recipients = {info.recipient.id: info.recipient for info in infos}
    for info in infos:
        log.append(info)
    redactor = None if reveal else Redactor(VALUES)
    scrub = redactor.text if redactor is not None else (lambda text: text)
    expected = [_encode(info.to_json(reveal, scrub)) for info in infos]
    written = "\n".join(log.json_blocks(reveal, redactor)).split("\n")
    assert written == expected
    # the records are still read back as they were (NaN is not equal to itself: the 7th compared by its URL)
    assert [r.url for r in log] == [i.url for i in infos] and log[4] == infos[4] and log[8] == infos[8]
    # and without a value to redact, the lines as rendered when appended
    assert "\n".join(log.json_blocks(False, Redactor([]))).split("\n") == [_encode(i.to_json(False)) for i in infos]


def _reference_pieces(report, reveal):
    """json_pieces as it was before the fast paths: every element a dict, redacted string by string."""
    if reveal:
        data = report.to_json(True, lazy=True)
    else:
        redactor = report_redactor(report.identifier_values, report.matcher)
        data = report.to_json(False, redactor.text, lazy=True)
        walked = ("captures", "bridging", "observations", "notes", "limits")
        data.update(redactor.report({key: data[key] for key in walked}))
    return "".join(json_text(piece) for piece in iter_lines(data)) + "\n"


@pytest.mark.skipif(not ANDROID_HAR.exists(), reason="shared corpus not present")
@pytest.mark.parametrize("reveal", [False, True])
def test_the_report_is_the_text_of_the_exact_path(reveal):
    # values found in requests' URLs and hosts, and one an adapter reads later, redacted everywhere
    report = analyse([ANDROID_HAR], {"device_ids.advertising_id": AAID})
    assert report.transmissions and any(r.secrets for r in report.requests)
    assert "".join(json_pieces(report, reveal)) == _reference_pieces(report, reveal)


def test_request_ids_as_json_text():
    for numbers in ([1], [3, 7, 12], list(range(1, 3000, 7))):
        ids = RequestIds(numbers)
        assert ids.json_text() == _encode(list(ids))
    assert RequestIds([]).json_text() == "[]"


def test_scalar_is_the_encoder():
    for value in ["", "a\"b\\c\n\u2026\u202e\x7f", 0, -3, 2 ** 70, 1.5, 1e300, float("nan"), float("inf"),
                  float("-inf"), True, False, None, {"b": 1, "a": [1, "x"]}]:
        assert scalar(value) == _encode(value), value


def _json_text_by_findall(text):
    if text.isascii() and "\x7f" not in text:
        return text
    hidden = {ch for ch in set(_BEYOND_ASCII.findall(text)) if ch == "\x7f" or (ord(ch) > 0x7F and _is_invisible(ch))}
    return text.translate({ord(ch): _json_escape(ch) for ch in hidden}) if hidden else text


def test_json_text_escapes_the_same_characters_however_many_distinct_ones():
    rng = random.Random(5)
    pool = "ab\x7f\u2026\u202e\u200b\xe9\x85\u2028" + "".join(chr(0x4E00 + i) for i in range(40))
    for _ in range(3000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 80)))
        assert json_text(text) == _json_text_by_findall(text), repr(text)


def _mask_as_it_was(text):
    """mask_credentials before the pairs were looked at first: one substitution with a call per pair."""
    r = redact_module
    if "-----BEGIN" in text:
        text = r._PEM_PRIVATE.sub("[private key removed]", text)
    if "ey" in text:
        text = r._JWT.sub(lambda m: r._masked(m.group(0)), text)
    if not text.isprintable() or " " in text:
        text = r._SCHEME_TOKEN.sub(lambda m: m.group(1) + m.group(2) + r._masked(m.group(3)), text)
    if "@" in text:
        text = r._USERINFO.sub(lambda m: m.group(1) + r._masked(m.group(2)) + "@", text)
    if "=" in text and r._SECRET_HINT.search((unquote(text) if "%" in text else text).lower()):
        text = r._PAIR.sub(lambda m: m.group("head") + (r._masked(m.group("value")) if r.is_secret_name(m.group("name"))
                                                         else m.group("value")), text)
    return text


def test_mask_credentials_masks_exactly_the_pairs_the_substitution_did():
    rng = random.Random(9)
    parts = ["access_token", "token", "fields", "sig", "a", "=", "&", "?", "#", ";", " ", "(", ",", "x%3Dy", "%7C",
             "abc123", '"', "<", "api%5Fkey", "=="]
    seen = 0
    for _ in range(4000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(1, 12)))
        expected = _mask_as_it_was(text)
        assert mask_credentials(text) == expected, text
        seen += expected != text
    assert seen > 200
    assert mask_credentials("https://h/p?access_token=abc&x=1") == f"https://h/p?access_token={redact('abc')}&x=1"


def test_percent_decoding_at_c_speed_is_the_pattern_s_also_across_line_ends():
    rng = random.Random(7)
    parts = ["a", "Z", "%", "=", "\n", "\r", " ", "%0a", "%0D", "%41", "%4", "%zz", "%3d", "%e9", "\t", "_"]
    for _ in range(20000):
        lowered = "".join(rng.choice(parts) for _ in range(rng.randint(0, 10))).lower()
        assert redact_module._percent_lowered(lowered) == redact_module._PERCENT.sub(
            redact_module._percent_char, lowered), repr(lowered)
