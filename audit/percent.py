"""Percent-decoding at C speed, for the decoder (form and query values) and for redaction (URLs searched
decoded): both run it on every request.

binascii's quoted-printable decoder reads `=XX` as the byte 0xXX: with a literal `=` escaped first and every `%`
made `=`, it decodes `%XX`. It is right only when every `%` starts an escape (`NOT_AN_ESCAPE` finds one that does
not; callers check, or escape it as `%25`). Its one other rule, a line end right after an `=` (a soft line break),
cannot apply then: every `=` it sees starts an escape.
"""
from __future__ import annotations

import binascii
import re
from urllib.parse import unquote as _unquote_plainly

NOT_AN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
NOT_AN_ESCAPE_BYTES = re.compile(NOT_AN_ESCAPE.pattern.encode())


def decoded_bytes(data: bytes) -> bytes:
    """ASCII `data` with each %XX decoded; every `%` in it must start an escape."""
    return binascii.a2b_qp(data.replace(b"=", b"%3D").replace(b"%", b"="))


def unquote(text: str) -> str:
    """`urllib.parse.unquote(text)`, at C speed when it can be: ASCII text whose every `%` starts an escape (line
    ends are left to urllib). (urllib decodes an ASCII text's escapes as one run, UTF-8 with replacement: so
    does this.)"""
    if "%" not in text:
        return text
    if text.isascii() and "\n" not in text and "\r" not in text and not NOT_AN_ESCAPE.search(text):
        return decoded_bytes(text.encode("ascii")).decode("utf-8", "replace")
    return _unquote_plainly(text)
