"""The rule engine on constructed observations: every PoliCheck category is reachable, every check fires when
its condition holds and stays silent when it does not, and fingerprints ignore wording and values."""
from __future__ import annotations

from dataclasses import replace

import pytest

from audit.model import Actor, ActorKind, Evidence, Level, Observation, Severity, Transmission
from audit.rules.declarations import Declarations, Statement
from audit.rules.engine import (AuditInput, DetectedSdk, PermissionUse, evaluate, fingerprint, judge,
                                load_checks)

APP = Actor(ActorKind.FIRST_PARTY)
AMPLITUDE = Actor(ActorKind.SDK, "amplitude")
FIREBASE = Actor(ActorKind.SDK, "firebase_analytics")
IMEI_API = "Landroid/telephony/TelephonyManager;->getDeviceId()Ljava/lang/String;"


def Sent(data_type, request, host="", scheme="", where="", recipient=None, party=None) -> Transmission:
    """A captured transmission as the traffic stage gives it (model.Transmission; positions as tuples)."""
    return Transmission(data_type, request, host, scheme, where=tuple(where.split(":", 1)) if where else (),
                        recipient=recipient, party=party)


def call_site(api: str, caller: str) -> Evidence:
    return Evidence("call-site", api, caller)


def obs(data_type, level, actor=APP, source="static", evidence=(), recipient=None, party=None):
    return Observation(data_type, level, actor, source, tuple(evidence), recipient, party)


def sheet(*statements, sdks=None) -> Declarations:
    return Declarations("org.edukit.classroom", "test sheet", "sheet.yaml", "appaudit-yaml", tuple(statements),
                        tuple(sdks) if sdks is not None else None)


def collected(t, **kw):
    return Statement("collected", t, where="sheet.yaml:1", **kw)


def shared(t, recipients=(), **kw):
    return Statement("shared", t, recipients=tuple(recipients), where="sheet.yaml:2", **kw)


def not_collected(t):
    return Statement("not_collected", t, where="sheet.yaml:3")


def rules(result):
    return sorted({f.rule for f in result.findings})


def run(observations=(), declarations=None, **kw):
    audit = AuditInput("org.edukit.classroom", tuple(observations), artifact="app.apk", **kw)
    return evaluate(audit, declarations or sheet())


# -- categories --------------------------------------------------------------------------------------------
def test_every_category_is_reachable():
    observations = [
        obs("personal_info.phone_number", Level.TRANSMITTED, party="first"),                 # consistent
        obs("contacts", Level.REACHABLE, evidence=[call_site("Lq;->a()V", "Lorg/edukit/C;->c()V")]),  # omitted
        obs("device_ids.imei", Level.TRANSMITTED, party="first"),                            # contradicted
        obs("location.precise", Level.INVOKED, source="runtime"),                            # vague
    ]
    declarations = sheet(collected("personal_info.phone_number"), collected("location"),
                         collected("calendar"), not_collected("device_ids.imei"))
    judgements, overdeclared = judge(observations, declarations)
    by_type = {j.data_type: j.category for j in judgements}
    assert by_type == {"personal_info.phone_number": "consistent", "contacts": "omitted",
                       "device_ids.imei": "contradicted", "location.precise": "vague"}
    assert [s.type for s in overdeclared] == ["calendar"]
    result = run(observations, declarations)
    table = result.data_types(declarations)
    assert table["calendar"]["category"] == "overdeclared" and table["calendar"]["observed_level"] is None
    assert table["device_ids.imei"]["category"] == "contradicted"
    assert table["location.precise"]["observed_level"] == "invoked"


def test_denial_with_feasible_code_is_contested_never_consistent():
    # Fixed bug: a denial contradicted by code used to be "consistent" with one low note, below silence.
    declarations = sheet(not_collected("device_ids.imei"))
    reachable = [obs("device_ids.imei", Level.REACHABLE, evidence=[call_site(IMEI_API, "Lorg/edukit/T;->i()V")])]
    result = run(reachable, declarations)
    assert "not-collected-contradicted" not in rules(result)
    contested = [f for f in result.findings if f.rule == "not-collected-contested"]
    assert len(contested) == 1 and contested[0].category == "contested"
    silent = [f for f in run(reachable).findings if f.rule == "undeclared-collection"]
    assert contested[0].severity >= silent[0].severity    # a denial never ranks below silence
    assert "can access" in contested[0].message and "collects" not in contested[0].message.split(",")[0]
    assert "no capture was analysed" in contested[0].message
    assert contested[0].location == "org.edukit.T" and contested[0].statement == "sheet.yaml:3"
    sent = reachable + [obs("device_ids.imei", Level.TRANSMITTED, source="traffic", party="first",
                            evidence=[Evidence("request", "r7", "query:imei")])]
    result = run(sent, declarations)
    contradicted = [f for f in result.findings if f.rule == "not-collected-contradicted"]
    assert len(contradicted) == 1 and contradicted[0].severity is Severity.HIGH
    assert contradicted[0].category == "contradicted" and "collects and sends" in contradicted[0].message
    assert "not collected: device_ids.imei" in contradicted[0].declaration
    assert Evidence("request", "r7", "query:imei") in contradicted[0].evidence
    assert "not-collected-contested" not in rules(result)   # the transmission supersedes the capability


