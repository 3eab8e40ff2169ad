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

NOT_AN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
NOT_AN_ESCAPE_BYTES = re.compile(NOT_AN_ESCAPE.pattern.encode())


def decoded_bytes(data: bytes) -> bytes:
    """ASCII `data` with each %XX decoded; every `%` in it must start an escape."""
    return binascii.a2b_qp(data.replace(b"=", b"%3D").replace(b"%", b"="))
