"""The audit's own privacy: reports redact identifier values unless --reveal, and never carry credentials.

Captures (a HAR and a real mitmproxy flow file) carry an Authorization bearer token, Basic proxy credentials,
session cookies (Cookie and Set-Cookie), token-like query parameters, JWTs (in a header, in the URL path, in the
body), a URL password and a PEM private key (as a leaked CA key would look). The real `appaudit traffic` and
`appaudit audit` commands write every format; no secret string may appear in any of them, with or without
--reveal (credentials stay masked even then: they are not what the audit reports on, and a report must not
let its reader replay a session). --reveal does show the identifier values.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from conftest import run_cli

REPO = Path(__file__).resolve().parents[2]
SHEET = REPO / "examples" / "webex-inquiry" / "datasheet.yaml"
AAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
IMEI = "353627075111296"


def _b64url(doc: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


JWT_WITH_ID = f"{_b64url({'alg': 'HS256'})}.{_b64url({'sub': 'u-4711', 'aaid': AAID})}.c2lnbmF0dXJlMDAwMQ"
JWT_PLAIN = f"{_b64url({'alg': 'HS256', 'typ': 'JWT'})}.{_b64url({'sub': 'u-4712', 'scope': 'all'})}.c2lnbmF0dXJlMDAwMg"
SECRETS = {
    "bearer": "bearerS3CRETtoken0001",
    "basic": base64.b64encode(b"alice:pw-S3CRET-0002").decode(),
    "cookie": "sessS3CRET0003",
    "set_cookie": "setS3CRET0004",
    "access_token": "accessS3CRET0005",
    "api_key": "apikeyS3CRET0006",
    "sig": "sigS3CRET0007",
    "key": "keyS3CRET0008",
    "token": "tokenS3CRET0009",
    "body_token": "bodyS3CRET0010",
    "userinfo": "uiS3CRET0011",
    "jwt_with_id": JWT_WITH_ID,
    "jwt_plain": JWT_PLAIN,
    "pem": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7S3CRETKEY",
}
PEM = f"-----BEGIN PRIVATE KEY-----\n{SECRETS['pem']}\n-----END PRIVATE KEY-----"
URL = (f"https://user:{SECRETS['userinfo']}@ads.example-tracker.net/v1/{JWT_PLAIN}/px?aid={AAID}&imei={IMEI}"
       f"&access_token={SECRETS['access_token']}&api_key={SECRETS['api_key']}&sig={SECRETS['sig']}"
       f"&key={SECRETS['key']}&token={SECRETS['token']}")
BODY = json.dumps({"access_token": SECRETS["body_token"], "aaid": AAID, "ca": PEM})
REQUEST_HEADERS = [("Authorization", f"Bearer {SECRETS['bearer']}"),
                   ("Proxy-Authorization", f"Basic {SECRETS['basic']}"),
                   ("Cookie", f"sid={SECRETS['cookie']}; aid={AAID}"), ("X-Auth", JWT_WITH_ID),
                   ("X-Ca", PEM.replace("\n", " ")), ("Content-Type", "application/json")]
RESPONSE_HEADERS = [("Set-Cookie", f"s={SECRETS['set_cookie']}; Path=/; HttpOnly")]


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("secrets")
    entry = {"startedDateTime": "2026-11-24T10:00:00.000Z", "time": 5, "cache": {}, "timings": {},
             "request": {"method": "POST", "url": URL, "httpVersion": "HTTP/1.1",
                         "headers": [{"name": k, "value": v} for k, v in REQUEST_HEADERS], "queryString": [],
                         "cookies": [], "headersSize": -1, "bodySize": len(BODY),
                         "postData": {"mimeType": "application/json", "text": BODY}},
             "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                          "headers": [{"name": k, "value": v} for k, v in RESPONSE_HEADERS], "cookies": [],
                          "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1,
                          "bodySize": 0}}
    har = folder / "secrets.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                                       "entries": [entry]}}))
    ids = folder / "ids.json"
    ids.write_text(json.dumps({"device_ids.imei": IMEI, "device_ids.advertising_id": AAID}))
    return {"har": har, "mitm": _mitm_flow_file(folder / "secrets.mitm"), "ids": ids}


def _mitm_flow_file(path: Path) -> Path:
    """The same request as a real mitmproxy flow file, written by mitmproxy's own FlowWriter."""
    from mitmproxy import http, io
    from mitmproxy.test import tflow

    flow = tflow.tflow(resp=True)
    flow.request = http.Request.make("POST", URL.replace(f"user:{SECRETS['userinfo']}@", ""), BODY.encode(),
                                     {k: v for k, v in REQUEST_HEADERS})
    flow.response = http.Response.make(200, b"ok", dict(RESPONSE_HEADERS))
    with open(path, "wb") as handle:
        io.FlowWriter(handle).add(flow)
    return path


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


@pytest.mark.parametrize("capture", ["har", "mitm"])
@pytest.mark.parametrize("fmt, reveal", [("json", False), ("json", True), ("md", False), ("md", True)])
def test_traffic_reports_carry_no_credentials(tmp_path, captures, capture, fmt, reveal):
    out = tmp_path / f"traffic.{fmt}"
    outcome = run_cli(["traffic", str(captures[capture]), "--identifiers", str(captures["ids"]), "--format", fmt,
                       "-o", str(out), *(["--reveal"] if reveal else [])])
    assert outcome.code == 0, outcome.stderr
    text = out.read_text() + outcome.stdout + outcome.stderr
    assert "device_ids.imei" in text, "the capture was not analysed: the test would prove nothing"
    assert _leaks(text) == []
    if fmt == "json":
        assert (IMEI in text) is reveal


@pytest.mark.parametrize("capture", ["har", "mitm"])
@pytest.mark.parametrize("fmt", ["json", "md", "html", "sarif"])
@pytest.mark.parametrize("reveal", [False, True])
def test_audit_reports_carry_no_credentials(tmp_path, education_apk, captures, capture, fmt, reveal):
    out = tmp_path / f"audit.{fmt}"
    outcome = run_cli(["audit", str(education_apk), "--datasheet", str(SHEET), "--capture", str(captures[capture]),
                       "--identifiers", str(captures["ids"]), "--format", fmt, "-o", str(out),
                       *(["--reveal"] if reveal else [])])
    assert outcome.code in (0, 1), outcome.stderr
    text = out.read_text() + outcome.stdout + outcome.stderr
    assert "device_ids.imei" in text and "not-collected-contradicted" in text, "capture not judged"
    assert _leaks(text) == []
    if fmt in ("json", "md"):
        # identifier values: redacted by default, shown under --reveal (the only thing --reveal changes)
        assert (IMEI in text) is reveal and (AAID in text) is reveal


def test_mask_credentials_unit():
    from audit.redact import mask_credentials, mask_header, redact

    assert _leaks(mask_credentials(URL)) == []
    assert _leaks(mask_credentials(f"Authorization: Bearer {SECRETS['bearer']}; {PEM}")) == []
    assert mask_credentials("https://x/?country_code=DE&lang=en&monkey=1") == "https://x/?country_code=DE&lang=en&monkey=1"
    assert mask_credentials(f"a=1&amp;token={SECRETS['token']}") == f"a=1&amp;token={redact(SECRETS['token'])}"
    assert mask_header("Cookie", f"sid={SECRETS['cookie']}") == redact(f"sid={SECRETS['cookie']}")
    # equal tokens stay recognisable across a report
    once = mask_credentials(f"?token={SECRETS['token']}").split("token=")[1]
    assert once == mask_credentials(f"?x=1&token={SECRETS['token']}").split("token=")[1] != SECRETS["token"]