def test_third_party_flows_are_judged_against_shared_and_recipient():
    flow = obs("device_ids.advertising_id", Level.TRANSMITTED, AMPLITUDE, "traffic",
               [Evidence("request", "r1", "body:json.adid")], recipient="amplitude", party="third")
    # Declared collected only: sharing with Amplitude is omitted.
    result = run([flow], sheet(collected("device_ids.advertising_id")))
    assert rules(result) == ["undeclared-sharing"]
    finding = result.findings[0]
    assert finding.severity is Severity.HIGH and "Amplitude" in finding.message and finding.category == "omitted"
    # Shared, but with someone else: still omitted for Amplitude.
    assert rules(run([flow], sheet(shared("device_ids.advertising_id", ["firebase"])))) == ["undeclared-sharing"]
    # Shared with Amplitude (by id), or with unnamed third parties: consistent, no finding.
    assert rules(run([flow], sheet(shared("device_ids.advertising_id", ["amplitude"])))) == []
    assert rules(run([flow], sheet(shared("device_ids.advertising_id")))) == []
    # A recipient named by family covers the catalogue entry (firebase -> firebase_analytics).
    fb = replace(flow, actor=FIREBASE, recipient="firebase_analytics")
    assert rules(run([fb], sheet(shared("device_ids.advertising_id", ["firebase"])))) == []


def test_undeclared_collection_severity_scales_with_level_and_wording_says_capability():
    reachable = obs("contacts", Level.REACHABLE, evidence=[call_site("Lc;->q()V", "Lorg/edukit/Contacts;->load()V")])
    finding = run([reachable]).findings[0]
    assert finding.rule == "undeclared-collection" and finding.severity is Severity.LOW
    assert finding.message.startswith("The app can access Contacts") and "collects" not in finding.message
    sent = replace(reachable, level=Level.TRANSMITTED, source="traffic", party="first")
    finding = run([sent]).findings[0]
    assert finding.severity is Severity.HIGH and "collects and sends" in finding.message
    assert rules(run([reachable], sheet(collected("contacts")))) == []


def test_vague_fires_only_for_a_broader_statement():
    precise = obs("location.precise", Level.REACHABLE)
    assert rules(run([precise], sheet(collected("location")))) == ["vague-declaration"]
    assert rules(run([precise], sheet(collected("location.precise")))) == []


# -- non-judgement checks ----------------------------------------------------------------------------------
def test_undeclared_sdk():
    sdks = (DetectedSdk("amplitude", "Amplitude", (Evidence("sdk-class", "com.amplitude", "classes.dex"),)),
            DetectedSdk("firebase_analytics", "Google Firebase Analytics"))
    result = run(sdks=sdks, declarations=sheet(sdks=["firebase"]))
    assert [(f.rule, f.actor.id) for f in result.findings] == [("undeclared-sdk", "amplitude")]
    assert run(sdks=sdks, declarations=sheet(sdks=["firebase", "Amplitude"])).findings == ()
    assert run(sdks=sdks, declarations=sheet()).findings == ()   # no SDK list: nothing to compare


def test_one_bridging_finding_per_request_raised_by_the_advertising_id():
    # Fixed bug: one request gave both adid-with-persistent-id and id-bridging; now one finding, the Play-policy
    # reason raising its severity.
    both = (Sent("device_ids.advertising_id", "r1", "api.amplitude.com", "https", "body:adid", "amplitude", "third"),
            Sent("device_ids.android_id", "r1", "api.amplitude.com", "https", "body:did", "amplitude", "third"))
    result = run(transmissions=both)
    assert rules(result) == ["id-bridging"] and len(result.findings) == 1
    adid = result.findings[0]
    assert adid.severity is Severity.HIGH and "Android ID" in adid.message and adid.actor == AMPLITUDE
    assert "User Data policy" in adid.message
    assert {e.ref for e in adid.evidence} == {"r1"}
    assert adid.declaration == "no statement about device_ids.advertising_id, device_ids.android_id"
    judged = run(transmissions=both, declarations=sheet(not_collected("device_ids.advertising_id")))
    assert next(f for f in judged.findings if f.rule == "id-bridging").declaration == \
        "not collected: device_ids.advertising_id [sheet.yaml:3]"
    # In separate requests, or AAID alone: nothing.
    apart = (both[0], replace(both[1], request="r2"))
    assert rules(run(transmissions=apart)) == []
    # Two persistent IDs without the AAID: bridging at medium.
    imei = (replace(both[1], request="r3"), Sent("device_ids.imei", "r3", "t.example", "https", "q:imei"))
    bridged = run(transmissions=imei).findings
    assert [f.rule for f in bridged] == ["id-bridging"] and bridged[0].severity is Severity.MEDIUM
    # AAID with a resettable/non-persistent identifier only (device name): nothing.
    soft = (both[0], Sent("device_ids.device_name", "r1", "api.amplitude.com", "https", "body:n"))
    assert rules(run(transmissions=soft)) == []
    # A time zone or a location beside one persistent ID links no identities (tracker adapters find both often).
    sdk_id = Sent("device_ids.sdk_device_id", "r4", "api.amplitude.com", "https", "body:device_id")
    for other in ("device_time", "location.approximate"):
        assert rules(run(transmissions=(sdk_id, Sent(other, "r4", "api.amplitude.com", "https", "body:x")))) == []
    # An SDK-made persistent ID with the advertising ID is bridging (issue 12).
    assert rules(run(transmissions=(sdk_id, replace(both[0], request="r4")))) == ["id-bridging"]


def test_cleartext_identifier():
    plain = Sent("device_ids.imei", "r9", "track.example.net", "http", "query:imei")
    result = run(transmissions=(plain,))
    assert rules(result) == ["cleartext-identifier"]
    assert "track.example.net" in result.findings[0].message and result.findings[0].severity is Severity.HIGH
    assert rules(run(transmissions=(replace(plain, scheme="https"),))) == []
    # app_info.diagnostics is not an identifier: sending it over HTTP is not this check.
    assert rules(run(transmissions=(replace(plain, data_type="app_info.diagnostics"),))) == []


def test_dangerous_permission_with_no_declared_use():
    perms = (PermissionUse("android.permission.READ_CALL_LOG", "dangerous", ("call_logs",)),
             PermissionUse("android.permission.INTERNET", "normal", ()),
             PermissionUse("android.permission.CAMERA", "dangerous", ("photos_videos",)))
    result = run(permissions=perms, declarations=sheet(collected("photos_videos")))
    assert [(f.rule, f.evidence[0].ref) for f in result.findings] == [
        ("dangerous-permission-undeclared", "android.permission.READ_CALL_LOG")]
    # Declaring contacts does not cover call history in the taxonomy; declaring call_logs does.
    assert rules(run(permissions=perms, declarations=sheet(collected("photos_videos"), collected("contacts")))) \
        == ["dangerous-permission-undeclared"]
    assert run(permissions=perms, declarations=sheet(collected("photos_videos"), collected("call_logs"))).findings \
        == ()


def test_permission_declared_use_by_covering_type():
    perms = (PermissionUse("android.permission.ACCESS_FINE_LOCATION", "dangerous", ("location.precise",)),)
    assert rules(run(permissions=perms, declarations=sheet(collected("location")))) == []
    assert rules(run(permissions=perms)) == ["dangerous-permission-undeclared"]


# -- fingerprints and checks data --------------------------------------------------------------------------
def test_fingerprint_ignores_message_and_values_but_not_evidence():
    base = fingerprint("r", "device_ids.imei", APP, [Evidence("call-site", IMEI_API, "La;->b()V", "detail 1")])
    assert base == fingerprint("r", "device_ids.imei", APP, [Evidence("call-site", IMEI_API, "La;->b()V", "other")])
    assert base != fingerprint("r", "device_ids.imei", APP, [Evidence("call-site", IMEI_API, "La;->c()V")])
    assert base != fingerprint("r", "device_ids.imei", AMPLITUDE, [Evidence("call-site", IMEI_API, "La;->b()V")])
    one = run([obs("contacts", Level.REACHABLE, evidence=[call_site("Lc;->q()V", "Lorg/e/C;->l()V")])]).findings[0]
    again = run([obs("contacts", Level.REACHABLE, evidence=[call_site("Lc;->q()V", "Lorg/e/C;->l()V")])]).findings[0]
    assert one.fingerprint == again.fingerprint and len(one.fingerprint) == 20


def test_checks_file_errors_name_file_line_field(tmp_path):
    from audit.errors import InputError
    (tmp_path / "bad.yaml").write_text(
        "checks:\n  - id: x\n    title: t\n    subject: judgement\n    severity: severe\n"
        "    message: m\n    help: h\n")
    with pytest.raises(InputError, match=r"bad.yaml:5: severity: unknown severity 'severe'"):
        load_checks(tmp_path)
    (tmp_path / "bad.yaml").write_text(
        "checks:\n  - id: x\n    title: t\n    subject: judgement\n    severity: low\n"
        "    message: m\n    help: h\n    when: {flow: any, colour: red}\n")
    with pytest.raises(InputError, match=r"bad.yaml:8: colour: unknown field"):
        load_checks(tmp_path)


def test_a_librarys_own_capability_makes_no_finding():
    """Issue 16: a logging or server library's own call is nobody's collection; the same read by the app is."""
    log4j = Actor(ActorKind.LIBRARY, "log4j")
    site = [call_site("Landroid/telephony/TelephonyManager;->getDeviceId()Ljava/lang/String;", "Lorg/apache/log4j/X;->m()V")]
    assert not run([obs("device_ids.imei", Level.REACHABLE, log4j, evidence=site)]).findings
    assert rules(run([obs("device_ids.imei", Level.REACHABLE, evidence=site)])) == ["undeclared-collection"]
